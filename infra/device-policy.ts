/**
 * The AWS IoT policy attached to every certificate cvm issues. It binds a device to its own thing:
 * - connect only with client id = the thing name, and only while the certificate is attached to that thing;
 * - publish, subscribe and receive only under `things/<its thing name>/` and its own shadow topics.
 * `${iot:Connection.Thing.ThingName}` is an AWS IoT policy variable, resolved per connection by AWS IoT (it is
 * not a CloudFormation substitution). No `iot:*`, no `*` resource.
 */
import { iotArn } from './resolver-permissions.ts';

const THING_NAME = '${iot:Connection.Thing.ThingName}';

/** Topic name patterns a device owns (MQTT topics, as in `topic/` and `topicfilter/` ARNs). */
export const DEVICE_TOPIC_PATTERNS = [`things/${THING_NAME}/*`, `$aws/things/${THING_NAME}/shadow/*`] as const;

export interface IotPolicyStatement {
  readonly Effect: 'Allow';
  readonly Action: string;
  readonly Resource: string | string[];
  readonly Condition?: Record<string, Record<string, string>>;
}

export interface IotPolicyDocument {
  readonly Version: '2012-10-17';
  readonly Statement: IotPolicyStatement[];
}

export function devicePolicyDocument(): IotPolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: 'iot:Connect',
        Resource: iotArn(`client/${THING_NAME}`),
        // The thing-name variable only resolves for a thing attached to the certificate; saying so makes the
        // binding explicit instead of relying on an unresolved variable never matching.
        Condition: { Bool: { 'iot:Connection.Thing.IsAttached': 'true' } },
      },
      {
        Effect: 'Allow',
        Action: 'iot:Publish',
        Resource: DEVICE_TOPIC_PATTERNS.map((topic) => iotArn(`topic/${topic}`)),
      },
      {
        Effect: 'Allow',
        Action: 'iot:Receive',
        Resource: DEVICE_TOPIC_PATTERNS.map((topic) => iotArn(`topic/${topic}`)),
      },
      {
        Effect: 'Allow',
        Action: 'iot:Subscribe',
        Resource: DEVICE_TOPIC_PATTERNS.map((topic) => iotArn(`topicfilter/${topic}`)),
      },
    ],
  };
}

/**
 * The AWS IoT policy attached to every certificate cvm issues, in one place for both homes: the CDK stack deploys
 * it (with CloudFormation's partition, region and account) and the local MQTT endpoint evaluates it (with the local
 * stack's). It binds a device to its own thing:
 * - connect only with client id = the thing name, and only while the certificate is attached to that thing;
 * - publish, subscribe and receive only under `things/<its thing name>/` and its own shadow topics.
 * `${iot:Connection.Thing.ThingName}` is an AWS IoT policy variable, resolved per connection by AWS IoT (it is
 * not a CloudFormation substitution). No `iot:*`, no `*` resource.
 */

export const THING_NAME_VARIABLE = '${iot:Connection.Thing.ThingName}';

/** Topic name patterns a device owns (MQTT topics, as in `topic/` and `topicfilter/` ARNs). */
export const DEVICE_TOPIC_PATTERNS = [
  `things/${THING_NAME_VARIABLE}/*`,
  `$aws/things/${THING_NAME_VARIABLE}/shadow/*`,
] as const;

/** Where the policy's resources live: CloudFormation pseudo-parameters in the stack, fixed values locally. */
export interface IotArnScope {
  readonly partition: string;
  readonly region: string;
  readonly accountId: string;
}

/** A condition block: operator → condition key → one value or several (any of them may match). */
export type IotPolicyCondition = Readonly<Record<string, Readonly<Record<string, string | readonly string[]>>>>;

export interface IotPolicyStatement {
  readonly Effect: 'Allow' | 'Deny';
  readonly Action: string | readonly string[];
  readonly Resource: string | readonly string[];
  readonly Condition?: IotPolicyCondition;
}

export interface IotPolicyDocument {
  readonly Version: '2012-10-17';
  readonly Statement: readonly IotPolicyStatement[];
}

/** `arn:<partition>:iot:<region>:<account>:<resource>`. */
export function iotResourceArn(scope: IotArnScope, resource: string): string {
  return `arn:${scope.partition}:iot:${scope.region}:${scope.accountId}:${resource}`;
}

export function devicePolicyDocument(scope: IotArnScope): IotPolicyDocument {
  const arn = (resource: string): string => iotResourceArn(scope, resource);
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: 'iot:Connect',
        Resource: arn(`client/${THING_NAME_VARIABLE}`),
        // The thing-name variable only resolves for a thing attached to the certificate; saying so makes the
        // binding explicit instead of relying on an unresolved variable never matching.
        Condition: { Bool: { 'iot:Connection.Thing.IsAttached': 'true' } },
      },
      {
        Effect: 'Allow',
        Action: 'iot:Publish',
        Resource: DEVICE_TOPIC_PATTERNS.map((topic) => arn(`topic/${topic}`)),
      },
      {
        Effect: 'Allow',
        Action: 'iot:Receive',
        Resource: DEVICE_TOPIC_PATTERNS.map((topic) => arn(`topic/${topic}`)),
      },
      {
        Effect: 'Allow',
        Action: 'iot:Subscribe',
        Resource: DEVICE_TOPIC_PATTERNS.map((topic) => arn(`topicfilter/${topic}`)),
      },
    ],
  };
}

/**
 * The policy evaluator against the examples of AWS IoT Core's developer guide ("Publish/Subscribe policy examples",
 * "Thing policy examples", "AWS IoT Core policy variables"), and against the device policy cvm deploys.
 */
import { describe, expect, it } from 'vitest';
import { devicePolicyDocument, type IotPolicyDocument } from '../../../../contract/device-policy.ts';
import {
  evaluatePolicies,
  UnsupportedPolicyError,
  type IotMqttAction,
  type PolicyVariables,
} from '../../../../local/mqtt/iot-policy.ts';

const PREFIX = 'arn:aws:iot:us-east-1:123456789012';

function policy(...statements: IotPolicyDocument['Statement']): IotPolicyDocument {
  return { Version: '2012-10-17', Statement: statements };
}

/** A connection of client id `clientId` whose certificate is attached to thing `thing` (or to none). */
function connection(clientId: string, thing?: string): PolicyVariables {
  return thing === undefined
    ? { 'iot:ClientId': clientId, 'iot:Connection.Thing.IsAttached': 'false' }
    : {
        'iot:ClientId': clientId,
        'iot:Connection.Thing.ThingName': thing,
        'iot:Connection.Thing.IsAttached': 'true',
      };
}

function decide(
  policies: IotPolicyDocument | IotPolicyDocument[],
  action: IotMqttAction,
  resource: string,
  variables: PolicyVariables,
) {
  return evaluatePolicies(Array.isArray(policies) ? policies : [policies], {
    action,
    resource: `${PREFIX}:${resource}`,
    variables,
  });
}

describe('evaluatePolicies: AWS IoT developer guide examples', () => {
  // "Registered devices (5)": connect as the thing name, publish under it.
  const registered5 = policy(
    { Effect: 'Allow', Action: ['iot:Connect'], Resource: [`${PREFIX}:client/\${iot:Connection.Thing.ThingName}`] },
    { Effect: 'Allow', Action: ['iot:Publish'], Resource: [`${PREFIX}:topic/\${iot:Connection.Thing.ThingName}/*`] },
  );

  it('allows a thing to connect with its own name as client id, and no other', () => {
    expect(decide(registered5, 'iot:Connect', 'client/thing1', connection('thing1', 'thing1'))).toBe('Allow');
    expect(decide(registered5, 'iot:Connect', 'client/thing2', connection('thing2', 'thing1'))).toBe('ImplicitDeny');
  });

  it('does not resolve the thing name for a certificate attached to no thing', () => {
    expect(decide(registered5, 'iot:Connect', 'client/thing1', connection('thing1'))).toBe('ImplicitDeny');
  });

  it('matches * across topic levels, and only where the pattern says', () => {
    const variables = connection('thing1', 'thing1');
    expect(decide(registered5, 'iot:Publish', 'topic/thing1/a', variables)).toBe('Allow');
    expect(decide(registered5, 'iot:Publish', 'topic/thing1/a/b/c', variables)).toBe('Allow');
    expect(decide(registered5, 'iot:Publish', 'topic/thing1', variables)).toBe('ImplicitDeny');
    expect(decide(registered5, 'iot:Publish', 'topic/thing2/a', variables)).toBe('ImplicitDeny');
    // Publish is allowed; Subscribe and Receive are not mentioned, so they are denied.
    expect(decide(registered5, 'iot:Subscribe', 'topicfilter/thing1/a', variables)).toBe('ImplicitDeny');
    expect(decide(registered5, 'iot:Receive', 'topic/thing1/a', variables)).toBe('ImplicitDeny');
  });

  it('substitutes iot:ClientId for unregistered devices (Unregistered devices (5))', () => {
    const unregistered5 = policy(
      {
        Effect: 'Allow',
        Action: ['iot:Connect'],
        Resource: [`${PREFIX}:client/client1`, `${PREFIX}:client/client2`, `${PREFIX}:client/client3`],
      },
      { Effect: 'Allow', Action: ['iot:Publish'], Resource: [`${PREFIX}:topic/\${iot:ClientId}/*`] },
    );
    expect(decide(unregistered5, 'iot:Connect', 'client/client2', connection('client2'))).toBe('Allow');
    expect(decide(unregistered5, 'iot:Connect', 'client/client4', connection('client4'))).toBe('ImplicitDeny');
    expect(decide(unregistered5, 'iot:Publish', 'topic/client2/x', connection('client2'))).toBe('Allow');
    expect(decide(unregistered5, 'iot:Publish', 'topic/client1/x', connection('client2'))).toBe('ImplicitDeny');
  });

  it('treats a variable value as text, not as a wildcard', () => {
    const unregistered = policy({
      Effect: 'Allow',
      Action: 'iot:Publish',
      Resource: `${PREFIX}:topic/\${iot:ClientId}`,
    });
    expect(decide(unregistered, 'iot:Publish', 'topic/a*', connection('a*'))).toBe('Allow');
    expect(decide(unregistered, 'iot:Publish', 'topic/abc', connection('a*'))).toBe('ImplicitDeny');
  });

  it('subscribes by topicfilter with a prefix wildcard (Registered devices (6))', () => {
    const registered6 = policy(
      {
        Effect: 'Allow',
        Action: ['iot:Subscribe'],
        Resource: [`${PREFIX}:topicfilter/\${iot:Connection.Thing.ThingName}/room*`],
      },
      {
        Effect: 'Allow',
        Action: ['iot:Receive'],
        Resource: [`${PREFIX}:topic/\${iot:Connection.Thing.ThingName}/room*`],
      },
    );
    const variables = connection('thing1', 'thing1');
    expect(decide(registered6, 'iot:Subscribe', 'topicfilter/thing1/room1', variables)).toBe('Allow');
    expect(decide(registered6, 'iot:Receive', 'topic/thing1/room2', variables)).toBe('Allow');
    // topic/ and topicfilter/ are different resources.
    expect(decide(registered6, 'iot:Subscribe', 'topic/thing1/room1', variables)).toBe('ImplicitDeny');
    expect(decide(registered6, 'iot:Subscribe', 'topicfilter/thing1/kitchen', variables)).toBe('ImplicitDeny');
  });

  it('reads + and # in a policy as literal characters (Registered devices (4))', () => {
    const registered4 = policy({
      Effect: 'Allow',
      Action: ['iot:Subscribe'],
      Resource: [`${PREFIX}:topicfilter/some/+/topic`],
    });
    const variables = connection('thing1', 'thing1');
    expect(decide(registered4, 'iot:Subscribe', 'topicfilter/some/+/topic', variables)).toBe('Allow');
    expect(decide(registered4, 'iot:Subscribe', 'topicfilter/some/sensor/topic', variables)).toBe('ImplicitDeny');
    const hash = policy({ Effect: 'Allow', Action: 'iot:Subscribe', Resource: `${PREFIX}:topicfilter/some/#` });
    expect(decide(hash, 'iot:Subscribe', 'topicfilter/some/a', variables)).toBe('ImplicitDeny');
  });

  it('matches ? as exactly one character (the wildcard table: topicfilter/some/sensor???/topic)', () => {
    const question = policy({
      Effect: 'Allow',
      Action: 'iot:Subscribe',
      Resource: `${PREFIX}:topicfilter/some/sensor???/topic`,
    });
    const variables = connection('c');
    expect(decide(question, 'iot:Subscribe', 'topicfilter/some/sensor123/topic', variables)).toBe('Allow');
    expect(decide(question, 'iot:Subscribe', 'topicfilter/some/sensor12/topic', variables)).toBe('ImplicitDeny');
    expect(decide(question, 'iot:Subscribe', 'topicfilter/some/sensor1234/topic', variables)).toBe('ImplicitDeny');
  });

  it('lets an explicit Deny win over an Allow (Unregistered devices (9))', () => {
    const unregistered9 = policy(
      { Effect: 'Allow', Action: ['iot:Publish'], Resource: [`${PREFIX}:topic/\${iot:ClientId}/*`] },
      { Effect: 'Deny', Action: ['iot:Publish'], Resource: [`${PREFIX}:topic/\${iot:ClientId}/bar`] },
    );
    expect(decide(unregistered9, 'iot:Publish', 'topic/client1/foo', connection('client1'))).toBe('Allow');
    expect(decide(unregistered9, 'iot:Publish', 'topic/client1/bar', connection('client1'))).toBe('ExplicitDeny');
  });

  it('lets a Deny in one attached policy win over an Allow in another', () => {
    const allow = policy({ Effect: 'Allow', Action: 'iot:*', Resource: '*' });
    const deny = policy({ Effect: 'Deny', Action: 'iot:Publish', Resource: `${PREFIX}:topic/secret` });
    expect(decide([allow, deny], 'iot:Publish', 'topic/secret', connection('c'))).toBe('ExplicitDeny');
    expect(decide([allow, deny], 'iot:Publish', 'topic/open', connection('c'))).toBe('Allow');
    expect(decide([], 'iot:Connect', 'client/c', connection('c'))).toBe('ImplicitDeny');
  });

  it('connects only a certificate attached to a thing (Thing policy examples: Bool IsAttached)', () => {
    const attachedOnly = policy({
      Effect: 'Allow',
      Action: ['iot:Connect'],
      Resource: ['*'],
      Condition: { Bool: { 'iot:Connection.Thing.IsAttached': ['true'] } },
    });
    expect(decide(attachedOnly, 'iot:Connect', 'client/anything', connection('anything', 'thing1'))).toBe('Allow');
    expect(decide(attachedOnly, 'iot:Connect', 'client/anything', connection('anything'))).toBe('ImplicitDeny');
  });

  it('checks string conditions on thing attributes (Thing policy examples: StringEquals)', () => {
    const byAttribute = policy({
      Effect: 'Allow',
      Action: ['iot:Publish'],
      Resource: `${PREFIX}:topic/device/stats`,
      Condition: {
        StringEquals: { 'iot:Connection.Thing.Attributes[attributeName]': 'attributeValue' },
        Bool: { 'iot:Connection.Thing.IsAttached': 'true' },
      },
    });
    const withAttribute = {
      ...connection('thing1', 'thing1'),
      'iot:Connection.Thing.Attributes[attributeName]': 'attributeValue',
    };
    expect(decide(byAttribute, 'iot:Publish', 'topic/device/stats', withAttribute)).toBe('Allow');
    expect(decide(byAttribute, 'iot:Publish', 'topic/device/stats', connection('thing1', 'thing1'))).toBe(
      'ImplicitDeny',
    );
    const like = policy({
      Effect: 'Allow',
      Action: 'iot:Connect',
      Resource: '*',
      Condition: { StringLike: { 'iot:ClientId': ['sensor-*', 'gateway-?'] } },
    });
    expect(decide(like, 'iot:Connect', 'client/sensor-12', connection('sensor-12'))).toBe('Allow');
    expect(decide(like, 'iot:Connect', 'client/gateway-1', connection('gateway-1'))).toBe('Allow');
    expect(decide(like, 'iot:Connect', 'client/gateway-12', connection('gateway-12'))).toBe('ImplicitDeny');
  });

  it('refuses what it does not implement instead of guessing', () => {
    const notAction = {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', NotAction: 'iot:Connect', Resource: '*' }],
    };
    expect(() => decide(notAction as unknown as IotPolicyDocument, 'iot:Connect', 'client/c', connection('c'))).toThrow(
      UnsupportedPolicyError,
    );
    const dateCondition = policy({
      Effect: 'Allow',
      Action: 'iot:Connect',
      Resource: '*',
      Condition: { DateGreaterThan: { 'aws:CurrentTime': '2020-01-01T00:00:00Z' } },
    });
    expect(() => decide(dateCondition, 'iot:Connect', 'client/c', connection('c'))).toThrow(UnsupportedPolicyError);
  });
});

describe('evaluatePolicies: the device policy cvm deploys', () => {
  const devicePolicy = devicePolicyDocument({ partition: 'aws', region: 'us-east-1', accountId: '123456789012' });
  const thing = connection('SN-1', 'SN-1');

  it('lets a device connect only as its attached thing', () => {
    expect(decide(devicePolicy, 'iot:Connect', 'client/SN-1', thing)).toBe('Allow');
    expect(decide(devicePolicy, 'iot:Connect', 'client/SN-2', connection('SN-2', 'SN-1'))).toBe('ImplicitDeny');
    expect(decide(devicePolicy, 'iot:Connect', 'client/SN-1', connection('SN-1'))).toBe('ImplicitDeny');
  });

  it('lets it publish, subscribe and receive under its own topics and shadow only', () => {
    for (const topic of ['things/SN-1/telemetry', '$aws/things/SN-1/shadow/update']) {
      expect(decide(devicePolicy, 'iot:Publish', `topic/${topic}`, thing)).toBe('Allow');
      expect(decide(devicePolicy, 'iot:Receive', `topic/${topic}`, thing)).toBe('Allow');
      expect(decide(devicePolicy, 'iot:Subscribe', `topicfilter/${topic}`, thing)).toBe('Allow');
    }
    expect(decide(devicePolicy, 'iot:Subscribe', 'topicfilter/things/SN-1/#', thing)).toBe('Allow');
    for (const topic of ['things/SN-2/telemetry', 'things/SN-1', '$aws/things/SN-2/shadow/update', 'other']) {
      expect(decide(devicePolicy, 'iot:Publish', `topic/${topic}`, thing)).toBe('ImplicitDeny');
    }
    expect(decide(devicePolicy, 'iot:Subscribe', 'topicfilter/things/#', thing)).toBe('ImplicitDeny');
    expect(decide(devicePolicy, 'iot:Subscribe', 'topicfilter/#', thing)).toBe('ImplicitDeny');
  });
});

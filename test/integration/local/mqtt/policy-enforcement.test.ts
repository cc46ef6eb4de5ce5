/**
 * The MQTT endpoint on its own, with a policy other than cvm's, to reach what the device policy never lets happen:
 * a subscription that matches more topics than the subscriber may receive (iot:Receive), and an explicit Deny.
 */
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceMqttError, DeviceMqttSession } from '../../../../client/device-mqtt.ts';
import { THING_NAME_VARIABLE, type IotPolicyDocument } from '../../../../contract/device-policy.ts';
import { startMqttEndpointHarness, type MqttEndpointHarness } from '../../../support/mqtt-endpoint-harness.ts';

const ARN = 'arn:aws:iot:us-east-1:000000000000';
const POLICY: IotPolicyDocument = {
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: 'iot:Connect', Resource: `${ARN}:client/${THING_NAME_VARIABLE}` },
    { Effect: 'Allow', Action: ['iot:Publish', 'iot:Subscribe'], Resource: [`${ARN}:topic/*`, `${ARN}:topicfilter/*`] },
    { Effect: 'Allow', Action: 'iot:Receive', Resource: `${ARN}:topic/things/${THING_NAME_VARIABLE}/*` },
    { Effect: 'Deny', Action: 'iot:Publish', Resource: `${ARN}:topic/things/*/forbidden` },
  ],
};

let harness: MqttEndpointHarness;

beforeAll(async () => {
  harness = await startMqttEndpointHarness(POLICY);
});

afterAll(async () => {
  await harness?.close();
});

const device = (thingName: string) => harness.device(thingName);

describe('MQTT endpoint policy enforcement', () => {
  it('delivers to a subscriber only the messages its policy lets it receive', async () => {
    const reader = await DeviceMqttSession.open(await device('reader'), harness.target);
    const writer = await DeviceMqttSession.open(await device('writer'), harness.target);
    try {
      await reader.subscribe('things/#');
      // One publisher, one subscriber: had the first message been delivered, it would have arrived first.
      await writer.publish('things/writer/data', 'not for the reader');
      await writer.publish('things/reader/data', 'for the reader');
      expect(await reader.waitForMessage('things/reader/data', 10_000)).toBeDefined();
      expect(reader.received.map((message) => message.topic)).toEqual(['things/reader/data']);
    } finally {
      await reader.end();
      await writer.end();
    }
  });

  it('lets an explicit Deny win over the Allow on every topic', async () => {
    const session = await DeviceMqttSession.open(await device('denied'), harness.target);
    await session.publish('things/denied/allowed', 'ok');
    const error = await session.publish('things/denied/forbidden', 'no').catch((reason: unknown) => reason);
    expect(error).toBeInstanceOf(DeviceMqttError);
    await session.end();
  });

  it('refuses a certificate of the device CA that is not ACTIVE', async () => {
    const credentials = await device('inactive');
    await harness.opened.authority.setCertificateStatus(await harness.certificateIdOf('inactive'), 'INACTIVE');
    const error = await DeviceMqttSession.open(credentials, harness.target).catch((reason: unknown) => reason);
    expect((error as DeviceMqttError).errorType).toBe('NotAuthorized');
  });

  it('publishes the will of a device whose connection dropped, when its policy allows that topic', async () => {
    const reader = await DeviceMqttSession.open(await device('will-reader'), harness.target);
    const writer = await device('will-writer');
    try {
      await reader.subscribe('things/will-reader/#');
      const client = await mqtt.connectAsync({
        protocol: 'mqtts',
        host: 'localhost',
        port: harness.target.port,
        clientId: 'will-writer',
        cert: writer.certificatePem,
        key: writer.keyPem,
        ca: writer.caPem,
        protocolVersion: 4,
        reconnectPeriod: 0,
        will: { topic: 'things/will-reader/gone', payload: Buffer.from('will-writer dropped'), qos: 1, retain: false },
      });
      // A dropped connection, not a DISCONNECT: the will must be published.
      client.stream.destroy();
      expect(await reader.waitForMessage('things/will-reader/gone', 10_000)).toEqual({
        topic: 'things/will-reader/gone',
        payload: 'will-writer dropped',
      });
      client.end(true);
    } finally {
      await reader.end();
    }
  });
});

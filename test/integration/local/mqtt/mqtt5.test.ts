/**
 * The MQTT endpoint with MQTT 5 clients (MQTT.js, protocolVersion 5): the answers AWS IoT Core documents for MQTT 5
 * (reason codes in CONNACK, PUBACK, SUBACK and DISCONNECT; a denied PUBLISH or SUBSCRIBE leaves the connection
 * open), held to cvm's device policy; and MQTT 5 beside MQTT 3.1.1 on the same broker.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { generate, type IConnackPacket, type IDisconnectPacket, type ISubackPacket, type Packet } from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DeviceMqttError,
  DeviceMqttSession,
  type DeviceCredentials,
  type MqttTarget,
} from '../../../../client/device-mqtt.ts';
import { devicePolicyDocument, THING_NAME_VARIABLE } from '../../../../contract/device-policy.ts';
import {
  startMqttEndpointHarness,
  TEST_ARN_SCOPE,
  type MqttEndpointHarness,
} from '../../../support/mqtt-endpoint-harness.ts';

const NOT_AUTHORIZED = 0x87;

/** An MQTT 5 connection and every packet the endpoint sent on it. */
interface Connection5 {
  readonly client: MqttClient;
  readonly connack: IConnackPacket;
  readonly received: Packet[];
  /** Resolves with the endpoint's DISCONNECT (undefined if it closed without one) once the connection closed. */
  readonly closed: Promise<IDisconnectPacket | undefined>;
}

async function connect5(
  target: MqttTarget,
  credentials: DeviceCredentials,
  options: IClientOptions = {},
): Promise<Connection5> {
  const client = mqtt.connect({
    protocol: 'mqtts',
    host: target.host,
    port: target.port,
    servername: target.host,
    clientId: credentials.thingName,
    cert: credentials.certificatePem,
    key: credentials.keyPem,
    ca: credentials.caPem,
    protocolVersion: 5,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    ...options,
  });
  const received: Packet[] = [];
  client.on('packetreceive', (packet) => received.push(packet));
  const closed = new Promise<IDisconnectPacket | undefined>((resolve) =>
    client.once('close', () => resolve(received.find((packet) => packet.cmd === 'disconnect'))),
  );
  try {
    const connack = await new Promise<IConnackPacket>((resolve, reject) => {
      client.once('connect', resolve);
      client.once('error', reject);
    });
    client.on('error', () => undefined);
    return { client, connack, received, closed };
  } catch (error) {
    client.end(true);
    throw error;
  }
}

async function rejection(promise: Promise<unknown>): Promise<Error & { code?: number }> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(Error);
  return error as Error & { code?: number };
}

function lastSuback(received: readonly Packet[]): ISubackPacket | undefined {
  return received.filter((packet): packet is ISubackPacket => packet.cmd === 'suback').at(-1);
}

describe('MQTT 5 under cvm’s device policy', () => {
  let harness: MqttEndpointHarness;

  beforeAll(async () => {
    harness = await startMqttEndpointHarness(devicePolicyDocument(TEST_ARN_SCOPE));
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('accepts the thing name as client id, announcing AWS IoT’s MQTT 5 capabilities in the CONNACK', async () => {
    const { client, connack } = await connect5(harness.target, await harness.device('v5-connect'));
    expect(connack.reasonCode).toBe(0);
    expect(connack.properties).toMatchObject({
      maximumQoS: 1,
      topicAliasMaximum: 8,
      subscriptionIdentifiersAvailable: false,
    });
    await client.endAsync();
  });

  it('refuses a client id other than the thing name with CONNACK 0x87 Not authorized', async () => {
    const credentials = await harness.device('v5-other-id');
    const error = await rejection(connect5(harness.target, credentials, { clientId: 'SOMEONE-ELSE' }));
    expect(error.code).toBe(NOT_AUTHORIZED);
  });

  it('acknowledges a publish to its own topic with 0x00, answers one to another thing’s with 0x87, and stays connected', async () => {
    const { client, received } = await connect5(harness.target, await harness.device('v5-pub'));
    await client.publishAsync('things/v5-pub/telemetry', 'ok', { qos: 1 });
    expect(await rejection(client.publishAsync('things/SOMEONE-ELSE/telemetry', 'no', { qos: 1 }))).toMatchObject({
      code: NOT_AUTHORIZED,
    });
    expect(received.filter((packet) => packet.cmd === 'puback').map((packet) => packet.reasonCode ?? 0)).toEqual([
      0,
      NOT_AUTHORIZED,
    ]);
    await client.publishAsync('things/v5-pub/telemetry', 'still here', { qos: 1 });
    expect(client.connected).toBe(true);
    await client.endAsync();
  });

  it('drops a QoS 0 publish the policy denies and keeps the connection', async () => {
    const { client } = await connect5(harness.target, await harness.device('v5-qos0'));
    const arrived = new Promise<string>((resolve) => client.on('message', (topic) => resolve(topic)));
    await client.subscribeAsync('things/v5-qos0/#', { qos: 1 });
    await client.publishAsync('things/SOMEONE-ELSE/telemetry', 'dropped', { qos: 0 });
    await client.publishAsync('things/v5-qos0/after', 'delivered', { qos: 1 });
    expect(await arrived).toBe('things/v5-qos0/after');
    expect(client.connected).toBe(true);
    await client.endAsync();
  });

  it('answers a SUBSCRIBE filter by filter: the granted QoS for its own, 0x87 for another thing’s', async () => {
    const { client, received } = await connect5(harness.target, await harness.device('v5-sub'));
    const error = await rejection(
      client.subscribeAsync(['things/v5-sub/#', 'things/SOMEONE-ELSE/#', '$aws/things/v5-sub/shadow/#'], { qos: 1 }),
    );
    expect(error.message).toContain('Not authorized');
    expect(lastSuback(received)?.granted).toEqual([1, NOT_AUTHORIZED, 1]);
    // Still connected, and the granted subscription works.
    const arrived = new Promise<string>((resolve) =>
      client.on('message', (_topic, payload) => resolve(String(payload))),
    );
    await client.publishAsync('things/v5-sub/data', 'hello', { qos: 1 });
    expect(await arrived).toBe('hello');
    await client.endAsync();
  });

  it('grants at most QoS 1 (AWS IoT has no QoS 2), and ends a QoS 2 publish with DISCONNECT 0x9B', async () => {
    const { client, received, closed } = await connect5(harness.target, await harness.device('v5-qos2'));
    await client.subscribeAsync('things/v5-qos2/#', { qos: 2 });
    expect(lastSuback(received)?.granted).toEqual([1]);
    client.publish('things/v5-qos2/x', 'two', { qos: 2 });
    expect((await closed)?.reasonCode).toBe(0x9b);
    client.end(true);
  });

  it('resolves topic aliases up to AWS IoT’s 8, and ends the connection on alias 9 (DISCONNECT 0x94)', async () => {
    const { client, closed } = await connect5(harness.target, await harness.device('v5-alias'));
    const payloads: string[] = [];
    const twoArrived = new Promise<void>((resolve) =>
      client.on('message', (_topic, payload) => {
        payloads.push(String(payload));
        if (payloads.length === 2) resolve();
      }),
    );
    await client.subscribeAsync('things/v5-alias/#', { qos: 1 });
    await client.publishAsync('things/v5-alias/a', 'named', { qos: 1, properties: { topicAlias: 8 } });
    await client.publishAsync('', 'aliased', { qos: 1, properties: { topicAlias: 8 } });
    await twoArrived;
    expect(payloads).toEqual(['named', 'aliased']);
    // MQTT.js will not send an alias above the server's maximum: write the packet as a device that does would.
    client.stream.write(
      generate(
        {
          cmd: 'publish',
          topic: 'things/v5-alias/b',
          payload: 'too far',
          qos: 0,
          retain: false,
          dup: false,
          properties: { topicAlias: 9 },
        },
        { protocolVersion: 5 },
      ),
    );
    expect((await closed)?.reasonCode).toBe(0x94);
    client.end(true);
  });

  it('ends a SUBSCRIBE with a subscription identifier with DISCONNECT 0xA1, as AWS IoT has none', async () => {
    const { client, closed } = await connect5(harness.target, await harness.device('v5-subid'));
    client.subscribe('things/v5-subid/#', { qos: 1, properties: { subscriptionIdentifier: 7 } });
    expect((await closed)?.reasonCode).toBe(0xa1);
    client.end(true);
  });

  it('closes a live connection with DISCONNECT 0x87 when its certificate is revoked, and refuses it from then on', async () => {
    const credentials = await harness.device('v5-revoke');
    const { client, closed } = await connect5(harness.target, credentials);
    await harness.opened.authority.setCertificateStatus(await harness.certificateIdOf('v5-revoke'), 'REVOKED');
    expect((await closed)?.reasonCode).toBe(NOT_AUTHORIZED);
    client.end(true);
    expect((await rejection(connect5(harness.target, credentials))).code).toBe(NOT_AUTHORIZED);
  });

  it('disconnects the older connection with 0x8E when the same client id connects again', async () => {
    const credentials = await harness.device('v5-takeover');
    const older = await connect5(harness.target, credentials);
    const newer = await connect5(harness.target, credentials);
    expect((await older.closed)?.reasonCode).toBe(0x8e);
    expect(newer.client.connected).toBe(true);
    older.client.end(true);
    await newer.client.endAsync();
  });

  it('reports reason codes through the device client: "not authorized (0x87)"', async () => {
    const credentials = await harness.device('v5-session');
    const session = await DeviceMqttSession.open(credentials, harness.target, { mqttVersion: '5' });
    await session.subscribe('things/v5-session/#');
    await session.publish('things/v5-session/hello', 'hi');
    const published = await session.publish('things/OTHER/x', 'no').catch((reason: unknown) => reason);
    expect(published).toBeInstanceOf(DeviceMqttError);
    expect((published as DeviceMqttError).errorType).toBe('NotAuthorized');
    expect((published as DeviceMqttError).message).toBe('publish to things/OTHER/x refused: not authorized (0x87).');
    const subscribed = await session.subscribe('things/OTHER/#').catch((reason: unknown) => reason);
    expect((subscribed as DeviceMqttError).message).toBe('subscribe to things/OTHER/# refused: not authorized (0x87).');
    expect(session.isClosed).toBe(false);

    const closed = session.whenClosed();
    await harness.opened.authority.setCertificateStatus(await harness.certificateIdOf('v5-session'), 'INACTIVE');
    expect(await closed).toBe('the endpoint disconnected: not authorized (0x87)');
    const refused = await DeviceMqttSession.open(credentials, harness.target, { mqttVersion: '5' }).catch(
      (reason: unknown) => reason,
    );
    expect((refused as DeviceMqttError).message).toMatch(/refused the connection: not authorized \(0x87\)/);
    await session.end();
  });
});

describe('MQTT 5 beside MQTT 3.1.1, under a policy that lets devices publish anywhere', () => {
  const ARN = 'arn:aws:iot:us-east-1:000000000000';
  let harness: MqttEndpointHarness;

  beforeAll(async () => {
    harness = await startMqttEndpointHarness({
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Action: 'iot:Connect', Resource: `${ARN}:client/${THING_NAME_VARIABLE}` },
        {
          Effect: 'Allow',
          Action: ['iot:Publish', 'iot:Subscribe'],
          Resource: [`${ARN}:topic/*`, `${ARN}:topicfilter/*`],
        },
        { Effect: 'Allow', Action: 'iot:Receive', Resource: `${ARN}:topic/things/${THING_NAME_VARIABLE}/*` },
        { Effect: 'Deny', Action: 'iot:Publish', Resource: `${ARN}:topic/things/*/forbidden` },
      ],
    });
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('delivers from MQTT 3.1.1 to MQTT 5 and back, and only what the receiver may receive (iot:Receive)', async () => {
    const reader5 = await connect5(harness.target, await harness.device('reader5'));
    const writer311 = await DeviceMqttSession.open(await harness.device('writer311'), harness.target);
    const reader311 = await DeviceMqttSession.open(await harness.device('reader311'), harness.target);
    try {
      const topics: string[] = [];
      const arrived = new Promise<void>((resolve) =>
        reader5.client.on('message', (topic) => {
          topics.push(topic);
          resolve();
        }),
      );
      await reader5.client.subscribeAsync('things/#', { qos: 1 });
      await reader311.subscribe('things/reader311/#');
      // One publisher, one subscriber: had the first message been delivered, it would have arrived first.
      await writer311.publish('things/writer311/data', 'not for reader5');
      await writer311.publish('things/reader5/data', 'for reader5');
      await arrived;
      expect(topics).toEqual(['things/reader5/data']);

      await reader5.client.publishAsync('things/reader311/data', 'from MQTT 5', { qos: 1 });
      expect(await reader311.waitForMessage('things/reader311/data', 10_000)).toEqual({
        topic: 'things/reader311/data',
        payload: 'from MQTT 5',
      });
    } finally {
      await reader5.client.endAsync();
      await writer311.end();
      await reader311.end();
    }
  });

  it('lets an explicit Deny win: PUBACK 0x87', async () => {
    const { client } = await connect5(harness.target, await harness.device('denied5'));
    await client.publishAsync('things/denied5/allowed', 'ok', { qos: 1 });
    expect((await rejection(client.publishAsync('things/denied5/forbidden', 'no', { qos: 1 }))).code).toBe(
      NOT_AUTHORIZED,
    );
    await client.endAsync();
  });

  it('publishes the will of a device that disconnects with reason code 0x04 (Disconnect with Will Message)', async () => {
    const reader = await DeviceMqttSession.open(await harness.device('will-reader5'), harness.target);
    try {
      await reader.subscribe('things/will-reader5/#');
      const { client } = await connect5(harness.target, await harness.device('will-writer5'), {
        will: { topic: 'things/will-reader5/gone', payload: Buffer.from('bye'), qos: 1, retain: false },
      });
      await client.endAsync(false, { reasonCode: 0x04 });
      expect(await reader.waitForMessage('things/will-reader5/gone', 10_000)).toEqual({
        topic: 'things/will-reader5/gone',
        payload: 'bye',
      });
    } finally {
      await reader.end();
    }
  });
});

describe('MQTT 5 when the endpoint stops', () => {
  it('tells a connected device with DISCONNECT 0x8B Server shutting down', async () => {
    const harness = await startMqttEndpointHarness(devicePolicyDocument(TEST_ARN_SCOPE));
    const { client, closed } = await connect5(harness.target, await harness.device('v5-shutdown'));
    await harness.close();
    expect((await closed)?.reasonCode).toBe(0x8b);
    client.end(true);
  });
});

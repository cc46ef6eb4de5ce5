/**
 * The MQTT endpoint on its own, with a policy other than cvm's, to reach what the device policy never lets happen:
 * a subscription that matches more topics than the subscriber may receive (iot:Receive), and an explicit Deny.
 */
import 'reflect-metadata';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { webcrypto } from 'node:crypto';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceMqttError, DeviceMqttSession, type DeviceCredentials } from '../../../../client/device-mqtt.ts';
import { THING_NAME_VARIABLE, type IotPolicyDocument } from '../../../../contract/device-policy.ts';
import { startMqttEndpoint, type MqttEndpoint } from '../../../../local/mqtt/mqtt-endpoint.ts';
import { openLocalTls } from '../../../../local/tls/local-tls.ts';
import {
  openLocalCertificateAuthority,
  type OpenedLocalCertificateAuthority,
} from '../../../../resolvers/adapters/authority/local-ca/authority.ts';
import { makeCsr } from '../../../support/csr.ts';

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

let dir: string;
let opened: OpenedLocalCertificateAuthority;
let endpoint: MqttEndpoint;
let caPem: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'cvm-mqtt-policy-'));
  const tls = await openLocalTls(dir);
  caPem = tls.ca.certPem;
  opened = await openLocalCertificateAuthority(dir);
  endpoint = await startMqttEndpoint({
    tls: { keyPem: tls.server.keyPem, certPem: tls.server.certPem },
    deviceCaPem: opened.deviceCa.certPem,
    registry: opened.authority.registry,
    policies: new Map([['cvm-device', POLICY]]),
    arnScope: { partition: 'aws', region: 'us-east-1', accountId: '000000000000' },
    port: 0,
  });
});

afterAll(async () => {
  await endpoint?.close();
  await rm(dir, { recursive: true, force: true });
});

/** A certificate issued, attached to `thingName` and to the policy, and activated, as the core does it. */
async function device(thingName: string): Promise<DeviceCredentials> {
  const { csrPem, keys } = await makeCsr({ commonName: thingName });
  const authority = opened.authority;
  const certificate = await authority.createCertificate(csrPem);
  await authority.ensureThing(thingName, {});
  await authority.attachPolicy(certificate.certificateArn);
  await authority.attachThingPrincipal(thingName, certificate.certificateArn);
  await authority.setCertificateStatus(certificate.certificateId, 'ACTIVE');
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64');
  return {
    thingName,
    serialNumber: thingName,
    iotEndpoint: 'localhost',
    certificatePem: certificate.certificatePem,
    keyPem: `-----BEGIN PRIVATE KEY-----\n${pkcs8.replace(/.{64}/g, '$&\n')}\n-----END PRIVATE KEY-----\n`,
    caPem,
  };
}

describe('MQTT endpoint policy enforcement', () => {
  it('delivers to a subscriber only the messages its policy lets it receive', async () => {
    const reader = await DeviceMqttSession.open(await device('reader'), { host: 'localhost', port: endpoint.port });
    const writer = await DeviceMqttSession.open(await device('writer'), { host: 'localhost', port: endpoint.port });
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
    const session = await DeviceMqttSession.open(await device('denied'), { host: 'localhost', port: endpoint.port });
    await session.publish('things/denied/allowed', 'ok');
    const error = await session.publish('things/denied/forbidden', 'no').catch((reason: unknown) => reason);
    expect(error).toBeInstanceOf(DeviceMqttError);
    await session.end();
  });

  it('refuses a certificate of the device CA that is not ACTIVE', async () => {
    const credentials = await device('inactive');
    const certificateId = (await opened.authority.listCertificates()).find((record) =>
      record.things.includes('inactive'),
    )?.id;
    await opened.authority.setCertificateStatus(certificateId ?? '', 'INACTIVE');
    const error = await DeviceMqttSession.open(credentials, { host: 'localhost', port: endpoint.port }).catch(
      (reason: unknown) => reason,
    );
    expect((error as DeviceMqttError).errorType).toBe('NotAuthorized');
  });

  it('publishes the will of a device whose connection dropped, when its policy allows that topic', async () => {
    const reader = await DeviceMqttSession.open(await device('will-reader'), {
      host: 'localhost',
      port: endpoint.port,
    });
    const writer = await device('will-writer');
    try {
      await reader.subscribe('things/will-reader/#');
      const client = await mqtt.connectAsync({
        protocol: 'mqtts',
        host: 'localhost',
        port: endpoint.port,
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

/**
 * Rotation on the running local stack (what `npm start` runs), through its HTTPS GraphQL API and its MQTT endpoint:
 * a device renews and never confirms; once the deadline passes, the stack's own sweep rolls the rotation back, so
 * the pending certificate can no longer connect while the current one never stopped working.
 */
import 'reflect-metadata';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceMqttError, DeviceMqttSession, type MqttTarget } from '../../../client/device-mqtt.ts';
import { createGraphqlClient, type GraphqlClient } from '../../../client/graphql-client.ts';
import type { CertificateGrant, Device, DeviceEvent } from '../../../contract/api-types.ts';
import { startLocalStack, type LocalStack } from '../../../local/stack.ts';
import { makeCsr, type MadeCsr } from '../../support/csr.ts';
import { pemBody, privateKeyPem, proofBy } from '../../support/rotation.ts';

const WINDOW_SECONDS = 2;
let dataDir: string;
let stack: LocalStack;
let admin: GraphqlClient;
let device: GraphqlClient;
let caPem: string;
let target: MqttTarget;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'cvm-rotation-sweep-'));
  stack = await startLocalStack({
    dataDir,
    port: 0,
    mqttPort: 0,
    log: () => undefined,
    settings: { rotationWindowSeconds: WINDOW_SECONDS },
  });
  caPem = await readFile(stack.config.tlsCaFile, 'utf8');
  const {
    graphqlUrl: url,
    region,
    adminAccessKeyId: accessKeyId,
    adminSecretAccessKey: secretAccessKey,
  } = stack.config;
  admin = createGraphqlClient({
    url,
    ca: caPem,
    auth: { kind: 'iam', region, credentials: { accessKeyId, secretAccessKey } },
  });
  device = createGraphqlClient({ url, ca: caPem, auth: { kind: 'apiKey', apiKey: stack.config.apiKey } });
  target = { host: stack.config.iotEndpoint ?? 'localhost', port: stack.config.mqttPort ?? 0 };
});

afterAll(async () => {
  await stack?.close();
  await rm(dataDir, { recursive: true, force: true });
});

const GRANT =
  'serialNumber thingName certificateId certificateArn certificatePem caCertificatePem iotEndpoint issuedAt confirmBy';

async function connects(grant: CertificateGrant, csr: MadeCsr): Promise<boolean> {
  const credentials = {
    thingName: grant.thingName,
    serialNumber: grant.serialNumber,
    iotEndpoint: grant.iotEndpoint,
    certificatePem: grant.certificatePem,
    keyPem: await privateKeyPem(csr.keys.privateKey),
    caPem,
  };
  try {
    const session = await DeviceMqttSession.open(credentials, target);
    await session.end();
    return true;
  } catch (error) {
    if (error instanceof DeviceMqttError) return false;
    throw error;
  }
}

describe('the local stack rolls back an unconfirmed rotation on its own', () => {
  it('revokes the pending certificate after the deadline; the current one keeps connecting', async () => {
    const serial = 'SWEEP-1';
    const { registerDevice } = await admin.request<{ registerDevice: { registrationToken: string } }>(
      'mutation($input: RegisterDeviceInput!) { registerDevice(input: $input) { registrationToken } }',
      { input: { serialNumber: serial } },
    );
    const current = await makeCsr({ commonName: serial });
    const { requestCertificate: enrolled } = await device.request<{ requestCertificate: CertificateGrant }>(
      `mutation($input: RequestCertificateInput!) { requestCertificate(input: $input) { ${GRANT} } }`,
      { input: { serialNumber: serial, registrationToken: registerDevice.registrationToken, csr: current.csrPem } },
    );
    const next = await makeCsr({ commonName: serial });
    const { renewCertificate: pending } = await device.request<{ renewCertificate: CertificateGrant }>(
      `mutation($input: RenewCertificateInput!) { renewCertificate(input: $input) { ${GRANT} } }`,
      {
        input: {
          serialNumber: serial,
          certificateId: enrolled.certificateId,
          csr: next.csrPem,
          signature: await proofBy(current.keys.privateKey, pemBody(next.csrPem)),
        },
      },
    );
    expect(await connects(pending, next)).toBe(true);
    expect(await connects(enrolled, current)).toBe(true);

    // The sweep runs every second here; wait (bounded) for it to have rolled the rotation back.
    let view: Device | undefined;
    for (let attempt = 0; attempt < 100; attempt += 1) {
      ({ device: view } = await admin.request<{ device: Device }>(
        'query($s: String!) { device(serialNumber: $s) { certificateId pendingCertificateId confirmBy } }',
        { s: serial },
      ));
      if (view.pendingCertificateId === null) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(view).toMatchObject({ certificateId: enrolled.certificateId, pendingCertificateId: null, confirmBy: null });
    const { deviceEvents } = await admin.request<{ deviceEvents: { items: DeviceEvent[] } }>(
      'query($s: String!) { deviceEvents(serialNumber: $s) { items { type actor details } } }',
      { s: serial },
    );
    const rolledBack = deviceEvents.items.filter((event) => event.type === 'ROTATION_ROLLED_BACK');
    expect(rolledBack).toHaveLength(1);
    expect(rolledBack[0]?.actor).toBe('rotation-sweep');

    expect(await connects(pending, next)).toBe(false);
    expect(await connects(enrolled, current)).toBe(true);
  });
});

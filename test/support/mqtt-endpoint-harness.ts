/**
 * The MQTT endpoint on its own, over a local CA in a temporary directory, with the policy a test chooses; and
 * devices issued by that CA the way the core issues them (certificate, thing, policy, ACTIVE).
 */
import 'reflect-metadata';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { webcrypto } from 'node:crypto';
import type { DeviceCredentials, MqttTarget } from '../../client/device-mqtt.ts';
import type { IotArnScope, IotPolicyDocument } from '../../contract/device-policy.ts';
import { startMqttEndpoint, type MqttEndpoint } from '../../local/mqtt/mqtt-endpoint.ts';
import { openLocalTls } from '../../local/tls/local-tls.ts';
import {
  openLocalCertificateAuthority,
  type OpenedLocalCertificateAuthority,
} from '../../resolvers/adapters/authority/local-ca/authority.ts';
import { makeCsr } from './csr.ts';

export const TEST_ARN_SCOPE: IotArnScope = { partition: 'aws', region: 'us-east-1', accountId: '000000000000' };

export interface MqttEndpointHarness {
  readonly endpoint: MqttEndpoint;
  readonly target: MqttTarget;
  readonly opened: OpenedLocalCertificateAuthority;
  /** A certificate issued, attached to `thingName` and to the policy, and activated, as the core does it. */
  device(thingName: string): Promise<DeviceCredentials>;
  /** The id of the certificate `device(thingName)` issued. */
  certificateIdOf(thingName: string): Promise<string>;
  close(): Promise<void>;
}

export async function startMqttEndpointHarness(policy: IotPolicyDocument): Promise<MqttEndpointHarness> {
  const dir = await mkdtemp(path.join(tmpdir(), 'cvm-mqtt-endpoint-'));
  const tls = await openLocalTls(dir);
  const opened = await openLocalCertificateAuthority(dir);
  const endpoint = await startMqttEndpoint({
    tls: { keyPem: tls.server.keyPem, certPem: tls.server.certPem },
    deviceCaPem: opened.deviceCa.certPem,
    registry: opened.authority.registry,
    policies: new Map([['cvm-device', policy]]),
    arnScope: TEST_ARN_SCOPE,
    port: 0,
  });
  const authority = opened.authority;
  return {
    endpoint,
    target: { host: 'localhost', port: endpoint.port },
    opened,
    async device(thingName) {
      const { csrPem, keys } = await makeCsr({ commonName: thingName });
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
        caPem: tls.ca.certPem,
      };
    },
    async certificateIdOf(thingName) {
      const record = (await authority.listCertificates()).find((certificate) => certificate.things.includes(thingName));
      if (record === undefined) throw new Error(`No certificate for ${thingName}.`);
      return record.id;
    },
    async close() {
      await endpoint.close();
      await authority.registry.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

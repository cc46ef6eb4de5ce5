import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ResourceNotFoundError } from '../../../../../../resolvers/core/errors.ts';
import type { CertificateStatus } from '../../../../../../resolvers/core/ports.ts';
import {
  openLocalCertificateAuthority,
  type OpenedLocalCertificateAuthority,
  type LocalCertificateAuthority,
} from '../../../../../../resolvers/adapters/authority/local-ca/authority.ts';
import {
  CertificateRevokedError,
  CsrRejectedError,
  DeleteConflictError,
} from '../../../../../../resolvers/adapters/authority/local-ca/errors.ts';
import { x509 } from '../../../../../../resolvers/adapters/authority/local-ca/x509.ts';
import { makeCsr } from '../../../../../support/csr.ts';

let dataDir: string;
let opened: OpenedLocalCertificateAuthority;
let authority: LocalCertificateAuthority;

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'cvm-local-ca-authority-'));
  opened = await openLocalCertificateAuthority(dataDir);
  authority = opened.authority;
});

afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

async function newCertificate(commonName = 'SN-0001') {
  const { csrPem } = await makeCsr({ commonName });
  return authority.createCertificate(csrPem);
}

describe('openLocalCertificateAuthority', () => {
  it('keeps the device CA with its file', async () => {
    expect(opened.deviceCa.certFile).toBe(join(dataDir, 'ca', 'device', 'ca.pem'));
    expect(await readFile(opened.deviceCa.certFile, 'utf8')).toBe(opened.deviceCa.certPem);
    expect(new x509.X509Certificate(opened.deviceCa.certPem).subject).toBe('CN=cvm local device CA');
  });

  it('makes a device CA that outlasts every certificate it signs', async () => {
    const created = await newCertificate();
    const caCertificate = new x509.X509Certificate(opened.deviceCa.certPem);
    const leaf = new x509.X509Certificate(created.certificatePem);

    expect(caCertificate.notAfter.getTime()).toBeGreaterThanOrEqual(leaf.notAfter.getTime());
    expect(leaf.notAfter.toISOString()).toBe('2049-12-31T23:59:59.000Z');
  });

  it('opens the same CA and registry on a later start', async () => {
    const created = await newCertificate();
    await authority.setCertificateStatus(created.certificateId, 'ACTIVE');

    const again = await openLocalCertificateAuthority(dataDir);

    expect(again.deviceCa.certPem).toBe(opened.deviceCa.certPem);
    await expect(again.authority.getCertificate(created.certificateId)).resolves.toMatchObject({ status: 'ACTIVE' });
  });
});

describe('LocalCertificateAuthority', () => {
  describe('createCertificate', () => {
    it('signs the CSR with the device CA and returns an id, ARN and PEM as AWS IoT does', async () => {
      const created = await newCertificate();
      const certificate = new x509.X509Certificate(created.certificatePem);

      expect(created.certificateId).toBe(createHash('sha256').update(Buffer.from(certificate.rawData)).digest('hex'));
      expect(created.certificateArn).toBe(`arn:aws:iot:us-east-1:000000000000:cert/${created.certificateId}`);
      const deviceCa = new x509.X509Certificate(opened.deviceCa.certPem);
      await expect(certificate.verify({ publicKey: deviceCa.publicKey, signatureOnly: true })).resolves.toBe(true);
    });

    it('records the certificate as INACTIVE, with nothing attached', async () => {
      const created = await newCertificate();
      await expect(authority.getCertificate(created.certificateId)).resolves.toMatchObject({
        id: created.certificateId,
        arn: created.certificateArn,
        pem: created.certificatePem,
        status: 'INACTIVE',
        policies: [],
        things: [],
      });
    });

    it('uses the region and account it was opened with', async () => {
      const scoped = await openLocalCertificateAuthority(dataDir, {
        region: 'eu-central-1',
        accountId: '123456789012',
      });
      const { csrPem } = await makeCsr({ commonName: 'SN-2' });
      const created = await scoped.authority.createCertificate(csrPem);
      expect(created.certificateArn).toBe(`arn:aws:iot:eu-central-1:123456789012:cert/${created.certificateId}`);
    });

    it('refuses a CSR it cannot trust, and records nothing', async () => {
      const { csrPem } = await makeCsr({ commonName: 'SN-1', keyType: 'rsa-1024' });
      await expect(authority.createCertificate(csrPem)).rejects.toBeInstanceOf(CsrRejectedError);
      await expect(authority.listCertificates()).resolves.toEqual([]);
    });
  });

  describe('setCertificateStatus', () => {
    const allowed: [CertificateStatus, CertificateStatus][] = [
      ['INACTIVE', 'ACTIVE'],
      ['INACTIVE', 'INACTIVE'],
      ['INACTIVE', 'REVOKED'],
      ['ACTIVE', 'INACTIVE'],
      ['ACTIVE', 'ACTIVE'],
      ['ACTIVE', 'REVOKED'],
    ];

    it.each(allowed)('moves a certificate from %s to %s', async (from, to) => {
      const { certificateId } = await newCertificate();
      await authority.setCertificateStatus(certificateId, from);
      await authority.setCertificateStatus(certificateId, to);
      await expect(authority.getCertificate(certificateId)).resolves.toMatchObject({ status: to });
    });

    it.each<CertificateStatus>(['REVOKED', 'INACTIVE'])(
      'accepts %s on a revoked certificate as already done, and it stays REVOKED',
      async (status) => {
        const { certificateId } = await newCertificate();
        await authority.setCertificateStatus(certificateId, 'REVOKED');
        await authority.setCertificateStatus(certificateId, status);
        await expect(authority.getCertificate(certificateId)).resolves.toMatchObject({ status: 'REVOKED' });
      },
    );

    it('refuses to reactivate a revoked certificate, saying why', async () => {
      const { certificateId } = await newCertificate();
      await authority.setCertificateStatus(certificateId, 'REVOKED');
      const reactivating = authority.setCertificateStatus(certificateId, 'ACTIVE');
      await expect(reactivating).rejects.toBeInstanceOf(CertificateRevokedError);
      await expect(reactivating).rejects.toThrow(/revoked certificate stays revoked/);
      await expect(authority.getCertificate(certificateId)).resolves.toMatchObject({ status: 'REVOKED' });
    });

    it('throws ResourceNotFoundError for a certificate it does not know', async () => {
      await expect(authority.setCertificateStatus('f'.repeat(64), 'ACTIVE')).rejects.toBeInstanceOf(
        ResourceNotFoundError,
      );
    });
  });

  describe('ensureThing', () => {
    it('creates the thing with its attributes', async () => {
      await authority.ensureThing('SN-0001', { model: 'm1' });
      await expect(authority.getThing('SN-0001')).resolves.toMatchObject({
        name: 'SN-0001',
        attributes: { model: 'm1' },
        principals: [],
      });
    });

    it('accepts a thing that already exists, replacing its attributes when they differ', async () => {
      await authority.ensureThing('SN-0001', { model: 'm1' });
      await authority.ensureThing('SN-0001', { model: 'm1' });
      await authority.ensureThing('SN-0001', { model: 'm2', site: 'north' });
      await expect(authority.getThing('SN-0001')).resolves.toMatchObject({
        attributes: { model: 'm2', site: 'north' },
      });
    });
  });

  describe('attachments', () => {
    it('records the policy and the thing on the certificate, and the certificate on the thing', async () => {
      const created = await newCertificate();
      await authority.ensureThing('SN-0001', {});

      await authority.attachPolicy(created.certificateArn);
      await authority.attachThingPrincipal('SN-0001', created.certificateArn);

      await expect(authority.getCertificate(created.certificateId)).resolves.toMatchObject({
        policies: ['cvm-device'],
        things: ['SN-0001'],
      });
      await expect(authority.getThing('SN-0001')).resolves.toMatchObject({ principals: [created.certificateArn] });
    });

    it('attaches the policy it was opened with', async () => {
      const custom = await openLocalCertificateAuthority(dataDir, { policyName: 'fleet-policy' });
      const created = await custom.authority.createCertificate((await makeCsr({ commonName: 'SN-3' })).csrPem);
      await custom.authority.attachPolicy(created.certificateArn);
      await expect(custom.authority.getCertificate(created.certificateId)).resolves.toMatchObject({
        policies: ['fleet-policy'],
      });
    });

    it('records each attachment once, however often it is repeated', async () => {
      const created = await newCertificate();
      await authority.ensureThing('SN-0001', {});
      for (let attempt = 0; attempt < 2; attempt += 1) {
        await authority.attachPolicy(created.certificateArn);
        await authority.attachThingPrincipal('SN-0001', created.certificateArn);
      }
      await expect(authority.getCertificate(created.certificateId)).resolves.toMatchObject({
        policies: ['cvm-device'],
        things: ['SN-0001'],
      });
      await expect(authority.getThing('SN-0001')).resolves.toMatchObject({ principals: [created.certificateArn] });
    });

    const unknownArn = `arn:aws:iot:us-east-1:000000000000:cert/${'e'.repeat(64)}`;
    const notFound: { name: string; attach: () => Promise<void> }[] = [
      { name: 'fail/policy-on-unknown-certificate', attach: () => authority.attachPolicy(unknownArn) },
      {
        name: 'fail/thing-on-unknown-certificate',
        attach: () => authority.attachThingPrincipal('SN-0001', unknownArn),
      },
      {
        name: 'fail/policy-on-certificate-of-another-account',
        attach: async () => {
          const created = await newCertificate();
          await authority.attachPolicy(created.certificateArn.replace('000000000000', '111111111111'));
        },
      },
      {
        name: 'fail/certificate-on-unknown-thing',
        attach: async () => authority.attachThingPrincipal('SN-unknown', (await newCertificate()).certificateArn),
      },
    ];

    it.each(notFound)('$name throws ResourceNotFoundError', async ({ attach }) => {
      await authority.ensureThing('SN-0001', {});
      await expect(attach()).rejects.toBeInstanceOf(ResourceNotFoundError);
    });

    it('leaves no half of an attachment to a thing that does not exist', async () => {
      const created = await newCertificate();
      await expect(authority.attachThingPrincipal('SN-unknown', created.certificateArn)).rejects.toThrow();
      await expect(authority.getCertificate(created.certificateId)).resolves.toMatchObject({ things: [] });
    });

    it('detaches, and detaching what is not attached or does not exist is done already', async () => {
      const created = await newCertificate();
      await authority.ensureThing('SN-0001', {});
      await authority.attachPolicy(created.certificateArn);
      await authority.attachThingPrincipal('SN-0001', created.certificateArn);

      for (let attempt = 0; attempt < 2; attempt += 1) {
        await authority.detachPolicy(created.certificateArn);
        await authority.detachThingPrincipal('SN-0001', created.certificateArn);
      }
      await authority.detachPolicy(`arn:aws:iot:us-east-1:000000000000:cert/${'e'.repeat(64)}`);
      await authority.detachThingPrincipal('SN-unknown', created.certificateArn);

      await expect(authority.getCertificate(created.certificateId)).resolves.toMatchObject({
        policies: [],
        things: [],
      });
      await expect(authority.getThing('SN-0001')).resolves.toMatchObject({ principals: [] });
    });
  });

  describe('deleteCertificate', () => {
    it('deletes an inactive certificate with nothing attached', async () => {
      const { certificateId } = await newCertificate();
      await authority.deleteCertificate(certificateId);
      await expect(authority.getCertificate(certificateId)).resolves.toBeUndefined();
    });

    it('deletes a revoked certificate', async () => {
      const { certificateId } = await newCertificate();
      await authority.setCertificateStatus(certificateId, 'REVOKED');
      await authority.deleteCertificate(certificateId);
      await expect(authority.getCertificate(certificateId)).resolves.toBeUndefined();
    });

    it('treats deleting an unknown or already deleted certificate as done', async () => {
      const { certificateId } = await newCertificate();
      await authority.deleteCertificate(certificateId);
      await authority.deleteCertificate(certificateId);
      await authority.deleteCertificate('not-even-an-id');
    });

    const conflicts: { name: string; arrange: (id: string, arn: string) => Promise<void>; message: RegExp }[] = [
      {
        name: 'fail/active',
        arrange: (id) => authority.setCertificateStatus(id, 'ACTIVE'),
        message: /ACTIVE; deactivate it/,
      },
      {
        name: 'fail/policy-attached',
        arrange: (_id, arn) => authority.attachPolicy(arn),
        message: /attached to policy cvm-device/,
      },
      {
        name: 'fail/thing-attached',
        arrange: async (_id, arn) => {
          await authority.ensureThing('SN-0001', {});
          await authority.attachThingPrincipal('SN-0001', arn);
        },
        message: /attached to thing SN-0001/,
      },
    ];

    it.each(conflicts)(
      '$name refuses with DeleteConflictError and keeps the certificate',
      async ({ arrange, message }) => {
        const { certificateId, certificateArn } = await newCertificate();
        await arrange(certificateId, certificateArn);

        const deleting = authority.deleteCertificate(certificateId);

        await expect(deleting).rejects.toBeInstanceOf(DeleteConflictError);
        await expect(deleting).rejects.toThrow(message);
        await expect(authority.getCertificate(certificateId)).resolves.toBeDefined();
      },
    );

    it('succeeds once the core has undone everything in its compensation order', async () => {
      const { certificateId, certificateArn } = await newCertificate();
      await authority.ensureThing('SN-0001', {});
      await authority.attachPolicy(certificateArn);
      await authority.attachThingPrincipal('SN-0001', certificateArn);
      await authority.setCertificateStatus(certificateId, 'ACTIVE');

      await authority.setCertificateStatus(certificateId, 'INACTIVE');
      await authority.detachThingPrincipal('SN-0001', certificateArn);
      await authority.detachPolicy(certificateArn);
      await authority.deleteCertificate(certificateId);

      await expect(authority.getCertificate(certificateId)).resolves.toBeUndefined();
    });
  });

  describe('connectionInfo', () => {
    it('gives the endpoint it was opened with', async () => {
      const endpoint = { caCertificatePem: 'the TLS CA', iotEndpoint: 'localhost' };
      const withEndpoint = await openLocalCertificateAuthority(dataDir, { endpoint });
      await expect(withEndpoint.authority.connectionInfo()).resolves.toEqual(endpoint);
    });

    it('gives the device CA and no IoT endpoint when opened without one', async () => {
      await expect(authority.connectionInfo()).resolves.toEqual({
        caCertificatePem: opened.deviceCa.certPem,
        iotEndpoint: null,
      });
    });
  });
});

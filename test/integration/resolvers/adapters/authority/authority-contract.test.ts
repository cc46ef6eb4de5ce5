/**
 * The meaning both authorities give every outcome (the CertificateAuthority port's contract), checked with the
 * same cases against the local CA (real, on disk) and the AWS IoT adapter (through aws-sdk-client-mock, answering
 * with the errors AWS IoT documents for each call: ResourceNotFoundException for a certificate that is gone,
 * CertificateStateException for a status change on a REVOKED certificate).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AttachPolicyCommand,
  AttachThingPrincipalCommand,
  CertificateStateException,
  DeleteCertificateCommand,
  DescribeCertificateCommand,
  DetachPolicyCommand,
  DetachThingPrincipalCommand,
  IoTClient,
  ResourceNotFoundException,
  UpdateCertificateCommand,
} from '@aws-sdk/client-iot';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AwsIotAuthority } from '../../../../../resolvers/adapters/authority/aws-iot/iot-authority.ts';
import { openLocalCertificateAuthority } from '../../../../../resolvers/adapters/authority/local-ca/authority.ts';
import { CertificateRevokedError, ResourceNotFoundError } from '../../../../../resolvers/core/errors.ts';
import type { CertificateAuthority } from '../../../../../resolvers/core/ports.ts';
import { makeCsr } from '../../../../support/csr.ts';

const THING = 'SN-CONTRACT';

interface Certificate {
  readonly certificateId: string;
  readonly certificateArn: string;
}

/** One authority and a way to bring a certificate into each state the cases start from. */
interface Subject {
  readonly authority: CertificateAuthority;
  readonly given: {
    deleted(): Promise<Certificate>;
    inactiveAndDetached(): Promise<Certificate>;
    revoked(): Promise<Certificate>;
    neverExisted(): Certificate;
  };
}

async function localSubject(): Promise<{ subject: Subject; close: () => Promise<void> }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'cvm-contract-'));
  const { authority } = await openLocalCertificateAuthority(dataDir);
  await authority.ensureThing(THING, {});
  const fresh = async (): Promise<Certificate> =>
    authority.createCertificate((await makeCsr({ commonName: THING })).csrPem);
  const subject: Subject = {
    authority,
    given: {
      deleted: async () => {
        const certificate = await fresh();
        await authority.deleteCertificate(certificate.certificateId);
        return certificate;
      },
      inactiveAndDetached: fresh,
      revoked: async () => {
        const certificate = await fresh();
        await authority.setCertificateStatus(certificate.certificateId, 'REVOKED');
        return certificate;
      },
      neverExisted: () => ({
        certificateId: 'e'.repeat(64),
        certificateArn: `arn:aws:iot:us-east-1:000000000000:cert/${'e'.repeat(64)}`,
      }),
    },
  };
  return { subject, close: () => rm(dataDir, { recursive: true, force: true }) };
}

const iot = mockClient(IoTClient);
let awsCertificates = 0;

function awsSubject(): Subject {
  const authority = new AwsIotAuthority({ client: new IoTClient({ region: 'us-east-1' }), policyName: 'cvm-device' });
  const named = (): Certificate => {
    awsCertificates += 1;
    const certificateId = awsCertificates.toString(16).padStart(64, '0');
    return { certificateId, certificateArn: `arn:aws:iot:us-east-1:123456789012:cert/${certificateId}` };
  };
  const notFound = () => new ResourceNotFoundException({ message: 'The certificate does not exist', $metadata: {} });
  /** What AWS IoT answers about a certificate that is gone (or never was). */
  const gone = (certificate: Certificate): Certificate => {
    const { certificateId, certificateArn } = certificate;
    iot.on(UpdateCertificateCommand, { certificateId }).rejects(notFound());
    iot.on(DeleteCertificateCommand, { certificateId }).rejects(notFound());
    iot.on(DescribeCertificateCommand, { certificateId }).rejects(notFound());
    iot.on(AttachPolicyCommand, { target: certificateArn }).rejects(notFound());
    iot.on(AttachThingPrincipalCommand, { principal: certificateArn }).rejects(notFound());
    iot.on(DetachPolicyCommand, { target: certificateArn }).rejects(notFound());
    iot.on(DetachThingPrincipalCommand, { principal: certificateArn }).resolves({});
    return certificate;
  };
  return {
    authority,
    given: {
      deleted: () => Promise.resolve(gone(named())),
      inactiveAndDetached: () => {
        const certificate = named();
        iot.on(UpdateCertificateCommand, { certificateId: certificate.certificateId }).resolves({});
        iot.on(DetachPolicyCommand, { target: certificate.certificateArn }).resolves({});
        iot.on(DetachThingPrincipalCommand, { principal: certificate.certificateArn }).resolves({});
        iot.on(DeleteCertificateCommand, { certificateId: certificate.certificateId }).resolves({});
        return Promise.resolve(certificate);
      },
      revoked: () => {
        const certificate = named();
        iot
          .on(UpdateCertificateCommand, { certificateId: certificate.certificateId })
          .rejects(new CertificateStateException({ message: 'The certificate is revoked', $metadata: {} }));
        iot
          .on(DescribeCertificateCommand, { certificateId: certificate.certificateId })
          .resolves({ certificateDescription: { certificateId: certificate.certificateId, status: 'REVOKED' } });
        return Promise.resolve(certificate);
      },
      neverExisted: () => gone(named()),
    },
  };
}

const local: { subject?: Subject; close?: () => Promise<void> } = {};
beforeAll(async () => {
  const opened = await localSubject();
  local.subject = opened.subject;
  local.close = opened.close;
});
afterAll(async () => {
  await local.close?.();
  iot.restore();
});
beforeEach(() => {
  iot.reset();
});

const SUBJECTS: { name: string; subject: () => Subject }[] = [
  { name: 'local CA', subject: () => local.subject as Subject },
  { name: 'AWS IoT', subject: awsSubject },
];

describe.each(SUBJECTS)('the $name authority', ({ subject }) => {
  describe('already deleted', () => {
    it('deactivating, revoking, detaching and deleting again all succeed: the certificate is as gone as it gets', async () => {
      const { authority, given } = subject();
      const { certificateId, certificateArn } = await given.deleted();
      await expect(authority.setCertificateStatus(certificateId, 'INACTIVE')).resolves.toBeUndefined();
      await expect(authority.setCertificateStatus(certificateId, 'REVOKED')).resolves.toBeUndefined();
      await expect(authority.detachPolicy(certificateArn)).resolves.toBeUndefined();
      await expect(authority.detachThingPrincipal(THING, certificateArn)).resolves.toBeUndefined();
      await expect(authority.deleteCertificate(certificateId)).resolves.toBeUndefined();
      await expect(authority.certificatePem(certificateId)).resolves.toBeUndefined();
    });

    it('activating it is ResourceNotFoundError', async () => {
      const { authority, given } = subject();
      const { certificateId } = await given.deleted();
      await expect(authority.setCertificateStatus(certificateId, 'ACTIVE')).rejects.toBeInstanceOf(
        ResourceNotFoundError,
      );
    });
  });

  describe('already inactive and detached', () => {
    it('deactivating, detaching and deleting it succeed', async () => {
      const { authority, given } = subject();
      const { certificateId, certificateArn } = await given.inactiveAndDetached();
      await expect(authority.setCertificateStatus(certificateId, 'INACTIVE')).resolves.toBeUndefined();
      await expect(authority.detachPolicy(certificateArn)).resolves.toBeUndefined();
      await expect(authority.detachThingPrincipal(THING, certificateArn)).resolves.toBeUndefined();
      await expect(authority.deleteCertificate(certificateId)).resolves.toBeUndefined();
    });
  });

  describe('already revoked', () => {
    it('revoking or deactivating it again succeeds', async () => {
      const { authority, given } = subject();
      const { certificateId } = await given.revoked();
      await expect(authority.setCertificateStatus(certificateId, 'REVOKED')).resolves.toBeUndefined();
      await expect(authority.setCertificateStatus(certificateId, 'INACTIVE')).resolves.toBeUndefined();
    });

    it('activating it is CertificateRevokedError', async () => {
      const { authority, given } = subject();
      const { certificateId } = await given.revoked();
      await expect(authority.setCertificateStatus(certificateId, 'ACTIVE')).rejects.toBeInstanceOf(
        CertificateRevokedError,
      );
    });
  });

  describe('not found (never existed)', () => {
    it('attaching to it is ResourceNotFoundError; undoing anything on it succeeds', async () => {
      const { authority, given } = subject();
      const { certificateId, certificateArn } = given.neverExisted();
      await expect(authority.attachPolicy(certificateArn)).rejects.toBeInstanceOf(ResourceNotFoundError);
      await expect(authority.attachThingPrincipal(THING, certificateArn)).rejects.toBeInstanceOf(ResourceNotFoundError);
      await expect(authority.setCertificateStatus(certificateId, 'INACTIVE')).resolves.toBeUndefined();
      await expect(authority.detachPolicy(certificateArn)).resolves.toBeUndefined();
      await expect(authority.deleteCertificate(certificateId)).resolves.toBeUndefined();
    });
  });
});

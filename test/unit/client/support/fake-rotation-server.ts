/**
 * Stands in for the server side of rotation (renewCertificate, confirmCertificate) for one enrolled device: a
 * GraphqlClient that checks the proofs as the server does (a signature over SHA-256 of the CSR's or certificate's
 * DER, by the current or the new key), keeps the device's current and pending certificates, rolls back a pending
 * certificate past its deadline, and signs with a real CA. Hooks before and after each call let a test cut the
 * power: before, the request never reached the server; after, the server acted and the answer was lost.
 */
import 'reflect-metadata';
import { X509Certificate, createHash, createPublicKey, verify } from 'node:crypto';
import { Pkcs10CertificateRequest } from '@peculiar/x509';
import { GraphqlError } from '../../../../client/errors.ts';
import type { GraphqlClient, GraphqlVariables } from '../../../../client/graphql-client.ts';
import type { CertificateGrant, Device } from '../../../../client/types.ts';
import { pendingDevice } from '../../../support/device-fixture.ts';
import type { TestCa } from './fake-issuer.ts';

export type RotationOperation = 'renewCertificate' | 'confirmCertificate';

interface IssuedCertificate {
  readonly id: string;
  readonly pem: string;
  /** SHA-256 of the certified key's SubjectPublicKeyInfo DER. */
  readonly keyFingerprint: string;
}

interface Pending extends IssuedCertificate {
  readonly confirmBy: Date;
  readonly issuedAt: string;
}

export interface FakeRotationServer {
  readonly client: GraphqlClient;
  readonly serialNumber: string;
  /** What the server holds; tests read it and change it (a revocation by an admin, say). */
  readonly state: {
    status: 'ACTIVE' | 'REVOKED';
    current: IssuedCertificate;
    pending: Pending | undefined;
    /** Certificates the server revoked, in order. */
    readonly revoked: string[];
    /** Certificates issued by renewals. */
    readonly issued: IssuedCertificate[];
    /** The key pinned for the next certificate (SHA-256 of its SPKI DER), if any. */
    pin: string | undefined;
  };
  /** Calls answered, by operation. */
  readonly calls: RotationOperation[];
  /** Called before the server acts on a request, and after (before the answer leaves); a throw stands for a cut. */
  hooks: { before?: (operation: RotationOperation) => void; after?: (operation: RotationOperation) => void };
  /** Scripted errors for the next calls, answered before the server acts (IssuanceInProgress, say). */
  readonly refuseNext: GraphqlError[];
}

const ROTATION_WINDOW_MS = 7 * 24 * 3600_000;

/** The server of `serialNumber`, whose current certificate is `currentCertificatePem`, known as `currentCertificateId`. */
export function fakeRotationServer(options: {
  readonly ca: TestCa;
  readonly serialNumber: string;
  readonly currentCertificatePem: string;
  /** fake-issuer's grants name a certificate by its CSR's hash; renewals here by the DER's, as AWS IoT does. */
  readonly currentCertificateId: string;
  readonly now: () => Date;
}): FakeRotationServer {
  const { ca, serialNumber, now } = options;
  const state: FakeRotationServer['state'] = {
    status: 'ACTIVE',
    current: { ...describe(options.currentCertificatePem), id: options.currentCertificateId },
    pending: undefined,
    revoked: [],
    issued: [],
    pin: undefined,
  };
  const calls: RotationOperation[] = [];
  const server: FakeRotationServer = {
    serialNumber,
    state,
    calls,
    hooks: {},
    refuseNext: [],
    client: {
      async request<T>(query: string, variables?: GraphqlVariables): Promise<T> {
        const operation: RotationOperation | undefined = query.includes('renewCertificate(input:')
          ? 'renewCertificate'
          : query.includes('confirmCertificate(input:')
            ? 'confirmCertificate'
            : undefined;
        if (operation === undefined) throw new Error(`unexpected query: ${query}`);
        server.hooks.before?.(operation);
        const refusal = server.refuseNext.shift();
        if (refusal !== undefined) throw refusal;
        calls.push(operation);
        const input = (variables as { input: Record<string, string> }).input;
        const answer =
          operation === 'renewCertificate'
            ? { renewCertificate: await renew(input) }
            : { confirmCertificate: confirm(input) };
        server.hooks.after?.(operation);
        return answer as T;
      },
    },
  };

  function rollBackIfOverdue(): void {
    if (state.pending !== undefined && state.pending.confirmBy.getTime() <= now().getTime()) {
      state.revoked.push(state.pending.id);
      state.pending = undefined;
    }
  }

  async function renew(input: Record<string, string>): Promise<CertificateGrant> {
    rollBackIfOverdue();
    const csr = new Pkcs10CertificateRequest(input.csr ?? '');
    const csrDer = new Uint8Array(csr.rawData);
    if (
      input.serialNumber !== serialNumber ||
      state.status !== 'ACTIVE' ||
      input.certificateId !== state.current.id ||
      !proves(state.current.pem, csrDer, input.signature ?? '')
    ) {
      throw refusal('InvalidProof', 'The serial number, certificate id and signature do not prove possession.');
    }
    const keyFingerprint = sha256(new Uint8Array(csr.publicKey.rawData));
    if (state.pin !== undefined && state.pin !== keyFingerprint) {
      throw refusal('KeyMismatch', 'The CSR is not for the key pinned for this device.');
    }
    if (state.pending?.keyFingerprint === keyFingerprint) return grant(state.pending);
    if (state.pending !== undefined) state.revoked.push(state.pending.id);
    const pem = await ca.issue(`CN=${serialNumber}`, csr);
    const issued = describe(pem);
    state.issued.push(issued);
    state.pending = {
      ...issued,
      confirmBy: new Date(now().getTime() + ROTATION_WINDOW_MS),
      issuedAt: now().toISOString(),
    };
    return grant(state.pending);
  }

  function confirm(input: Record<string, string>): Device {
    rollBackIfOverdue();
    const pending = state.pending;
    const signature = input.signature ?? '';
    if (
      state.status === 'ACTIVE' &&
      pending !== undefined &&
      pending.id === input.certificateId &&
      proves(pending.pem, der(pending.pem), signature)
    ) {
      state.revoked.push(state.current.id);
      state.current = pending;
      state.pending = undefined;
      return device();
    }
    // Confirmed already: the answer was lost, and this is the repeat.
    if (
      state.status === 'ACTIVE' &&
      state.current.id === input.certificateId &&
      proves(state.current.pem, der(state.current.pem), signature)
    ) {
      return device();
    }
    throw refusal('InvalidProof', 'The serial number, certificate id and signature do not prove possession.');
  }

  function grant(pending: Pending): CertificateGrant {
    return {
      serialNumber,
      thingName: `thing-${serialNumber}`,
      certificateId: pending.id,
      certificateArn: `arn:aws:iot:us-east-1:000000000000:cert/${pending.id}`,
      certificatePem: pending.pem,
      caCertificatePem: ca.certificatePem,
      iotEndpoint: 'example-ats.iot.us-east-1.amazonaws.com',
      issuedAt: pending.issuedAt,
      confirmBy: pending.confirmBy.toISOString(),
    };
  }

  function device(): Device {
    return pendingDevice(serialNumber, {
      status: 'ACTIVE',
      thingName: `thing-${serialNumber}`,
      tokenExpiresAt: null,
      certificateId: state.current.id,
      certificateArn: `arn:aws:iot:us-east-1:000000000000:cert/${state.current.id}`,
    });
  }

  return server;
}

/** The certificate id (lowercase hex SHA-256 of its DER, as AWS IoT's) and its key's fingerprint. */
export function describe(pem: string): IssuedCertificate {
  const certificate = new X509Certificate(pem);
  const spki = certificate.publicKey.export({ type: 'spki', format: 'der' });
  return { id: sha256(new Uint8Array(certificate.raw)), pem, keyFingerprint: sha256(new Uint8Array(spki)) };
}

function proves(certificatePem: string, signed: Uint8Array, signatureBase64: string): boolean {
  const key = createPublicKey(certificatePem);
  const signature = Buffer.from(signatureBase64, 'base64');
  return key.asymmetricKeyType === 'ec'
    ? verify('sha256', signed, { key, dsaEncoding: 'der' }, signature)
    : verify('sha256', signed, key, signature);
}

function der(pem: string): Uint8Array {
  return new Uint8Array(new X509Certificate(pem).raw);
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function refusal(errorType: string, message: string): GraphqlError {
  return new GraphqlError([{ errorType, message, path: [] }]);
}

/**
 * The local stand-in for AWS IoT: signs device CSRs with the local device CA and keeps certificates,
 * things and their attachments in a registry on disk, refusing what AWS IoT refuses (a revoked
 * certificate cannot come back; a certificate that is active or still attached cannot be deleted), so
 * that the core's compensation paths meet the same rules locally as in the cloud.
 *
 * The device CA signs device certificates (AWS: the IoT CA behind CreateCertificateFromCsr). What a device
 * trusts for the endpoint (AWS: Amazon Root CA 1) is the local stack's TLS CA, given as `endpoint`.
 */
import { join } from 'node:path';
import { CertificateRevokedError, ResourceNotFoundError } from '../../../core/errors.ts';
import type {
  CertificateAuthority,
  CertificateStatus,
  CertificateSummary,
  Clock,
  CreatedCertificate,
} from '../../../core/ports.ts';
import { loadOrCreateCa } from './ca-store.ts';
import { DEVICE_CERTIFICATE_NOT_AFTER } from './issue-leaf.ts';
import { certificateArn, certificateIdFromArn, type ArnScope } from './certificate-arn.ts';
import { DeleteConflictError } from './errors.ts';
import { issueDeviceCertificate } from './issue-leaf.ts';
import type { LocalCa } from './local-ca.ts';
import { CertificateRegistry, type CertificateRecord, type ThingRecord } from './registry.ts';

export interface LocalCertificateAuthorityOptions {
  /** Region in certificate ARNs. Default `us-east-1`. */
  readonly region?: string;
  /** Account in certificate ARNs. Default `000000000000`. */
  readonly accountId?: string;
  /** The policy attachPolicy attaches. Default `cvm-device`. */
  readonly policyName?: string;
  /** Time of issue and of registry timestamps. Default: the system clock. */
  readonly clock?: Pick<Clock, 'now'>;
  /** What connectionInfo() tells a device. Default: the device CA and no IoT endpoint. */
  readonly endpoint?: EndpointInfo;
}

export interface EndpointInfo {
  /** The CA a device trusts for the endpoint's server certificate. */
  readonly caCertificatePem: string;
  /** The MQTT endpoint's host name, or null when there is none. */
  readonly iotEndpoint: string | null;
}

export const DEFAULT_REGION = 'us-east-1';
export const DEFAULT_ACCOUNT_ID = '000000000000';
export const DEFAULT_POLICY_NAME = 'cvm-device';
export const DEVICE_CA_COMMON_NAME = 'cvm local device CA';

export interface CaCertificate {
  readonly certPem: string;
  /** Path of the PEM file, for tools that take a file (openssl, curl --cacert). */
  readonly certFile: string;
}

export interface OpenedLocalCertificateAuthority {
  readonly authority: LocalCertificateAuthority;
  /** Signs device certificates; what a server checking device certificates trusts. */
  readonly deviceCa: CaCertificate;
}

/**
 * Open (creating on first use) the local authority kept under `dataDir`:
 * `ca/device/` and `registry/`.
 */
export async function openLocalCertificateAuthority(
  dataDir: string,
  options: LocalCertificateAuthorityOptions = {},
): Promise<OpenedLocalCertificateAuthority> {
  const [deviceCa, registry] = await Promise.all([
    // A new device CA lasts as long as the certificates AWS IoT issues; an older, shorter one still works, as
    // issue-leaf.ts caps each certificate to its CA's validity.
    loadOrCreateCa(join(dataDir, 'ca', 'device'), {
      commonName: DEVICE_CA_COMMON_NAME,
      notAfter: DEVICE_CERTIFICATE_NOT_AFTER,
    }),
    CertificateRegistry.open(join(dataDir, 'registry')),
  ]);
  const authority = new LocalCertificateAuthority({ deviceCa, registry, ...options });
  return { authority, deviceCa: { certPem: deviceCa.certificatePem, certFile: deviceCa.certificateFile } };
}

export interface LocalCertificateAuthorityParts extends LocalCertificateAuthorityOptions {
  readonly deviceCa: LocalCa;
  readonly registry: CertificateRegistry;
}

export class LocalCertificateAuthority implements CertificateAuthority {
  /** The persisted state, for tests and admin tools to read. */
  readonly registry: CertificateRegistry;
  private readonly deviceCa: LocalCa;
  private readonly endpoint: EndpointInfo;
  private readonly scope: ArnScope;
  private readonly policyName: string;
  private readonly clock: Pick<Clock, 'now'>;

  constructor(parts: LocalCertificateAuthorityParts) {
    this.registry = parts.registry;
    this.deviceCa = parts.deviceCa;
    this.endpoint = parts.endpoint ?? { caCertificatePem: parts.deviceCa.certificatePem, iotEndpoint: null };
    this.scope = { region: parts.region ?? DEFAULT_REGION, accountId: parts.accountId ?? DEFAULT_ACCOUNT_ID };
    this.policyName = parts.policyName ?? DEFAULT_POLICY_NAME;
    this.clock = parts.clock ?? { now: () => new Date() };
  }

  async createCertificate(csrPem: string): Promise<CreatedCertificate> {
    const now = this.clock.now();
    const issued = await issueDeviceCertificate(this.deviceCa, csrPem, { now });
    const record: CertificateRecord = {
      id: issued.certificateId,
      arn: certificateArn(this.scope, issued.certificateId),
      pem: issued.certificatePem,
      status: 'INACTIVE',
      createdAt: now.toISOString(),
      policies: [],
      things: [],
    };
    await this.registry.updateCertificate(record.id, (current) => {
      if (current !== undefined) {
        // Each certificate has a fresh random serial, so its hash cannot repeat; if it does, something is badly wrong.
        throw new Error(`A certificate with id ${record.id} already exists.`);
      }
      return record;
    });
    return { certificateId: record.id, certificateArn: record.arn, certificatePem: record.pem };
  }

  async ensureThing(thingName: string, attributes: Readonly<Record<string, string>>): Promise<void> {
    await this.registry.updateThing(thingName, (current): ThingRecord => {
      if (current === undefined) {
        return {
          name: thingName,
          attributes: { ...attributes },
          principals: [],
          createdAt: this.clock.now().toISOString(),
        };
      }
      return sameAttributes(current.attributes, attributes) ? current : { ...current, attributes: { ...attributes } };
    });
  }

  async attachPolicy(certificateArn: string): Promise<void> {
    const id = this.requireCertificateId(certificateArn);
    await this.registry.updateCertificate(id, (current) => {
      const certificate = requireCertificate(current, id);
      return certificate.policies.includes(this.policyName)
        ? certificate
        : { ...certificate, policies: [...certificate.policies, this.policyName] };
    });
  }

  async attachThingPrincipal(thingName: string, certificateArn: string): Promise<void> {
    const id = this.requireCertificateId(certificateArn);
    // The certificate side first: it is what deleteCertificate checks, so a delete racing this attach
    // either sees the attachment or makes this call fail.
    let linkedByThisCall = false;
    await this.registry.updateCertificate(id, (current) => {
      const certificate = requireCertificate(current, id);
      if (certificate.things.includes(thingName)) {
        return certificate;
      }
      linkedByThisCall = true;
      return { ...certificate, things: [...certificate.things, thingName] };
    });
    try {
      await this.registry.updateThing(thingName, (current) => {
        if (current === undefined) {
          throw new ResourceNotFoundError(`Thing ${thingName} does not exist.`);
        }
        return current.principals.includes(certificateArn)
          ? current
          : { ...current, principals: [...current.principals, certificateArn] };
      });
    } catch (error) {
      if (linkedByThisCall) {
        await this.registry.updateCertificate(id, (current) => current && withoutThing(current, thingName));
      }
      throw error;
    }
  }

  async setCertificateStatus(certificateId: string, status: CertificateStatus): Promise<void> {
    await this.registry.updateCertificate(certificateId, (current) => {
      // Nothing left to disable: a certificate already deleted is as unusable as it gets (as on AWS IoT).
      if (current === undefined && status !== 'ACTIVE') return undefined;
      const certificate = requireCertificate(current, certificateId);
      if (certificate.status === status) {
        return certificate;
      }
      if (certificate.status === 'REVOKED') {
        // Deactivating a revoked certificate is already done: it is as unusable as it will ever be.
        if (status === 'INACTIVE') {
          return certificate;
        }
        throw new CertificateRevokedError(
          `Certificate ${certificateId} is REVOKED; a revoked certificate stays revoked.`,
        );
      }
      return { ...certificate, status };
    });
  }

  async detachPolicy(certificateArn: string): Promise<void> {
    const id = certificateIdFromArn(this.scope, certificateArn);
    if (id === undefined) {
      return;
    }
    await this.registry.updateCertificate(id, (current) =>
      current?.policies.includes(this.policyName)
        ? { ...current, policies: current.policies.filter((policy) => policy !== this.policyName) }
        : current,
    );
  }

  async detachThingPrincipal(thingName: string, certificateArn: string): Promise<void> {
    await this.registry.updateThing(thingName, (current) =>
      current?.principals.includes(certificateArn)
        ? { ...current, principals: current.principals.filter((principal) => principal !== certificateArn) }
        : current,
    );
    const id = certificateIdFromArn(this.scope, certificateArn);
    if (id !== undefined) {
      await this.registry.updateCertificate(id, (current) => current && withoutThing(current, thingName));
    }
  }

  async deleteCertificate(certificateId: string): Promise<void> {
    await this.registry.updateCertificate(certificateId, (current) => {
      if (current === undefined) {
        return undefined;
      }
      if (current.status === 'ACTIVE') {
        throw new DeleteConflictError(`Certificate ${certificateId} is ACTIVE; deactivate it before deleting it.`);
      }
      if (current.policies.length > 0 || current.things.length > 0) {
        throw new DeleteConflictError(
          `Certificate ${certificateId} is still attached to ${describeAttachments(current)}; ` +
            'detach it before deleting it.',
        );
      }
      return undefined;
    });
  }

  async listRecentCertificates(since: Date): Promise<CertificateSummary[]> {
    const all = await this.registry.listCertificates();
    return all
      .filter((certificate) => Date.parse(certificate.createdAt) >= since.getTime())
      .reverse()
      .map(({ id, arn, status, createdAt }) => ({ certificateId: id, certificateArn: arn, status, createdAt }));
  }

  async certificatePem(certificateId: string): Promise<string | undefined> {
    return (await this.registry.getCertificate(certificateId))?.pem;
  }

  connectionInfo(): Promise<EndpointInfo> {
    return Promise.resolve(this.endpoint);
  }

  getCertificate(certificateId: string): Promise<CertificateRecord | undefined> {
    return this.registry.getCertificate(certificateId);
  }

  getThing(thingName: string): Promise<ThingRecord | undefined> {
    return this.registry.getThing(thingName);
  }

  listCertificates(): Promise<CertificateRecord[]> {
    return this.registry.listCertificates();
  }

  private requireCertificateId(arn: string): string {
    const id = certificateIdFromArn(this.scope, arn);
    if (id === undefined) {
      throw new ResourceNotFoundError(`No certificate has the ARN ${arn}.`);
    }
    return id;
  }
}

function requireCertificate(current: CertificateRecord | undefined, certificateId: string): CertificateRecord {
  if (current === undefined) {
    throw new ResourceNotFoundError(`Certificate ${certificateId} does not exist.`);
  }
  return current;
}

function withoutThing(certificate: CertificateRecord, thingName: string): CertificateRecord {
  return certificate.things.includes(thingName)
    ? { ...certificate, things: certificate.things.filter((thing) => thing !== thingName) }
    : certificate;
}

function sameAttributes(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => Object.hasOwn(b, key) && a[key] === b[key]);
}

function describeAttachments(certificate: CertificateRecord): string {
  const parts = [
    ...certificate.policies.map((policy) => `policy ${policy}`),
    ...certificate.things.map((thing) => `thing ${thing}`),
  ];
  return parts.join(', ');
}

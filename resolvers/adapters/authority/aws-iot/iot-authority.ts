/**
 * The CertificateAuthority port on AWS IoT. It only maps calls and translates errors: throttling becomes
 * ThrottledError, "already undone" becomes success, a missing resource that a call needs becomes
 * ResourceNotFoundError, and everything else propagates unchanged for the core to compensate.
 * The device's key never leaves the device: certificates come from CreateCertificateFromCsr only.
 */
import {
  AttachPolicyCommand,
  AttachThingPrincipalCommand,
  CreateCertificateFromCsrCommand,
  CreateThingCommand,
  DeleteCertificateCommand,
  DescribeCertificateCommand,
  DescribeEndpointCommand,
  DetachPolicyCommand,
  DetachThingPrincipalCommand,
  IoTClient,
  ListCertificatesCommand,
  UpdateCertificateCommand,
  UpdateThingCommand,
} from '@aws-sdk/client-iot';
import {
  CertificateRevokedError,
  CsrRejectedError,
  ResourceNotFoundError,
  ThrottledError,
} from '../../../core/errors.ts';
import type {
  CertificateAuthority,
  CertificateStatus,
  CertificateSummary,
  CreatedCertificate,
} from '../../../core/ports.ts';
import { amazonRootCa1Pem } from './amazon-root-ca.ts';

/**
 * The errors AWS IoT raises when it is overloaded rather than when the request is wrong; retrying later helps.
 * LimitExceededException is deliberately absent: in AWS IoT it reports a quota (HTTP 410, e.g. too many
 * entities attached), which no amount of retrying fixes. TooManyRequestsException is not an AWS IoT error.
 */
const THROTTLING_ERRORS: ReadonlySet<string> = new Set(['ThrottlingException', 'ServiceUnavailableException']);

/**
 * How AWS IoT may refuse a status change on a REVOKED certificate (REVOKED is final). Its documentation does not
 * say which, so either one counts as done only after DescribeCertificate confirms the certificate is REVOKED.
 */
const STATUS_CHANGE_REFUSALS: ReadonlySet<string> = new Set(['CertificateStateException', 'InvalidRequestException']);

export interface AwsIotAuthorityOptions {
  readonly client: IoTClient;
  /**
   * The client for CreateCertificateFromCsr, the one call that is not idempotent: AWS IoT makes a new
   * certificate for every call with the same CSR, so an SDK retry after a lost answer would leave a certificate
   * nobody records. Give it a client that does not retry (`createIotClient({ maxAttempts: 1 })`). Default: `client`.
   */
  readonly createCertificateClient?: IoTClient;
  /** The AWS IoT policy attached to every issued certificate. */
  readonly policyName: string;
}

/**
 * An IoT client for the authority. The SDK retries once at most by default: the core runs its own backoff within
 * the request's time budget, and SDK retries on top of it would multiply and outlast that budget. Timeouts keep a
 * hung connection from eating the whole Lambda invocation.
 */
export function createIotClient(options: { region?: string; maxAttempts?: number } = {}): IoTClient {
  return new IoTClient({
    maxAttempts: options.maxAttempts ?? 2,
    requestHandler: { connectionTimeout: 3_000, requestTimeout: 8_000 },
    ...(options.region === undefined ? {} : { region: options.region }),
  });
}

export class AwsIotAuthority implements CertificateAuthority {
  readonly #client: IoTClient;
  readonly #createCertificateClient: IoTClient;
  readonly #policyName: string;
  #endpoint: Promise<string> | undefined;

  constructor(options: AwsIotAuthorityOptions) {
    this.#client = options.client;
    this.#createCertificateClient = options.createCertificateClient ?? options.client;
    this.#policyName = options.policyName;
  }

  async createCertificate(csrPem: string): Promise<CreatedCertificate> {
    // Inactive on purpose: the core records the certificate id first and activates last, so a crash in
    // between leaves an unusable certificate to clean up, never an orphaned active one.
    const created = await this.#refusingCsr(
      this.#call(
        'CreateCertificateFromCsr',
        this.#createCertificateClient.send(
          new CreateCertificateFromCsrCommand({ certificateSigningRequest: csrPem, setAsActive: false }),
        ),
      ),
    );
    const { certificateId, certificateArn, certificatePem } = created;
    if (certificateId === undefined || certificateArn === undefined || certificatePem === undefined) {
      throw new Error('AWS IoT CreateCertificateFromCsr answered without a certificate id, ARN or PEM');
    }
    return { certificateId, certificateArn, certificatePem };
  }

  async ensureThing(thingName: string, attributes: Readonly<Record<string, string>>): Promise<void> {
    try {
      // CreateThing succeeds when the thing exists with the same attributes.
      await this.#call(
        'CreateThing',
        this.#client.send(new CreateThingCommand({ thingName, attributePayload: { attributes: { ...attributes } } })),
      );
    } catch (error) {
      if (!hasErrorName(error, 'ResourceAlreadyExistsException')) throw error;
      // It exists with other attributes: make the registry show what the admin registered.
      await this.#call(
        'UpdateThing',
        this.#client.send(
          new UpdateThingCommand({ thingName, attributePayload: { attributes: { ...attributes }, merge: false } }),
        ),
      );
    }
  }

  async attachPolicy(certificateArn: string): Promise<void> {
    await this.#reportingNotFound(
      `the policy ${this.#policyName} or the certificate ${certificateArn}`,
      this.#call(
        'AttachPolicy',
        this.#client.send(new AttachPolicyCommand({ policyName: this.#policyName, target: certificateArn })),
      ),
    );
  }

  async attachThingPrincipal(thingName: string, certificateArn: string): Promise<void> {
    await this.#reportingNotFound(
      `the thing ${thingName} or the certificate ${certificateArn}`,
      this.#call(
        'AttachThingPrincipal',
        // Exclusive: this certificate can belong to no other thing, as cvm issues one certificate per device.
        this.#client.send(
          new AttachThingPrincipalCommand({
            thingName,
            principal: certificateArn,
            thingPrincipalType: 'EXCLUSIVE_THING',
          }),
        ),
      ),
    );
  }

  async setCertificateStatus(certificateId: string, status: CertificateStatus): Promise<void> {
    try {
      await this.#call(
        'UpdateCertificate',
        this.#client.send(new UpdateCertificateCommand({ certificateId, newStatus: status })),
      );
    } catch (error) {
      if (hasErrorName(error, 'ResourceNotFoundException')) {
        if (status === 'ACTIVE') {
          throw new ResourceNotFoundError(`AWS IoT does not know the certificate ${certificateId}`, { cause: error });
        }
        return; // nothing left to disable
      }
      if (hasErrorName(error, STATUS_CHANGE_REFUSALS) && (await this.#isRevokedOrGone(certificateId))) {
        // A REVOKED certificate is already at least as disabled as INACTIVE or REVOKED asks for; it cannot come back.
        if (status !== 'ACTIVE') return;
        throw new CertificateRevokedError(`AWS IoT certificate ${certificateId} is REVOKED`, { cause: error });
      }
      throw error;
    }
  }

  async detachPolicy(certificateArn: string): Promise<void> {
    await this.#ignoringNotFound(
      this.#call(
        'DetachPolicy',
        this.#client.send(new DetachPolicyCommand({ policyName: this.#policyName, target: certificateArn })),
      ),
    );
  }

  async detachThingPrincipal(thingName: string, certificateArn: string): Promise<void> {
    await this.#ignoringNotFound(
      this.#call(
        'DetachThingPrincipal',
        this.#client.send(new DetachThingPrincipalCommand({ thingName, principal: certificateArn })),
      ),
    );
  }

  async deleteCertificate(certificateId: string): Promise<void> {
    // No forceDelete: AWS IoT then refuses to delete a certificate that is still active or attached, which
    // catches a compensation that skipped a step instead of silently hiding it.
    try {
      await this.#ignoringNotFound(
        this.#call('DeleteCertificate', this.#client.send(new DeleteCertificateCommand({ certificateId }))),
      );
    } catch (error) {
      // DetachThingPrincipal is asynchronous in AWS IoT ("may take several seconds to propagate"), so a delete
      // right after the detach is often refused as still attached. Retrying shortly succeeds: let the core's
      // backoff do it, within the compensation budget.
      if (hasErrorName(error, 'DeleteConflictException')) {
        throw new ThrottledError(`AWS IoT still sees certificate ${certificateId} attached; retrying the delete`, {
          cause: error,
        });
      }
      throw error;
    }
  }

  async listRecentCertificates(since: Date): Promise<CertificateSummary[]> {
    const recent: CertificateSummary[] = [];
    let marker: string | undefined;
    do {
      // Newest first, so paging stops at the first certificate older than the look-back window.
      const page = await this.#call(
        'ListCertificates',
        this.#client.send(
          new ListCertificatesCommand({ ascendingOrder: false, pageSize: 250, ...(marker ? { marker } : {}) }),
        ),
      );
      for (const certificate of page.certificates ?? []) {
        const { certificateId, certificateArn, status, creationDate } = certificate;
        if (creationDate === undefined || creationDate.getTime() < since.getTime()) return recent;
        if (certificateId === undefined || certificateArn === undefined || !isKnownStatus(status)) continue;
        recent.push({ certificateId, certificateArn, status, createdAt: creationDate.toISOString() });
      }
      marker = page.nextMarker ?? undefined;
    } while (marker !== undefined);
    return recent;
  }

  async certificatePem(certificateId: string): Promise<string | undefined> {
    try {
      const { certificateDescription } = await this.#call(
        'DescribeCertificate',
        this.#client.send(new DescribeCertificateCommand({ certificateId })),
      );
      return certificateDescription?.certificatePem;
    } catch (error) {
      if (hasErrorName(error, 'ResourceNotFoundException')) return undefined;
      throw error;
    }
  }

  async connectionInfo(): Promise<{ caCertificatePem: string; iotEndpoint: string | null }> {
    // Concurrent first calls share one request; a failed request is forgotten so the next call tries again.
    this.#endpoint ??= this.#describeDataEndpoint().catch((error: unknown) => {
      this.#endpoint = undefined;
      throw error;
    });
    return { caCertificatePem: amazonRootCa1Pem(), iotEndpoint: await this.#endpoint };
  }

  async #describeDataEndpoint(): Promise<string> {
    // The ATS endpoint is the one whose server certificate chains to Amazon Root CA 1.
    const { endpointAddress } = await this.#call(
      'DescribeEndpoint',
      this.#client.send(new DescribeEndpointCommand({ endpointType: 'iot:Data-ATS' })),
    );
    if (endpointAddress === undefined) throw new Error('AWS IoT DescribeEndpoint answered without an endpoint address');
    return endpointAddress;
  }

  /** AWS IoT refusing the CSR itself is the device's problem, not a fault to retry. */
  async #refusingCsr<T>(request: Promise<T>): Promise<T> {
    try {
      return await request;
    } catch (error) {
      if (hasErrorName(error, 'InvalidRequestException')) {
        const reason = error instanceof Error ? error.message.slice(0, 200) : 'invalid request';
        throw new CsrRejectedError(`AWS IoT refused the CSR: ${reason}`, { cause: error });
      }
      throw error;
    }
  }

  async #isRevokedOrGone(certificateId: string): Promise<boolean> {
    try {
      const { certificateDescription } = await this.#call(
        'DescribeCertificate',
        this.#client.send(new DescribeCertificateCommand({ certificateId })),
      );
      return certificateDescription?.status === 'REVOKED';
    } catch (error) {
      if (hasErrorName(error, 'ResourceNotFoundException')) return true;
      throw error;
    }
  }

  async #call<T>(operation: string, request: Promise<T>): Promise<T> {
    try {
      return await request;
    } catch (error) {
      if (error instanceof Error && hasErrorName(error, THROTTLING_ERRORS)) {
        throw new ThrottledError(`AWS IoT ${operation} was throttled (${error.name})`, { cause: error });
      }
      throw error;
    }
  }

  /** The port's ResourceNotFoundError, as the local CA raises it, for calls that cannot succeed without it. */
  async #reportingNotFound(missing: string, request: Promise<unknown>): Promise<void> {
    try {
      await request;
    } catch (error) {
      if (!hasErrorName(error, 'ResourceNotFoundException')) throw error;
      throw new ResourceNotFoundError(`AWS IoT does not know ${missing}`, { cause: error });
    }
  }

  async #ignoringNotFound(request: Promise<unknown>): Promise<void> {
    try {
      await request;
    } catch (error) {
      if (!hasErrorName(error, 'ResourceNotFoundException')) throw error;
    }
  }
}

/** The statuses cvm gives certificates; AWS IoT has others (PENDING_TRANSFER, …) that cvm never creates. */
function isKnownStatus(status: string | undefined): status is CertificateStatus {
  return status === 'ACTIVE' || status === 'INACTIVE' || status === 'REVOKED';
}

/** SDK v3 service errors carry their AWS error code as `name`. */
function hasErrorName(error: unknown, names: string | ReadonlySet<string>): boolean {
  if (!(error instanceof Error)) return false;
  return typeof names === 'string' ? error.name === names : names.has(error.name);
}

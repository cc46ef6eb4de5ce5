/**
 * A stand-in for AWS IoT's control plane, for the benchmark only: it answers the commands AwsIotAuthority sends
 * from inside the SDK client's own middleware stack, after serialization, signing and the SDK's retry middleware,
 * so the SDK behaves exactly as against AWS (its retry of throttling, its error classes).
 *
 * - Each API has its own token bucket (AWS IoT's per-API "requests per second" quotas): a call finding the bucket
 *   empty fails with the SDK's own ThrottlingException.
 * - Certificates are really made (signed by an in-memory CA) and tracked with their status and attachments, so
 *   that "certificates created per device" is counted, and deletion refuses what AWS IoT refuses.
 * - Every call can take a fixed latency (AWS's own work included), for counting sequential round trips.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DeleteConflictException,
  IoTClient,
  ResourceAlreadyExistsException,
  ResourceNotFoundException,
  ThrottlingException,
} from '@aws-sdk/client-iot';
import type { MiddlewareStack } from '@smithy/types';
import { issueDeviceCertificate } from '../resolvers/adapters/authority/local-ca/issue-leaf.ts';
import { createCa, type LocalCa } from '../resolvers/adapters/authority/local-ca/local-ca.ts';

export interface AwsIotSimulationOptions {
  /** Calls per second each API allows (its token bucket refills at this rate and holds as many). Default: no limit. */
  readonly callsPerSecond?: number;
  /** Delay before each call is answered, throttled or not. Default 0. */
  readonly latencyMs?: number;
  /** Told when each call was received and answered (performance.now()), to count sequential round trips. */
  readonly onCall?: (start: number, end: number) => void;
  readonly region?: string;
  readonly accountId?: string;
}

interface SimulatedCertificate {
  status: 'ACTIVE' | 'INACTIVE' | 'REVOKED';
  readonly arn: string;
  readonly policies: Set<string>;
  readonly things: Set<string>;
}

type Input = Record<string, unknown>;

class TokenBucket {
  #tokens: number;
  #updated = performance.now();
  constructor(private readonly rate: number) {
    this.#tokens = rate;
  }
  take(): boolean {
    const now = performance.now();
    this.#tokens = Math.min(this.rate, this.#tokens + ((now - this.#updated) / 1000) * this.rate);
    this.#updated = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

export class AwsIotSimulation {
  readonly #rate: number;
  readonly #latencyMs: number;
  readonly #onCall: ((start: number, end: number) => void) | undefined;
  readonly #region: string;
  readonly #accountId: string;
  readonly #buckets = new Map<string, TokenBucket>();
  readonly #certificates = new Map<string, SimulatedCertificate>();
  readonly #things = new Map<string, Record<string, string>>();
  #ca: Promise<LocalCa> | undefined;
  /** Calls answered (not throttled), per command. */
  readonly calls = new Map<string, number>();
  /** Calls refused with ThrottlingException, per command. */
  readonly throttled = new Map<string, number>();
  certificatesCreated = 0;

  constructor(options: AwsIotSimulationOptions = {}) {
    this.#rate = options.callsPerSecond ?? Number.POSITIVE_INFINITY;
    this.#latencyMs = options.latencyMs ?? 0;
    this.#onCall = options.onCall;
    this.#region = options.region ?? 'us-east-1';
    this.#accountId = options.accountId ?? '123456789012';
  }

  /** An IoT client (as createIotClient makes it) whose calls this simulation answers. */
  client(options: { maxAttempts?: number } = {}): IoTClient {
    const client = new IoTClient({
      region: this.#region,
      maxAttempts: options.maxAttempts ?? 2,
      credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
    });
    this.attach(client.middlewareStack as MiddlewareStack<object, object>);
    return client;
  }

  /** Answer in the deserialize step, below the SDK's retry and signing middleware. */
  attach(stack: MiddlewareStack<object, object>): void {
    stack.add(
      (_next, context) => async (args) => {
        const command = String((context as { commandName?: unknown }).commandName).replace(/Command$/, '');
        const output = await this.#answer(command, (args as { input: Input }).input);
        return { output: { $metadata: { httpStatusCode: 200 }, ...output }, response: {} };
      },
      { step: 'deserialize', priority: 'high', name: 'awsIotSimulation' },
    );
  }

  get activeCertificates(): number {
    return [...this.#certificates.values()].filter((certificate) => certificate.status === 'ACTIVE').length;
  }

  async #answer(command: string, input: Input): Promise<Input> {
    const start = performance.now();
    try {
      return await this.#answerAfterLatency(command, input);
    } finally {
      this.#onCall?.(start, performance.now());
    }
  }

  /** The answer takes the latency, AWS's own work (signing a certificate, say) included, as a remote call does. */
  async #answerAfterLatency(command: string, input: Input): Promise<Input> {
    if (this.#latencyMs === 0) return this.#answerNow(command, input);
    const [answer] = await Promise.allSettled([this.#answerNow(command, input), sleep(this.#latencyMs)]);
    if (answer.status === 'rejected') throw answer.reason;
    return answer.value;
  }

  async #answerNow(command: string, input: Input): Promise<Input> {
    if (!this.#bucket(command).take()) {
      this.throttled.set(command, (this.throttled.get(command) ?? 0) + 1);
      throw new ThrottlingException({ message: 'Rate exceeded', $metadata: { httpStatusCode: 429 } });
    }
    this.calls.set(command, (this.calls.get(command) ?? 0) + 1);
    return this.#perform(command, input);
  }

  #bucket(command: string): TokenBucket {
    let bucket = this.#buckets.get(command);
    if (bucket === undefined) {
      bucket = new TokenBucket(this.#rate);
      this.#buckets.set(command, bucket);
    }
    return bucket;
  }

  async #perform(command: string, input: Input): Promise<Input> {
    switch (command) {
      case 'CreateCertificateFromCsr': {
        this.#ca ??= createCa({ commonName: 'bench AWS IoT' }).then(({ ca }) => ca);
        const issued = await issueDeviceCertificate(await this.#ca, String(input.certificateSigningRequest));
        const arn = `arn:aws:iot:${this.#region}:${this.#accountId}:cert/${issued.certificateId}`;
        this.#certificates.set(issued.certificateId, {
          status: input.setAsActive === true ? 'ACTIVE' : 'INACTIVE',
          arn,
          policies: new Set(),
          things: new Set(),
        });
        this.certificatesCreated += 1;
        return {
          certificateId: issued.certificateId,
          certificateArn: arn,
          certificatePem: issued.certificatePem,
        };
      }
      case 'CreateThing': {
        const name = String(input.thingName);
        const attributes = (input.attributePayload as { attributes?: Record<string, string> } | undefined)?.attributes;
        const existing = this.#things.get(name);
        if (existing !== undefined && JSON.stringify(existing) !== JSON.stringify(attributes ?? {})) {
          throw new ResourceAlreadyExistsException({ message: 'exists', $metadata: {} });
        }
        this.#things.set(name, attributes ?? {});
        return { thingName: name, thingArn: `arn:aws:iot:${this.#region}:${this.#accountId}:thing/${name}` };
      }
      case 'UpdateThing':
        this.#things.set(
          String(input.thingName),
          (input.attributePayload as { attributes?: Record<string, string> } | undefined)?.attributes ?? {},
        );
        return {};
      case 'AttachPolicy':
        this.#certificateByArn(String(input.target)).policies.add(String(input.policyName));
        return {};
      case 'DetachPolicy':
        this.#findByArn(String(input.target))?.policies.delete(String(input.policyName));
        return {};
      case 'AttachThingPrincipal':
        if (!this.#things.has(String(input.thingName))) throw notFound('thing');
        this.#certificateByArn(String(input.principal)).things.add(String(input.thingName));
        return {};
      case 'DetachThingPrincipal':
        this.#findByArn(String(input.principal))?.things.delete(String(input.thingName));
        return {};
      case 'UpdateCertificate':
        this.#certificate(String(input.certificateId)).status = input.newStatus as SimulatedCertificate['status'];
        return {};
      case 'DescribeCertificate': {
        const certificate = this.#certificate(String(input.certificateId));
        return { certificateDescription: { certificateId: input.certificateId, status: certificate.status } };
      }
      case 'DeleteCertificate': {
        const certificate = this.#certificate(String(input.certificateId));
        if (certificate.status === 'ACTIVE' || certificate.policies.size > 0 || certificate.things.size > 0) {
          throw new DeleteConflictException({ message: 'still active or attached', $metadata: {} });
        }
        this.#certificates.delete(String(input.certificateId));
        return {};
      }
      case 'DescribeEndpoint':
        return { endpointAddress: `bench-ats.iot.${this.#region}.amazonaws.com` };
      default:
        throw new Error(`The AWS IoT simulation does not answer ${command}`);
    }
  }

  #certificate(id: string): SimulatedCertificate {
    const certificate = this.#certificates.get(id);
    if (certificate === undefined) throw notFound('certificate');
    return certificate;
  }

  #findByArn(arn: string): SimulatedCertificate | undefined {
    return this.#certificates.get(arn.slice(arn.lastIndexOf('/') + 1));
  }

  #certificateByArn(arn: string): SimulatedCertificate {
    const certificate = this.#findByArn(arn);
    if (certificate === undefined) throw notFound('certificate');
    return certificate;
  }
}

function notFound(what: string): ResourceNotFoundException {
  return new ResourceNotFoundException({ message: `No such ${what}`, $metadata: { httpStatusCode: 404 } });
}

/**
 * A CoreContext made of real parts for use-case tests: a dynalite table, the local CA in a temp dir,
 * a clock the test moves, and a telemetry that records what would be logged. The authority is wrapped
 * so a test can make any call fail (or wait) to exercise compensation and races.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openLocalCertificateAuthority } from '../../resolvers/adapters/authority/local-ca/authority.ts';
import type { LocalCertificateAuthority } from '../../resolvers/adapters/authority/local-ca/authority.ts';
import { DEFAULT_SETTINGS, type CoreContext, type CoreSettings } from '../../resolvers/core/context.ts';
import type {
  CertificateAuthority,
  CertificateStatus,
  Clock,
  CreatedCertificate,
  MetricName,
  RandomSource,
  Telemetry,
} from '../../resolvers/core/ports.ts';
import { startTestTable, type TestTable } from './dynalite.ts';

export class ManualClock implements Clock {
  constructor(private current = Date.parse('2026-11-29T12:00:00.000Z')) {}
  now(): Date {
    return new Date(this.current);
  }
  advance(ms: number): void {
    this.current += ms;
  }
  /** Backoff waits pass instantly but still move time, so deadlines are honoured. */
  sleep(ms: number): Promise<void> {
    this.current += ms;
    return Promise.resolve();
  }
}

export const cryptoRandom: RandomSource = { bytes: (length) => new Uint8Array(randomBytes(length)) };

export class RecordingTelemetry implements Telemetry {
  readonly lines: { level: string; message: string; fields?: Readonly<Record<string, unknown>> }[] = [];
  readonly counts: { metric: MetricName; dimensions?: Readonly<Record<string, string>> }[] = [];
  log(level: string, message: string, fields?: Readonly<Record<string, unknown>>): void {
    this.lines.push(fields === undefined ? { level, message } : { level, message, fields });
  }
  count(metric: MetricName, dimensions?: Readonly<Record<string, string>>): void {
    this.counts.push(dimensions === undefined ? { metric } : { metric, dimensions });
  }
  /** Everything logged, as one string, to search for secrets. */
  text(): string {
    return JSON.stringify(this.lines);
  }
}

type AuthorityMethod = keyof CertificateAuthority;

/** Wraps an authority; a test schedules failures or pauses on named methods. */
export class FaultyAuthority implements CertificateAuthority {
  readonly calls: AuthorityMethod[] = [];
  private readonly failures = new Map<AuthorityMethod, unknown[]>();
  private readonly gates = new Map<AuthorityMethod, { reached: () => void; released: Promise<void> }>();

  constructor(readonly inner: CertificateAuthority) {}

  /** The next `times` calls of `method` throw `error` (before reaching the inner authority). */
  failNext(method: AuthorityMethod, error: unknown, times = 1): void {
    const queue = this.failures.get(method) ?? [];
    for (let i = 0; i < times; i += 1) queue.push(error);
    this.failures.set(method, queue);
  }

  /** The next call of `method` waits until `release()`; `reached` resolves when it starts waiting. */
  pause(method: AuthorityMethod): { reached: Promise<void>; release: () => void } {
    let release!: () => void;
    let reached!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const reachedPromise = new Promise<void>((resolve) => (reached = resolve));
    this.gates.set(method, { reached, released });
    return { reached: reachedPromise, release };
  }

  /** Forget scheduled failures, pauses and recorded calls. */
  reset(): void {
    this.failures.clear();
    this.gates.clear();
    this.calls.length = 0;
  }

  private async before(method: AuthorityMethod): Promise<void> {
    this.calls.push(method);
    const gate = this.gates.get(method);
    if (gate) {
      this.gates.delete(method);
      gate.reached();
      await gate.released;
    }
    const queue = this.failures.get(method);
    if (queue && queue.length > 0) throw queue.shift();
  }

  async createCertificate(csrPem: string): Promise<CreatedCertificate> {
    await this.before('createCertificate');
    return this.inner.createCertificate(csrPem);
  }
  async ensureThing(thingName: string, attributes: Readonly<Record<string, string>>): Promise<void> {
    await this.before('ensureThing');
    return this.inner.ensureThing(thingName, attributes);
  }
  async attachPolicy(certificateArn: string): Promise<void> {
    await this.before('attachPolicy');
    return this.inner.attachPolicy(certificateArn);
  }
  async attachThingPrincipal(thingName: string, certificateArn: string): Promise<void> {
    await this.before('attachThingPrincipal');
    return this.inner.attachThingPrincipal(thingName, certificateArn);
  }
  async setCertificateStatus(certificateId: string, status: CertificateStatus): Promise<void> {
    await this.before('setCertificateStatus');
    return this.inner.setCertificateStatus(certificateId, status);
  }
  async detachPolicy(certificateArn: string): Promise<void> {
    await this.before('detachPolicy');
    return this.inner.detachPolicy(certificateArn);
  }
  async detachThingPrincipal(thingName: string, certificateArn: string): Promise<void> {
    await this.before('detachThingPrincipal');
    return this.inner.detachThingPrincipal(thingName, certificateArn);
  }
  async deleteCertificate(certificateId: string): Promise<void> {
    await this.before('deleteCertificate');
    return this.inner.deleteCertificate(certificateId);
  }
  async connectionInfo(): Promise<{ caCertificatePem: string; iotEndpoint: string | null }> {
    await this.before('connectionInfo');
    return this.inner.connectionInfo();
  }
}

export interface CoreHarness {
  readonly ctx: CoreContext;
  readonly table: TestTable;
  readonly localCa: LocalCertificateAuthority;
  readonly authority: FaultyAuthority;
  readonly clock: ManualClock;
  readonly telemetry: RecordingTelemetry;
  readonly deviceCaPem: string;
  close(): Promise<void>;
}

export async function startCoreHarness(settings: Partial<CoreSettings> = {}): Promise<CoreHarness> {
  const table = await startTestTable();
  const dataDir = await mkdtemp(path.join(tmpdir(), 'cvm-core-'));
  const opened = await openLocalCertificateAuthority(dataDir);
  const authority = new FaultyAuthority(opened.authority);
  const clock = new ManualClock();
  const telemetry = new RecordingTelemetry();
  const ctx: CoreContext = {
    store: table.store,
    secrets: table.secrets,
    authority,
    clock,
    random: cryptoRandom,
    telemetry,
    settings: { ...DEFAULT_SETTINGS, ...settings },
  };
  return {
    ctx,
    table,
    localCa: opened.authority,
    authority,
    clock,
    telemetry,
    deviceCaPem: opened.deviceCa.certPem,
    close: async () => {
      await table.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** The caller of admin operations in tests. */
export const ADMIN = { kind: 'admin', arn: 'arn:aws:iam::000000000000:user/test-admin' } as const;

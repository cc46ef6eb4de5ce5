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
import type { DeviceEvent, DeviceRecord, DeviceStatus } from '../../resolvers/core/device.ts';
import { ThrottledError } from '../../resolvers/core/errors.ts';
import type {
  BlindClaim,
  CertificateAuthority,
  CertificateStatus,
  CertificateSummary,
  Clock,
  CreatedCertificate,
  DeviceStore,
  MetricName,
  Page,
  RandomSource,
  SwapOutcome,
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

/** How an injected fault strikes a step. */
export type FaultKind = 'error' | 'throttled' | 'crash before' | 'crash after';
export const FAULT_KINDS: readonly FaultKind[] = ['error', 'throttled', 'crash before', 'crash after'];

/**
 * The process died: thrown by every later call too, so the request that was running makes no further change,
 * as if its process were gone (the test then discards that request's answer).
 */
export class ProcessCrash extends Error {
  override readonly name = 'ProcessCrash';
}

/**
 * Faults for named steps, shared by a store and an authority. A step is `<port>.<method>#<n>`: the n-th call of
 * that method since the last reset (`store.replace#2` is the second compare-and-swap).
 */
export class FaultInjector {
  readonly trace: string[] = [];
  private readonly plan = new Map<string, FaultKind>();
  private readonly counts = new Map<string, number>();
  private crashed = false;

  inject(step: string, kind: FaultKind): void {
    this.plan.set(step, kind);
  }

  /** A new process: forget the plan, the counts and the crash. */
  reset(): void {
    this.plan.clear();
    this.counts.clear();
    this.trace.length = 0;
    this.crashed = false;
  }

  async around<T>(method: string, call: () => Promise<T>): Promise<T> {
    if (this.crashed) throw new ProcessCrash(`the process is gone (${method})`);
    const n = (this.counts.get(method) ?? 0) + 1;
    this.counts.set(method, n);
    const step = `${method}#${n}`;
    this.trace.push(step);
    const fault = this.plan.get(step);
    if (fault === 'error') throw new Error(`injected failure at ${step}`);
    if (fault === 'throttled') throw new ThrottledError(`injected throttling at ${step}`);
    if (fault === 'crash before') {
      this.crashed = true;
      throw new ProcessCrash(`the process died before ${step}`);
    }
    const result = await call();
    if (fault === 'crash after') {
      this.crashed = true;
      throw new ProcessCrash(`the process died after ${step}`);
    }
    return result;
  }
}

/** A DeviceStore whose every call goes through a FaultInjector. */
export class FaultyStore implements DeviceStore {
  constructor(
    readonly inner: DeviceStore,
    readonly faults: FaultInjector,
  ) {}
  get(serialNumber: string): Promise<DeviceRecord | undefined> {
    return this.faults.around('store.get', () => this.inner.get(serialNumber));
  }
  getMany(serialNumbers: readonly string[]): Promise<DeviceRecord[]> {
    return this.faults.around('store.getMany', () => this.inner.getMany(serialNumbers));
  }
  create(record: DeviceRecord): Promise<void> {
    return this.faults.around('store.create', () => this.inner.create(record));
  }
  replace(record: DeviceRecord, expectedVersion: number): Promise<SwapOutcome> {
    return this.faults.around('store.replace', () => this.inner.replace(record, expectedVersion));
  }
  claim(serialNumber: string, claim: BlindClaim): Promise<DeviceRecord | undefined> {
    return this.faults.around('store.claim', () => this.inner.claim(serialNumber, claim));
  }
  delete(serialNumber: string, expectedVersion: number): Promise<void> {
    return this.faults.around('store.delete', () => this.inner.delete(serialNumber, expectedVersion));
  }
  reserveThingName(thingName: string, serialNumber: string): Promise<void> {
    return this.faults.around('store.reserveThingName', () => this.inner.reserveThingName(thingName, serialNumber));
  }
  releaseThingName(thingName: string, serialNumber: string): Promise<void> {
    return this.faults.around('store.releaseThingName', () => this.inner.releaseThingName(thingName, serialNumber));
  }
  listByStatus(status: DeviceStatus, limit: number, cursor?: string): Promise<Page<DeviceRecord>> {
    return this.faults.around('store.listByStatus', () => this.inner.listByStatus(status, limit, cursor));
  }
  listRotations(
    kind: 'ROTATION' | 'RETIRING',
    options: { readonly limit: number; readonly cursor?: string; readonly dueBy?: string },
  ): Promise<Page<DeviceRecord>> {
    return this.faults.around('store.listRotations', () => this.inner.listRotations(kind, options));
  }
  appendEvent(event: DeviceEvent, onceKey?: string): Promise<void> {
    return this.faults.around('store.appendEvent', () => this.inner.appendEvent(event, onceKey));
  }
  appendEvents(events: readonly DeviceEvent[]): Promise<void> {
    return this.faults.around('store.appendEvents', () => this.inner.appendEvents(events));
  }
  listEvents(serialNumber: string, limit: number, cursor?: string): Promise<Page<DeviceEvent>> {
    return this.faults.around('store.listEvents', () => this.inner.listEvents(serialNumber, limit, cursor));
  }
}

/** Wraps an authority; a test schedules failures or pauses on named methods. */
export class FaultyAuthority implements CertificateAuthority {
  readonly calls: AuthorityMethod[] = [];
  private readonly failures = new Map<AuthorityMethod, unknown[]>();
  private readonly gates = new Map<AuthorityMethod, { reached: () => void; released: Promise<void> }>();

  constructor(
    readonly inner: CertificateAuthority,
    readonly faults: FaultInjector = new FaultInjector(),
  ) {}

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

  /** Scheduled failures and pauses first, then the fault injector around the real call. */
  private async call<T>(method: AuthorityMethod, step: string, real: () => Promise<T>): Promise<T> {
    await this.before(method);
    return this.faults.around(`authority.${step}`, real);
  }

  createCertificate(csrPem: string): Promise<CreatedCertificate> {
    return this.call('createCertificate', 'createCertificate', () => this.inner.createCertificate(csrPem));
  }
  ensureThing(thingName: string, attributes: Readonly<Record<string, string>>): Promise<void> {
    return this.call('ensureThing', 'ensureThing', () => this.inner.ensureThing(thingName, attributes));
  }
  attachPolicy(certificateArn: string): Promise<void> {
    return this.call('attachPolicy', 'attachPolicy', () => this.inner.attachPolicy(certificateArn));
  }
  attachThingPrincipal(thingName: string, certificateArn: string): Promise<void> {
    return this.call('attachThingPrincipal', 'attachThingPrincipal', () =>
      this.inner.attachThingPrincipal(thingName, certificateArn),
    );
  }
  setCertificateStatus(certificateId: string, status: CertificateStatus): Promise<void> {
    // Named by the status, so that a fault can strike activation and not the deactivation that undoes it.
    return this.call('setCertificateStatus', `setCertificateStatus(${status})`, () =>
      this.inner.setCertificateStatus(certificateId, status),
    );
  }
  detachPolicy(certificateArn: string): Promise<void> {
    return this.call('detachPolicy', 'detachPolicy', () => this.inner.detachPolicy(certificateArn));
  }
  detachThingPrincipal(thingName: string, certificateArn: string): Promise<void> {
    return this.call('detachThingPrincipal', 'detachThingPrincipal', () =>
      this.inner.detachThingPrincipal(thingName, certificateArn),
    );
  }
  deleteCertificate(certificateId: string): Promise<void> {
    return this.call('deleteCertificate', 'deleteCertificate', () => this.inner.deleteCertificate(certificateId));
  }
  listRecentCertificates(since: Date): Promise<CertificateSummary[]> {
    return this.call('listRecentCertificates', 'listRecentCertificates', () =>
      this.inner.listRecentCertificates(since),
    );
  }
  certificatePem(certificateId: string): Promise<string | undefined> {
    return this.call('certificatePem', 'certificatePem', () => this.inner.certificatePem(certificateId));
  }
  connectionInfo(): Promise<{ caCertificatePem: string; iotEndpoint: string | null }> {
    return this.call('connectionInfo', 'connectionInfo', () => this.inner.connectionInfo());
  }
}

export interface CoreHarness {
  readonly ctx: CoreContext;
  readonly table: TestTable;
  readonly localCa: LocalCertificateAuthority;
  readonly authority: FaultyAuthority;
  /** Faults for both the store and the authority of `ctx`. */
  readonly faults: FaultInjector;
  readonly clock: ManualClock;
  readonly telemetry: RecordingTelemetry;
  readonly deviceCaPem: string;
  close(): Promise<void>;
}

export async function startCoreHarness(settings: Partial<CoreSettings> = {}): Promise<CoreHarness> {
  const table = await startTestTable();
  const dataDir = await mkdtemp(path.join(tmpdir(), 'cvm-core-'));
  const clock = new ManualClock();
  // The CA keeps time by the same clock, so certificate ages and lease expiries agree.
  const opened = await openLocalCertificateAuthority(dataDir, { clock });
  const faults = new FaultInjector();
  const authority = new FaultyAuthority(opened.authority, faults);
  const telemetry = new RecordingTelemetry();
  const ctx: CoreContext = {
    store: new FaultyStore(table.store, faults),
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
    faults,
    clock,
    telemetry,
    deviceCaPem: opened.deviceCa.certPem,
    close: async () => {
      await table.close();
      await opened.authority.registry.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** The caller of admin operations in tests. */
export const ADMIN = { kind: 'admin', arn: 'arn:aws:iam::000000000000:user/test-admin' } as const;

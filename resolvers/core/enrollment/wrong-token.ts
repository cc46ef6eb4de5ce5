/**
 * A wrong token, answered so that it tells nothing: an unknown serial, a wrong token for any device and a
 * locked device asked with a wrong token all get `InvalidRegistrationToken`, after the same work (one read and two
 * conditional writes: counting the guess, and the audit event or, when there is nothing to write, a write that
 * loses), so neither the answer nor its latency says whether the serial exists.
 */
import { recordEvent } from '../audit.ts';
import type { CoreContext } from '../context.ts';
import type { DeviceRecord } from '../device.ts';
import { countWrongToken, isRefusal } from '../device-lifecycle.ts';
import type { CvmError } from '../errors.ts';
import { AGAIN } from '../retry-rounds.ts';
import { swap } from '../store-writes.ts';
import { invalidToken } from './answers.ts';

const DEVICE = { kind: 'device' } as const;
/** No stored device has this version, so a write expecting it can only lose. */
const NO_VERSION = -1;

export async function answerWrongToken(
  ctx: CoreContext,
  serialNumber: string,
  record: DeviceRecord | undefined,
): Promise<CvmError | typeof AGAIN> {
  const now = ctx.clock.now();
  const counted = record && countWrongToken(record, now, ctx.settings.maxFailedAttempts);
  // Nothing to count or report: make the same conditional write as counting would, on the device's own key, so
  // that it loses and writes nothing.
  const losingWrite = () => ctx.store.replace(placeholder(serialNumber, now), NO_VERSION);
  if (counted === undefined || isRefusal(counted)) {
    // No such device, or an issuance under way that a guess must not disturb.
    await losingWrite();
    await losingWrite();
    return invalidToken();
  }
  if ((await swap(ctx.store, counted.record)) === 'lost') return AGAIN;
  if (counted.report === undefined) {
    await losingWrite();
  } else {
    await recordEvent(ctx, serialNumber, 'TOKEN_FAILED', DEVICE, {
      status: counted.record.status,
      count: counted.report.count,
      failedAttempts: counted.record.failedAttempts,
    });
  }
  if (counted.locked) {
    await recordEvent(ctx, serialNumber, 'LOCKED', DEVICE, { failedAttempts: counted.record.failedAttempts });
  }
  return invalidToken();
}

/** A record the size and shape of a device, for the write that must lose. */
function placeholder(serialNumber: string, now: Date): DeviceRecord {
  const at = now.toISOString();
  return {
    serialNumber,
    thingName: serialNumber,
    status: 'PENDING',
    failedAttempts: 1,
    locked: false,
    unreportedWrongTokens: 1,
    registeredAt: at,
    updatedAt: at,
    version: NO_VERSION + 1,
  };
}

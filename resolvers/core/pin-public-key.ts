/**
 * pinPublicKey: an admin pins the key of a device's next certificate (its enrollment, or its next renewal), or
 * removes the pin. The current certificate is not touched; a rotation already under way keeps its key.
 */
import { recordEvent } from './audit.ts';
import type { CoreContext } from './context.ts';
import { isRefusal, pinKey } from './device-lifecycle.ts';
import { deviceView, type DeviceView } from './device-view.ts';
import { CvmError } from './errors.ts';
import { requireSerialNumber } from './identifiers.ts';
import type { Caller } from './ports.ts';
import { optionalPublicKeyPin } from './register-devices.ts';
import { AGAIN, inRounds } from './retry-rounds.ts';
import { swap } from './store-writes.ts';

export async function pinPublicKey(
  ctx: CoreContext,
  args: { serialNumber?: unknown; publicKey?: unknown },
  caller: Caller,
): Promise<DeviceView> {
  const serialNumber = requireSerialNumber(args.serialNumber);
  const publicKeyPin = optionalPublicKeyPin(args.publicKey);
  return inRounds(async () => {
    const record = await ctx.store.get(serialNumber);
    if (record === undefined) {
      throw new CvmError('DeviceNotFound', `No device with serial number ${serialNumber} is registered.`);
    }
    if (record.publicKeyPin === publicKeyPin) return deviceView(record);
    const pinned = pinKey(record, ctx.clock.now(), publicKeyPin);
    if (isRefusal(pinned) || (await swap(ctx.store, pinned)) === 'lost') return AGAIN;
    await recordEvent(
      ctx,
      serialNumber,
      'KEY_PINNED',
      caller,
      publicKeyPin === undefined ? { cleared: true } : { publicKeyPin },
    );
    return deviceView(pinned);
  });
}

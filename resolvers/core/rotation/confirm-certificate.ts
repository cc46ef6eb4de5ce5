/**
 * confirmCertificate: the device proves it holds the new certificate's key (a signature over that certificate's
 * DER), and the rotation commits: the new certificate becomes the device's and the old one is retired (revoked
 * and detached, ROTATED event). Repeating it after it committed proves with what is now the current certificate
 * and finishes anything left. Past the deadline the rotation is rolled back instead.
 */
import { describeError } from '../audit.ts';
import type { CoreContext } from '../context.ts';
import { awaitingConfirmation, confirmationOverdue, confirmRotation, isRefusal } from '../device-lifecycle.ts';
import { deviceView, type DeviceView } from '../device-view.ts';
import { CvmError } from '../errors.ts';
import { AGAIN, inRounds } from '../retry-rounds.ts';
import { swap } from '../store-writes.ts';
import { retireCertificates, settleRotation } from './retire.ts';
import { invalidProof, parseConfirmation, provesOverItsDer } from './rotation-input.ts';
import type { ConfirmCertificateInput } from '../../../contract/api-types.ts';

const DEVICE = { kind: 'device' } as const;

export async function confirmCertificate(
  ctx: CoreContext,
  input: { readonly [K in keyof ConfirmCertificateInput]?: unknown },
): Promise<DeviceView> {
  const { serialNumber, certificateId, signature } = parseConfirmation(input);
  const deadline = ctx.clock.now().getTime() + ctx.settings.requestBudgetMs;

  return inRounds(async (): Promise<DeviceView | typeof AGAIN> => {
    const record = await ctx.store.get(serialNumber);
    const active = record?.status === 'ACTIVE' ? record : undefined;
    const rotation = active?.rotation;
    const pending = awaitingConfirmation(rotation) && rotation.certificateId === certificateId ? rotation : undefined;
    const committed = active?.certificateId === certificateId ? active : undefined;
    const pem = pending?.certificatePem ?? committed?.certificatePem;
    if (active === undefined || !provesOverItsDer(pem, signature)) {
      throw invalidProof();
    }

    if (pending === undefined) {
      // Confirmed already (the answer was lost): finish what is left and answer the same.
      const settled = await settleRotation(ctx, active, deadline, DEVICE);
      if (settled === 'lost') return AGAIN;
      return deviceView(settled.record);
    }
    if (confirmationOverdue(active, ctx.clock.now())) {
      await settleRotation(ctx, active, deadline, DEVICE);
      throw new CvmError(
        'InvalidProof',
        'The new certificate was not confirmed before its deadline and has been revoked; the current certificate still works. Renew again.',
      );
    }
    const confirmed = confirmRotation(active, ctx.clock.now(), certificateId);
    if (isRefusal(confirmed) || (await swap(ctx.store, confirmed)) === 'lost') return AGAIN;
    try {
      const retired = await retireCertificates(ctx, confirmed, deadline, DEVICE);
      return deviceView(retired === 'lost' ? confirmed : retired);
    } catch (error) {
      // The rotation stands; the old certificate is revoked by the next call that touches the device or the sweep.
      ctx.telemetry.log('warn', 'Rotation confirmed; revoking the old certificate is left for the sweep', {
        serialNumber,
        error: describeError(error),
      });
      return deviceView(confirmed);
    }
  });
}

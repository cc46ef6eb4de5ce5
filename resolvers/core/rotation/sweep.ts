/**
 * The rotation sweep: finish every rotation whose time has come without waiting for the device to call again.
 * A rotation unconfirmed past its deadline is rolled back, one abandoned part-way is settled, and certificates
 * left retiring by a crash are revoked. Runs with the reconciler (on its schedule in AWS) and on a timer in the
 * local stack; safe to run at any time, as often as wanted.
 */
import { describeError } from '../audit.ts';
import type { CoreContext } from '../context.ts';
import type { Caller } from '../ports.ts';
import { settleRotation } from './retire.ts';

const PAGE_SIZE = 100;

/** Settles what is due and returns how many devices it settled (with `dryRun`, how many it would). */
export async function sweepRotations(ctx: CoreContext, dryRun: boolean, caller: Caller): Promise<number> {
  const dueBy = ctx.clock.now().toISOString();
  const deadline = ctx.clock.now().getTime() + ctx.settings.requestBudgetMs + ctx.settings.compensationBudgetMs;
  let settled = 0;
  for (const kind of ['RETIRING', 'ROTATION'] as const) {
    let cursor: string | undefined;
    do {
      const page = await ctx.store.listRotations(kind, { limit: PAGE_SIZE, dueBy, ...(cursor ? { cursor } : {}) });
      for (const record of page.items) {
        if (dryRun) {
          settled += 1;
          continue;
        }
        try {
          const outcome = await settleRotation(ctx, record, deadline, caller);
          if (outcome !== 'lost' && outcome.outcome === 'settled') settled += 1;
        } catch (error) {
          ctx.telemetry.log('error', 'Could not settle a rotation; the next sweep tries again', {
            serialNumber: record.serialNumber,
            error: describeError(error),
          });
        }
      }
      cursor = page.cursor;
    } while (cursor !== undefined);
  }
  return settled;
}

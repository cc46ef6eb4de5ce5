/** Audit events: written after the state change they describe, as their own items. */
import type { Caller } from './ports.ts';
import type { DeviceEvent, DeviceEventType } from './device.ts';
import type { CoreContext } from './context.ts';

export function actorOf(caller: Caller): string {
  if (caller.kind === 'admin') return caller.arn;
  return caller.kind === 'system' ? caller.name : 'device';
}

/**
 * Append an event. With `once`, the event is the one of that key and time, written at most once however often
 * it is recorded. The state change it records has already happened and must stand, so a failure here
 * is logged (as an error, for alarms) rather than turned into a failed request.
 */
export async function recordEvent(
  ctx: CoreContext,
  serialNumber: string,
  type: DeviceEventType,
  caller: Caller,
  details?: DeviceEvent['details'],
  once?: { readonly at: string; readonly onceKey: string },
): Promise<void> {
  const event: DeviceEvent = {
    serialNumber,
    type,
    at: once?.at ?? ctx.clock.now().toISOString(),
    actor: actorOf(caller),
    ...(details === undefined ? {} : { details }),
  };
  try {
    await ctx.store.appendEvent(event, once?.onceKey);
  } catch (error) {
    ctx.telemetry.log('error', 'Could not write an audit event', {
      serialNumber,
      eventType: type,
      error: describeError(error),
    });
  }
}

/**
 * Append the events of one change to many devices (a registered batch) in as few writes as the store allows.
 * Failure is logged, as for recordEvent: the devices exist and must stand.
 */
export async function recordEvents(
  ctx: CoreContext,
  type: DeviceEventType,
  caller: Caller,
  entries: readonly { readonly serialNumber: string; readonly details?: DeviceEvent['details'] }[],
): Promise<void> {
  const at = ctx.clock.now().toISOString();
  const actor = actorOf(caller);
  const events = entries.map(
    ({ serialNumber, details }): DeviceEvent => ({
      serialNumber,
      type,
      at,
      actor,
      ...(details === undefined ? {} : { details }),
    }),
  );
  try {
    await ctx.store.appendEvents(events);
  } catch (error) {
    ctx.telemetry.log('error', 'Could not write audit events', {
      eventType: type,
      count: events.length,
      error: describeError(error),
    });
  }
}

/** The name and message of an error, for logs. Our errors never carry secrets in their messages. */
export function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

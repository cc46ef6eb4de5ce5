/** What a device gets: its certificate and how to connect; and the ISSUED event, exactly once per certificate. */
import { recordEvent } from '../audit.ts';
import type { CoreContext } from '../context.ts';
import type { DeviceRecord } from '../device.ts';
import { CvmError } from '../errors.ts';
import { retryThrottled } from '../throttle-retry.ts';
import type { CertificateGrant } from '../../../contract/api-types.ts';

export type { CertificateGrant };

/**
 * Write the ISSUED event of an ACTIVE device's certificate. Keyed by the certificate and stamped with its issue
 * time, so the request that issued it and every retry that returns it write the same event, and the store keeps
 * one: a crash between the final write and this one is made good by the device's retry.
 */
export async function recordIssued(ctx: CoreContext, active: DeviceRecord, keyDescription: string): Promise<void> {
  const { certificateId, issuedAt } = active;
  if (certificateId === undefined || issuedAt === undefined) return;
  await recordEvent(
    ctx,
    active.serialNumber,
    'ISSUED',
    { kind: 'device' },
    { certificateId, key: keyDescription },
    { at: issuedAt, onceKey: `ISSUED#${certificateId}` },
  );
}

export type Connection = Awaited<ReturnType<CoreContext['authority']['connectionInfo']>>;

/**
 * Start fetching what a device needs to connect, to await it only when answering. A failure is kept for the
 * answer (and never left unhandled when the request fails first).
 */
export function fetchConnection(ctx: CoreContext, deadline: number): Promise<Connection> {
  const connection = retryThrottled(ctx, deadline, () => ctx.authority.connectionInfo());
  connection.catch(() => undefined);
  return connection;
}

export async function grantFor(
  ctx: CoreContext,
  record: DeviceRecord,
  connectionInfo: Promise<Connection>,
): Promise<CertificateGrant> {
  const { certificateId, certificateArn, certificatePem, issuedAt } = record;
  if (!certificateId || !certificateArn || !certificatePem || !issuedAt) {
    throw new CvmError('InternalError', 'The device record is incomplete; ask an administrator to reset the device.');
  }
  const connection = await connectionInfo;
  return {
    serialNumber: record.serialNumber,
    thingName: record.thingName,
    certificateId,
    certificateArn,
    certificatePem,
    caCertificatePem: connection.caCertificatePem,
    iotEndpoint: connection.iotEndpoint,
    issuedAt,
    confirmBy: null,
  };
}

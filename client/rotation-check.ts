/**
 * Whether a rotation's new certificate works, checked before the device confirms it (confirming revokes the old
 * one, so a certificate that does not work must never be confirmed). Two ways: connect to the MQTT endpoint with
 * it, which is what "works" means for a device; or, with no endpoint to reach, check it offline: it certifies the
 * new key, names the device, is valid now and, given the CA that issues device certificates, chains to it.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { DeviceMqttError, DeviceMqttSession, type DeviceCredentials, type MqttTarget } from './device-mqtt.ts';
import { RotationError } from './errors.ts';

/** Resolves with what was checked, for a person; throws RotationError('CheckFailed') when the certificate fails. */
export type CertificateCheck = (candidate: DeviceCredentials) => Promise<string>;

export interface MqttCheckOptions {
  /** Connections to try before giving up: AWS IoT may take a moment to accept a certificate just activated. */
  readonly attempts?: number;
  readonly retryIntervalMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Connect to `target` with the new key and certificate as the device's thing, then disconnect. */
export function checkOverMqtt(target: MqttTarget, options: MqttCheckOptions = {}): CertificateCheck {
  const attempts = Math.max(1, options.attempts ?? 1);
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  return async (candidate) => {
    for (let attempt = 1; ; attempt += 1) {
      try {
        const session = await DeviceMqttSession.open(candidate, target);
        await session.end();
        return `connected to ${target.host}:${target.port} as ${candidate.thingName} with the new certificate`;
      } catch (error) {
        if (!(error instanceof DeviceMqttError)) throw error;
        if (attempt >= attempts) {
          throw new RotationError(
            'CheckFailed',
            `The new certificate does not work: ${error.message} It was not confirmed; the current certificate ` +
              'keeps working, and the new one is revoked at its deadline unless a later run confirms it.',
            { cause: error },
          );
        }
        await sleep(options.retryIntervalMs ?? 2_000);
      }
    }
  };
}

export interface OfflineCheckOptions {
  /** PEM of the CA that issues device certificates (the local stack's deviceCaFile); without it, no chain check. */
  readonly issuerPem?: string;
  readonly now?: () => Date;
}

/** Check the certificate without a network: key, subject, validity and (given the issuer) its signature. */
export function checkOffline(options: OfflineCheckOptions = {}): CertificateCheck {
  return (candidate) => new Promise((resolve) => resolve(inspectOffline(candidate, options)));
}

function inspectOffline(candidate: DeviceCredentials, options: OfflineCheckOptions): string {
  const refuse = (reason: string, cause?: unknown): never => {
    throw new RotationError(
      'CheckFailed',
      `The new certificate does not pass the check: ${reason}. It was not confirmed; the current certificate ` +
        'keeps working.',
      cause === undefined ? undefined : { cause },
    );
  };
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(candidate.certificatePem);
  } catch (error) {
    return refuse('it cannot be read', error);
  }
  if (!certificate.checkPrivateKey(createPrivateKey(candidate.keyPem))) refuse('it is not for the new key');
  const subject = certificate.subject.split('\n');
  if (subject.length !== 1 || subject[0] !== `CN=${candidate.serialNumber}`) {
    refuse(`its subject is ${subject.join(', ')}, not CN=${candidate.serialNumber}`);
  }
  const now = (options.now ?? (() => new Date()))().getTime();
  if (Date.parse(certificate.validFrom) > now || Date.parse(certificate.validTo) < now) {
    refuse(`it is valid from ${certificate.validFrom} to ${certificate.validTo} only`);
  }
  if (options.issuerPem === undefined) {
    return 'the certificate is for the new key, names the device and is valid now (chain not checked: no CA given)';
  }
  const issuer = new X509Certificate(options.issuerPem);
  if (!certificate.checkIssued(issuer) || !certificate.verify(issuer.publicKey)) {
    refuse(`it is not signed by ${issuer.subject.replaceAll('\n', ', ')}`);
  }
  return `the certificate is for the new key, names the device, is valid now and chains to ${issuer.subject.replaceAll('\n', ', ')}`;
}

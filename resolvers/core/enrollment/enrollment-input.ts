/** The device's input, checked before anything is read or written: bad input changes nothing. */
import { inspectCsr, type InspectedCsr } from '../csr.ts';
import { CvmError } from '../errors.ts';
import { requireSerialNumber } from '../identifiers.ts';
import { TOKEN_PATTERN } from '../token.ts';

export interface RequestCertificateInput {
  readonly serialNumber?: unknown;
  readonly registrationToken?: unknown;
  readonly csr?: unknown;
}

export interface EnrollmentInput {
  readonly serialNumber: string;
  readonly token: string;
  readonly csr: InspectedCsr;
}

export async function parseEnrollmentInput(input: RequestCertificateInput): Promise<EnrollmentInput> {
  const serialNumber = requireSerialNumber(input.serialNumber);
  const token = input.registrationToken;
  // A token of the wrong shape is a typing slip, not a guess: refuse it before reading anything, so it
  // neither counts as a wrong token nor tells whether the serial exists.
  if (typeof token !== 'string' || !TOKEN_PATTERN.test(token)) {
    throw new CvmError(
      'InvalidInput',
      'registrationToken must be the 43-character token your administrator gave for this device (letters, digits, - and _).',
    );
  }
  if (typeof input.csr !== 'string' || input.csr.length === 0) {
    throw new CvmError('InvalidInput', 'csr must be a PEM certificate signing request.');
  }
  return { serialNumber, token, csr: await inspectCsr(input.csr, serialNumber) };
}

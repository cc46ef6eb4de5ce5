/** The device's certificate signing request: subject `CN=<serial>` and nothing else, signed by the device key. */
import 'reflect-metadata';
import { Pkcs10CertificateRequestGenerator } from '@peculiar/x509';
import { signingAlgorithmFor, type DeviceKey } from './device-key.ts';

export async function createDeviceCsr(serialNumber: string, key: DeviceKey): Promise<string> {
  const csr = await Pkcs10CertificateRequestGenerator.create({
    // The JSON form of the name takes the serial as a value, so no character in it can be read as syntax.
    name: [{ CN: [serialNumber] }],
    keys: key.keys,
    signingAlgorithm: signingAlgorithmFor(key.type),
  });
  return csr.toString('pem');
}

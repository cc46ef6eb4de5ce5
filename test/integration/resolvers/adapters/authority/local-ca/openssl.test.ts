/**
 * A second opinion from OpenSSL, which parses and checks certificates independently of @peculiar/x509:
 * chains verify for the purpose each certificate is meant for, and only for that one.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueDeviceCertificate } from '../../../../../../resolvers/adapters/authority/local-ca/issue-leaf.ts';
import { createCa, type LocalCa } from '../../../../../../resolvers/adapters/authority/local-ca/local-ca.ts';
import { loadOrIssueTlsServerCertificate } from '../../../../../../local/tls/tls-certificate.ts';
import { x509 } from '../../../../../../resolvers/adapters/authority/local-ca/x509.ts';
import { makeCsr, type CsrKeyType } from '../../../../../support/csr.ts';

const run = promisify(execFile);
const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

let directory: string;
let ca: LocalCa;
let caFile: string;

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'cvm-local-ca-openssl-'));
  ({ ca } = await createCa({ commonName: 'cvm openssl test CA' }));
  caFile = join(directory, 'ca.pem');
  await writeFile(caFile, ca.certificatePem);
});

afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

async function writeTemp(name: string, content: string): Promise<string> {
  const file = join(directory, name);
  await writeFile(file, content);
  return file;
}

/** `openssl verify` with strict RFC 5280 checks; resolves to whether it printed OK. */
async function opensslVerifies(certificateFile: string, ...checks: string[]): Promise<boolean> {
  try {
    const { stdout } = await run('openssl', ['verify', '-x509_strict', ...checks, '-CAfile', caFile, certificateFile]);
    return stdout.trim() === `${certificateFile}: OK`;
  } catch {
    return false;
  }
}

describe.skipIf(!hasOpenssl)('certificates checked by openssl', () => {
  describe.each<CsrKeyType>(['ec-p256', 'ec-p384', 'rsa-2048'])('a device certificate for a %s key', (keyType) => {
    let certificateFile: string;

    beforeAll(async () => {
      const { csrPem } = await makeCsr({ commonName: `SN-${keyType}`, keyType });
      certificateFile = await writeTemp(
        `device-${keyType}.pem`,
        (await issueDeviceCertificate(ca, csrPem)).certificatePem,
      );
    });

    it('verifies for TLS client authentication', async () => {
      await expect(opensslVerifies(certificateFile, '-purpose', 'sslclient')).resolves.toBe(true);
    });

    it('does not verify for a TLS server', async () => {
      await expect(opensslVerifies(certificateFile, '-purpose', 'sslserver')).resolves.toBe(false);
    });
  });

  it('keeps the subject of an openssl-made CSR exactly, string types included', async () => {
    const keyFile = join(directory, 'openssl-device.key');
    const csrFile = join(directory, 'openssl-device.csr');
    await run('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyFile]);
    // C is a PrintableString and emailAddress an IA5String; a re-encoding as UTF8String would show here.
    await run('openssl', [
      'req',
      '-new',
      '-key',
      keyFile,
      '-subj',
      '/C=DE/CN=SN-openssl/emailAddress=ops@example.com',
      '-out',
      csrFile,
    ]);
    const { stdout: csrPem } = await run('openssl', ['req', '-in', csrFile]);
    const certificateFile = await writeTemp(
      'openssl-device.pem',
      (await issueDeviceCertificate(ca, csrPem)).certificatePem,
    );

    const dump = ['-noout', '-subject', '-nameopt', 'dump_all,dump_der,sep_multiline'];
    const { stdout: csrSubject } = await run('openssl', ['req', '-in', csrFile, ...dump]);
    const { stdout: certificateSubject } = await run('openssl', ['x509', '-in', certificateFile, ...dump]);
    expect(certificateSubject).toBe(csrSubject);
    expect(certificateSubject).toContain('C=#1302'); // PrintableString, length 2
  });

  describe('the HTTPS server certificate', () => {
    let certificateFile: string;

    beforeAll(async () => {
      const credentials = await loadOrIssueTlsServerCertificate(join(directory, 'tls'), ca);
      certificateFile = await writeTemp(
        'server.pem',
        x509.PemConverter.encode(x509.PemConverter.decodeFirst(credentials.certPem), 'CERTIFICATE'),
      );
    });

    it.each([
      ['-verify_hostname', 'localhost'],
      ['-verify_ip', '127.0.0.1'],
      ['-verify_ip', '::1'],
    ])('verifies for a TLS server at %s %s', async (option, name) => {
      await expect(opensslVerifies(certificateFile, '-purpose', 'sslserver', option, name)).resolves.toBe(true);
    });

    it.each([
      ['-verify_hostname', 'cvm.example'],
      ['-verify_ip', '192.0.2.1'],
    ])('does not verify for a server at %s %s', async (option, name) => {
      await expect(opensslVerifies(certificateFile, '-purpose', 'sslserver', option, name)).resolves.toBe(false);
    });

    it('does not verify for TLS client authentication', async () => {
      await expect(opensslVerifies(certificateFile, '-purpose', 'sslclient')).resolves.toBe(false);
    });
  });
});

import { createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createCa, type LocalCa } from '../../../../resolvers/adapters/authority/local-ca/local-ca.ts';
import {
  loadOrIssueTlsServerCertificate,
  TLS_SERVER_FILE,
  type TlsServerCredentials,
} from '../../../../local/tls/tls-certificate.ts';
import { x509 } from '../../../../resolvers/adapters/authority/local-ca/x509.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

let ca: LocalCa;
let directory: string;

beforeAll(async () => {
  ({ ca } = await createCa({ commonName: 'cvm test TLS CA' }));
});

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'cvm-local-ca-tls-'));
});

afterEach(async () => {
  await rm(directory, { recursive: true, force: true });
});

function leafOf(credentials: TlsServerCredentials): x509.X509Certificate {
  return new x509.X509Certificate(x509.PemConverter.decodeFirst(credentials.certPem));
}

describe('loadOrIssueTlsServerCertificate', () => {
  describe('the certificate it issues', () => {
    let leaf: x509.X509Certificate;
    let credentials: TlsServerCredentials;

    beforeEach(async () => {
      credentials = await loadOrIssueTlsServerCertificate(directory, ca, { now: new Date('2026-03-01T10:00:00Z') });
      leaf = leafOf(credentials);
    });

    it('names localhost, 127.0.0.1 and ::1 and nothing else', () => {
      const names = leaf.getExtension(x509.SubjectAlternativeNameExtension)?.names.toJSON();
      expect(names).toEqual([
        { type: 'dns', value: 'localhost' },
        { type: 'ip', value: '127.0.0.1' },
        { type: 'ip', value: '::1' },
      ]);
    });

    it('is for TLS servers only, signing with its key (critical key usage)', () => {
      expect(leaf.getExtension(x509.ExtendedKeyUsageExtension)?.usages).toEqual([x509.ExtendedKeyUsage.serverAuth]);
      const keyUsage = leaf.getExtension(x509.KeyUsagesExtension);
      expect(keyUsage?.critical).toBe(true);
      expect(keyUsage?.usages).toBe(x509.KeyUsageFlags.digitalSignature);
      expect(leaf.getExtension(x509.BasicConstraintsExtension)).toMatchObject({ ca: false, critical: true });
    });

    it('is signed by the CA, named by its key identifier, and valid for about a year', async () => {
      expect(leaf.issuer).toBe(ca.certificate.subject);
      expect(leaf.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId).toBe(ca.keyIdentifier);
      await expect(leaf.verify({ publicKey: ca.certificate.publicKey, signatureOnly: true })).resolves.toBe(true);
      expect(leaf.notBefore.toISOString()).toBe('2026-03-01T09:55:00.000Z');
      expect(leaf.notAfter.toISOString()).toBe('2027-03-01T10:00:00.000Z');
    });

    it('returns the CA certificate after the server certificate, as the chain to send', () => {
      const chain = x509.PemConverter.decode(credentials.certPem);
      expect(chain).toHaveLength(2);
      expect(Buffer.from(chain[1] ?? new ArrayBuffer(0)).equals(Buffer.from(ca.certificate.rawData))).toBe(true);
    });

    it('keeps key and chain in one file that only its owner can read', async () => {
      const file = join(directory, TLS_SERVER_FILE);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      expect(await readFile(file, 'utf8')).toBe(`${credentials.keyPem}\n${credentials.certPem}`);
    });
  });

  describe('on a later start', () => {
    const issuedAt = new Date('2026-03-01T10:00:00Z');

    it('reuses the stored certificate while it has more than 30 days left', async () => {
      const first = await loadOrIssueTlsServerCertificate(directory, ca, { now: issuedAt });
      const later = new Date(leafOf(first).notAfter.getTime() - 31 * DAY_MS);
      const second = await loadOrIssueTlsServerCertificate(directory, ca, { now: later });
      expect(second).toEqual(first);
    });

    const reissueCases: { name: string; change: () => Promise<{ now: Date; signer: LocalCa }> }[] = [
      {
        name: 'it expires within 30 days',
        change: () => Promise.resolve({ now: new Date(issuedAt.getTime() + 336 * DAY_MS), signer: ca }),
      },
      {
        name: 'it was signed by another CA',
        change: async () => ({ now: issuedAt, signer: (await createCa({ commonName: 'cvm test TLS CA' })).ca }),
      },
      {
        name: 'the file is damaged',
        change: async () => {
          await writeFile(join(directory, TLS_SERVER_FILE), '-----BEGIN PRIVATE KEY-----\ngarbage\n');
          return { now: issuedAt, signer: ca };
        },
      },
      {
        name: 'the key does not belong to the certificate',
        change: async () => {
          const file = join(directory, TLS_SERVER_FILE);
          const stored = await readFile(file, 'utf8');
          const otherKey = (await createCa({ commonName: 'unrelated' })).privateKeyPem;
          await writeFile(
            file,
            stored.replace(/-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/, otherKey),
          );
          return { now: issuedAt, signer: ca };
        },
      },
    ];

    it.each(reissueCases)('issues a new certificate when $name', async ({ change }) => {
      const first = await loadOrIssueTlsServerCertificate(directory, ca, { now: issuedAt });
      const { now, signer } = await change();

      const second = await loadOrIssueTlsServerCertificate(directory, signer, { now });

      expect(leafOf(second).serialNumber).not.toBe(leafOf(first).serialNumber);
      await expect(
        leafOf(second).verify({ publicKey: signer.certificate.publicKey, signatureOnly: true }),
      ).resolves.toBe(true);
      expect(await readFile(join(directory, TLS_SERVER_FILE), 'utf8')).toBe(`${second.keyPem}\n${second.certPem}`);
    });
  });

  describe('serving HTTPS on loopback', () => {
    let server: Server;
    let port: number;

    beforeAll(async () => {
      const serverDirectory = await mkdtemp(join(tmpdir(), 'cvm-local-ca-https-'));
      const credentials = await loadOrIssueTlsServerCertificate(serverDirectory, ca);
      await rm(serverDirectory, { recursive: true, force: true });
      server = createServer({ key: credentials.keyPem, cert: credentials.certPem }, (_request, response) => {
        response.end('hello');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as AddressInfo).port;
    });

    afterAll(async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    /**
     * GET / from the server on 127.0.0.1, checking its certificate for `name` with `trusted` as the only CA.
     * A DNS name travels as SNI; an IP address is checked as the host itself (SNI carries no addresses).
     */
    function get(name: string, trusted: string | undefined): Promise<string> {
      const isAddress = name === '127.0.0.1';
      return new Promise((resolve, reject) => {
        const outgoing = request(
          {
            host: '127.0.0.1',
            port,
            path: '/',
            ...(isAddress ? {} : { servername: name }),
            ...(trusted === undefined ? {} : { ca: trusted }),
          },
          (response) => {
            let body = '';
            response.on('data', (chunk: Buffer) => (body += chunk.toString()));
            response.on('end', () => resolve(body));
          },
        );
        outgoing.on('error', reject);
        outgoing.end();
      });
    }

    it.each(['localhost', '127.0.0.1'])('is trusted for %s by a client that trusts the TLS CA', async (name) => {
      await expect(get(name, ca.certificatePem)).resolves.toBe('hello');
    });

    it('is not trusted by a client that does not know the TLS CA', async () => {
      await expect(get('localhost', undefined)).rejects.toThrow(/certificate/i);
    });

    it('is not trusted by a client that trusts another CA', async () => {
      const other = (await createCa({ commonName: 'cvm test TLS CA' })).ca;
      await expect(get('localhost', other.certificatePem)).rejects.toThrow(/certificate/i);
    });

    it('is not trusted for a name it does not carry', async () => {
      await expect(get('cvm.example', ca.certificatePem)).rejects.toThrow(/altnames|Hostname/i);
    });
  });
});

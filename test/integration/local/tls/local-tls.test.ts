import { readFile, rm, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openLocalTls, type LocalTls } from '../../../../local/tls/local-tls.ts';
import { x509 } from '../../../../resolvers/adapters/authority/local-ca/x509.ts';

let dir: string;
let tls: LocalTls;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cvm-local-tls-'));
  tls = await openLocalTls(dir);
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('openLocalTls', () => {
  it('keeps the TLS CA in its own file, apart from the device CA', async () => {
    expect(tls.ca.certFile).toBe(join(dir, 'ca', 'tls', 'ca.pem'));
    expect(await readFile(tls.ca.certFile, 'utf8')).toBe(tls.ca.certPem);
    expect(new x509.X509Certificate(tls.ca.certPem).subject).toBe('CN=cvm local TLS CA');
  });

  it('signs the server certificate with the TLS CA', async () => {
    const leaf = new x509.X509Certificate(x509.PemConverter.decodeFirst(tls.server.certPem));
    const ca = new x509.X509Certificate(tls.ca.certPem);
    await expect(leaf.verify({ publicKey: ca.publicKey, signatureOnly: true })).resolves.toBe(true);
  });

  it('opens the same CA and server certificate on a later start', async () => {
    const again = await openLocalTls(dir);
    expect(again).toEqual(tls);
  });
});

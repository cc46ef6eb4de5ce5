/**
 * The local stack end to end, as a new user drives it: the real HTTPS twin with API-key and SigV4 calls,
 * dynalite on disk, the local CA; the `cvm` command in-process; a key and CSR made by openssl.
 */
import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGraphqlClient } from '../../../client/graphql-client.ts';
import { signAppSyncRequest } from '../../../client/sigv4.ts';
import { readLocalConfig, type LocalConfig } from '../../../local/config.ts';
import { startLocalStack, type LocalStack } from '../../../local/stack.ts';
import { cvm } from '../../unit/cli/support/run-cli.ts';

let dataDir: string;
let workDir: string;
let stack: LocalStack;
let config: LocalConfig;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'cvm-e2e-data-'));
  workDir = await mkdtemp(path.join(tmpdir(), 'cvm-e2e-work-'));
  stack = await startLocalStack({ dataDir, port: 0, log: () => undefined });
  config = stack.config;
});

afterAll(async () => {
  await stack?.close();
  await rm(dataDir, { recursive: true, force: true });
  await rm(workDir, { recursive: true, force: true });
});

interface RawResponse {
  status: number;
  body: { data?: Record<string, unknown> | null; errors?: { errorType?: string; message: string }[] };
}

/** A raw HTTPS POST, as curl would send it. */
async function post(body: string, headers: Record<string, string>): Promise<RawResponse> {
  const ca = await readFile(config.tlsCaFile, 'utf8');
  return new Promise((resolve, reject) => {
    const req = request(config.graphqlUrl, {
      method: 'POST',
      ca,
      headers: { 'content-type': 'application/json', ...headers },
    });
    req.on('response', (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as RawResponse['body'] }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function requestCertificateBody(serialNumber: string, registrationToken: string, csr: string): string {
  return JSON.stringify({
    query:
      'mutation Enroll($input: RequestCertificateInput!) { requestCertificate(input: $input) { certificateId certificatePem caCertificatePem thingName } }',
    variables: { input: { serialNumber, registrationToken, csr } },
  });
}

async function register(serial: string): Promise<string> {
  const run = await cvm(['admin', 'register', serial, '--data-dir', dataDir, '--json']);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  return (JSON.parse(run.stdout) as { registrationToken: string }).registrationToken;
}

/** `cvm device enroll` against the local stack, as a device would run it. */
function enrollWithCli(serial: string, token: string, out: string, ...flags: string[]) {
  return cvm(['device', 'enroll', '--serial', serial, '--token', token, '--data-dir', dataDir, '--out', out, ...flags]);
}

function opensslVerify(certificateFile: string): string {
  return execFileSync('openssl', ['verify', '-purpose', 'sslclient', '-CAfile', config.deviceCaFile, certificateFile], {
    encoding: 'utf8',
  });
}

describe('npm start: the local stack', () => {
  it('writes local.json with absolute paths and credentials that a client can read', async () => {
    const read = await readLocalConfig(dataDir);
    expect(read).toEqual(config);
    expect(config.graphqlUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/graphql$/);
    expect(path.isAbsolute(config.tlsCaFile) && path.isAbsolute(config.deviceCaFile)).toBe(true);
    expect(config.apiKey).toMatch(/^da2-[a-z2-7]{26}$/);
    expect((await stat(path.join(dataDir, 'local.json'))).mode & 0o777).toBe(0o600);
  });

  it('enrolls a device with `cvm device enroll`; the certificate verifies for client auth', async () => {
    const token = await register('E2E-CLI-1');
    const out = path.join(workDir, 'cli-1');
    const run = await enrollWithCli('E2E-CLI-1', token, out, '--json');
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as { certificateId: string };
    expect(opensslVerify(path.join(out, 'device.cert.pem'))).toContain(': OK');
    expect((await stat(path.join(out, 'device.key.pem'))).mode & 0o777).toBe(0o600);
    expect(run.stdout + run.stderr).not.toContain(token);

    // A retry (the device lost the answer) reuses the key and gets the same certificate.
    const again = await enrollWithCli('E2E-CLI-1', token, out, '--json');
    expect(again.code).toBe(0);
    expect((JSON.parse(again.stdout) as { certificateId: string }).certificateId).toBe(result.certificateId);
  });

  it('enrolls a device whose key and CSR openssl made, sent as a raw HTTPS request', async () => {
    const token = await register('E2E-OPENSSL-1');
    const keyFile = path.join(workDir, 'openssl.key');
    execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyFile]);
    const csr = execFileSync('openssl', ['req', '-new', '-key', keyFile, '-subj', '/CN=E2E-OPENSSL-1'], {
      encoding: 'utf8',
    });

    const response = await post(requestCertificateBody('E2E-OPENSSL-1', token, csr), { 'x-api-key': config.apiKey });
    expect(response.status).toBe(200);
    expect(response.body.errors).toBeUndefined();
    const grant = response.body.data?.requestCertificate as {
      certificatePem: string;
      caCertificatePem: string;
      thingName: string;
    };
    expect(grant.thingName).toBe('E2E-OPENSSL-1');
    const certificateFile = path.join(workDir, 'openssl.crt');
    await writeFile(certificateFile, grant.certificatePem);
    expect(opensslVerify(certificateFile)).toContain(': OK');
    // The certificate certifies openssl's key: the public keys match.
    const fromKey = execFileSync('openssl', ['pkey', '-in', keyFile, '-pubout'], { encoding: 'utf8' });
    const fromCertificate = execFileSync('openssl', ['x509', '-in', certificateFile, '-noout', '-pubkey'], {
      encoding: 'utf8',
    });
    expect(fromCertificate).toBe(fromKey);
    // caCertificatePem is what the device trusts for the endpoint: locally, the TLS CA.
    expect(grant.caCertificatePem.trim()).toBe((await readFile(config.tlsCaFile, 'utf8')).trim());
  });

  it('answers bad requests with AppSync-shaped typed errors, over HTTPS', async () => {
    const token = await register('E2E-ERR-1');
    const badCsr = await post(requestCertificateBody('E2E-ERR-1', token, 'not a csr'), { 'x-api-key': config.apiKey });
    expect(badCsr.status).toBe(200);
    expect(badCsr.body.data).toBeNull();
    expect(badCsr.body.errors?.[0]).toMatchObject({ errorType: 'InvalidCsr', path: ['requestCertificate'] });

    const keyFile = path.join(workDir, 'err.key');
    execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', keyFile]);
    const csr = execFileSync('openssl', ['req', '-new', '-key', keyFile, '-subj', '/CN=E2E-ERR-1'], {
      encoding: 'utf8',
    });
    const wrongToken = await post(requestCertificateBody('E2E-ERR-1', 'x'.repeat(43), csr), {
      'x-api-key': config.apiKey,
    });
    expect(wrongToken.body.errors?.[0]?.errorType).toBe('InvalidRegistrationToken');
    const mismatch = await post(requestCertificateBody('E2E-ERR-2', token, csr), { 'x-api-key': config.apiKey });
    expect(mismatch.body.errors?.[0]?.errorType).toBe('CsrSubjectMismatch');

    const noAuth = await post(requestCertificateBody('E2E-ERR-1', token, csr), {});
    expect(noAuth.status).toBe(401);
    expect(noAuth.body.errors?.[0]?.errorType).toBe('UnauthorizedException');
    const wrongKey = await post(requestCertificateBody('E2E-ERR-1', token, csr), { 'x-api-key': 'da2-nottherightkey' });
    expect(wrongKey.status).toBe(401);

    // Variables that do not fit the schema are refused without echoing them (they hold the token).
    const missingCsr = await post(
      JSON.stringify({
        query: 'mutation($i: RequestCertificateInput!) { requestCertificate(input: $i) { certificateId } }',
        variables: { i: { serialNumber: 'E2E-ERR-1', registrationToken: token } },
      }),
      { 'x-api-key': config.apiKey },
    );
    expect(missingCsr.body.errors?.[0]?.message).toMatch(/csr/);
    expect(JSON.stringify(missingCsr.body)).not.toContain(token);

    // As deployed, one request may not batch more than 10 resolver calls.
    const aliases = Array.from({ length: 11 }, (_, i) => `r${i}: requestCertificate(input: $i) { certificateId }`);
    const batched = await post(
      JSON.stringify({
        query: `mutation($i: RequestCertificateInput!) { ${aliases.join(' ')} }`,
        variables: { i: { serialNumber: 'E2E-ERR-1', registrationToken: token, csr } },
      }),
      { 'x-api-key': config.apiKey },
    );
    expect(batched.body.data).toBeNull();
    expect(batched.body.errors?.[0]?.message).toMatch(/invokes 11 resolvers; this API allows at most 10/);

    // A device's API key may not read admin fields.
    const deviceReadsAdmin = await post(JSON.stringify({ query: '{ device(serialNumber: "E2E-ERR-1") { status } }' }), {
      'x-api-key': config.apiKey,
    });
    expect(deviceReadsAdmin.body.errors?.[0]).toMatchObject({ errorType: 'Unauthorized' });

    // Nothing was consumed: the token still enrolls.
    const ok = await post(requestCertificateBody('E2E-ERR-1', token, csr), { 'x-api-key': config.apiKey });
    expect(ok.body.errors).toBeUndefined();
  });

  it('accepts the temporary credentials `cvm local credentials --json` vends, as the admin', async () => {
    const run = await cvm(['local', 'credentials', '--json', '--duration-seconds', '900', '--data-dir', dataDir]);
    const vended = JSON.parse(run.stdout) as {
      Version: number;
      AccessKeyId: string;
      SecretAccessKey: string;
      SessionToken: string;
      Expiration: string;
    };
    const body = JSON.stringify({ query: '{ devices(limit: 1) { items { serialNumber } } }' });
    const sign = (sessionToken: string) =>
      signAppSyncRequest({
        url: config.graphqlUrl,
        body,
        region: config.region,
        credentials: { accessKeyId: vended.AccessKeyId, secretAccessKey: vended.SecretAccessKey, sessionToken },
      });

    const accepted = await post(body, await sign(vended.SessionToken));
    const otherSession = JSON.parse((await cvm(['local', 'credentials', '--json', '--data-dir', dataDir])).stdout) as {
      SessionToken: string;
    };
    const mismatched = await post(body, await sign(otherSession.SessionToken));

    expect(run.code).toBe(0);
    expect(vended.Version).toBe(1);
    expect(vended.AccessKeyId).toMatch(/^ASIA[A-Z2-7]{16}$/);
    expect(new Date(vended.Expiration).getTime() - Date.now()).toBeLessThanOrEqual(900_000);
    expect(accepted.status).toBe(200);
    expect(accepted.body.errors).toBeUndefined();
    expect(mismatched.status).toBe(403);
    expect(mismatched.body.errors?.[0]?.errorType).toBe('UnrecognizedClientException');
  });

  it('refuses a SigV4 request signed with the wrong secret, and accepts the right one', async () => {
    const body = JSON.stringify({ query: '{ devices(limit: 1) { items { serialNumber } } }' });
    const wrong = await signAppSyncRequest({
      url: config.graphqlUrl,
      body,
      region: config.region,
      credentials: { accessKeyId: config.adminAccessKeyId, secretAccessKey: 'not-the-secret' },
    });
    const refused = await post(body, wrong);
    expect(refused.status).toBe(403);
    expect(refused.body.errors?.[0]?.errorType).toBe('InvalidSignatureException');
    const right = await signAppSyncRequest({
      url: config.graphqlUrl,
      body,
      region: config.region,
      credentials: { accessKeyId: config.adminAccessKeyId, secretAccessKey: config.adminSecretAccessKey },
    });
    const accepted = await post(body, right);
    expect(accepted.status).toBe(200);
    expect(accepted.body.errors).toBeUndefined();
  });

  it('revokes, resets and re-enrolls a device through `cvm admin`, with an audit trail', async () => {
    const token = await register('E2E-LIFE-1');
    const first = path.join(workDir, 'life-1');
    expect((await enrollWithCli('E2E-LIFE-1', token, first)).code).toBe(0);

    const revoked = await cvm([
      'admin',
      'revoke',
      'E2E-LIFE-1',
      '--reason',
      'lost in transit',
      '--data-dir',
      dataDir,
      '--json',
    ]);
    expect(revoked.code).toBe(0);
    expect(JSON.parse(revoked.stdout)).toMatchObject({ status: 'REVOKED', revocationReason: 'lost in transit' });

    const refused = await enrollWithCli('E2E-LIFE-1', token, first);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('InvalidRegistrationToken');

    const reset = await cvm(['admin', 'reset', 'E2E-LIFE-1', '--data-dir', dataDir, '--json']);
    expect(reset.code).toBe(0);
    const newToken = (JSON.parse(reset.stdout) as { registrationToken: string }).registrationToken;
    const second = path.join(workDir, 'life-2');
    const enrolled = await enrollWithCli('E2E-LIFE-1', newToken, second, '--json');
    expect(enrolled.code).toBe(0);
    expect(opensslVerify(path.join(second, 'device.cert.pem'))).toContain(': OK');
    const firstCertificate = new x509.X509Certificate(await readFile(path.join(first, 'device.cert.pem'), 'utf8'));
    const secondCertificate = new x509.X509Certificate(await readFile(path.join(second, 'device.cert.pem'), 'utf8'));
    expect(secondCertificate.serialNumber).not.toBe(firstCertificate.serialNumber);

    const shown = await cvm(['admin', 'show', 'E2E-LIFE-1', '--data-dir', dataDir, '--json']);
    expect(shown.code).toBe(0);
    const detail = JSON.parse(shown.stdout) as {
      device: { status: string };
      events: { type: string; actor: string }[];
    };
    expect(detail.device.status).toBe('ACTIVE');
    // Newest first; TOKEN_FAILED is the old token refused after the revoke.
    expect(detail.events.map((event) => event.type)).toEqual([
      'ISSUED',
      'RESET',
      'TOKEN_FAILED',
      'REVOKED',
      'ISSUED',
      'REGISTERED',
    ]);
    expect(detail.events.find((event) => event.type === 'RESET')?.actor).toMatch(/^arn:aws:iam::000000000000:user\//);
  });

  it('reconciles through `cvm admin reconcile`, as an admin only; with nothing left behind it finds nothing', async () => {
    const dryRun = await cvm(['admin', 'reconcile', '--dry-run', '--json', '--data-dir', dataDir]);
    expect(dryRun.code).toBe(0);
    const report = JSON.parse(dryRun.stdout) as { scanned: number; orphans: unknown[]; repaired: number };
    expect(report).toMatchObject({ orphans: [], repaired: 0 });
    expect(report.scanned).toBeGreaterThanOrEqual(0);

    const asDevice = await post(JSON.stringify({ query: 'mutation { reconcile { scanned } }' }), {
      'x-api-key': config.apiKey,
    });
    expect(asDevice.body.errors?.[0]?.errorType).toBe('Unauthorized');
  });

  it('imports a CSV in batches, resumes without re-registering, and lists by status', async () => {
    const csv = path.join(workDir, 'batch.csv');
    const serials = Array.from({ length: 230 }, (_, i) => `FAB-${String(i).padStart(4, '0')}`);
    await writeFile(csv, `serialNumber\n${serials.join('\n')}\n`);
    const tokens = path.join(workDir, 'tokens.csv');
    const first = await cvm(['admin', 'import', csv, '--out', tokens, '--data-dir', dataDir]);
    expect(first.code).toBe(0);
    const written = (await readFile(tokens, 'utf8')).trim().split('\n');
    expect(written).toHaveLength(231);
    expect((await stat(tokens)).mode & 0o777).toBe(0o600);

    const second = await cvm(['admin', 'import', csv, '--out', tokens, '--data-dir', dataDir]);
    expect(second.code).toBe(0);
    expect(second.stdout + second.stderr).toMatch(/230.*already registered|skip/i);
    expect((await readFile(tokens, 'utf8')).trim().split('\n')).toHaveLength(231);
    expect(second.stdout).not.toMatch(/no token/);

    // Resumed with a tokens file that lacks them (the first run died before writing): say which need a reset.
    const lost = await cvm([
      'admin',
      'import',
      csv,
      '--out',
      path.join(workDir, 'other-tokens.csv'),
      '--data-dir',
      dataDir,
    ]);
    expect(lost.code).toBe(1);
    expect(lost.stderr).toMatch(/TokensMissing: 230 registered device\(s\) have no token .*cvm admin reset/);

    const listed = await cvm(['admin', 'list', '--status', 'PENDING', '--json', '--data-dir', dataDir]);
    expect(listed.code).toBe(0);
    const pending = (JSON.parse(listed.stdout) as { serialNumber: string }[]).map((device) => device.serialNumber);
    for (const serial of serials) expect(pending).toContain(serial);
    expect(new Set(pending).size).toBe(pending.length);
  });

  it('keeps its state and credentials across a restart', async () => {
    const token = await register('E2E-RESTART-1');
    const journal = path.join(dataDir, 'iot', 'registry', 'journal.jsonl');
    expect(await filesOpenAt(journal)).toBe(1);
    await stack.close();
    // Closing released the registry's journal: nothing of the closed stack holds it open.
    expect(await filesOpenAt(journal)).toBe(0);
    stack = await startLocalStack({ dataDir, port: 0, log: () => undefined });
    const restarted = stack.config;
    expect(restarted.apiKey).toBe(config.apiKey);
    expect(restarted.adminAccessKeyId).toBe(config.adminAccessKeyId);
    config = restarted;

    const client = createGraphqlClient({
      url: config.graphqlUrl,
      ca: await readFile(config.tlsCaFile, 'utf8'),
      auth: {
        kind: 'iam',
        region: config.region,
        credentials: { accessKeyId: config.adminAccessKeyId, secretAccessKey: config.adminSecretAccessKey },
      },
    });
    const data = await client.request<{ device: { status: string } }>(
      'query($s: String!) { device(serialNumber: $s) { status } }',
      { s: 'E2E-CLI-1' },
    );
    expect(data.device.status).toBe('ACTIVE');
    const out = path.join(workDir, 'restart-1');
    const run = await enrollWithCli('E2E-RESTART-1', token, out);
    expect(run.code).toBe(0);
  });
});

/** How many of this process's file descriptors are open on `file` (Linux: /proc/self/fd). */
async function filesOpenAt(file: string): Promise<number> {
  const descriptors = await readdir('/proc/self/fd');
  const targets = await Promise.all(descriptors.map((fd) => readlink(path.join('/proc/self/fd', fd)).catch(() => '')));
  return targets.filter((target) => target === file).length;
}

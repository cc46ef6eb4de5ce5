/**
 * The README's enrollment with openssl and curl builds its request with `node -e '…' -- "$TOKEN"`. A registration
 * token is base64url, so one in 64 starts with `-`; without the `--`, node took such a token for an option of its
 * own ("node: bad option") and the README's steps failed for that device. This runs the README's own command.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const REPO_ROOT = path.resolve(import.meta.dirname, '..', '..', '..');

/** The README's `node -e '…' … > request.json` command, as written there. */
async function readmeRequestCommand(): Promise<string> {
  const readme = await readFile(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const end = readme.indexOf('> request.json');
  const start = readme.lastIndexOf("node -e '", end);
  if (end < 0 || start < 0) throw new Error('The README no longer builds request.json with node -e.');
  return readme.slice(start, end + '> request.json'.length);
}

describe("the README's curl request for requestCertificate", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'cvm-readme-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.each([
    ['an ordinary token', 'jp_1fE7tMIG6iUdE-ssGLjlPuwVBT-OZ8dP3rJDq9hc'],
    ['a token that starts with a dash', '-wcAf3azTr_JPsfQk7mz9iGJV1v2HHbsmWA2AXUOeQA'],
  ])('carries %s and the CSR unchanged', async (_name, token) => {
    const csr = '-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n';
    await writeFile(path.join(dir, 'device.csr'), csr);

    await promisify(execFile)('bash', ['-c', await readmeRequestCommand()], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', TOKEN: token },
    });

    const request = JSON.parse(await readFile(path.join(dir, 'request.json'), 'utf8')) as {
      variables: { i: { serialNumber: string; registrationToken: string; csr: string } };
    };
    expect(request.variables.i).toEqual({ serialNumber: 'SN-0002', registrationToken: token, csr });
  });
});

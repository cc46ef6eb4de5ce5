/**
 * AppSync refuses resolver code with constructs its APPSYNC_JS runtime lacks when the resolver is created, so a
 * mistake would surface only at deploy. `npm run lint` applies @aws-appsync/eslint-plugin to resolvers/appsync;
 * this proves it does, through ESLint's Node API and the repository's own eslint.config.js.
 */
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';
import { RESOLVER_CODE_FILE } from '../../../../contract/resolver-code.ts';

const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const RESPONSE = 'export function response(ctx) { return ctx.result; }\n';

const eslint = new ESLint({ cwd: REPO_ROOT });

/**
 * Lints `code` as a resolver file with the repository's eslint.config.js, in a scratch copy of the folder layout
 * (the rules are type-aware, so the file must exist beside the folder's tsconfig), never in the working tree.
 */
async function appsyncRuleIds(code: string): Promise<string[]> {
  const scratch = mkdtempSync(path.join(tmpdir(), 'cvm-appsync-lint-'));
  const folder = path.join(scratch, 'resolvers', 'appsync');
  mkdirSync(folder, { recursive: true });
  copyFileSync(path.join(REPO_ROOT, 'resolvers', 'appsync', 'tsconfig.json'), path.join(folder, 'tsconfig.json'));
  const file = path.join(folder, 'fixture.js');
  writeFileSync(file, code);
  const scratchLint = new ESLint({ cwd: scratch, overrideConfigFile: path.join(REPO_ROOT, 'eslint.config.js') });
  const [result] = await scratchLint.lintFiles([file]);
  const messages = result?.messages ?? [];
  // A parse failure would hide the rules: fail loudly instead of passing for the wrong reason.
  expect(messages.filter((message) => message.fatal === true)).toEqual([]);
  return messages.flatMap((message) => (message.ruleId?.startsWith('@aws-appsync/') === true ? [message.ruleId] : []));
}

describe('lint of the APPSYNC_JS resolver code', () => {
  it('passes for the resolver AppSync runs', async () => {
    const [result] = await eslint.lintFiles([RESOLVER_CODE_FILE]);

    expect(result?.messages).toEqual([]);
  });

  it.each([
    [
      'a regex literal',
      "export function request(ctx) { return { operation: 'Invoke', payload: /x/.test(ctx.info.fieldName) }; }",
      '@aws-appsync/no-regex',
    ],
    ['try/catch', 'export function request() { try { return null; } catch { return null; } }', '@aws-appsync/no-try'],
    ['a class', 'class Payload {}\nexport function request() { return new Payload(); }', '@aws-appsync/no-classes'],
    [
      'a for loop',
      'export function request() { let n = 0; for (let i = 0; i < 3; i++) { n += i; } return n; }',
      '@aws-appsync/no-for',
    ],
    ['async', 'export async function request() { return null; }', '@aws-appsync/no-async'],
  ])('fails for %s, which AppSync refuses', async (_case, request, ruleId) => {
    expect(await appsyncRuleIds(`${request}\n${RESPONSE}`)).toContain(ruleId);
  });
});

/**
 * The import boundaries of ARCHITECTURE.md are lint rules (eslint.config.js). These cases prove the rules
 * bite: each lints a one-line import as if it were in a real file of that folder.
 */
import path from 'node:path';
import { ESLint } from 'eslint';
import { beforeAll, describe, expect, it } from 'vitest';

const REPO_ROOT = path.resolve(import.meta.dirname, '..', '..');
let eslint: ESLint;

beforeAll(() => {
  eslint = new ESLint({
    cwd: REPO_ROOT,
    // Only the import rules are under test: without the type-aware rules no TypeScript program is built for
    // these snippets (about 20 s of the test otherwise). The rules' configuration is eslint.config.js's own.
    ruleFilter: ({ ruleId }) => ruleId === 'no-restricted-imports' || ruleId === 'import-x/no-cycle',
    overrideConfig: { files: ['**/*.ts'], languageOptions: { parserOptions: { projectService: false } } },
  });
});

async function findings(rule: string, file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(`${code}\nexport {};\n`, { filePath: path.join(REPO_ROOT, file) });
  return (result?.messages ?? []).filter((m) => m.ruleId === rule).map((m) => m.message);
}

function restrictedImports(file: string, code: string): Promise<string[]> {
  return findings('no-restricted-imports', file, code);
}

describe('import boundaries', () => {
  it.each([
    ['the core importing an adapter', 'resolvers/core/csr.ts', "import '../adapters/store/dynamodb-store.ts';"],
    ['the core importing the AWS SDK', 'resolvers/core/csr.ts', "import '@aws-sdk/client-iot';"],
    ['the core importing aws-lambda', 'resolvers/core/csr.ts', "import type { Context } from 'aws-lambda';"],
    ['the core importing the Lambda root', 'resolvers/core/csr.ts', "import '../lambda.ts';"],
    ['local/ importing infra/', 'local/stack.ts', "import '../infra/device-policy.ts';"],
    ['infra/ importing local/', 'infra/cvm-app.ts', "import '../local/stack.ts';"],
    ['the client importing the core', 'client/types.ts', "import '../resolvers/core/device.ts';"],
    ['contract/ importing a home', 'contract/api-types.ts', "import '../resolvers/core/errors.ts';"],
    ['an adapter importing local/', 'resolvers/adapters/system.ts', "import '../../local/stack.ts';"],
    ['product code importing test/', 'cli/main.ts', "import '../test/support/csr.ts';"],
    ['the benchmark importing test/', 'bench/run.ts', "import '../test/support/core-harness.ts';"],
  ])('refuses %s', async (_case, file, code) => {
    expect(await restrictedImports(file, code)).toHaveLength(1);
  });

  it.each([
    ['the core importing the contract', 'resolvers/core/csr.ts', "import '../../contract/api-types.ts';"],
    ['local/ importing the contract', 'local/stack.ts', "import '../contract/request-limits.ts';"],
    ['infra/ importing the contract', 'infra/cvm-app.ts', "import '../contract/table-layout.ts';"],
    ['a test importing anything', 'test/support/csr.ts', "import '../../resolvers/adapters/system.ts';"],
  ])('allows %s', async (_case, file, code) => {
    expect(await restrictedImports(file, code)).toEqual([]);
  });
});

describe('import cycles', () => {
  // enrollment-input.ts imports csr.ts, so csr.ts importing it back closes a cycle.
  it('refuses a module importing one that imports it', async () => {
    expect(
      await findings('import-x/no-cycle', 'resolvers/core/csr.ts', "import './enrollment/enrollment-input.ts';"),
    ).toHaveLength(1);
  });

  it('allows importing a module that does not import back', async () => {
    expect(await findings('import-x/no-cycle', 'resolvers/core/csr.ts', "import './identifiers.ts';")).toEqual([]);
  });
});

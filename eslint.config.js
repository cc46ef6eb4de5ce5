import js from '@eslint/js';
import importX, { createNodeResolver } from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';
import appsyncPlugin from '@aws-appsync/eslint-plugin';

/**
 * Import boundaries: the shape ARCHITECTURE.md describes, kept by lint. Each entry names the files it applies
 * to and the paths they must not import (patterns are gitignore-style, matched against the import specifier).
 */
const BOUNDARIES = [
  {
    files: ['resolvers/core/**/*.ts'],
    message:
      'The core is pure: it gets I/O through the ports in resolvers/core/ports.ts, never an adapter, SDK or env.',
    patterns: [
      '**/adapters/**',
      '**/local/**',
      '**/infra/**',
      '**/client/**',
      '**/cli/**',
      '../lambda.ts',
      '../resolve-field.ts',
      '@aws-sdk/*',
      '@smithy/*',
      'aws-lambda',
      '@aws-lambda-powertools/*',
      'node:fs',
      'node:fs/*',
      'node:http',
      'node:https',
      'node:net',
      'node:child_process',
    ],
  },
  {
    files: ['contract/**/*.ts'],
    message: 'contract/ is what every home shares; it depends on no home.',
    patterns: ['**/resolvers/**', '**/local/**', '**/infra/**', '**/client/**', '**/cli/**'],
  },
  {
    files: ['resolvers/adapters/**/*.ts'],
    message: 'An adapter translates for the core; it does not reach into another home or the composition roots.',
    patterns: ['**/local/**', '**/infra/**', '**/client/**', '**/cli/**', '**/lambda.ts', '**/resolve-field.ts'],
  },
  {
    files: ['local/**/*.ts'],
    message: 'local/ and infra/ never import each other; what both need belongs in contract/.',
    patterns: ['**/infra/**', '**/cli/**'],
  },
  {
    files: ['infra/**/*.ts'],
    message: 'local/ and infra/ never import each other; what both need belongs in contract/.',
    patterns: ['**/local/**', '**/cli/**', '**/client/**'],
  },
  {
    files: ['client/**/*.ts'],
    message: 'The client depends on the API contract, not on the server.',
    patterns: ['**/resolvers/**', '**/local/**', '**/infra/**', '**/cli/**'],
  },
];

/** Product code never imports test code; test code may import anything. */
const NO_TEST_IMPORTS = { group: ['**/test/**'], message: 'Product code never imports test code.' };

export default tseslint.config(
  { ignores: ['node_modules/', 'cdk.out/', '.cvm/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  // Type-aware rules for every TypeScript file: no floating promises, no unsafe `any`, no `async` without
  // `await`, no unnecessary assertions. Types come from the root tsconfig.json through the project service.
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommendedTypeCheckedOnly],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
  },
  {
    files: ['**/*.ts'],
    plugins: { 'import-x': importX },
    // cvm imports its own modules by their .ts names: without these settings import-x treats .ts files as not
    // importable, so no-cycle never looked at cvm's own modules (and walked node_modules' JavaScript instead).
    settings: {
      'import-x/extensions': ['.ts', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [createNodeResolver()],
    },
    // A cycle cannot pass through a package (node_modules never imports cvm), so the rule need not parse them:
    // walking aws-cdk-lib's and the AWS SDK's JavaScript took about 25 s, most of `npm run lint`.
    rules: { 'import-x/no-cycle': ['error', { ignoreExternal: true }] },
  },
  ...[...BOUNDARIES, { files: ['cli/**/*.ts', 'bench/**/*.ts', 'fuzz/**/*.ts'], message: '', patterns: [] }].map(
    ({ files, message, patterns }) => ({
      files,
      rules: {
        'no-restricted-imports': [
          'error',
          { patterns: [...(patterns.length > 0 ? [{ group: patterns, message }] : []), NO_TEST_IMPORTS] },
        ],
      },
    }),
  ),
  {
    files: ['resolvers/appsync/**/*.js'],
    rules: { 'no-undef': 'off' },
  },
  // APPSYNC_JS, the resolver code AppSync runs as is: AppSync's own rules (recommended, type-aware), so that a
  // construct its runtime refuses at deploy (a regex literal, try, class, for…) fails `npm run lint` here first.
  {
    files: ['resolvers/appsync/**/*.js'],
    ...appsyncPlugin.configs.recommended,
    languageOptions: {
      ...appsyncPlugin.configs.recommended.languageOptions,
      parserOptions: {
        // Type information from the folder's own small tsconfig (the root one leaves APPSYNC_JS out).
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
  },
);

import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import appsyncPlugin from '@aws-appsync/eslint-plugin';

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

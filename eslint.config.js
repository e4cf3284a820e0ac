// Type-aware linting of the server, the client and the tests; formatting is Prettier's (eslint-config-prettier).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

export default tseslint.config(
  { ignores: ['node_modules/**', 'storage/**', 'test-results/**', 'dist/**', '**/*.mjs', 'eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // A double cast tells the compiler to stop checking: type the value properly (a zod parse, a type guard, a
      // generic) instead. Where one is truly unavoidable, disable this on that line and say why.
      'no-restricted-syntax': [
        'error',
        {
          selector: "TSAsExpression[expression.type='TSAsExpression'][expression.typeAnnotation.type='TSUnknownKeyword']",
          message: '`as unknown as` switches type checking off: parse, narrow or type the value instead.',
        },
      ],
      // Passing on a caught value (typed unknown) is a rethrow, not a new non-Error rejection.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      '@typescript-eslint/only-throw-error': ['error', { allowThrowingUnknown: true }],
      // A leading underscore marks a name that is deliberately unused (a positional parameter, a tuple slot);
      // `const { secret, ...rest } = x` is how a field is dropped from a copy. tsc's noUnusedLocals catches the rest.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },
  {
    // The browser client's tests compile with the DOM library, so they belong to client/tsconfig.json, which the
    // project service does not find from test/ on its own.
    files: ['test/client/**/*.ts', 'test/browser/**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: false, project: './client/tsconfig.json', tsconfigRootDir: import.meta.dirname },
    },
  },
  {
    // In-memory and synchronous (better-sqlite3) adapters of async ports: the port promises a Promise because its
    // other adapters do I/O, and `async` turns a throw (a full Web Storage, a closed database) into the rejection the
    // callers handle. (require-await takes no options, so the exception is these files.)
    files: [
      'client/stores.ts',
      'src/rateLimit/bucketStore.ts',
      'src/presence/presenceSessions.ts',
      'src/calls/callGraceDeadlines.ts',
      'src/secrets/sqliteSecretStore.ts',
    ],
    rules: { '@typescript-eslint/require-await': 'off' },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Tests read HTTP bodies, socket frames and documents as untyped JSON and assert on their fields; typing every
      // answer would restate the contract the tests exist to check. Everywhere else these stay on.
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
      // Fakes of async ports and third-party clients (MongoDB, EventStoreDB, stores) keep `async` without an await:
      // the port's signature promises a Promise, and a throw must become a rejection as in the real client.
      '@typescript-eslint/require-await': 'off',
    },
  },
  prettier,
);

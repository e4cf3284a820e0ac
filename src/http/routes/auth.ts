import { toOwnUser } from '../../../projections/users.ts';
import { session, tokenStatus } from '../../contract/models.ts';
import type { AuthService } from '../../auth/authService.ts';
import { loginSchema, registerSchema } from '../../contract/authSchemas.ts';
import { commandMetadata } from '../context.ts';
import { noContent, reply, route } from '../routeTable.ts';

export interface AuthRouteDeps {
  auth: AuthService;
  clock: () => Date;
}

/** POST /auth/register, POST /auth/login, POST /auth/logout, GET /auth/verify. */
export function authRoutes({ auth, clock }: AuthRouteDeps) {
  return [
    route({
      method: 'post',
      path: '/auth/register',
      operationId: 'register',
      tag: 'auth',
      auth: false,
      rateLimit: 'auth',
      summary: 'Register and log in',
      description: 'A retried registration (same email and username, same password) logs in to the same account.',
      body: registerSchema,
      responses: { 201: { description: 'Registered; the session of the first login', schema: session } },
      errors: ['email_taken', 'username_taken', 'registration_abandoned', 'user_exists'],
      handle: async ({ body, ctx }) => reply(201, await auth.register(body, ctx.ip, commandMetadata(ctx, clock(), null))),
    }),
    route({
      method: 'post',
      path: '/auth/login',
      operationId: 'login',
      tag: 'auth',
      auth: false,
      rateLimit: 'auth',
      summary: 'Log in with email and password',
      description:
        'Limited per client address (`auth`); failed attempts per account and address (`login-failures`: 429, ' +
        'even for the right password), and per account from every address (`login-account`: past it the answer is slowed, 1 s ' +
        'doubling to 16 s, never refused).',
      body: loginSchema,
      responses: { 200: { description: 'A new session', schema: session } },
      errors: ['invalid_credentials', 'account_suspended'],
      handle: async ({ body: { email, password }, ctx }) =>
        reply(200, await auth.login(email, password, ctx.ip, commandMetadata(ctx, clock(), null))),
    }),
    route({
      method: 'post',
      path: '/auth/logout',
      operationId: 'logout',
      tag: 'auth',
      auth: true,
      rateLimit: 'session',
      summary: 'Revoke the presented token',
      description: 'Its sockets are closed with 4401 `token_revoked`.',
      responses: { 204: { description: 'Revoked' } },
      errors: [],
      handle: async ({ principal, ctx }) => {
        await auth.logout(principal, commandMetadata(ctx, clock(), principal.userId));
        return noContent();
      },
    }),
    route({
      method: 'get',
      path: '/auth/verify',
      operationId: 'verifyToken',
      tag: 'auth',
      auth: true,
      rateLimit: 'read',
      summary: 'Check the presented token',
      responses: { 200: { description: 'The token is valid', schema: tokenStatus } },
      errors: [],
      handle: ({ principal }) => reply(200, { valid: true as const, user: toOwnUser(principal.user), expiresAt: principal.expiresAt }),
    }),
  ];
}

import { InvalidCredentialsError } from '../../../commands/users.ts';
import { toOwnUser } from '../../../projections/users.ts';
import { session, tokenStatus } from '../../api/models.ts';
import type { AuthService } from '../../auth/authService.ts';
import { loginSchema, registerSchema } from '../../auth/schemas.ts';
import type { RateLimits } from '../../rateLimit/rateLimits.ts';
import { commandMetadata } from '../context.ts';
import { noContent, reply, route } from '../routeTable.ts';

export interface AuthRouteDeps {
  auth: AuthService;
  clock: () => Date;
  rateLimits: RateLimits;
}

/** POST /auth/register, POST /auth/login, POST /auth/logout, GET /auth/verify. */
export function authRoutes({ auth, clock, rateLimits }: AuthRouteDeps) {
  return [
    route({
      method: 'post', path: '/auth/register', operationId: 'register', tag: 'auth', auth: false, rateLimit: 'auth',
      summary: 'Register and log in',
      description: 'A retried registration (same email and username, same password) logs in to the same account.',
      body: registerSchema,
      responses: { 201: { description: 'Registered; the session of the first login', schema: session } },
      errors: ['email_taken', 'username_taken', 'registration_abandoned', 'user_exists'],
      handle: async ({ body, ctx }) => reply(201, await auth.register(body, commandMetadata(ctx, clock(), null))),
    }),
    route({
      method: 'post', path: '/auth/login', operationId: 'login', tag: 'auth', auth: false, rateLimit: 'auth',
      summary: 'Log in with email and password',
      description: 'Limited per client address (`auth`) and, for failed attempts, per account (`login-failures`).',
      body: loginSchema,
      responses: { 200: { description: 'A new session', schema: session } },
      errors: ['invalid_credentials'],
      handle: async ({ body: { email, password }, ctx }) => {
        // A locked account answers 429 before the password is checked, so guessing gains nothing.
        rateLimits.check('login-failures', email);
        try {
          return reply(200, await auth.login(email, password, commandMetadata(ctx, clock(), null)));
        } catch (error) {
          if (error instanceof InvalidCredentialsError) rateLimits.take('login-failures', email);
          throw error;
        }
      },
    }),
    route({
      method: 'post', path: '/auth/logout', operationId: 'logout', tag: 'auth', auth: true, rateLimit: 'session',
      summary: 'Revoke the presented token', description: 'Its sockets are closed with 4401 `token_revoked`.',
      responses: { 204: { description: 'Revoked' } },
      errors: [],
      handle: async ({ principal, ctx }) => {
        await auth.logout(principal, commandMetadata(ctx, clock(), principal.userId));
        return noContent();
      },
    }),
    route({
      method: 'get', path: '/auth/verify', operationId: 'verifyToken', tag: 'auth', auth: true, rateLimit: 'read',
      summary: 'Check the presented token',
      responses: { 200: { description: 'The token is valid', schema: tokenStatus } },
      errors: [],
      handle: async ({ principal }) => reply(200, { valid: true as const, user: toOwnUser(principal.user), expiresAt: principal.expiresAt }),
    }),
  ];
}

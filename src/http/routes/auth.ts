import Router from '@koa/router';
import { toOwnUser } from '../../../projections/users.ts';
import type { Authenticator } from '../../auth/authenticator.ts';
import type { AuthService } from '../../auth/authService.ts';
import { loginSchema, registerSchema } from '../../auth/schemas.ts';
import { parse } from '../../validation.ts';
import { commandMetadata, principalOf, requireAuth } from '../context.ts';
import { rateLimitByIp, type RateLimiter } from '../rateLimit.ts';

export interface AuthRouteDeps {
  auth: AuthService;
  authenticator: Authenticator;
  clock: () => Date;
  credentialLimiter: RateLimiter;
}

/** POST /auth/register, POST /auth/login, POST /auth/logout, GET /auth/verify. */
export function authRoutes({ auth, authenticator, clock, credentialLimiter }: AuthRouteDeps): Router {
  const router = new Router({ prefix: '/auth' });
  const limited = rateLimitByIp(credentialLimiter);
  const authenticated = requireAuth(authenticator);

  router.post('/register', limited, async (ctx) => {
    const input = parse(registerSchema, ctx.request.body);
    ctx.status = 201;
    ctx.body = await auth.register(input, commandMetadata(ctx, clock(), null));
  });

  router.post('/login', limited, async (ctx) => {
    const { email, password } = parse(loginSchema, ctx.request.body);
    ctx.body = await auth.login(email, password, commandMetadata(ctx, clock(), null));
  });

  router.post('/logout', authenticated, async (ctx) => {
    const principal = principalOf(ctx);
    await auth.logout(principal, commandMetadata(ctx, clock(), principal.userId));
    ctx.status = 204;
  });

  router.get('/verify', authenticated, async (ctx) => {
    const principal = principalOf(ctx);
    ctx.body = { valid: true, user: toOwnUser(principal.user), expiresAt: principal.expiresAt };
  });

  return router;
}

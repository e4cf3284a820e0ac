import { liftedRateLimits } from '../../src/rateLimit/policies.ts';

/**
 * The environment of every server the bench starts: loopback and ephemeral ports, fast bcrypt, no rate limit in the
 * way of the load, and fixed secrets (so a server restarted on the same storage dir accepts what it wrote before).
 */
export const benchServerEnv = (storageDir: string): Record<string, string> => ({
  STORAGE_DIR: storageDir,
  PORT: '0',
  WS_PORT: '0',
  HOST: '127.0.0.1',
  BCRYPT_COST: '4',
  RATE_LIMITS: liftedRateLimits(),
  JWT_SECRET_KEY: 'bench-secret-key-that-is-long-enough-0123456789',
  ENCRYPTION_KEY: Buffer.alloc(32, 1).toString('base64'),
});

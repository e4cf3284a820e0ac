import { z } from 'zod';

const email = z.string().trim().toLowerCase().pipe(z.email().max(254));
const password = z.string().min(8).max(128);

export const registerSchema = z.strictObject({
  email,
  username: z.string().trim().toLowerCase().pipe(z.string().regex(/^[a-z0-9_]{3,30}$/, 'Use 3 to 30 letters, digits or underscores')),
  displayName: z.string().trim().min(1).max(64).optional(),
  password,
});

export const loginSchema = z.strictObject({
  email,
  password: z.string().min(1).max(128),
});

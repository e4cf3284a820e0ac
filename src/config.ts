import { createHmac, randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseRateLimits, type RateLimitPolicy } from './rateLimit/policies.ts';
import type { PresenceSettings } from './presence/presenceService.ts';
import type { MediaSettings } from './media/mediaService.ts';
import type { CallSettings } from './calls/callService.ts';
import { DEFAULT_MEDIA_LIMITS } from './media/mediaTypes.ts';
import { parseKeyring, type Keyring, type KeyringEnv } from './secrets/keyring.ts';
import type { PostgresSettings } from './postgres/connection.ts';
import { pushSettingsOf, type PushSettings } from './push/pushSettings.ts';
import { DEFAULT_WEBHOOK_SETTINGS, type WebhookSettings } from './webhooks/webhookSettings.ts';
import { DEFAULT_MAX_BOTS_PER_OWNER } from '../commands/bots.ts';

/** Everything the server reads from the environment. The README lists each variable. */
export interface Config {
  nodeEnv: string;
  /** Serve the web demo at /demo and the client's modules at /client (DEMO_ENABLED; off in production by default). */
  demoEnabled: boolean;
  port: number;
  wsPort: number;
  host: string;
  storageDir: string;
  /** Uploaded bytes (MEDIA_DIR, default STORAGE_DIR/media): with several instances, a volume every one of them mounts. */
  mediaDir: string;
  eventStoreConnectionString: string | null;
  mongoUri: string | null;
  mongoDatabase: string;
  /** PostgreSQL for the event log and the read store (DATABASE_URL and its TLS and pool settings), or null. */
  database: PostgresSettings | null;
  jwtSecret: string;
  jwtExpiresInSeconds: number;
  encryptionKey: string;
  /** Key of the MAC over the event log's anchored head (AUDIT_ANCHOR_KEY; see src/eventstore/anchor.ts). */
  auditAnchorKey: string;
  bcryptCost: number;
  logLevel: string;
  bodyLimitBytes: number;
  geminiApiKey: string | null;
  /** The keys secrets are sealed with: ENCRYPTION_KEYS + ENCRYPTION_KEY_ID, or ENCRYPTION_KEY alone. */
  keyring: Keyring;
  calls: CallSettings;
  ai: {
    sdk: 'genai' | 'legacy';
    model: string;
    baseUrl: string;
    contextTokenBudget: number;
    maxOutputTokens: number;
    firstTokenTimeoutMs: number;
    totalTimeoutMs: number;
  };
  /** Every rate-limit policy, defaults overridden by `RATE_LIMITS`. */
  rateLimits: RateLimitPolicy[];
  presence: PresenceSettings;
  media: MediaSettings & { tokenTtlSeconds: number; unattachedTtlMs: number; gcIntervalMs: number };
  /** Proxies in front of the server whose `X-Forwarded-For` entries are believed (0: none; the socket's address counts). */
  trustProxy: number;
  /** OpenTelemetry traces: off while OTEL_EXPORTER_OTLP_ENDPOINT is unset. */
  tracing: { endpoint: string | null; serviceName: string };
  /**
   * Prometheus metrics (METRICS_ENABLED, on by default): `GET /metrics` on PORT with `Authorization: Bearer
   * METRICS_TOKEN`, and/or on METRICS_PORT bound to 127.0.0.1 without a token; neither set, nothing serves them.
   */
  metrics: { enabled: boolean; token: string | null; port: number | null };
  /** /health/ready fails while a projector has not applied an event older than this (READY_MAX_LAG_MS). */
  readyMaxLagMs: number;
  /** On SIGTERM, how long in-flight requests and socket frames get before connections are cut (SHUTDOWN_GRACE_MS). */
  shutdownGraceMs: number;
  /** ACCOUNT_DELETION_GRACE_HOURS: the confirmation window before an account deletion happens; 0 deletes at once. */
  accountDeletionGraceHours: number;
  /** BOTS_MAX_PER_OWNER: how many bot accounts one user may own (POST /api/bots). */
  botsMaxPerOwner: number;
  /** Web Push (PUSH_*; see src/push/pushSettings.ts). */
  push: PushSettings;
  /** Outgoing webhooks (WEBHOOK_*; see src/webhooks/webhookSettings.ts). */
  webhooks: WebhookSettings;
  /** RETENTION_DAYS: message contents older than this many days are shredded in the background; null keeps them. */
  retentionDays: number | null;
}

type Env = Record<string, string | undefined>;

export class ConfigError extends Error {}

/** A port the server cannot listen on (another process holds it): it refuses to start instead of sharing it. */
export class PortUnavailableError extends Error {
  constructor(
    readonly variable: 'PORT' | 'WS_PORT',
    readonly host: string,
    readonly port: number,
    reason: string,
  ) {
    super(`Cannot start: ${variable} ${port} on ${host} ${reason}: stop what holds it, or set ${variable} to a free port`);
  }
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer between ${min} and ${max}, got "${raw}"`);
  }
  return value;
}

function oneOf<T extends string>(env: Env, name: string, values: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if ((values as readonly string[]).includes(raw)) return raw as T;
  throw new ConfigError(`${name} must be one of ${values.join(', ')}, got "${raw}"`);
}

function pattern(env: Env, name: string, regex: RegExp, fallback: string): string {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (regex.test(raw)) return raw;
  throw new ConfigError(`${name} must match ${regex}, got "${raw}"`);
}

function boolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'true' || raw === 'false') return raw === 'true';
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}

interface GeneratedSecrets {
  jwtSecret: string;
  encryptionKey: string;
  /** Absent in a secrets.json written before the anchor existed: added to it once. */
  auditAnchorKey?: string;
}

/**
 * Development convenience: secrets generated once into the storage dir (mode 0600) so tokens and encrypted
 * data survive restarts. Production must bring its own.
 */
function developmentSecrets(storageDir: string, warn: (message: string) => void): GeneratedSecrets {
  const file = join(storageDir, 'secrets.json');
  if (existsSync(file)) {
    const mode = statSync(file).mode & 0o777;
    if ((mode & 0o077) !== 0) {
      throw new ConfigError(
        `${file} is readable by other users (mode ${mode.toString(8)}): run chmod 600 on it, or remove it to generate new secrets`,
      );
    }
    const existing = JSON.parse(readFileSync(file, 'utf8')) as GeneratedSecrets;
    if (existing.auditAnchorKey) return existing;
    const completed = { ...existing, auditAnchorKey: randomBytes(32).toString('base64url') };
    writeFileSync(file, JSON.stringify(completed), { mode: 0o600 });
    warn(`AUDIT_ANCHOR_KEY not set: added a generated one to ${file}`);
    return completed;
  }
  const secrets = {
    jwtSecret: randomBytes(48).toString('base64url'),
    encryptionKey: randomBytes(32).toString('base64'),
    auditAnchorKey: randomBytes(32).toString('base64url'),
  };
  writeFileSync(file, JSON.stringify(secrets), { mode: 0o600 });
  chmodSync(file, 0o600);
  warn(`JWT_SECRET_KEY / ENCRYPTION_KEY / AUDIT_ANCHOR_KEY not set: generated development secrets into ${file}`);
  return secrets;
}

const NODE_ENVS = ['production', 'development', 'test'] as const;

/**
 * The storage dir holds password hashes, emails and every message: only the server's user may read it. The dir
 * is created 0700; the databases are created 0600 by the stores (`createPrivateFile`).
 */
function privateStorageDir(path: string, warn: (message: string) => void): string {
  const dir = resolve(path);
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const mode = statSync(dir).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    // A checkout's ./storage comes with the umask's 0755: tightened before anything is written, that is no
    // finding; data that sat in a dir others could enter is, and is reported.
    chmodSync(dir, 0o700);
    const data = readdirSync(dir).filter((name) => name !== '.gitkeep');
    if (data.length > 0) {
      const named = `${data.slice(0, 3).join(', ')}${data.length > 3 ? `, and ${data.length - 3} more` : ''}`;
      warn(`STORAGE_DIR ${dir} holds data (${named}) and was open to other users (mode ${mode.toString(8)}): changed it to 700`);
    }
  }
  return dir;
}

export function loadConfig(env: Env = process.env, warn: (message: string) => void = console.warn): Config {
  const nodeEnv = env.NODE_ENV || 'development';
  if (!(NODE_ENVS as readonly string[]).includes(nodeEnv)) {
    throw new ConfigError(`NODE_ENV must be one of ${NODE_ENVS.join(', ')}, got "${nodeEnv}"`);
  }
  const production = nodeEnv === 'production';
  const storageDir = privateStorageDir(env.STORAGE_DIR ?? 'storage', warn);

  let jwtSecret = env.JWT_SECRET_KEY;
  let encryptionKey = env.ENCRYPTION_KEY;
  let auditAnchorKey = env.AUDIT_ANCHOR_KEY;
  if (env.DATABASE_URL) {
    // Nothing is generated into STORAGE_DIR: every instance must sign and open with the same keys, and the keys stay
    // out of the database that holds what they protect.
    if (!jwtSecret || !encryptionKey)
      throw new ConfigError('With DATABASE_URL, JWT_SECRET_KEY and ENCRYPTION_KEY must be set (nothing is generated into STORAGE_DIR)');
    if (production && !auditAnchorKey) throw new ConfigError('AUDIT_ANCHOR_KEY is required when NODE_ENV=production');
    // The anchor belongs to the embedded log (npm run audit -- verify/anchor on STORAGE_DIR); outside production a
    // stable stand-in, derived rather than stored.
    auditAnchorKey ||= createHmac('sha256', jwtSecret).update('letsapp audit anchor').digest('base64url');
  }
  if (!jwtSecret || !encryptionKey || !auditAnchorKey) {
    if (production && (!jwtSecret || !encryptionKey))
      throw new ConfigError('JWT_SECRET_KEY and ENCRYPTION_KEY are required when NODE_ENV=production');
    // Kept apart from the storage dir in production: a key beside the log would let whoever rewrites it re-sign it.
    if (production) throw new ConfigError('AUDIT_ANCHOR_KEY is required when NODE_ENV=production');
    const generated = developmentSecrets(storageDir, warn);
    jwtSecret ||= generated.jwtSecret;
    encryptionKey ||= generated.encryptionKey;
    auditAnchorKey ||= generated.auditAnchorKey!;
  }
  if (jwtSecret.length < 32) throw new ConfigError('JWT_SECRET_KEY must be at least 32 characters');
  if (auditAnchorKey.length < 32) throw new ConfigError('AUDIT_ANCHOR_KEY must be at least 32 characters');
  if (Buffer.from(encryptionKey, 'base64').length !== 32) throw new ConfigError('ENCRYPTION_KEY must be 32 bytes, base64-encoded');

  return {
    nodeEnv,
    port: integer(env, 'PORT', 5001, 0, 65535),
    wsPort: integer(env, 'WS_PORT', 5002, 0, 65535),
    demoEnabled: boolean(env, 'DEMO_ENABLED', !production),
    host: env.HOST ?? '0.0.0.0',
    storageDir,
    mediaDir: env.MEDIA_DIR ? resolve(env.MEDIA_DIR) : join(storageDir, 'media'),
    eventStoreConnectionString: env.EVENTSTORE_CONNECTION_STRING || null,
    mongoUri: env.MONGO_URI || null,
    mongoDatabase: env.MONGO_DATABASE || 'letsapp',
    database: databaseOf(env),
    jwtSecret,
    jwtExpiresInSeconds: integer(env, 'JWT_ACCESS_TOKEN_EXPIRES', 7200, 60, 60 * 60 * 24 * 30),
    encryptionKey,
    auditAnchorKey,
    bcryptCost: integer(env, 'BCRYPT_COST', 12, production ? 10 : 4, 15),
    logLevel: env.LOG_LEVEL ?? (nodeEnv === 'test' ? 'silent' : 'info'),
    bodyLimitBytes: integer(env, 'BODY_LIMIT_BYTES', 256 * 1024, 1024, 50 * 1024 * 1024),
    geminiApiKey: env.GEMINI_API_KEY || null,
    calls: {
      ringTimeoutMs: integer(env, 'CALL_RING_TIMEOUT_MS', 60_000, 1_000, 600_000),
      disconnectGraceMs: integer(env, 'CALL_DISCONNECT_GRACE_MS', 30_000, 100, 600_000),
      maxDurationMs: integer(env, 'CALL_MAX_DURATION_MS', 4 * 3_600_000, 60_000, 24 * 3_600_000),
      meshMaxParticipants: integer(env, 'CALL_MESH_MAX_PARTICIPANTS', 4, 2, 8),
      stunUris: list(env.STUN_URIS),
      turnUris: list(env.TURN_URIS),
      turnSharedSecret: env.TURN_SHARED_SECRET || null,
      turnTtlSeconds: integer(env, 'TURN_TTL_SECONDS', 3_600, 60, 86_400),
    },
    keyring: keyringOf({ ENCRYPTION_KEYS: env.ENCRYPTION_KEYS, ENCRYPTION_KEY_ID: env.ENCRYPTION_KEY_ID, ENCRYPTION_KEY: encryptionKey }),
    ai: {
      sdk: oneOf(env, 'AI_SDK', ['genai', 'legacy'] as const, 'genai'),
      // Model names change: configuration, not code.
      model: pattern(env, 'GEMINI_MODEL', /^[a-z0-9][a-z0-9.-]{1,63}$/, 'gemini-2.5-flash'),
      baseUrl: (env.GEMINI_API_BASE_URL || 'https://generativelanguage.googleapis.com').replace(/\/+$/, ''),
      contextTokenBudget: integer(env, 'AI_CONTEXT_TOKEN_BUDGET', 16_000, 500, 1_000_000),
      maxOutputTokens: integer(env, 'AI_MAX_OUTPUT_TOKENS', 1_024, 16, 65_536),
      firstTokenTimeoutMs: integer(env, 'AI_FIRST_TOKEN_TIMEOUT_MS', 20_000, 100, 300_000),
      totalTimeoutMs: integer(env, 'AI_TIMEOUT_MS', 90_000, 100, 600_000),
    },
    rateLimits: rateLimitsOf(env.RATE_LIMITS),
    trustProxy: integer(env, 'TRUST_PROXY', 0, 0, 10),
    tracing: tracingOf(env),
    metrics: metricsOf(env),
    readyMaxLagMs: integer(env, 'READY_MAX_LAG_MS', 10_000, 100, 3_600_000),
    shutdownGraceMs: integer(env, 'SHUTDOWN_GRACE_MS', 10_000, 0, 600_000),
    // The confirmation window of DELETE /api/users/me: 0 deletes at once (the default outside production).
    accountDeletionGraceHours: integer(env, 'ACCOUNT_DELETION_GRACE_HOURS', production ? 72 : 0, 0, 720),
    botsMaxPerOwner: integer(env, 'BOTS_MAX_PER_OWNER', DEFAULT_MAX_BOTS_PER_OWNER, 1, 1000),
    push: pushOf(env, production),
    webhooks: webhooksOf(env, production),
    retentionDays: env.RETENTION_DAYS ? integer(env, 'RETENTION_DAYS', 0, 1, 36_500) : null,
    media: {
      limits: { ...DEFAULT_MEDIA_LIMITS, maxBytes: integer(env, 'MEDIA_MAX_BYTES', DEFAULT_MEDIA_LIMITS.maxBytes, 1024, 1024 ** 3) },
      quotaBytes: integer(env, 'MEDIA_QUOTA_BYTES', 1024 ** 3, 1024, 1024 ** 4),
      quotaFiles: integer(env, 'MEDIA_QUOTA_FILES', 10_000, 1, 10_000_000),
      uploadIdleTimeoutMs: integer(env, 'MEDIA_UPLOAD_TIMEOUT_MS', 30_000, 100, 600_000),
      tokenTtlSeconds: integer(env, 'MEDIA_TOKEN_TTL_SECONDS', 300, 10, 86_400),
      unattachedTtlMs: integer(env, 'MEDIA_UNATTACHED_TTL_MS', 86_400_000, 60_000, 365 * 86_400_000),
      gcIntervalMs: integer(env, 'MEDIA_GC_INTERVAL_MS', 3_600_000, 0, 7 * 86_400_000),
      voiceMaxSeconds: integer(env, 'VOICE_MAX_SECONDS', 900, 1, 3_600),
    },
    presence: {
      enabled: boolean(env, 'PRESENCE_ENABLED', true),
      offlineGraceMs: integer(env, 'PRESENCE_OFFLINE_GRACE_MS', 20_000, 1, 3_600_000),
      idleMs: integer(env, 'PRESENCE_IDLE_MS', 300_000, 1_000, 86_400_000),
      pushCoalesceMs: integer(env, 'PRESENCE_PUSH_COALESCE_MS', 500, 0, 60_000),
      sessionTtlMs: integer(env, 'PRESENCE_SESSION_TTL_MS', 30_000, 1_000, 600_000),
    },
  };
}

const DATABASE_SSL_MODES = ['disable', 'no-verify', 'verify-full'] as const;

/**
 * DATABASE_URL selects PostgreSQL for both stores. TLS: the URL's `sslmode` (or PGSSLMODE) as node-postgres reads them,
 * or DATABASE_SSL (`disable`, `no-verify`: encrypted but unverified, `verify-full`) with DATABASE_SSL_CA, a PEM file of
 * the certificate authority to trust.
 */
function databaseOf(env: Env): PostgresSettings | null {
  const url = env.DATABASE_URL;
  if (!url) return null;
  if (!/^postgres(ql)?:\/\/./.test(url)) throw new ConfigError('DATABASE_URL must be a postgres:// or postgresql:// URL');
  if (env.EVENTSTORE_CONNECTION_STRING || env.MONGO_URI) {
    throw new ConfigError('DATABASE_URL puts both stores on PostgreSQL: unset EVENTSTORE_CONNECTION_STRING and MONGO_URI');
  }
  const mode = env.DATABASE_SSL ? oneOf(env, 'DATABASE_SSL', DATABASE_SSL_MODES, 'verify-full') : null;
  let ca: string | undefined;
  if (env.DATABASE_SSL_CA) {
    if (mode === 'disable' || mode === 'no-verify')
      throw new ConfigError(`DATABASE_SSL_CA is only used with DATABASE_SSL=verify-full, not ${mode}`);
    try {
      ca = readFileSync(env.DATABASE_SSL_CA, 'utf8');
    } catch (error) {
      throw new ConfigError(`DATABASE_SSL_CA cannot be read: ${(error as Error).message}`);
    }
  }
  const ssl =
    mode === 'disable'
      ? false
      : mode === 'no-verify'
        ? { rejectUnauthorized: false }
        : mode === 'verify-full' || ca
          ? { rejectUnauthorized: true, ...(ca ? { ca } : {}) }
          : undefined;
  return {
    url,
    schema: pattern(env, 'DATABASE_SCHEMA', /^[a-z_][a-z0-9_]{0,47}$/, 'public'),
    ...(ssl === undefined ? {} : { ssl }),
    poolMax: integer(env, 'DATABASE_POOL_MAX', 10, 1, 100),
  };
}

/**
 * Web Push: VAPID keys come from PUSH_VAPID_PUBLIC_KEY and PUSH_VAPID_PRIVATE_KEY; outside production, without them, a
 * pair is generated into the secrets store. In production nothing is generated: push is on when the keys are set.
 */
function pushOf(env: Env, production: boolean): PushSettings {
  const publicKey = env.PUSH_VAPID_PUBLIC_KEY || null;
  const privateKey = env.PUSH_VAPID_PRIVATE_KEY || null;
  const enabled = boolean(env, 'PUSH_ENABLED', !production || publicKey !== null);
  const allowPrivateEndpoints = boolean(env, 'PUSH_ALLOW_PRIVATE_ENDPOINTS', false);
  if (production && allowPrivateEndpoints)
    throw new ConfigError('PUSH_ALLOW_PRIVATE_ENDPOINTS is for tests only: refused when NODE_ENV=production');
  if (production && enabled && (!publicKey || !privateKey))
    throw new ConfigError(
      'With PUSH_ENABLED in production, PUSH_VAPID_PUBLIC_KEY and PUSH_VAPID_PRIVATE_KEY are required (npx web-push generate-vapid-keys)',
    );
  try {
    return pushSettingsOf({
      enabled,
      vapidKeys: publicKey || privateKey ? { publicKey: publicKey ?? '', privateKey: privateKey ?? '' } : null,
      subject: env.PUSH_VAPID_SUBJECT || 'mailto:push@letsapp.invalid',
      allowPrivateEndpoints,
      concurrency: integer(env, 'PUSH_CONCURRENCY', 8, 1, 64),
      messageTtlSeconds: integer(env, 'PUSH_TTL_SECONDS', 86_400, 0, 2_419_200),
      maxAttempts: integer(env, 'PUSH_MAX_ATTEMPTS', 4, 1, 10),
      retryBaseMs: integer(env, 'PUSH_RETRY_BASE_MS', 1_000, 1, 60_000),
      maxRetryDelayMs: integer(env, 'PUSH_MAX_RETRY_DELAY_MS', 60_000, 10, 3_600_000),
      requestTimeoutMs: integer(env, 'PUSH_REQUEST_TIMEOUT_MS', 10_000, 100, 120_000),
    });
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
}

/** Outgoing webhooks: WEBHOOK_ALLOW_PRIVATE is for tests (their receiver is on loopback), refused in production. */
function webhooksOf(env: Env, production: boolean): WebhookSettings {
  const allowPrivate = boolean(env, 'WEBHOOK_ALLOW_PRIVATE', false);
  if (production && allowPrivate) throw new ConfigError('WEBHOOK_ALLOW_PRIVATE is for tests only: refused when NODE_ENV=production');
  return {
    ...DEFAULT_WEBHOOK_SETTINGS,
    allowPrivate,
    requestTimeoutMs: integer(env, 'WEBHOOK_TIMEOUT_MS', 10_000, 100, 60_000),
    concurrency: integer(env, 'WEBHOOK_CONCURRENCY', 16, 1, 256),
    retryBaseMs: integer(env, 'WEBHOOK_RETRY_BASE_MS', 10_000, 1, 3_600_000),
    maxRetryDelayMs: integer(env, 'WEBHOOK_MAX_RETRY_DELAY_MS', 3_600_000, 10, 86_400_000),
    retryWindowMs: integer(env, 'WEBHOOK_RETRY_HOURS', 24, 1, 72) * 3_600_000,
  };
}

function metricsOf(env: Env): Config['metrics'] {
  const token = env.METRICS_TOKEN || null;
  if (token !== null && !/^[\x21-\x7e]{32,256}$/.test(token))
    throw new ConfigError('METRICS_TOKEN must be 32 to 256 printable characters without spaces');
  return {
    enabled: boolean(env, 'METRICS_ENABLED', true),
    token,
    port: env.METRICS_PORT ? integer(env, 'METRICS_PORT', 0, 0, 65535) : null,
  };
}

function tracingOf(env: Env): Config['tracing'] {
  const endpoint = env.OTEL_EXPORTER_OTLP_ENDPOINT || null;
  if (endpoint !== null && !/^https?:\/\/[^\s/]+/.test(endpoint)) {
    throw new ConfigError(
      "OTEL_EXPORTER_OTLP_ENDPOINT must be an http:// or https:// URL (the collector's OTLP/HTTP base, e.g. http://localhost:4318)",
    );
  }
  return { endpoint, serviceName: pattern(env, 'OTEL_SERVICE_NAME', /^[A-Za-z0-9_.:-]{1,64}$/, 'letsapp') };
}

const list = (value: string | undefined) =>
  (value ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);

function keyringOf(env: KeyringEnv): Keyring {
  try {
    return parseKeyring(env);
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
}

function rateLimitsOf(setting: string | undefined): RateLimitPolicy[] {
  try {
    return parseRateLimits(setting);
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
}

/** Creates `file` readable by its owner only, before SQLite opens it (its -wal and -shm files inherit the mode). */
export function createPrivateFile(file: string): void {
  if (!existsSync(file)) closeSync(openSync(file, 'a', 0o600));
}

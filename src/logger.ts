import { pino, type Logger } from 'pino';

/** Pretty logs for people in development, JSON lines elsewhere; secrets are redacted wherever they appear. */
export function createLogger(level: string, nodeEnv: string): Logger {
  return pino({
    level,
    redact: {
      paths: [
        'password',
        '*.password',
        'passwordHash',
        '*.passwordHash',
        'req.headers.authorization',
        'token',
        '*.token',
        'apiKey',
        '*.apiKey',
        '*.*.apiKey',
        'headers["x-goog-api-key"]',
        '*.headers["x-goog-api-key"]',
      ],
      censor: '[redacted]',
    },
    ...(nodeEnv === 'development' && process.stdout.isTTY
      ? { transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l' } } }
      : {}),
  });
}

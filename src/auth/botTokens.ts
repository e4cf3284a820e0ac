import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { newId } from '../ids.ts';

/**
 * Bot tokens: `lbot.<botId>.<secret>`, the secret 32 random bytes in base64url. Opaque to the bot; the server records
 * only a token id and the SHA-256 of the secret (BotTokenIssued), so neither the log nor the read store can give a
 * token back. An unkeyed hash suffices: a 256-bit random secret cannot be guessed from its hash.
 */
const PREFIX = 'lbot';
const BOT_TOKEN = /^lbot\.([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.([\w-]{43})$/;

/** Bot tokens do not expire (they are revoked or rotated): this is what a principal reports as their expiry. */
export const BOT_TOKEN_EXPIRES_AT = '9999-12-31T23:59:59.000Z';

export interface MintedBotToken {
  token: string;
  tokenId: string;
  tokenHash: string;
}

export const hashBotSecret = (secret: string): string => createHash('sha256').update(secret, 'utf8').digest('hex');

export function mintBotToken(botId: string): MintedBotToken {
  const secret = randomBytes(32).toString('base64url');
  return { token: `${PREFIX}.${botId}.${secret}`, tokenId: newId(), tokenHash: hashBotSecret(secret) };
}

/** The bot and secret of a bot token; null for anything else (an access token, a malformed string). */
export function parseBotToken(token: string): { botId: string; secret: string } | null {
  const match = BOT_TOKEN.exec(token);
  return match ? { botId: match[1]!, secret: match[2]! } : null;
}

/** Whether `secret` is the one `tokenHash` was made from, in constant time. */
export function botSecretMatches(secret: string, tokenHash: string | null): boolean {
  if (tokenHash === null) return false;
  const [given, stored] = [Buffer.from(hashBotSecret(secret), 'hex'), Buffer.from(tokenHash, 'hex')];
  return given.length === stored.length && timingSafeEqual(given, stored);
}

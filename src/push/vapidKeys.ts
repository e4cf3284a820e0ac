import webpush from 'web-push';
import type { SecretBox } from '../secrets/secretBox.ts';
import type { SecretStore } from '../secrets/secretStore.ts';

export interface VapidKeys {
  /** base64url, an uncompressed P-256 point: what browsers pass as `applicationServerKey`. */
  publicKey: string;
  privateKey: string;
}

const CONTEXT = { purpose: 'push-vapid-key', subject: 'server' } as const;

/**
 * The server's VAPID key pair: the configured one, or (outside production) the one kept sealed in the secrets store,
 * generated on first start. Instances sharing a secrets store (PostgreSQL) share it: the first pair stored wins.
 */
export async function loadVapidKeys(configured: VapidKeys | null, secrets: SecretStore, box: SecretBox): Promise<VapidKeys> {
  if (configured) return configured;
  const stored = await secrets.get(CONTEXT.purpose, CONTEXT.subject);
  if (stored) return JSON.parse(box.open(stored, CONTEXT)) as VapidKeys;
  const generated = webpush.generateVAPIDKeys();
  await secrets.insertIfAbsent([{ ...CONTEXT, envelope: box.seal(JSON.stringify(generated), CONTEXT) }]);
  const kept = await secrets.get(CONTEXT.purpose, CONTEXT.subject);
  return JSON.parse(box.open(kept!, CONTEXT)) as VapidKeys;
}

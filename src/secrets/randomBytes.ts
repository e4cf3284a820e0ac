import { randomFillSync } from 'node:crypto';

/** Bytes drawn from the CSPRNG at once: one call serves about a hundred nonces and keys. */
const POOL_BYTES = 4096;
const pool = new Uint8Array(POOL_BYTES);
let used = POOL_BYTES;

/**
 * Fresh bytes from Node's CSPRNG for nonces and keys. libsodium-wrappers' own `randombytes_buf` (and `*_keygen`) asks
 * WebCrypto for 4 bytes per call from inside WebAssembly; under load that cost a sixth of the serving thread. Each
 * call to `randomFillSync` costs about 4 µs whatever its size, so bytes come from a pool filled 4 KB at a time (as
 * Node's `randomUUID` does); each byte is handed out once, and zeroed in the pool as it is.
 */
export function freshRandomBytes(length: number): Uint8Array {
  if (length > POOL_BYTES) return randomFillSync(new Uint8Array(length));
  if (used + length > POOL_BYTES) {
    randomFillSync(pool);
    used = 0;
  }
  const bytes = pool.slice(used, used + length);
  pool.fill(0, used, used + length);
  used += length;
  return bytes;
}

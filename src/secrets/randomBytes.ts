import { randomFillSync } from 'node:crypto';

/**
 * Fresh bytes from Node's CSPRNG for nonces and keys. libsodium-wrappers' own `randombytes_buf` (and `*_keygen`) asks
 * WebCrypto for 4 bytes per call from inside WebAssembly; under load that cost a sixth of the serving thread.
 */
export const freshRandomBytes = (length: number): Uint8Array => randomFillSync(new Uint8Array(length));

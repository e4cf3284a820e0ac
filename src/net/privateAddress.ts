import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';

/**
 * Whether an address is one a public service never has (push services, webhook receivers): loopback, private,
 * link-local (the cloud metadata address 169.254.169.254 among them), unique-local, unspecified, multicast, carrier-grade
 * NAT, or an IPv4-mapped IPv6 form of one. Requests to such addresses would let a user aim the server at its own network.
 */
export function isPrivateAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '').toLowerCase();
  const kind = isIP(bare);
  if (kind === 4) {
    const [a, b] = bare.split('.').map(Number) as [number, number];
    return (
      a === 0 ||
      a === 10 ||
      a === 127 ||
      (a === 100 && b >= 64 && b <= 127) ||
      (a === 169 && b === 254) ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) ||
      a >= 224
    );
  }
  if (kind === 6) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(bare);
    if (mapped) return isPrivateAddress(mapped[1]!);
    if (bare.startsWith('::ffff:')) {
      // ::ffff:7f00:1 (hex form of a mapped IPv4 address)
      const [high, low] = bare
        .slice('::ffff:'.length)
        .split(':')
        .map((part) => parseInt(part, 16));
      if (high !== undefined && low !== undefined && !Number.isNaN(high) && !Number.isNaN(low))
        return isPrivateAddress(`${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`);
    }
    return (
      bare === '::' ||
      bare === '::1' ||
      /^f[cd]/.test(bare) ||
      /^fe[89ab]/.test(bare) ||
      bare.startsWith('ff') ||
      bare.startsWith('64:ff9b:') ||
      bare.startsWith('::')
    );
  }
  return false;
}

/**
 * dns.lookup for outgoing requests to user-given URLs, refusing a name any of whose addresses is private with
 * `refusal(hostname)`. Used as the request's `lookup`, it checks the address the socket really connects to, so a name
 * that resolved to a public address when it was registered and to a private one now (a DNS rebind) is still refused.
 */
export function publicOnlyLookup(refusal: (hostname: string) => Error, resolve: AddressResolver = resolveAll): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, options.family).then(
      (addresses) => answer(null, addresses),
      (error: NodeJS.ErrnoException) => answer(error, []),
    );
    function answer(error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) {
      if (error) return callback(error, '', 0);
      if (addresses.length === 0 || addresses.some((entry) => isPrivateAddress(entry.address))) return callback(refusal(hostname), '', 0);
      if (options.all) return callback(null, addresses);
      return callback(null, addresses[0]!.address, addresses[0]!.family);
    }
  };
}

/** Every address a name resolves to (a test stands in a resolver of its own for names that must not reach DNS). */
export type AddressResolver = (hostname: string, family?: number | string) => Promise<LookupAddress[]>;

export const resolveAll: AddressResolver = (hostname, family) =>
  new Promise((resolve, reject) =>
    dnsLookup(hostname, { all: true, family: family === 'IPv4' ? 4 : family === 'IPv6' ? 6 : Number(family ?? 0) }, (error, addresses) =>
      error ? reject(error) : resolve(addresses),
    ),
  );

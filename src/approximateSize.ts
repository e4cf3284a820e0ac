/**
 * A rough count of the bytes a value holds in memory (strings as UTF-16, numbers as 8 bytes, a small overhead
 * per object, Map and Set entry), for caches bounded by bytes. Cheap rather than exact.
 */
export function approximateSize(value: unknown): number {
  switch (typeof value) {
    case 'string':
      return 16 + value.length * 2;
    case 'number':
    case 'boolean':
    case 'undefined':
      return 8;
    case 'object': {
      if (value === null) return 8;
      let total = 32;
      if (value instanceof Map) for (const [key, entry] of value) total += approximateSize(key) + approximateSize(entry);
      else if (value instanceof Set) for (const entry of value) total += approximateSize(entry);
      else if (Array.isArray(value)) for (const entry of value) total += approximateSize(entry);
      else for (const [key, entry] of Object.entries(value)) total += key.length * 2 + approximateSize(entry);
      return total;
    }
    default:
      return 16;
  }
}

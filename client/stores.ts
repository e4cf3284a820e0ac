/**
 * Where the client keeps what must outlive a page or a process: the session, the last feed position seen and the
 * messages not yet acknowledged. Asynchronous so an app can back it with IndexedDB, a file or a database.
 */
export interface ClientStore {
  get(key: string): Promise<string | null>;
  set(key: string, value: string): Promise<void>;
  delete(key: string): Promise<void>;
}

/** Kept in memory: gone with the process (tests, scripts, a tab that should forget). */
export function memoryStore(): ClientStore {
  const values = new Map<string, string>();
  return {
    get: async (key) => values.get(key) ?? null,
    set: async (key, value) => {
      values.set(key, value);
    },
    delete: async (key) => {
      values.delete(key);
    },
  };
}

/** In a Web Storage area (`localStorage` by default): survives a reload, shared by the origin's tabs. */
export function webStorageStore(storage: Storage = globalThis.localStorage, prefix = 'letsapp:'): ClientStore {
  return {
    get: async (key) => storage.getItem(prefix + key),
    set: async (key, value) => storage.setItem(prefix + key, value),
    delete: async (key) => storage.removeItem(prefix + key),
  };
}

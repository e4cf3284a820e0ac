/**
 * Events are never rewritten. When an event's shape changes, its producer writes the new `schemaVersion` and
 * registers an upcaster from the previous one; readers (handlers, projectors, auditors) upcast on read so
 * `evolve`, `decide` and projectors only ever see the latest shape.
 */
export interface Upcaster {
  readonly type: string;
  /** The version this upcaster reads; it produces `fromVersion + 1`. */
  readonly fromVersion: number;
  readonly upcast: (data: unknown) => unknown;
}

export interface VersionedEvent {
  readonly type: string;
  readonly data: unknown;
  readonly metadata: { readonly schemaVersion?: number };
}

export function createUpcaster(upcasters: readonly Upcaster[]) {
  const byTypeAndVersion = new Map(upcasters.map((upcaster) => [`${upcaster.type}@${upcaster.fromVersion}`, upcaster]));
  const latest = new Map<string, number>();
  for (const { type, fromVersion } of upcasters) latest.set(type, Math.max(latest.get(type) ?? 1, fromVersion + 1));

  return {
    /** The version new events of `type` are written with. */
    latestVersion: (type: string): number => latest.get(type) ?? 1,
    upcast<E extends VersionedEvent>(event: E): E {
      let version = event.metadata.schemaVersion ?? 1;
      let data = event.data;
      for (let step = byTypeAndVersion.get(`${event.type}@${version}`); step; step = byTypeAndVersion.get(`${event.type}@${version}`)) {
        data = step.upcast(data);
        version++;
      }
      return data === event.data ? event : { ...event, data, metadata: { ...event.metadata, schemaVersion: version } };
    },
  };
}

export type EventUpcaster = ReturnType<typeof createUpcaster>;

import type { Projector } from './projector.ts';

/**
 * How projectors depend on each other: one that reads another's collections (the feed reads group membership
 * as of each event) must run after it within each event, be rebuilt with it, and wait when it is held.
 */

/**
 * A projector that reads another's collection (the feed reads group membership as of each event) can only be
 * rebuilt together with it, in the runner's order: the selection grows to include what it reads.
 */
export function withDependencies(selected: readonly Projector[], all: readonly Projector[]): Projector[] {
  const chosen = new Set(selected);
  for (let grew = true; grew;) {
    grew = false;
    for (const projector of [...chosen]) {
      for (const collection of projector.reads ?? []) {
        const owner = all.find((candidate) => collection in candidate.collections);
        if (owner && !chosen.has(owner)) {
          chosen.add(owner);
          grew = true;
        }
      }
    }
  }
  return all.filter((projector) => chosen.has(projector)).concat(selected.filter((projector) => !all.includes(projector)));
}

/** Projectors that read `name`'s collections, directly or through another reader. */
export function readersOf(name: string, projectors: readonly Projector[]): string[] {
  const found = new Set<string>();
  const owned = (projectorName: string) => Object.keys(projectors.find((p) => p.name === projectorName)?.collections ?? {});
  for (let frontier = [name]; frontier.length > 0;) {
    const collections = new Set(frontier.flatMap(owned));
    frontier = projectors
      .filter((p) => !found.has(p.name) && p.name !== name && (p.reads ?? []).some((c) => collections.has(c)))
      .map((p) => p.name);
    for (const reader of frontier) found.add(reader);
  }
  return [...found];
}

/** A projector that reads another's collection must run after it within each event: checked at start-up. */
export function checkReadOrder(projectors: readonly Projector[]): void {
  projectors.forEach((projector, index) => {
    for (const collection of projector.reads ?? []) {
      const owner = projectors.findIndex((candidate) => collection in candidate.collections);
      if (owner === -1) throw new Error(`Projector ${projector.name} reads ${collection}, which no projector writes`);
      if (owner > index)
        throw new Error(`Projector ${projector.name} reads ${collection} but runs before ${projectors[owner]!.name}, which writes it`);
    }
  });
}

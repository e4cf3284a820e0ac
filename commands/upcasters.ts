import { createUpcaster, type Upcaster } from './shared/upcasting.ts';

/**
 * Every event upcaster, in one registry read by handlers, projectors and the audit tools. Empty while no
 * event has changed shape; a changed event adds `{ type, fromVersion, upcast }` here and never rewrites history.
 */
export const upcasters: readonly Upcaster[] = [];

export const eventUpcaster = createUpcaster(upcasters);

import type { Projector } from '../src/projection/projector.ts';
import { usersProjector } from './users.ts';

/** Every projector, one per read collection. */
export const projectors: readonly Projector[] = [usersProjector];

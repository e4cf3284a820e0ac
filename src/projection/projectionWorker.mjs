// Plain JavaScript on purpose: a worker thread does not inherit the TypeScript loader of the main thread, so
// this entry registers tsx in the worker, then loads the TypeScript worker itself.
import { register } from 'tsx/esm/api';

register();
await import('./projectionWorkerMain.ts');

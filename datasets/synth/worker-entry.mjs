// Worker threads do not inherit the tsx loader registered by the CLI (and ignore `--import` in execArgv on Node 20),
// so the worker registers it itself before loading the TypeScript worker.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');

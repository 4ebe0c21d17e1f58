#!/usr/bin/env node
// Runs the TypeScript sources directly so `npx loupe` needs no build step.
import { register } from 'tsx/esm/api';

register();
await import('../loupe.ts');

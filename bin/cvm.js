#!/usr/bin/env node
// Runs the TypeScript sources directly, so that `npx cvm …` works from a clone without a build step.
import { register } from 'tsx/esm/api';

register();
await import('../cli/main.ts');

#!/usr/bin/env node
// `npx onestep …`: the package's command line. The package ships TypeScript source, so this loads
// tsx's loader in-process and runs src/cli.ts.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli.ts');

/**
 * The command line: `npx onestep launch [options] script.ts [script options…]`.
 *   --nproc N          processes on this machine (default: the number of GPUs, else 1)
 *   --nnodes M         machines taking part (default 1)
 *   --node-rank R      this machine's index (default 0)
 *   --master-addr A    where rank 0 serves the rendezvous (default 127.0.0.1)
 *   --master-port P    its port (default 29500)
 * Everything from the script on is the script's own.
 */
import { parseArgs } from 'node:util';
import { launch } from './distributed/launch.js';
import { cuda } from './runtime.js';

const usage = 'usage: onestep launch [--nproc N] [--nnodes M --node-rank R --master-addr A --master-port P] script [args…]';
const [command, ...rest] = process.argv.slice(2);
if (command !== 'launch') {
  console.error(command ? `onestep: unknown command '${command}'\n${usage}` : usage);
  process.exit(2);
}
// The launcher's own options come before the script; what follows it belongs to the script.
let scriptAt = -1;
for (let i = 0; i < rest.length; i++) {
  if (!rest[i]!.startsWith('--')) {
    scriptAt = i;
    break;
  }
  if (!rest[i]!.includes('=')) i++; // every option takes a value: --nproc 2 or --nproc=2
}
const own = scriptAt < 0 ? rest : rest.slice(0, scriptAt);
let values: Record<string, string | undefined>;
try {
  ({ values } = parseArgs({
    args: own,
    options: {
      nproc: { type: 'string' }, nnodes: { type: 'string', default: '1' }, 'node-rank': { type: 'string', default: '0' },
      'master-addr': { type: 'string', default: '127.0.0.1' }, 'master-port': { type: 'string', default: '29500' },
    },
  }));
} catch (e) {
  console.error(`onestep launch: ${(e as Error).message}\n${usage}`);
  process.exit(2);
}
if (scriptAt < 0) {
  console.error(`onestep launch: which script?\n${usage}`);
  process.exit(2);
}
try {
  await launch({
    nproc: Number(values.nproc ?? Math.max(1, cuda.deviceCount())), nnodes: Number(values.nnodes), nodeRank: Number(values['node-rank']),
    masterAddr: values['master-addr']!, masterPort: Number(values['master-port']), script: rest[scriptAt]!, args: rest.slice(scriptAt + 1),
  });
} catch (e) {
  console.error(`onestep launch: ${(e as Error).message}`);
  process.exit(1);
}

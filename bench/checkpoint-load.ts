/**
 * Times loadStateDict on one file (run by bench/checkpoint-load.sh; one load per process so that
 * peak RSS is that load's alone).
 *   npx tsx bench/checkpoint-load.ts PATH [--device cpu|cuda] [--mmap]
 */
import { statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { cuda, loadStateDict, memory, type Device } from '../src/index.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { device: { type: 'string', default: 'cpu' }, mmap: { type: 'boolean', default: false } } });
const path = positionals[0]!;
const device = values.device as Device;
// One load per process (the shell script repeats), so that peak RSS is one load's.
memory(); // loads libtorch outside the timing, as Python's `import torch` is
if (device !== 'cpu') cuda.synchronize(); // CUDA context outside the timing too
const rssBefore = process.resourceUsage().maxRSS / 1024;
const t0 = performance.now();
const sd = await loadStateDict(path, { device, mmap: values.mmap });
if (device !== 'cpu') cuda.synchronize();
const ms = performance.now() - t0;
const peak = process.resourceUsage().maxRSS / 1024;
console.log(`onestep loadStateDict ${device}${values.mmap ? ' mmap' : ''}: ${ms.toFixed(0)} ms, peak RSS ${peak.toFixed(0)} MiB ` +
  `(${rssBefore.toFixed(0)} before loading), ${sd.size} tensors, file ${(statSync(path).size / 2 ** 20).toFixed(0)} MiB`);
sd.dispose();
if (memory().tensors !== 0) throw new Error('tensors leaked');

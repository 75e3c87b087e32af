/**
 * A Chrome trace of the fused DiJS step's kernels (fmnist32): warm-up as the step benchmark does,
 * then `--iterations` iterations under the device profiler. Summarise with
 *   python3 bench/reference/trace_summary.py TRACE --steps ITERATIONS
 *   npx tsx bench/dijs-profile.ts --out trace.json [--iterations 3] [--batch 256] [--precision …] [--cuda-graph] [--tf32] [--cudnn-benchmark] [--no-fused]
 */
import { parseArgs } from 'node:util';
import { cuda, DiJSTrainer, EDMNetwork, manualSeed, rand, randint, type Precision } from '../src/index.js';
import { applyCudaFlags, cudaFlagOptions } from './cuda-flags.js';
import { warmupCalls } from './step-timing.js';

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: 'dijs-trace.json' }, iterations: { type: 'string', default: '3' }, batch: { type: 'string', default: '256' },
    precision: { type: 'string', default: 'fp32' }, 'cuda-graph': { type: 'boolean', default: false },
    ...cudaFlagOptions,
  },
});
if (!cuda.isAvailable()) throw new Error('the device profiler needs a CUDA device');
applyCudaFlags(values);
manualSeed(0);
const teacher = EDMNetwork.create('fmnist32', { device: 'cuda', seed: 0 });
const images = rand([60000, 1, 32, 32], { device: 'cuda' }).mul(2).sub(1);
const labels = randint(0, 10, [60000], { device: 'cuda' });
const trainer = new DiJSTrainer({
  teacher, data: { images, labels, classes: [], dispose() {} }, device: 'cuda', batchSize: Number(values.batch),
  precision: values.precision as Precision, cudaGraph: values['cuda-graph'],
});
teacher.dispose();
// Warm every libuv thread's cuDNN choices (and capture the graph) before tracing.
for (let i = 0; i < warmupCalls(); i++) await trainer.step(5);
cuda.startProfiler();
await trainer.step(Number(values.iterations));
cuda.stopProfiler(values.out!);
console.log(`wrote ${values.out}`);
trainer.dispose();

/**
 * One-step sampling speed: 10 000 samples from the fmnist32 generator (issue 6: under 1 s), float32
 * and bf16, each the median of 5 timed runs after a warm-up (two runs per worker thread when cuDNN
 * autotunes), the images left on the device.
 *   npx tsx bench/sample-speed.ts [--n 10000] [--tf32] [--cudnn-benchmark] [--no-fused]
 */
import { parseArgs } from 'node:util';
import { cuda, EDMNetwork, OneStepGenerator } from '../src/index.js';
import { applyCudaFlags, cudaFlagOptions } from './cuda-flags.js';
import { warmupCalls } from './step-timing.js';

const { values } = parseArgs({ options: { n: { type: 'string', default: '10000' }, ...cudaFlagOptions } });
const device = cuda.isAvailable() ? 'cuda' : 'cpu';
const flags = applyCudaFlags(values);
const teacher = await EDMNetwork.load('models/fmnist32-teacher.safetensors', { device });
const gen = OneStepGenerator.fromTeacher(teacher);
teacher.dispose();
const n = Number(values.n);
for (const precision of ['fp32', 'bf16'] as const) {
  // Warm-up: cuDNN autotunes per thread, and calls land on any of libuv's worker threads.
  for (let i = 0; i < warmupCalls(); i++) (await gen.sample({ n, precision })).dispose();
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const images = await gen.sample({ n, precision });
    if (device === 'cuda') cuda.synchronize();
    times.push(performance.now() - t0);
    images.dispose();
  }
  const ms = times.sort((a, b) => a - b)[2]!;
  console.log(`RESULT onestep sample ${precision}${flags}: ${n} one-step samples in ${(ms / 1000).toFixed(3)} s (${(n / ms * 1000).toFixed(0)} img/s, ${device})`);
}
gen.dispose();

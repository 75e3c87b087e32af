/**
 * The fused DiJS step in a data-parallel group: every process trains `--batch` images per step on
 * its GPU (NCCL) or CPU (Gloo); rank 0 prints the group's img/s and the scaling efficiency against
 * `--single` (img/s of one process alone, from bench/dijs-step.ts in the same call).
 *   npx onestep launch --nproc 2 bench/dijs-ddp.ts --tf32 --cudnn-benchmark [--precision bf16] [--cuda-graph] [--single 2577]
 * (bench/ddp-scaling.sh runs both benchmarks in one call.)
 */
import { parseArgs } from 'node:util';
import { DiJSTrainer, EDMNetwork, manualSeed, ProcessGroup, rand, randint, type Precision } from '../src/index.js';
import { applyCudaFlags, cudaFlagOptions } from './cuda-flags.js';
import { timeSteps } from './step-timing.js';

const { values } = parseArgs({
  options: {
    batch: { type: 'string', default: '256' }, calls: { type: 'string', default: '6' }, iterations: { type: 'string', default: '10' },
    ...cudaFlagOptions, precision: { type: 'string', default: 'fp32' }, single: { type: 'string' },
    // Each process replays its iterations, all-reduces included, from a CUDA graph (NCCL only).
    'cuda-graph': { type: 'boolean', default: false },
  },
});
const group = await ProcessGroup.init();
const device = group.device;
const flags = applyCudaFlags(values);
manualSeed(0);
const teacher = EDMNetwork.create('fmnist32', { device, seed: 0 });
const images = rand([60000, 1, 32, 32], { device }).mul(2).sub(1);
const labels = randint(0, 10, [60000], { device });
const batch = Number(values.batch);
const trainer = new DiJSTrainer({ teacher, data: { images, labels, classes: [], dispose() {} }, device, batchSize: batch, processGroup: group,
  precision: values.precision as Precision, cudaGraph: values['cuda-graph'] });
teacher.dispose();
const k = Number(values.iterations);
const { ms, peak } = await timeSteps((n) => trainer.step(n), { calls: Number(values.calls), iterations: k, device: device.startsWith('cuda') ? 'cuda' : 'cpu' });
const rate = (batch * group.worldSize) / ms * 1000;
if (group.rank === 0) {
  const single = values.single ? Number(values.single) : undefined;
  console.log(`RESULT onestep dijs ddp ${group.worldSize}× ${group.backend} ${trainer.options.precision}${values['cuda-graph'] ? ' graph' : ''}${flags}, ${batch} per process: ${ms.toFixed(1)} ms/step, ${rate.toFixed(0)} img/s` +
    `${single ? `, scaling efficiency ${(100 * rate / (single * group.worldSize)).toFixed(1)} %` : ''}${peak}`);
}
trainer.dispose();
group.dispose();

/**
 * onestep's fused teacher step for fmnist32 at batch 256, beside bench/reference/teacher_step.py
 * (the same step in PyTorch eager): ms/step, img/s, peak GPU memory.
 *   npx tsx bench/teacher-step.ts [--batch 256] [--calls 6] [--iterations 10] [--precision fp32|bf16|bf16-autocast] [--tf32] [--cudnn-benchmark] [--no-fused]
 */
import { parseArgs } from 'node:util';
import { buildInfo, cuda, manualSeed, rand, randint, TeacherTrainer, type Precision } from '../src/index.js';
import { applyCudaFlags, cudaFlagOptions } from './cuda-flags.js';
import { timeSteps } from './step-timing.js';

const { values } = parseArgs({
  options: {
    batch: { type: 'string', default: '256' }, calls: { type: 'string', default: '6' }, iterations: { type: 'string', default: '10' },
    precision: { type: 'string', default: 'fp32' }, ...cudaFlagOptions,
  },
});
const device = cuda.isAvailable() ? 'cuda' : 'cpu';
manualSeed(0);
const flags = applyCudaFlags(values);
// Data resident on the device, as in the reference (random images: speed does not depend on them).
const images = rand([60000, 1, 32, 32], { device }).mul(2).sub(1);
const labels = randint(0, 10, [60000], { device });
const trainer = TeacherTrainer.create({ net: 'fmnist32', data: { images, labels, classes: [], dispose() {} }, device, batchSize: Number(values.batch), precision: values.precision as Precision });
const k = Number(values.iterations);
const { ms, peak } = await timeSteps((n) => trainer.step(n), { calls: Number(values.calls), iterations: k, device });
console.log(`RESULT onestep teacher ${values.precision}${flags} (libtorch ${buildInfo().torchVersion}, ${device}): ${ms.toFixed(1)} ms/step (median of ${values.calls} calls × ${k}), ` +
  `${(Number(values.batch) / ms * 1000).toFixed(0)} img/s${peak}`);
trainer.dispose();

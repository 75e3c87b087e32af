/**
 * onestep's fused DiJS step for fmnist32 at batch 256, beside bench/reference/dijs_step.py (the
 * same step in PyTorch): ms/step, img/s, peak GPU memory.
 *   npx tsx bench/dijs-step.ts [--batch 256] [--calls 6] [--iterations 10] [--precision fp32|bf16|bf16-autocast] [--cuda-graph]
 *     [--tf32] [--cudnn-benchmark] [--no-fused] [--preset fmnist32|cifar10-ddpmpp]
 */
import { parseArgs } from 'node:util';
import { buildInfo, cuda, DiJSTrainer, EDMNetwork, manualSeed, rand, randint, type PresetName, type Precision } from '../src/index.js';
import { applyCudaFlags, cudaFlagOptions } from './cuda-flags.js';
import { timeSteps } from './step-timing.js';

const { values } = parseArgs({
  options: {
    batch: { type: 'string', default: '256' }, calls: { type: 'string', default: '6' }, iterations: { type: 'string', default: '10' },
    bf16: { type: 'boolean', default: false }, precision: { type: 'string' }, 'cuda-graph': { type: 'boolean', default: false },
    ...cudaFlagOptions, preset: { type: 'string', default: 'fmnist32' },
  },
});
const device = cuda.isAvailable() ? 'cuda' : 'cpu';
manualSeed(0);
const flags = applyCudaFlags(values);
const teacher = EDMNetwork.create(values.preset as PresetName, { device, seed: 0 });
const { inChannels, imgResolution } = teacher.config;
// Data resident on the device, as in the reference (random images: speed does not depend on them).
const images = rand([60000, inChannels, imgResolution, imgResolution], { device }).mul(2).sub(1);
const labels = randint(0, 10, [60000], { device });
const trainer = new DiJSTrainer({ teacher, data: { images, labels, classes: [], dispose() {} }, device, batchSize: Number(values.batch),
  precision: (values.precision as Precision | undefined) ?? (values.bf16 ? 'bf16-autocast' : 'fp32'), cudaGraph: values['cuda-graph'] });
teacher.dispose();
const k = Number(values.iterations);
const { ms, peak } = await timeSteps((n) => trainer.step(n), { calls: Number(values.calls), iterations: k, device });
console.log(`RESULT onestep dijs ${values.preset} ${trainer.options.precision}${values['cuda-graph'] ? ' cuda-graph' : ''}${flags} (libtorch ${buildInfo().torchVersion}, ${device}): ${ms.toFixed(1)} ms/step ` +
  `(median of ${values.calls} calls × ${k}), ${(Number(values.batch) / ms * 1000).toFixed(0)} img/s${peak}`);
trainer.dispose();

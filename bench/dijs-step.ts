/**
 * onestep's fused DiJS step for fmnist32 at batch 256, beside bench/reference/dijs_step.py (the
 * same step in PyTorch): ms/step, img/s, peak GPU memory.
 *   npx tsx bench/dijs-step.ts [--batch 256] [--calls 6] [--iterations 10] [--bf16] [--preset fmnist32|cifar10-ddpmpp]
 */
import { parseArgs } from 'node:util';
import { buildInfo, cuda, DiJSTrainer, EDMNetwork, manualSeed, rand, randint, type PresetName } from '../src/index.js';

const { values } = parseArgs({
  options: {
    batch: { type: 'string', default: '256' }, calls: { type: 'string', default: '6' }, iterations: { type: 'string', default: '10' },
    bf16: { type: 'boolean', default: false }, preset: { type: 'string', default: 'fmnist32' },
  },
});
const device = cuda.isAvailable() ? 'cuda' : 'cpu';
manualSeed(0);
const teacher = EDMNetwork.create(values.preset as PresetName, { device, seed: 0 });
const { inChannels, imgResolution } = teacher.config;
// Data resident on the device, as in the reference (random images: speed does not depend on them).
const images = rand([60000, inChannels, imgResolution, imgResolution], { device }).mul(2).sub(1);
const labels = randint(0, 10, [60000], { device });
const trainer = new DiJSTrainer({ teacher, data: { images, labels, classes: [], dispose() {} }, device, batchSize: Number(values.batch), bf16: values.bf16 });
teacher.dispose();
const k = Number(values.iterations);
await trainer.step(k); // warm-up: allocator, cuDNN algorithm choice
if (device === 'cuda') cuda.resetPeakMemory();
const perStep: number[] = [];
for (let i = 0; i < Number(values.calls); i++) {
  const t0 = performance.now();
  await trainer.step(k);
  perStep.push((performance.now() - t0) / k);
}
const ms = perStep.sort((a, b) => a - b)[Math.floor(perStep.length / 2)]!;
const peak = device === 'cuda' ? `, peak ${(cuda.memoryInfo().peakAllocated / 2 ** 30).toFixed(2)} GiB` : '';
console.log(`RESULT onestep dijs ${values.preset}${values.bf16 ? ' bf16' : ''} (libtorch ${buildInfo().torchVersion}, ${device}): ${ms.toFixed(1)} ms/step ` +
  `(median of ${perStep.length} calls × ${k}), ${(Number(values.batch) / ms * 1000).toFixed(0)} img/s${peak}`);
trainer.dispose();

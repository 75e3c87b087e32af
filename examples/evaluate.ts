/**
 * The reference table: FID (yardstick features), precision and recall (k = 3) and the class
 * histogram, 10 k samples each, against Fashion-MNIST's test set.
 *   npx tsx examples/evaluate.ts --teacher models/fmnist32-teacher.safetensors [--n 10000] [--steps 18,9,4]
 *   npx tsx examples/evaluate.ts --samples runs/dijs/samples.safetensors[,more.safetensors]   # images made elsewhere
 * Rows: train-vs-test (the floor), the teacher with Heun at each step count (2·steps − 1
 * evaluations), and the teacher in one step D(σ_max·z; σ_max).
 */
import { parseArgs } from 'node:util';
import {
  Classifier, cuda, loadSamples, oneHotLabels, DEFAULT_CLASSIFIER_PATH, EDMNetwork, edmSample, evaluate, FashionMNIST, manualSeed, randn, teacherOneStep,
  type Device, type Evaluation, type Tensor,
} from '../src/index.js';

const { values: args } = parseArgs({
  options: {
    device: { type: 'string', default: cuda.isAvailable() ? 'cuda' : 'cpu' },
    teacher: { type: 'string' },
    classifier: { type: 'string', default: DEFAULT_CLASSIFIER_PATH },
    n: { type: 'string', default: '10000' },
    steps: { type: 'string', default: '18,9,4' },
    json: { type: 'string' },
    samples: { type: 'string' },
  },
});
const device = args.device as Device;
const n = Number(args.n);
manualSeed(0);
const classifier = await Classifier.load(args.classifier, { device });
const test = await FashionMNIST.load({ split: 'test', device });
const train = await FashionMNIST.load({ split: 'train', device, limit: n });
const rows: [string, Evaluation, number][] = [];

/** One-hot labels cycling through the classes: balanced, as a class-conditional generator is asked. */
function classLabels(count: number, offset: number, on: Device): Tensor {
  return oneHotLabels(count, 10, Array.from({ length: count }, (_, i) => (offset + i) % 10), on);
}
const timed = async (name: string, run: () => Promise<Evaluation>) => {
  const t0 = performance.now();
  const result = await run();
  rows.push([name, result, (performance.now() - t0) / 1000]);
  console.log(`${name}: FID ${result.fid.toFixed(2)}, precision ${result.precision.toFixed(3)}, recall ${result.recall.toFixed(3)}`);
};
await timed('train vs test (floor)', () => evaluate(train.images, { n, classifier, reference: test }));

if (args.teacher) {
  const teacher = await EDMNetwork.load(args.teacher, { device });
  for (const steps of args.steps!.split(',').map(Number)) {
    let made = 0;
    await timed(`teacher Heun ${steps} steps (${2 * steps - 1} evaluations)`, () => evaluate(async (count) => {
      const latents = randn([count, 1, 32, 32], { device });
      const labels = classLabels(count, made, device);
      made += count;
      const images = await edmSample(teacher, { latents, classLabels: labels, steps });
      latents.dispose();
      labels.dispose();
      return images;
    }, { n, classifier, reference: test }));
  }
  let made = 0;
  await timed('teacher, 1 step D(σ_max·z; σ_max)', () => evaluate(async (count) => {
    const latents = randn([count, 1, 32, 32], { device });
    const labels = classLabels(count, made, device);
    made += count;
    const images = await teacherOneStep(teacher, { latents, classLabels: labels });
    latents.dispose();
    labels.dispose();
    return images;
  }, { n, classifier, reference: test }));
  teacher.dispose();
}

for (const path of args.samples?.split(',') ?? []) {
  // Samples written by saveSamples (e.g. by train-dijs.ts --dump-samples on a GPU machine).
  const { images, metadata } = await loadSamples(path, { device });
  await timed(metadata.get('name') ?? path, () => evaluate(images, { n, classifier, reference: test }));
  images.dispose();
}

const floor = rows[0]![1].fid;
console.log('\n| samples | FID | × floor | precision | recall | classes (min–max %) | s |\n|---|---|---|---|---|---|---|');
for (const [name, r, seconds] of rows) {
  const lo = Math.min(...r.histogram) * 100;
  const hi = Math.max(...r.histogram) * 100;
  console.log(`| ${name} | ${r.fid.toFixed(2)} | ${(r.fid / floor).toFixed(2)} | ${r.precision.toFixed(3)} | ${r.recall.toFixed(3)} | ${lo.toFixed(1)}–${hi.toFixed(1)} | ${seconds.toFixed(0)} |`);
}
if (args.json) (await import('node:fs')).writeFileSync(args.json, JSON.stringify(rows.map(([name, r, s]) => ({ name, ...r, seconds: s })), null, 1));
test.dispose();
train.dispose();

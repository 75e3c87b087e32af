/**
 * The reference table: FID (yardstick features), precision and recall (k = 3) and the class
 * histogram, 10 k samples each, against Fashion-MNIST's test set.
 *   npx tsx examples/evaluate.ts --teacher models/fmnist32-teacher.safetensors [--n 10000] [--steps 18,9,4]
 *   npx tsx examples/evaluate.ts --samples runs/dijs/samples.safetensors[,more.safetensors]   # images made elsewhere
 *   npx tsx examples/evaluate.ts --teacher T.safetensors --dump DIR [--label "EMA 1000 k"]   # only write the teacher rows' samples (no yardstick needed)
 * Rows: train-vs-test (the floor), the teacher with Heun at each step count (2·steps − 1
 * evaluations), and the teacher in one step D(σ_max·z; σ_max).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { commandLine, UsageError } from './command-line.js';
import {
  cat, Classifier, cuda, loadSamples, saveSamples, oneHotLabels, DEFAULT_CLASSIFIER_PATH, EDMNetwork, edmSample, evaluate, FashionMNIST, manualSeed, randn, teacherOneStep,
  type Device, type Evaluation, type Tensor,
} from '../src/index.js';

const { values: args } = commandLine(import.meta.url, {
  options: {
    // 'cuda' when a GPU is there, else 'cpu'; 'cuda:1' picks a GPU.
    device: { type: 'string', default: cuda.isAvailable() ? 'cuda' : 'cpu' },
    // Teacher weights (safetensors or an EDM .pkl): adds its Heun rows and one-step row.
    teacher: { type: 'string' },
    // The yardstick's feature network (shipped).
    classifier: { type: 'string', default: DEFAULT_CLASSIFIER_PATH },
    // Samples per row (and test images compared with).
    n: { type: 'string', default: '10000' },
    // Heun step counts for the teacher rows (2·steps − 1 network evaluations each).
    steps: { type: 'string', default: '18,9,4' },
    // Also write the rows as JSON to this file.
    json: { type: 'string' },
    // Comma-separated sample files (saveSamples / --dump-samples) to measure, one row each.
    samples: { type: 'string' },
    // Write the teacher rows' samples to this folder instead of measuring them (no yardstick needed).
    dump: { type: 'string' },
    // Names the teacher's rows (e.g. which EMA): "<label>, teacher Heun 18 steps …".
    label: { type: 'string' },
  },
});
const device = args.device as Device;
const n = Number(args.n);
manualSeed(0);

/** One-hot labels cycling through the classes: balanced, as a class-conditional generator is asked. */
function classLabels(count: number, offset: number, on: Device): Tensor {
  return oneHotLabels(count, 10, Array.from({ length: count }, (_, i) => (offset + i) % 10), on);
}
/** The teacher's rows: each a name and a sampler of `count` more images (classes cycling). */
function teacherRows(teacher: EDMNetwork): [string, (count: number) => Promise<Tensor>][] {
  const sampler = (draw: (latents: Tensor, labels: Tensor) => Promise<Tensor>) => {
    let made = 0;
    return async (count: number) => {
      const latents = randn([count, 1, 32, 32], { device });
      const labels = classLabels(count, made, device);
      made += count;
      try {
        return await draw(latents, labels);
      } finally {
        latents.dispose();
        labels.dispose();
      }
    };
  };
  const prefix = args.label ? `${args.label}, ` : '';
  return [
    ...args.steps!.split(',').map(Number).map((steps): [string, (count: number) => Promise<Tensor>] =>
      [`${prefix}teacher Heun ${steps} steps (${2 * steps - 1} evaluations)`, sampler((latents, labels) => edmSample(teacher, { latents, classLabels: labels, steps }))]),
    [`${prefix}teacher, 1 step D(σ_max·z; σ_max)`, sampler((latents, labels) => teacherOneStep(teacher, { latents, classLabels: labels }))],
  ];
}

if (args.dump) {
  // No yardstick here (e.g. a GPU machine without the classifier): write each row's samples.
  if (!args.teacher) throw new UsageError('--dump writes the teacher\'s samples: give --teacher');
  mkdirSync(args.dump, { recursive: true });
  const teacher = await EDMNetwork.load(args.teacher, { device });
  for (const [index, [name, draw]] of teacherRows(teacher).entries()) {
    const parts: Tensor[] = [];
    for (let made = 0; made < n; made += 1000) parts.push(await draw(Math.min(1000, n - made)));
    const images = cat(parts);
    const file = join(args.dump, `teacher-${index}.safetensors`);
    await saveSamples(images, file, { name });
    for (const t of [...parts, images]) t.dispose();
    console.log(`${name}: ${n} samples → ${file}`);
  }
  teacher.dispose();
  process.exit(0);
}

const classifier = await Classifier.load(args.classifier, { device });
const test = await FashionMNIST.load({ split: 'test', device });
const train = await FashionMNIST.load({ split: 'train', device, limit: n });
const rows: [string, Evaluation, number][] = [];
const timed = async (name: string, run: () => Promise<Evaluation>) => {
  const t0 = performance.now();
  const result = await run();
  rows.push([name, result, (performance.now() - t0) / 1000]);
  console.log(`${name}: FID ${result.fid.toFixed(2)}, precision ${result.precision.toFixed(3)}, recall ${result.recall.toFixed(3)}`);
};
await timed('train vs test (floor)', () => evaluate(train.images, { n, classifier, reference: test }));

if (args.teacher) {
  const teacher = await EDMNetwork.load(args.teacher, { device });
  for (const [name, draw] of teacherRows(teacher)) await timed(name, () => evaluate(draw, { n, classifier, reference: test }));
  teacher.dispose();
}

for (const path of args.samples?.split(',') ?? []) {
  // Samples written by saveSamples (e.g. by train-dijs.ts --dump-samples or --dump here, on a GPU machine).
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
classifier.dispose();

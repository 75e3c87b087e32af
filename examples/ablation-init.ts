/**
 * The paper's initialisation finding: the same DiJS recipe and budget from the teacher's weights
 * and from a random initialisation. Prints FID and the class histogram of each (collapse shows
 * as classes with almost no samples).
 *
 *   npx tsx examples/ablation-init.ts --device cuda --kimg 400
 *   npx tsx examples/ablation-init.ts --device cpu            # a short demonstration
 */
import { join } from 'node:path';
import { commandLine } from './command-line.js';
import { cuda, DiJSTrainer, EDMNetwork, FashionMNIST, FASHION_MNIST_CLASSES, manualSeed, trainSession, type Device, type Evaluation } from '../src/index.js';

const { values: args } = commandLine(import.meta.url, {
  options: {
    // 'cuda' when a GPU is there, else 'cpu'; 'cuda:1' picks a GPU.
    device: { type: 'string', default: cuda.isAvailable() ? 'cuda' : 'cpu' },
    // The teacher both generators come from (teacher-initialised vs random).
    teacher: { type: 'string', default: 'models/fmnist32-teacher.safetensors' },
    // Images per arm, in thousands (default 400 on a GPU, 0.2 on the CPU).
    kimg: { type: 'string' },
    // Batch size (default 256 on a GPU, 16 on the CPU).
    batch: { type: 'string' },
    // Samples per FID (default 10 000 on a GPU, 500 on the CPU).
    'eval-n': { type: 'string' },
    // Each arm writes to <out>/teacher and <out>/random.
    out: { type: 'string', default: 'runs/ablation-init' },
  },
});
const device = args.device as Device;
const gpu = device.startsWith('cuda');
const kimg = Number(args.kimg ?? (gpu ? 400 : 0.2));
const batch = Number(args.batch ?? (gpu ? 256 : 16));
const evalN = Number(args['eval-n'] ?? (gpu ? 10_000 : 500));

const data = await FashionMNIST.load({ split: 'train', device });
const teacher = await EDMNetwork.load(args.teacher!, { device });
const results: [string, Evaluation][] = [];
for (const init of ['teacher', 'random'] as const) {
  manualSeed(0);
  const trainer = new DiJSTrainer({ teacher, data, device, init, seed: 0, batchSize: batch });
  const result = await trainSession(trainer, { images: kimg * 1000, out: join(args.out!, init), name: `init-${init}`, evalSamples: evalN, iterationsPerCall: gpu ? 10 : 1 });
  results.push([init, result.evaluations.at(-1)!]);
  trainer.dispose();
}
console.log(`\n${kimg} kimg each, batch ${batch}, ${evalN} samples per FID\n`);
console.log(`| generator init | FID | precision | recall | ${FASHION_MNIST_CLASSES.map((c) => c.split('/')[0]).join(' | ')} |`);
console.log(`|---|---|---|---|${'---|'.repeat(10)}`);
for (const [init, r] of results) {
  console.log(`| ${init} | ${r.fid.toFixed(1)} | ${r.precision.toFixed(3)} | ${r.recall.toFixed(3)} | ${r.histogram.map((h) => `${(100 * h).toFixed(1)} %`).join(' | ')} |`);
}
teacher.dispose();
data.dispose();

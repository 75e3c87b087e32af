/**
 * onestep quickstart (README's first command): a one-step generator trained from the shipped
 * Fashion-MNIST teacher with DiJS — the teacher's weights, never its score — for a few minutes.
 *
 *   npx tsx examples/quickstart.ts [--device cpu|cuda] [--kimg 0.5]
 *
 * On a CPU this is a demonstration of the whole pipeline (a few hundred images of training moves
 * the generator only a little); on a GPU the default budget is 100 kimg. Full runs and their
 * results: examples/train-dijs.ts and the README's results table.
 * Writes runs/quickstart/: before.png, grid-*.png (after), log.jsonl, losses.svg, fid.svg.
 */
import { join } from 'node:path';
import { commandLine } from './command-line.js';
import { buildInfo, cuda, DiJSTrainer, EDMNetwork, evaluate, FashionMNIST, getNumThreads, manualSeed, saveImageGrid, trainSession, type Device } from '../src/index.js';

const { values: args } = commandLine(import.meta.url, {
  options: {
    // 'cuda' when a GPU is there, else 'cpu'; 'cuda:1' picks a GPU.
    device: { type: 'string', default: cuda.isAvailable() ? 'cuda' : 'cpu' },
    // Images to train on, in thousands (default 100 on a GPU, 0.5 on the CPU).
    kimg: { type: 'string' },
    // Log, grids and checkpoint go here.
    out: { type: 'string', default: 'runs/quickstart' },
  },
});
const device = args.device as Device;
const gpu = device.startsWith('cuda');
const kimg = Number(args.kimg ?? (gpu ? 100 : 0.5));
const evalN = gpu ? 10_000 : 300;
const info = buildInfo();
console.log(`onestep quickstart: libtorch ${info.torchVersion} (${info.flavour}), ${getNumThreads()} intra-op threads, running on ${device}`);

manualSeed(0);
const data = await FashionMNIST.load({ split: 'train', device });
const teacher = await EDMNetwork.load('models/fmnist32-teacher.safetensors', { device });
const trainer = new DiJSTrainer({ teacher, data, device, batchSize: gpu ? 256 : 16 });
teacher.dispose(); // the generator and the ratio network hold copies of what they need
console.log(`generator g(z) = D(2.5·z; 2.5) from the teacher's weights (${(trainer.generator.net.parameterCount / 1e6).toFixed(2)} M parameters), ` +
  `ratio network on the teacher's encoder (${(trainer.ratio.parameterCount / 1e6).toFixed(2)} M)`);

let seed = 1_000_000;
const sampler = (n: number) => trainer.generator.sample({ n, seed: seed++ }); // classes balanced by default
const before = await evaluate(sampler, { n: evalN });
const grid = await trainer.generator.sample({ n: 100, seed: 0 });
await saveImageGrid(grid, join(args.out!, 'before.png'), { columns: 10 });
grid.dispose();

const result = await trainSession(trainer, { images: kimg * 1000, out: args.out!, name: 'quickstart', evalSamples: evalN, iterationsPerCall: gpu ? 10 : 1 });
const after = result.evaluations.at(-1)!;
console.log(`trained on ${(result.imagesSeen / 1000).toFixed(1)} kimg in ${result.seconds.toFixed(0)} s (${result.imagesPerSecond.toFixed(0)} img/s); ` +
  `ratio loss ${result.last.lossRatio.toFixed(3)} (2·ln 2 = 1.386 at chance)`);
console.log(`one-step FID on the yardstick (${evalN} samples): ${before.fid.toFixed(1)} before → ${after.fid.toFixed(1)} after`);
console.log(`grids, log and curves in ${args.out}/`);
trainer.dispose();
data.dispose();

/**
 * Train a one-step generator from the shipped Fashion-MNIST teacher with DiJS — the teacher's
 * weights, never its score.
 *
 *   npx tsx examples/train-dijs.ts --device cuda --kimg 1000 --out runs/dijs          # a full run on a GPU
 *   npx tsx examples/train-dijs.ts --device cpu --out runs/dijs-cpu                   # a short CPU run (minutes)
 *   npx tsx examples/train-dijs.ts --resume runs/dijs/checkpoint.safetensors --kimg 2000
 *
 * Writes to --out: log.jsonl, grid-<kimg>.png (EMA generator, one column per class),
 * checkpoint.safetensors (atomic, resumable), losses.svg, fid.svg, and with --export the EMA
 * generator (float16 safetensors, EDM names).
 */
import { parseArgs } from 'node:util';
import { cuda, DiJSTrainer, EDMNetwork, evaluate, FashionMNIST, manualSeed, trainSession, type Device, type Divergence } from '../src/index.js';

const { values: args } = parseArgs({
  options: {
    device: { type: 'string', default: cuda.isAvailable() ? 'cuda' : 'cpu' },
    teacher: { type: 'string', default: 'models/fmnist32-teacher.safetensors' },
    divergence: { type: 'string', default: 'js' },
    init: { type: 'string', default: 'teacher' },
    kimg: { type: 'string' },
    batch: { type: 'string' },
    'lr-g': { type: 'string', default: '5e-5' },
    'lr-d': { type: 'string', default: '5e-5' },
    'sigma-init': { type: 'string', default: '2.5' },
    'ema-halflife-kimg': { type: 'string', default: '100' },
    'ratio-steps': { type: 'string', default: '1' },
    seed: { type: 'string', default: '0' },
    out: { type: 'string', default: 'runs/dijs' },
    resume: { type: 'string' },
    'grid-every-kimg': { type: 'string' },
    'eval-every-kimg': { type: 'string' },
    'eval-n': { type: 'string' },
    'checkpoint-every-kimg': { type: 'string', default: '200' },
    'data-limit': { type: 'string' },
    verifier: { type: 'string', default: '0' },
    export: { type: 'string' },
    bf16: { type: 'boolean', default: false },
  },
});
const device = args.device as Device;
const gpu = device.startsWith('cuda');
// A CPU run is a demonstration: a small batch and budget that finish in minutes.
const kimg = Number(args.kimg ?? (gpu ? 1000 : 0.4));
const batch = Number(args.batch ?? (gpu ? 256 : 16));
const evalN = Number(args['eval-n'] ?? (gpu ? 10_000 : 500));

manualSeed(Number(args.seed));
const data = await FashionMNIST.load({ split: 'train', device, limit: args['data-limit'] ? Number(args['data-limit']) : undefined });
let trainer: DiJSTrainer;
if (args.resume) {
  trainer = await DiJSTrainer.resume(args.resume, data);
} else {
  const teacher = await EDMNetwork.load(args.teacher!, { device });
  trainer = new DiJSTrainer({
    teacher, data, device, divergence: args.divergence as Divergence, init: args.init as 'teacher' | 'random', seed: Number(args.seed),
    batchSize: batch, lrG: Number(args['lr-g']), lrD: Number(args['lr-d']), sigmaInit: Number(args['sigma-init']),
    emaHalfLifeImages: Number(args['ema-halflife-kimg']) * 1000, ratioSteps: Number(args['ratio-steps']), bf16: args.bf16,
  });
  teacher.dispose();
}
console.log(`DiJS (${trainer.options.divergence}) on ${device}: generator ${(trainer.generator.net.parameterCount / 1e6).toFixed(2)} M parameters ` +
  `(${args.resume ? `resumed at ${(trainer.imagesSeen / 1000).toFixed(1)} kimg` : `${args.init} init`}), ratio network ${(trainer.ratio.parameterCount / 1e6).toFixed(2)} M, ` +
  `batch ${trainer.options.batchSize}, σ_init ${trainer.options.sigmaInit}, lr ${trainer.options.lrG}/${trainer.options.lrD}`);

const result = await trainSession(trainer, {
  images: kimg * 1000, out: args.out!, name: `dijs-${trainer.options.divergence}-${args.init}`,
  gridEvery: Number(args['grid-every-kimg'] ?? (gpu ? 100 : 0)) * 1000,
  evalEvery: Number(args['eval-every-kimg'] ?? 0) * 1000, evalSamples: evalN,
  checkpointEvery: Number(args['checkpoint-every-kimg']) * 1000,
  iterationsPerCall: gpu ? 10 : 1,
});
const final = result.evaluations.at(-1)!;
console.log(`done: ${(result.imagesSeen / 1000).toFixed(1)} kimg, ${result.seconds.toFixed(0)} s, ${result.imagesPerSecond.toFixed(0)} img/s; ` +
  `one-step FID ${final.fid.toFixed(2)} (${final.n} samples), precision ${final.precision.toFixed(3)}, recall ${final.recall.toFixed(3)}`);
console.log(`class histogram: ${final.histogram.map((h) => (100 * h).toFixed(1)).join(' ')} %`);

const verifier = Number(args.verifier);
if (verifier > 1) {
  // Verifier sampling: k candidates per sample, importance-resampled by exp(−d).
  let seed = 2_000_000;
  const labelDim = trainer.generator.config.labelDim;
  const v = await evaluate((n) => trainer.generator.sample({ n, seed: seed++, candidates: verifier, ratio: trainer.ratio, classLabels: Array.from({ length: n }, (_, i) => i % labelDim) }), { n: evalN });
  console.log(`verifier sampling, k = ${verifier}: FID ${v.fid.toFixed(2)}, precision ${v.precision.toFixed(3)}, recall ${v.recall.toFixed(3)}`);
}
if (args.export) {
  await trainer.generator.save(args.export, { dtype: 'float16' });
  console.log(`exported the EMA generator (float16) to ${args.export}`);
}
console.log(`log, grids, curves and checkpoint in ${args.out}`);
trainer.dispose();
data.dispose();

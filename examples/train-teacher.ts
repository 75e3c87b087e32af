/**
 * Train an EDM teacher on Fashion-MNIST (class-conditional, 32×32), EDM's recipe.
 *
 *   npx tsx examples/train-teacher.ts --device cuda --kimg 1400 --out runs/teacher
 *   npx tsx examples/train-teacher.ts --resume runs/teacher/checkpoint.safetensors --kimg 2800
 *   npx tsx examples/train-teacher.ts --init models/fmnist32-teacher.safetensors --kimg 2000 --warmup-kimg 50 --lr-decay-kimg 500   # warm start
 *   npx tsx examples/train-teacher.ts --device cpu --preset tiny --kimg 2 --data-limit 4096   # a CPU demo
 *   npx onestep launch --nproc 2 examples/train-teacher.ts --init models/fmnist32-teacher.safetensors --kimg 4000   # data parallel, --batch per GPU
 *
 * Writes to --out: checkpoint.safetensors (atomic, resumable), log.jsonl (one line per report),
 * grid-<kimg>.png (EMA samples, Heun 18 steps, one column per class) and, with --export, the EMA
 * weights in float16.
 */
import { mkdirSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { commandLine, emaTag, kimgList } from './command-line.js';
import cliProgress from 'cli-progress';
import {
  cuda, EDMNetwork, ProcessGroup, edmSample, FashionMNIST, manualSeed, PRESETS, randn, saveImageGrid, oneHotLabels, saveStateDict, TeacherTrainer, tidy,
  type Device, type EDMConfig, type Precision, type Tensor,
} from '../src/index.js';

const { values: args } = commandLine(import.meta.url, {
  options: {
    // 'cuda' when a GPU is there, else 'cpu'; 'cuda:1' picks a GPU.
    device: { type: 'string', default: cuda.isAvailable() ? 'cuda' : 'cpu' },
    // The network: 'fmnist32' (6.99 M parameters) or 'tiny' (a CPU demo).
    preset: { type: 'string', default: 'fmnist32' },
    // Train until this many thousand images in all.
    kimg: { type: 'string', default: '1400' },
    batch: { type: 'string' }, // images per step: default 256 per process; on resume, the checkpoint's
    // Adam's learning rate after the warm-up.
    lr: { type: 'string', default: '5e-4' },
    // Linear learning-rate warm-up from 0 over this many kimg (EDM's lr_rampup_kimg).
    'warmup-kimg': { type: 'string', default: '256' },
    // EDM2's inverse square-root learning-rate decay after this many kimg (0: constant, EDM's recipe).
    'lr-decay-kimg': { type: 'string', default: '0' },
    // The main EMA's half-life (the network sampled, saved and exported).
    'ema-halflife-kimg': { type: 'string', default: '500' },
    // EDM's ramp-up: the half-life is at most this fraction of the images seen in this run (0: off).
    'ema-rampup': { type: 'string', default: '0.05' },
    // More EMAs beside the main one, e.g. 1000,2000 (kimg; the ramp-up applies to them too); with
    // --export each is written beside it as <export>-ema<kimg>k.safetensors.
    'extra-ema-kimg': { type: 'string', default: '' },
    // Seeds the weights, the data order and the noise.
    seed: { type: 'string', default: '0' },
    // Log, grids and checkpoint go here.
    out: { type: 'string', default: 'runs/teacher' },
    // Continue a run from its checkpoint (options from the file; --kimg counts all images).
    resume: { type: 'string' },
    // Start from these weights (net and EMA) with a fresh optimizer: continues a run whose full
    // checkpoint is not at hand, e.g. from the shipped float16 EMA weights.
    init: { type: 'string' },
    // A log line every this many steps.
    'report-every': { type: 'string', default: '50' },
    // A grid of EMA samples (Heun 18 steps) every this many kimg.
    'grid-every-kimg': { type: 'string', default: '200' },
    // An atomic checkpoint every this many kimg (and at the end).
    'checkpoint-every-kimg': { type: 'string', default: '200' },
    // Train on the first N images only (a quick check).
    'data-limit': { type: 'string' },
    // Also write the EMA network here at the end (float16 safetensors, EDM names).
    export: { type: 'string' },
    // 'fp32' (default), 'bf16' (activations in bf16: 1.33× on an H100) or 'bf16-autocast'.
    precision: { type: 'string', default: 'fp32' },
    // Stop (with a checkpoint) after this many seconds of training, wherever --kimg has got to.
    'max-seconds': { type: 'string' },
    // libtorch's GroupNorm and SiLU instead of onestep's fused CUDA kernels (cuda.setFusedKernels).
    'no-fused': { type: 'boolean', default: false },
  },
});
// Started by `npx onestep launch --nproc N …`: one process per GPU (or CPU process), data parallel;
// --batch is per process, rank 0 reports and writes.
const processGroup = await ProcessGroup.joinIfLaunched(args.device!);
const lead = (processGroup?.rank ?? 0) === 0;
const device = processGroup?.device ?? (args.device as Device);
// As EDM's training script: the shapes repeat, so cuDNN's autotuning pays.
if (device.startsWith('cuda')) cuda.setCudnnBenchmark(true);
if (args['no-fused']) cuda.setFusedKernels(false);
const totalImages = Number(args.kimg) * 1000;
const reportEvery = Number(args['report-every']);
const TINY: EDMConfig = { ...PRESETS.fmnist32, channelMult: [1, 2], attnResolutions: [16], modelChannels: 16, numBlocks: 1, dropout: 0 };

if (lead) mkdirSync(args.out!, { recursive: true });
const log = (record: object) => lead && appendFileSync(join(args.out!, 'log.jsonl'), `${JSON.stringify(record)}\n`);
manualSeed(Number(args.seed));
const data = await FashionMNIST.load({ split: 'train', device, limit: args['data-limit'] ? Number(args['data-limit']) : undefined });
const trainer = args.resume
  ? await TeacherTrainer.resume(args.resume, data, { processGroup, batchSize: args.batch ? Number(args.batch) : undefined })
  : TeacherTrainer.create({
    net: args.init
      ? await EDMNetwork.load(args.init, { config: args.preset === 'tiny' ? TINY : (args.preset as keyof typeof PRESETS), device })
      : args.preset === 'tiny' ? TINY : (args.preset as keyof typeof PRESETS),
    data, device, seed: Number(args.seed),
    batchSize: Number(args.batch ?? 256), lr: Number(args.lr), warmupImages: Number(args['warmup-kimg']) * 1000,
    lrDecayImages: Number(args['lr-decay-kimg']) * 1000,
    emaHalfLifeImages: Number(args['ema-halflife-kimg']) * 1000, emaRampupRatio: Number(args['ema-rampup']),
    extraEmaHalfLives: kimgList(args['extra-ema-kimg']),
    precision: args.precision as Precision, processGroup,
  });
const batch = trainer.options.batchSize * (processGroup?.worldSize ?? 1); // images per step, all processes
const say = lead ? console.log : () => {}; // rank 0 reports
if (args.init) say(`starting from the weights in ${args.init} (fresh optimizer state)`);
say(`teacher: ${trainer.net.config.modelChannels}-channel SongUNet, ${(trainer.net.parameterCount / 1e6).toFixed(2)} M parameters, ` +
  `batch ${batch}${processGroup ? ` over ${processGroup.worldSize} processes (${processGroup.backend})` : ''}, lr ${trainer.options.lr}, on ${device}${args.resume ? `, resumed at ${(trainer.imagesSeen / 1000).toFixed(1)} kimg` : ''}`);

// Fixed latents and one column per class for the sample grids.
const gridLatents = randn([100, 1, 32, 32], { device });
const gridLabels = oneHotLabels(100, 10, undefined, device);
async function grid(kimg: number): Promise<void> {
  if (!lead) return;
  const samples: Tensor = await edmSample(trainer.ema, { latents: gridLatents, classLabels: gridLabels, steps: 18 });
  await saveImageGrid(samples, join(args.out!, `grid-${String(Math.round(kimg)).padStart(6, '0')}.png`), { columns: 10 });
  samples.dispose();
}

const bar = !lead ? undefined : new cliProgress.SingleBar({
  format: 'teacher |{bar}| {kimg}/{total} kimg | {rate} img/s | loss {loss} | ETA {eta_formatted}',
  hideCursor: true,
}, cliProgress.Presets.shades_classic);
bar?.start(Math.round(totalImages / 1000), Math.round(trainer.imagesSeen / 1000), { kimg: (trainer.imagesSeen / 1000).toFixed(1), total: totalImages / 1000, rate: '-', loss: '-' });
let nextGrid = trainer.imagesSeen + Number(args['grid-every-kimg']) * 1000;
let nextCheckpoint = trainer.imagesSeen + Number(args['checkpoint-every-kimg']) * 1000;
const started = performance.now();
const startImages = trainer.imagesSeen;
const maxSeconds = args['max-seconds'] ? Number(args['max-seconds']) : Infinity;
while (trainer.imagesSeen < totalImages) {
  const iterations = Math.max(1, Math.min(reportEvery, Math.ceil((totalImages - trainer.imagesSeen) / batch)));
  const t0 = performance.now();
  // The time budget is a vote: in a group every process stops at the same call.
  const stats = await trainer.step(iterations, { stop: (performance.now() - started) / 1000 >= maxSeconds });
  const seconds = (performance.now() - t0) / 1000;
  const rate = (iterations * batch) / seconds;
  log({ kimg: stats.imagesSeen / 1000, loss: stats.loss, lr: stats.lr, imgPerSec: rate, time: new Date().toISOString() });
  bar?.update(Math.round(stats.imagesSeen / 1000), { kimg: (stats.imagesSeen / 1000).toFixed(1), rate: rate.toFixed(0), loss: stats.loss.toFixed(3) });
  if (stats.imagesSeen >= nextGrid) {
    await grid(stats.imagesSeen / 1000);
    nextGrid += Number(args['grid-every-kimg']) * 1000;
  }
  if (stats.imagesSeen >= nextCheckpoint) {
    await trainer.save(join(args.out!, 'checkpoint.safetensors'));
    nextCheckpoint += Number(args['checkpoint-every-kimg']) * 1000;
  }
  if (stats.stopVote > 0) break;
}
bar?.stop();
await trainer.save(join(args.out!, 'checkpoint.safetensors'));
await grid(trainer.imagesSeen / 1000);
const wall = (performance.now() - started) / 1000;
say(`done: ${(trainer.imagesSeen / 1000).toFixed(1)} kimg, ${wall.toFixed(0)} s this run, ` +
  `${((trainer.imagesSeen - startImages) / wall).toFixed(0)} img/s; checkpoint and grids in ${args.out}`);
if (args.export && lead) {
  // The EMA weights in float16: what ships as the teacher (and each extra EMA beside it).
  const exports = [{ net: trainer.ema, path: args.export, halfLife: trainer.options.emaHalfLifeImages },
    ...trainer.extraEmas.map((net, i) => {
      const halfLife = trainer.options.extraEmaHalfLives[i]!;
      return { net, path: args.export!.replace(/(\.safetensors)?$/, `${emaTag(halfLife)}.safetensors`), halfLife };
    })];
  for (const { net, path, halfLife } of exports) {
    const ema = net.stateDict();
    const half = tidy(() => new Map([...ema].map(([name, t]) => [name, t.toSync('float16')] as [string, Tensor])));
    await saveStateDict(half, path, { metadata: { config: JSON.stringify(net.config), kimg: String(trainer.imagesSeen / 1000), emaHalfLifeKimg: String(halfLife / 1000) } });
    for (const t of [...ema.values(), ...half.values()]) t.dispose();
    say(`exported the EMA weights (half-life ${halfLife / 1000} kimg, float16) to ${path}`);
  }
}
gridLatents.dispose();
gridLabels.dispose();
trainer.dispose();
data.dispose();
processGroup?.dispose();

/**
 * Train a one-step generator from the shipped Fashion-MNIST teacher with DiJS — the teacher's
 * weights, never its score.
 *
 *   npx tsx examples/train-dijs.ts --device cuda --kimg 1000 --out runs/dijs          # a full run on a GPU
 *   npx tsx examples/train-dijs.ts --device cpu --out runs/dijs-cpu                   # a short CPU run (minutes)
 *   npx tsx examples/train-dijs.ts --resume runs/dijs/checkpoint.safetensors --kimg 2000
 *   npx onestep launch --nproc 2 examples/train-dijs.ts --device cuda --kimg 2000   # data parallel, 256 per GPU
 *   npx tsx examples/train-dijs.ts --precision bf16 --cuda-graph                      # the fast step (one GPU)
 *   # the measured best on one GPU (README, Results: 3.35 at 5.64 M images, ~23 min of one H200; 3.38 and 3.74
 *   # for two seeds without --ratio-head-hidden 256, which is inside that spread):
 *   npx tsx examples/train-dijs.ts --device cuda --kimg 5600 --precision bf16 --cuda-graph --divergence fkl \
 *     --augment-shift 2 --augment-p 0.5 --ratio-head-hidden 256 --ema-halflife-kimg 500 --eval-every-kimg 300 --keep-best
 *   # the same over four GPUs with longer EMAs: 3.18 (4 000 k EMA) at 21.3 M images, ~22 min of 4 H200s:
 *   npx onestep launch --nproc 4 examples/train-dijs.ts --device cuda --kimg 21300 --precision bf16 --cuda-graph \
 *     --divergence fkl --augment-shift 2 --augment-p 0.5 --ratio-head-hidden 256 --ema-halflife-kimg 500 \
 *     --extra-ema-kimg 1000,2000,4000 --eval-every-kimg 2000 --keep-best
 *
 * Writes to --out: log.jsonl, grid-<kimg>.png (EMA generator, one column per class),
 * checkpoint.safetensors (atomic, resumable), losses.svg, fid.svg, with --keep-best the best EMA
 * generator so far (best-generator.safetensors), and with --export the EMA generator (float16
 * safetensors, EDM names).
 */
import { commandLine, emaTag, kimgList, UsageError } from './command-line.js';
import { join } from 'node:path';
import { calibrateRatio, cuda, RATIO_HEAD_POOLS, DiJSTrainer, ProcessGroup, EDMNetwork, evaluate, FashionMNIST, manualSeed, OneStepGenerator, saveSamples, trainSession, type Device, type DiJSOptions, type GeneratorSampleOptions, type DiJSResumeChanges, type Divergence, type Precision, type RatioHeadOptions, type RatioHeadPool } from '../src/index.js';

const { values: args, tokens } = commandLine(import.meta.url, {
  tokens: true,
  options: {
    // 'cuda' when a GPU is there, else 'cpu'; 'cuda:1' picks a GPU.
    device: { type: 'string', default: cuda.isAvailable() ? 'cuda' : 'cpu' },
    // The teacher whose weights start the generator and the ratio network's encoder.
    teacher: { type: 'string', default: 'models/fmnist32-teacher.safetensors' },
    // 'js' (DiJS), 'kl', 'fkl' or 'hellinger'. fkl gave the lowest figures from the shipped teacher
    // (4.18 at 2.6 M images against js's 4.54; with translations 3.35–3.74 at 4.5–5.6 M), but its second
    // seed gave 5.19 at 2.9 M: the spread between runs is as wide as the lead (README, Results).
    divergence: { type: 'string', default: 'js' },
    // 'teacher' (the method) or 'random' (the ablation).
    init: { type: 'string', default: 'teacher' },
    // Train until this many thousand images in all (default 1000 on a GPU, 0.4 on the CPU).
    kimg: { type: 'string' },
    // Images per step (per process under launch; default 256 on a GPU, 16 on the CPU).
    batch: { type: 'string' },
    // The generator's Adam rate. 5e-5 with --lr-d 1e-4 is the measured best (README, Results): FID
    // 4.29 at 1.9 M images from the shipped teacher. With 1e-4 the ratio network fell silent after
    // ~0.2 M images in every run from it (one collapsed to one image per class; kl and hellinger
    // recovered to 5.3–6.0 by 5.5 M).
    'lr-g': { type: 'string', default: '5e-5' },
    // The ratio network's Adam rate: 1e-4 beat 2e-4 up to ~2 M images from teacher v3 (4.85 at 2.2 M).
    'lr-d': { type: 'string', default: '1e-4' },
    // EDM2's 1/√t decay of both learning rates after this many kimg (0: constant). 200 measured
    // best so far: FID 8.14 instead of 8.95 at 1 M images (README, Results).
    'lr-decay-kimg': { type: 'string', default: '200' },
    // Warm the generator's learning rate up from 0 over this many kimg (0: none); lrGWarmupImages.
    'lr-g-warmup-kimg': { type: 'string', default: '0' },
    // g(z) = D(σ_init·z; σ_init): the one noise level the generator denoises from (1.5: faster to
    // 0.3 M images, no better later).
    'sigma-init': { type: 'string', default: '2.5' },
    // ln σ ~ N(mean, std²) for the ratio network's and the generator's noise levels: "mean,std".
    'ratio-sigma': { type: 'string', default: '-1.2,1.2' },
    // As --ratio-sigma, for the generator loss.
    'generator-sigma': { type: 'string', default: '-1.2,1.2' },
    // The main EMA generator's half-life (the one saved, sampled and evaluated).
    'ema-halflife-kimg': { type: 'string', default: '100' },
    // More EMA generators beside the main one, e.g. 250,500 (kimg): each evaluation measures each, and each sample dump is written for each.
    'extra-ema-kimg': { type: 'string', default: '' },
    // EDM's ramp: every EMA's half-life is at most this share of the images seen so far (0: none), so
    // that long EMAs stop carrying the run's start sooner (a 4 000 k EMA read 16.4 at 12 M images
    // without it, README, Results).
    'ema-rampup-ratio': { type: 'string', default: '0' },
    // Ratio-network updates per generator update (DiJSOptions.ratioSteps). 2: ahead at equal images, 1.5× the
    // time per image, behind per second after ~11 minutes on an H200; 4: worse (README, Results).
    'ratio-steps': { type: 'string', default: '1' },
    // Adam's ε for both networks. 1e-6 did not keep the generator still while its ratio network was
    // silent (bench/NOTES.md, seventh session: FID 49 at 1.7 M; the same recipe from teacher v3 with 1e-8: 50 at 1.95 M).
    'adam-eps': { type: 'string', default: '1e-8' },
    // Adam's β1,β2 for both networks (the method's (0, 0.99); β1 0.5 silenced the ratio network).
    'adam-betas': { type: 'string', default: '0,0.99' },
    // Global gradient-norm limits for the generator and the ratio network (0: none).
    'clip-g': { type: 'string', default: '0' },
    'clip-d': { type: 'string', default: '0' },
    // Generator loss weight w(σ) = σ^power (0: uniform). 1 was behind uniform from the start (README, Results).
    'weight-power': { type: 'string', default: '0' },
    // Gradient penalties γ on the ratio network's input gradient at noised real (R1) and generated
    // (R2) images (0: off); DiJSOptions.r1Gamma and r2Gamma. Measured worse at every strength from
    // the shipped teacher (README, Results).
    'r1-gamma': { type: 'string', default: '0' },
    'r2-gamma': { type: 'string', default: '0' },
    // Their finite-difference step in pixels ([-1, 1] scale).
    'penalty-step': { type: 'string', default: '0.05' },
    // Random translations of real and generated images by up to this many pixels before the ratio
    // network sees them (0: off), each image with probability --augment-p; DiJSOptions.augmentShift.
    // 2 at p 0.5 gave the lowest figures past 3 M images from the shipped teacher (fkl: 500 k EMA
    // 3.31–3.38 against 4.00–4.36 without; a second seed 3.74), though slower before ~2.8 M (README, Results).
    'augment-shift': { type: 'string', default: '0' },
    // The share of images translated: 1 by default; with --augment-target the first p (default 0).
    'augment-p': { type: 'string' },
    // Adapt p as ADA does towards this E[sign(−d)] on real images (2·accuracy on real − 1; 0: a
    // fixed p); DiJSOptions.augmentTarget. At 0.2 from the shipped teacher p rose from ~1.5 M images to
    // 0.78 at 5.7 M; ahead of a fixed p 0.5 until ~3.4 M, behind it at the end (4.03 against 3.74; README).
    'augment-target': { type: 'string', default: '0' },
    // Thousands of images over which the adaptive p may move from 0 to 1 (ADA: 500).
    'augment-speed-kimg': { type: 'string', default: '500' },
    // The most the adapted p may reach (with --augment-target; at 0.2 p rose to 0.78 and the FID rose
    // with it past ~0.6, where a fixed p 0.5 held).
    'augment-p-max': { type: 'string', default: '1' },
    // Width of a hidden layer in the ratio network's head before the logit (0: GroupNorm → SiLU → pool → Linear).
    // 256 with translations at p 0.5 gave the best end-of-run figures: 3.35 at 5.64 M on one GPU, 3.18 at 21.3 M on four (README, Results).
    'ratio-head-hidden': { type: 'string', default: '0' },
    // Where the head averages over the encoder's last 8×8 feature map: "features" (pool, then score
    // the image) or "logits" (score every position, then average: a patch classifier).
    'ratio-head-pool': { type: 'string', default: 'features' },
    // Dropout in the ratio network's encoder blocks during its updates and the generator's (0: off;
    // the teacher trained with 0.1); against its memorising the training images. Measured at 0.1: slower everywhere, gap unchanged (README, Results).
    'ratio-dropout': { type: 'string', default: '0' },
    // Cutout squares of this side (pixels) in real and generated images before the ratio network sees
    // them, with --augment-p's probability (DiffAugment: 16 at 32 × 32, always); 0: off. Measured worse at 16
    // with p 0.5 (two seeds: 4.98 and 9.66 at 4 M images against 4.05; README, Results).
    'augment-cutout': { type: 'string', default: '0' },
    // Horizontal flips of real and generated images before the ratio network sees them, with this
    // probability of their own (below 0.5, so which way an image faces is still judged); 0: off. At 0.2 no
    // change beyond the seeds' spread (two seeds: 3.72 / 3.30 at 5.5 M images against 3.53 / 3.69; README, Results).
    'augment-flip': { type: 'string', default: '0' },
    // Lookahead-minmax: every this many iterations both networks are pulled back to
    // slow + α·(now − slow), slow being their weights that many iterations before (0: off).
    // Measured no better at 100 (README, Results).
    'lookahead-steps': { type: 'string', default: '0' },
    // Lookahead's α in (0, 1] (1: no pull-back).
    'lookahead-alpha': { type: 'string', default: '0.5' },
    // Seeds the weights, the data order and the noise.
    seed: { type: 'string', default: '0' },
    // Log, grids, checkpoint, curves and the final networks go here.
    out: { type: 'string', default: 'runs/dijs' },
    // Continue a run from its checkpoint (options from the file; --kimg counts all images). Rates,
    // schedules, loss, noise levels, penalties, fixed-p translations, --ratio-dropout, --lookahead-*
    // and --ema-halflife-kimg given beside it change for the rest of the run (a branch of it); options the
    // checkpoint fixes (--ratio-head-hidden, --extra-ema-kimg, …) must agree with it.
    resume: { type: 'string' },
    // With --resume: start the ratio network again from --teacher's encoder (a new head, fresh Adam
    // state), keeping the generators and the position; DiJSTrainer.resume's resetRatio. A branch that
    // asks whether a late stall lives in the ratio network's learned state (bench/NOTES.md, twenty-third session).
    // lr D's decay and lr G's warm-up restart with it: at the run's late, decayed lr D a restarted
    // network never left chance and the generator drifted meanwhile (twenty-fourth session);
    // --lr-g-warmup-kimg beside it holds the generator back while the new network learns.
    'reset-ratio': { type: 'boolean', default: false },
    // A sample grid every this many kimg (default 100 on a GPU; 0: at the end only).
    'grid-every-kimg': { type: 'string' },
    // FID on the yardstick every this many kimg (0: at the end only).
    'eval-every-kimg': { type: 'string' },
    // Samples per FID (default 10 000 on a GPU, 500 on the CPU).
    'eval-n': { type: 'string' },
    // An atomic checkpoint every this many kimg (and at the end).
    'checkpoint-every-kimg': { type: 'string', default: '200' },
    // Train on the first N images only (a quick check).
    'data-limit': { type: 'string' },
    // Also evaluate verifier sampling with this many candidates per sample (0 or 1: off), at the end:
    // the main EMA and, with --keep-best, the best snapshot, each beside its plain one-step FID.
    verifier: { type: 'string', default: '0' },
    // Before measuring verifier sampling on a generator, train a copy of the ratio network on against
    // it alone for this many kimg (calibrateRatio: d must estimate log q/p for the q being sampled, and
    // the run's network was trained against the online generator, not an EMA or a snapshot); 0: off.
    'verifier-calibrate-kimg': { type: 'string', default: '0' },
    // The noise level(s) at which the verifier judges candidates, e.g. 0.05,0.2,1 (one row each).
    'sigma-verify': { type: 'string', default: '0.2' },
    // Write this many EMA samples (uint8 safetensors) for measuring elsewhere: examples/evaluate.ts --samples.
    'dump-samples': { type: 'string', default: '0' },
    // ... also every this many kimg during training (samples-<kimg>.safetensors).
    'dump-every-kimg': { type: 'string', default: '0' },
    // Stop cleanly after this many seconds of training (for time-limited machines).
    'max-seconds': { type: 'string' },
    // No yardstick here (e.g. a GPU machine without the test set): skip the FID measurements.
    'no-eval': { type: 'boolean', default: false },
    // Keep the best EMA generator, the main one or an --extra-ema-kimg one (chosen at each evaluation by
    // FID against training images, not the test set) as best-generator.safetensors; with --dump-samples
    // its samples are dumped too.
    // DiJS's FID swings from one evaluation to the next late in a run (README, Results).
    'keep-best': { type: 'boolean', default: false },
    // Also write the EMA generator here (float16 safetensors, EDM names).
    export: { type: 'string' },
    // 'fp32' (default), 'bf16' (activations in bf16: 1.1× on an H100) or 'bf16-autocast'.
    precision: { type: 'string', default: 'fp32' },
    // Replay each iteration from a CUDA graph: with --precision bf16, 1.5× PyTorch eager (under launch, over NCCL).
    'cuda-graph': { type: 'boolean', default: false },
    // libtorch's GroupNorm and SiLU instead of onestep's fused CUDA kernels (cuda.setFusedKernels).
    'no-fused': { type: 'boolean', default: false },
  },
});
// Started by `npx onestep launch --nproc N …`: one process per GPU (or CPU process), data parallel;
// --batch is per process, rank 0 reports and writes.
const processGroup = await ProcessGroup.joinIfLaunched(args.device!);
const lead = (processGroup?.rank ?? 0) === 0;
const device = processGroup?.device ?? (args.device as Device);
const gpu = device.startsWith('cuda');
// As EDM's training script: the shapes repeat, so cuDNN's autotuning pays (−12 % per DiJS step on an H100).
if (gpu) cuda.setCudnnBenchmark(true);
if (args['no-fused']) cuda.setFusedKernels(false);
// A CPU run is a demonstration: a small batch and budget that finish in minutes.
const kimg = Number(args.kimg ?? (gpu ? 1000 : 0.4));
const batch = Number(args.batch ?? (gpu ? 256 : 16));
const evalN = Number(args['eval-n'] ?? (gpu ? 10_000 : 500));

/** "β1,β2" → Adam's betas. */
function betas(text: string): { beta1: number; beta2: number } {
  const [beta1, beta2, extra] = text.split(',').map(Number);
  if (extra !== undefined || !Number.isFinite(beta1) || !Number.isFinite(beta2)) throw new UsageError(`--adam-betas takes "β1,β2", e.g. 0,0.99; got "${text}"`);
  return { beta1: beta1!, beta2: beta2! };
}

/** "mean,std" → the trainer's ln σ distribution. */
function logNormal(flag: string, text: string): { pMean: number; pStd: number } {
  const [pMean, pStd, extra] = text.split(',').map(Number);
  if (extra !== undefined || !Number.isFinite(pMean) || !Number.isFinite(pStd)) throw new UsageError(`${flag} takes "mean,std" (of ln σ), e.g. -1.2,1.2; got "${text}"`);
  return { pMean: pMean!, pStd: pStd! };
}

if (!(RATIO_HEAD_POOLS as readonly string[]).includes(args['ratio-head-pool']!)) throw new UsageError(`--ratio-head-pool takes ${RATIO_HEAD_POOLS.join(' or ')}, not "${args['ratio-head-pool']}"`);
if (args['keep-best'] && args['no-eval']) throw new UsageError('--keep-best chooses among evaluations: drop --no-eval');
if (args['reset-ratio'] && !args.resume) throw new UsageError('--reset-ratio restarts a resumed run\'s ratio network: give --resume <checkpoint> too');
{
  const kimg = Number(args['verifier-calibrate-kimg']);
  // Checked before training: a typo found at the end of a run would cost the run's measurements.
  if (!(kimg >= 0) || !Number.isFinite(kimg)) throw new UsageError(`--verifier-calibrate-kimg takes a number of kimg ≥ 0, not "${args['verifier-calibrate-kimg']}"`);
  if (kimg > 0 && !(Number(args.verifier) > 1)) throw new UsageError('--verifier-calibrate-kimg calibrates for verifier sampling: give --verifier k > 1 too');
}
manualSeed(Number(args.seed));
const data = await FashionMNIST.load({ split: 'train', device, limit: args['data-limit'] ? Number(args['data-limit']) : undefined });
// The trainer's options as the command line gives them (defaults included).
const recipe: DiJSOptions & { init: 'teacher' | 'random'; seed: number; ratioHead: Required<RatioHeadOptions> } = {
  divergence: args.divergence as Divergence, init: args.init as 'teacher' | 'random', seed: Number(args.seed),
  batchSize: batch, lrG: Number(args['lr-g']), lrD: Number(args['lr-d']), lrDecayImages: Number(args['lr-decay-kimg']) * 1000, lrGWarmupImages: Number(args['lr-g-warmup-kimg']) * 1000, sigmaInit: Number(args['sigma-init']),
  emaHalfLifeImages: Number(args['ema-halflife-kimg']) * 1000, emaRampupRatio: Number(args['ema-rampup-ratio']), ratioSteps: Number(args['ratio-steps']), eps: Number(args['adam-eps']), ...betas(args['adam-betas']!),
  clipG: Number(args['clip-g']), clipD: Number(args['clip-d']), weightPower: Number(args['weight-power']), r1Gamma: Number(args['r1-gamma']), r2Gamma: Number(args['r2-gamma']), penaltyStep: Number(args['penalty-step']),
  augmentShift: Number(args['augment-shift']), augmentProbability: args['augment-p'] === undefined ? undefined : Number(args['augment-p']),
  augmentTarget: Number(args['augment-target']), augmentSpeedImages: Number(args['augment-speed-kimg']) * 1000, augmentMaxProbability: Number(args['augment-p-max']), ratioHead: { hidden: Number(args['ratio-head-hidden']), pool: args['ratio-head-pool'] as RatioHeadPool }, ratioDropout: Number(args['ratio-dropout']), augmentCutout: Number(args['augment-cutout']), augmentFlip: Number(args['augment-flip']),
  lookaheadSteps: Number(args['lookahead-steps']), lookaheadAlpha: Number(args['lookahead-alpha']),
  extraEmaHalfLives: kimgList(args['extra-ema-kimg']),
  ratioSigma: logNormal('--ratio-sigma', args['ratio-sigma']!), generatorSigma: logNormal('--generator-sigma', args['generator-sigma']!),
  precision: args.precision as Precision, cudaGraph: args['cuda-graph'],
};
// Beside --resume: the flags that change the resumed run (DiJSTrainer.resume's change); those whose
// settings the checkpoint fixes, accepted when they agree with it (a script may repeat a run's
// options on every call) and refused when not, rather than silently ignored; and those that only
// start a run.
const changeableFlags: Record<string, keyof DiJSResumeChanges> = {
  'lr-g': 'lrG', 'lr-d': 'lrD', 'lr-decay-kimg': 'lrDecayImages', 'lr-g-warmup-kimg': 'lrGWarmupImages', 'clip-g': 'clipG', 'clip-d': 'clipD',
  divergence: 'divergence', 'ratio-sigma': 'ratioSigma', 'generator-sigma': 'generatorSigma', 'weight-power': 'weightPower', 'ratio-steps': 'ratioSteps',
  'r1-gamma': 'r1Gamma', 'r2-gamma': 'r2Gamma', 'penalty-step': 'penaltyStep', 'augment-shift': 'augmentShift', 'augment-p': 'augmentProbability',
  'ratio-dropout': 'ratioDropout', 'augment-cutout': 'augmentCutout', 'augment-flip': 'augmentFlip', 'ema-halflife-kimg': 'emaHalfLifeImages', 'ema-rampup-ratio': 'emaRampupRatio',
  'lookahead-steps': 'lookaheadSteps', 'lookahead-alpha': 'lookaheadAlpha',
};
const fixedBy = (t: DiJSTrainer | typeof recipe): Record<string, unknown> => {
  const o = 'options' in t ? t.options : t;
  const head = 'ratio' in t ? t.ratio.head : t.ratioHead;
  return {
    'sigma-init': o.sigmaInit, 'adam-eps': o.eps, 'adam-betas': [o.beta1, o.beta2], 'augment-target': o.augmentTarget, 'augment-speed-kimg': o.augmentSpeedImages,
    'augment-p-max': o.augmentMaxProbability, 'extra-ema-kimg': o.extraEmaHalfLives, 'ratio-head-hidden': head.hidden, 'ratio-head-pool': head.pool,
  };
};
const startFlags = ['teacher', 'init', 'seed'];
let trainer: DiJSTrainer;
if (args.resume) {
  const given = tokens.filter((t) => t.kind === 'option').map((t) => t.name);
  const change = Object.fromEntries(given.filter((flag) => flag in changeableFlags).map((flag) => [changeableFlags[flag], recipe[changeableFlags[flag]!]]));
  const resetRatio = args['reset-ratio'] ? await EDMNetwork.load(args.teacher!, { device }) : undefined;
  try {
    trainer = await DiJSTrainer.resume(args.resume, data, {
      processGroup, batchSize: args.batch ? Number(args.batch) : undefined, change, resetRatio,
      precision: given.includes('precision') ? recipe.precision : undefined, cudaGraph: given.includes('cuda-graph') ? true : undefined,
    });
  } finally {
    resetRatio?.dispose();
  }
  const saved = fixedBy(trainer), wanted = fixedBy(recipe);
  const differing = given.filter((flag) => flag in saved && JSON.stringify(saved[flag]) !== JSON.stringify(wanted[flag]));
  if (differing.length > 0) {
    trainer.dispose();
    throw new UsageError(`${differing.map((f) => `--${f} ${args[f as keyof typeof args]} (the checkpoint's: ${JSON.stringify(saved[f])})`).join(', ')}: ` +
      `the checkpoint fixes ${differing.length > 1 ? 'these' : 'this'}; a run cannot change ${differing.length > 1 ? 'them' : 'it'} when it resumes`);
  }
  const ignored = given.filter((flag) => startFlags.includes(flag) && !(flag === 'teacher' && resetRatio));
  if (lead && ignored.length > 0) console.log(`${ignored.map((f) => `--${f}`).join(', ')}: only for a new run (the checkpoint carries the weights and random state)`);
  if (lead && Object.keys(change).length > 0) console.log(`resumed with these options from the command line: ${JSON.stringify(change)}`);
  if (lead && resetRatio) {
    console.log(`the ratio network starts again from ${args.teacher}'s encoder, with a new head and fresh Adam state; ` +
      `lr D's decay and lr G's warm-up (--lr-g-warmup-kimg) count from here, ${(trainer.imagesSeen / 1000).toFixed(1)} kimg`);
  }
} else {
  const teacher = await EDMNetwork.load(args.teacher!, { device });
  trainer = new DiJSTrainer({ ...recipe, teacher, data, device, processGroup });
  teacher.dispose();
}
if (lead) console.log(`DiJS (${trainer.options.divergence}) on ${processGroup ? `${processGroup.worldSize} processes (${processGroup.backend}), ` : ''}${device}: generator ${(trainer.generator.net.parameterCount / 1e6).toFixed(2)} M parameters ` +
  `(${args.resume ? `resumed at ${(trainer.imagesSeen / 1000).toFixed(1)} kimg` : `${args.init} init`}), ratio network ${(trainer.ratio.parameterCount / 1e6).toFixed(2)} M, ` +
  `batch ${trainer.options.batchSize}, σ_init ${trainer.options.sigmaInit}, lr ${trainer.options.lrG}/${trainer.options.lrD}` +
  (trainer.options.ratioSteps > 1 ? `, ${trainer.options.ratioSteps} ratio updates per generator update` : '') +
  (trainer.options.weightPower !== 0 ? `, w(σ) = σ^${trainer.options.weightPower}` : '') +
  (trainer.options.r1Gamma > 0 || trainer.options.r2Gamma > 0 ? `, gradient penalties R1 ${trainer.options.r1Gamma} R2 ${trainer.options.r2Gamma} (step ${trainer.options.penaltyStep})` : '') +
  (trainer.options.augmentShift > 0 ? `, translations ≤ ${trainer.options.augmentShift} px (p ${trainer.options.augmentProbability}` +
    (trainer.options.augmentTarget > 0 ? `, adapted towards r = ${trainer.options.augmentTarget}${trainer.options.augmentMaxProbability < 1 ? ` up to ${trainer.options.augmentMaxProbability}` : ''}` : '') + ')' : '') +
  (trainer.options.augmentCutout > 0 ? `, cutouts of ${trainer.options.augmentCutout} px (p ${trainer.options.augmentProbability}${trainer.options.augmentTarget > 0 ? ', adapted' : ''})` : '') +
  (trainer.options.augmentFlip > 0 ? `, horizontal flips (p ${trainer.options.augmentFlip})` : '') +
  (trainer.options.ratioDropout > 0 ? `, ratio network dropout ${trainer.options.ratioDropout}` : '') +
  (trainer.options.lookaheadSteps > 0 ? `, lookahead every ${trainer.options.lookaheadSteps} iterations (α ${trainer.options.lookaheadAlpha})` : ''));

const dump = Number(args['dump-samples']);
const dumpEvery = Number(args['dump-every-kimg']) * 1000;
let nextDump = trainer.imagesSeen + dumpEvery;
const tag = () => `${trainer.options.divergence}-${args.init}-${(trainer.imagesSeen / 1000).toFixed(0)}kimg`;
/** Writes `file` from the main EMA generator and, for each extra EMA, `file` with -ema<kimg>k before .safetensors. */
async function dumpSamples(file: string): Promise<void> {
  if (!lead) return;
  const generators = [{ generator: trainer.generator, suffix: '', label: '' },
    ...trainer.extraEmaGenerators.map((generator, i) => {
      const kimg = trainer.options.extraEmaHalfLives[i]! / 1000;
      return { generator, suffix: emaTag(kimg * 1000), label: `, EMA ${kimg} k` };
    })];
  for (const { generator, suffix, label } of generators) {
    const images = await generator.sample({ n: dump, seed: 1_000_000 }); // classes balanced by default
    await saveSamples(images, join(args.out!, file.replace(/\.safetensors$/, `${suffix}.safetensors`)), { name: `DiJS ${tag()}${label}, 1 step`, kimg: String(trainer.imagesSeen / 1000) });
    images.dispose();
  }
}

const result = await trainSession(trainer, {
  images: kimg * 1000, out: args.out!, name: `dijs-${trainer.options.divergence}-${args.init}`,
  gridEvery: Number(args['grid-every-kimg'] ?? (gpu ? 100 : 0)) * 1000,
  evalEvery: args['no-eval'] ? -1 : Number(args['eval-every-kimg'] ?? 0) * 1000, evalSamples: evalN,
  checkpointEvery: Number(args['checkpoint-every-kimg']) * 1000,
  keepBest: args['keep-best'],
  iterationsPerCall: gpu ? 10 : 1,
  maxSeconds: args['max-seconds'] ? Number(args['max-seconds']) : undefined,
  progress: lead,
  onStats: async (stats) => {
    if (dumpEvery > 0 && stats.imagesSeen >= nextDump) {
      nextDump += dumpEvery;
      await trainer.settled();
      await dumpSamples(`samples-${String(Math.round(stats.imagesSeen / 1000)).padStart(6, '0')}.safetensors`);
    }
  },
});
if (lead) {
  console.log(`done: ${(result.imagesSeen / 1000).toFixed(1)} kimg, ${result.seconds.toFixed(0)} s, ${result.imagesPerSecond.toFixed(0)} img/s`);
  const final = result.evaluations.at(-1);
  if (final) {
    console.log(`one-step FID ${final.fid.toFixed(2)} (${final.n} samples), precision ${final.precision.toFixed(3)}, recall ${final.recall.toFixed(3)}; ` +
      `class histogram ${final.histogram.map((h) => (100 * h).toFixed(1)).join(' ')} %`);
  }
  if (result.best) {
    // The snapshot's evaluation row (this call's), and in it the main EMA's figures or the extra EMA's.
    const { kimg: bestKimg, halfLifeKimg } = result.best;
    const row = result.evaluations.find((e) => e.kimg === bestKimg);
    const yardstick = halfLifeKimg === undefined ? row : row?.extraEmas?.find((e) => e.halfLifeKimg === halfLifeKimg);
    console.log(`best snapshot: ${bestKimg.toFixed(1)} kimg, ${halfLifeKimg === undefined ? 'the main EMA' : `the ${halfLifeKimg} k EMA`} ` +
      `(FID ${result.best.selectionFid.toFixed(2)} against training images` +
      `${yardstick ? `, ${yardstick.fid.toFixed(2)} on the yardstick` : ', from an earlier call: its yardstick FID is in the log'}) in ${result.best.path}`);
  }

  const verifier = Number(args.verifier);
  // One or more noise levels for the verifier, e.g. 0.05,0.2,1.
  const sigmaVerifies = args['sigma-verify']!.split(',').map(Number);
  const sigmaVerify = sigmaVerifies[0]!;
  // Image sources for evaluate(), which calls them once per 1 000 images: each call its own seed.
  const sampledFrom = (generator: OneStepGenerator, seed: number, options: Partial<GeneratorSampleOptions> = {}) => (n: number) =>
    generator.sample({ ...options, n, seed: seed++ });
  // Verifier sampling: k candidates per sample, importance-resampled by exp(−d).
  const verified = (generator: OneStepGenerator, seed: number, sigma = sigmaVerify, ratio = trainer.ratio) =>
    sampledFrom(generator, seed, { candidates: verifier, ratio, sigmaVerify: sigma });
  const calibrateKimg = Number(args['verifier-calibrate-kimg']);
  if (verifier > 1 && !args['no-eval']) {
    // The main EMA against its last evaluation, and keepBest's snapshot (the run's best generator,
    // often a longer EMA) against its own plain figure measured here: the verifier's gain can differ
    // between them (sixteenth session: −0.5 on one run's main EMA, +1.7 on another's).
    const final = result.evaluations.at(-1);
    await reportVerifier('the main EMA', trainer.generator, final && final.kimg === result.imagesSeen / 1000 ? final.fid : undefined);
    if (result.best) {
      const snapshot = await OneStepGenerator.load(result.best.path, { device });
      try {
        await reportVerifier(`the best snapshot (${result.best.kimg.toFixed(0)} kimg${result.best.halfLifeKimg === undefined ? '' : `, ${result.best.halfLifeKimg} k EMA`})`, snapshot);
      } finally {
        snapshot.dispose();
      }
    }
  }
  /**
   * Prints verifier sampling's FID for `generator` beside its plain one-step FID (measured here unless
   * given), and with --verifier-calibrate-kimg again with a ratio network calibrated on it.
   */
  async function reportVerifier(label: string, generator: OneStepGenerator, plainFid?: number): Promise<void> {
    const plain = plainFid ?? (await evaluate(sampledFrom(generator, 2_000_000), { n: evalN })).fid;
    const v = await evaluate(verified(generator, 2_000_000), { n: evalN });
    console.log(`verifier sampling, k = ${verifier}, σ ${sigmaVerify}, ${label}: FID ${v.fid.toFixed(2)} (${plain.toFixed(2)} without), ` +
      `precision ${v.precision.toFixed(3)}, recall ${v.recall.toFixed(3)}`);
    if (!(calibrateKimg > 0)) return;
    const started = performance.now();
    const calibrated = await calibrateRatio(join(args.out!, 'checkpoint.safetensors'), generator, data, { images: calibrateKimg * 1000, device });
    try {
      const c = await evaluate(verified(generator, 2_000_000, sigmaVerify, calibrated), { n: evalN });
      console.log(`  … with the ratio network calibrated on it for ${calibrateKimg} kimg (${((performance.now() - started) / 1000).toFixed(0)} s): ` +
        `FID ${c.fid.toFixed(2)}, precision ${c.precision.toFixed(3)}, recall ${c.recall.toFixed(3)}`);
    } finally {
      calibrated.dispose();
    }
  }
  if (dump > 0) {
    await dumpSamples('samples.safetensors');
    if (result.best) {
      const snapshot = await OneStepGenerator.load(result.best.path, { device });
      const images = await snapshot.sample({ n: dump, seed: 1_000_000 });
      await saveSamples(images, join(args.out!, 'samples-best.safetensors'), { name: `DiJS ${trainer.options.divergence}-${args.init}-best-${result.best.kimg.toFixed(0)}kimg, 1 step`, kimg: String(result.best.kimg) });
      images.dispose();
      snapshot.dispose();
    }
    for (const sigma of verifier > 1 ? sigmaVerifies : []) {
      const v = await verified(trainer.generator, 2_000_000, sigma)(dump);
      await saveSamples(v, join(args.out!, `samples-verifier${verifier}-sigma${sigma}.safetensors`), { name: `DiJS ${tag()}, 1 step, verifier k = ${verifier} (σ ${sigma})` });
      v.dispose();
    }
    console.log(`wrote ${dump} samples to ${args.out}`);
  }
  if (args.export) {
    await trainer.generator.save(args.export, { dtype: 'float16' });
    console.log(`exported the EMA generator (float16) to ${args.export}`);
  }
  console.log(`log, grids, curves and checkpoint in ${args.out}`);
}
trainer.dispose();
data.dispose();
processGroup?.dispose();

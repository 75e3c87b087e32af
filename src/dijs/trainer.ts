/**
 * DiJSTrainer: trains a one-step generator from a teacher's weights with the class-ratio network
 * instead of the teacher's score. Each native call runs whole iterations (ratio update(s), then a
 * generator update through the frozen ratio network, then the EMA) on a worker thread; `run`
 * keeps the next two calls queued while one call's statistics are read, so the device never waits
 * for JavaScript.
 */
import type { ImageSet } from '../data/fashion-mnist.js';
import { typeError, valueError } from '../errors.js';
import { native } from '../native.js';
import type { NativeHandle } from '../native-types.js';
import { sameDevice, type Device } from '../tensor.js';
import { fillModule } from '../checkpoint/load-into.js';
import { ProcessGroup } from '../distributed/process-group.js';
import { disposeOnThrow } from '../scope.js';
import type { EDMConfig } from '../edm/config.js';
import { EDMNetwork } from '../edm/network.js';
import { loadTrainingCheckpoint, saveTrainingCheckpoint } from '../train/checkpoint.js';
import { checkExtraEmaHalfLives } from '../train/extra-emas.js';
import { resolvePrecision, type Precision } from '../train/precision.js';
import { checkDivergence, type Divergence } from './divergence.js';
import { DEFAULT_SIGMA_INIT, OneStepGenerator, type GeneratorInit } from './generator.js';
import { checkDropout, RatioNetwork, type RatioHeadOptions } from './ratio-network.js';

/** ln σ ~ N(pMean, pStd²). */
export interface SigmaDistribution {
  pMean: number;
  pStd: number;
}

export interface DiJSOptions {
  /** One of the four divergences; 'js' (DiJS) by default. */
  divergence?: Divergence;
  batchSize?: number;
  /** g(z) = D(σ_init·z; σ_init). */
  sigmaInit?: number;
  /** Adam learning rates of the generator (5e-5) and the ratio network (2e-4: a ratio network that
   *  keeps up with the generator gave FID 16 instead of 36 at 400 kimg; bench/NOTES.md). */
  lrG?: number;
  lrD?: number;
  /** EDM2's inverse square-root decay of both learning rates after this many images:
   *  lr·√(lrDecayImages / imagesSeen). 0 (default): constant. */
  lrDecayImages?: number;
  /** Linear warm-up of the generator's learning rate over this many images, from 0 (EDM's teacher
   *  rule); the ratio network's rate is not warmed up. 0 (default): none. With lrG 1e-4 every
   *  ratio network measured fell silent after ~0.2 M images (bench/NOTES.md, seventh session),
   *  with 5e-5 (and lrD ≤ 2e-4) none did; warmed up over 500 k images, lrG 1e-4 did not either
   *  (eighth session). */
  lrGWarmupImages?: number;
  /** The images seen when the ratio network last started: 0 (default) for a run's start;
   *  `resume`'s resetRatio sets it to the checkpoint's position. lrD's decay and lrG's warm-up
   *  count images from here (the generator's own decay does not), so a restarted ratio network
   *  learns at a run's opening rate, and lrGWarmupImages can hold the generator back meanwhile. */
  ratioStartImages?: number;
  /** Adam betas (both networks); the reference recipe uses (0, 0.99). */
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Global gradient-norm limits (0: no clipping). */
  clipG?: number;
  clipD?: number;
  /** Generator EMA half-life in images; with emaRampupRatio > 0 it grows with the images seen (EDM's rule). */
  emaHalfLifeImages?: number;
  /** EDM's ramp: every EMA's half-life (the extra ones too) is at most this share of the images seen. 0 (default): none. */
  emaRampupRatio?: number;
  /**
   * More EMA generators, one per half-life (images), kept beside the main one and updated in the
   * same fused step (`trainer.extraEmaGenerators`, saved and resumed with the run): one run then
   * shows several EMA lengths, and the best is found by trying them (as EDM2 does). [] by default; at most 8.
   */
  extraEmaHalfLives?: number[];
  /** Noise levels for the ratio update and for the generator update. */
  ratioSigma?: SigmaDistribution;
  generatorSigma?: SigmaDistribution;
  /**
   * Generator loss weight w(σ) = σ^weightPower (0: uniform). Measured at 1 from the shipped teacher
   * (nineteenth session, one run): behind the uniform weight from the start (FID 9.40 at 1.0 M images
   * against 7.55–7.56, 7.35 at 1.5 M against 6.02–6.36).
   */
  weightPower?: number;
  /**
   * Ratio-network updates per generator update (TTUR as DMD2 uses it); each draws its own real images
   * and generator samples, so at equal images seen (counted per generator update) the ratio network
   * sees this many times the real images. Measured at 2 and 4 from the shipped teacher (twentieth
   * session, two seeds each, one H200 per run): 2 leads 1 at equal images throughout (FID 5.80 / 4.97
   * at 1.0 M against 7.56 / 7.55) but takes 1.5× the time per image, and per second its lead (0.8 at 6
   * minutes) is gone by ~11 minutes and 0.3 behind at ~22 (3.59 / 4.26 at 3.6 M against 3.53 / 3.69 at
   * 5.4 M); its ratio network memorises ~3.5× as fast. 4 is worse (one seed rose from 5.48 to 6.99). A
   * run may change it when it resumes.
   */
  ratioSteps?: number;
  /**
   * R1 penalty (Mescheder et al. 2018) on the ratio network: γ/2·E‖∇x d(x_σ)‖² over the noised real
   * images of each ratio update, added to its logistic loss. Without a penalty a discriminator keeps
   * sharpening and the generator oscillates; from the shipped teacher the ratio network's logits
   * grew all run and the FID swung by up to 2 late (bench/NOTES.md, ninth session). The gradient's
   * squared norm is estimated by a finite difference along a random Gaussian direction u,
   * ((d(x + h·u) − d(x))/h)², whose mean is ‖∇x d‖² to first order: one more block of B images in
   * the ratio network's forward pass, no double backward. 0 (default): off. Measured worse from the
   * shipped teacher (tenth session): γ ≥ 0.1 silenced the ratio network; 0.001–0.01 left the FID
   * at 10–14 by 2.3 M images where the plain run was at 4–5.
   */
  r1Gamma?: number;
  /** The same penalty on the noised generated images (R2; R3GAN pairs it with R1 against mode dropping). 0 (default): off. */
  r2Gamma?: number;
  /** The penalties' finite-difference step h in pixels ([-1, 1] scale); 0.05 by default. */
  penaltyStep?: number;
  /**
   * Random integer translations of up to this many pixels (each image its own, both axes), applied
   * to real and generated images alike before the noise, in the ratio update and in the generator
   * update (translateImages: differentiable). Against a ratio network that memorises the training
   * images: from the shipped teacher its mean logit on unseen test images rose above the one on
   * training images as the run went on (bench/NOTES.md, tenth session). Measured (eleventh session,
   * fkl, one run each): shift 2 at p 0.5 held that gap at ~0.09 where it grew to 0.25 without, and
   * gave the best FID past 3 M images (500 k EMA 3.31–3.38 against 4.00–4.36) though it trailed the
   * plain run until ~2.8 M; p 1 and shift 4 were slower still early. A second seed (twelfth session):
   * 3.74 at 5.65 M. 0 (default): off; at most 8.
   */
  augmentShift?: number;
  /** The share of images translated (ADA's p); 1 by default, or with augmentTarget the first p (0 by default). */
  augmentProbability?: number;
  /**
   * Adapt p as ADA does (Karras et al. 2020) instead of fixing it: once per iteration,
   * r = E[sign(−d)] over the (last) ratio update's real images (the share the ratio network calls
   * real minus the share it calls generated; the statistics' 2·ratioAccuracyReal − 1) is compared
   * with this target, and p moves up if r is above it, down if below, by the images of one
   * iteration / augmentSpeedImages, within [0, 1]. On the device, inside the step (no host
   * synchronisation); averaged over a process group; carried by checkpoints; each call's mean p is
   * the statistics' augmentProbability. The point: fixed translations cost early and helped late (eleventh
   * session), and p then only rises once the ratio network starts telling training images apart.
   * From the shipped teacher, r ran 0.06 (0.3 M images) → 0.2 (1.5 M) → 0.32 (4.5 M) without
   * translations and ~0.22 at p 0.5 late in the run. Measured at 0.2 (twelfth session): p rose from
   * ~1.5 M images to 0.78 at 5.7 M; ahead of a fixed p 0.5 until ~3.4 M, behind it at the end (500 k
   * EMA 4.03 against 3.74). Needs augmentShift. 0 (default): off; < 1.
   */
  augmentTarget?: number;
  /** Images over which the adaptive p may move from 0 to 1 (ADA: 500 k); 500 000 by default. */
  augmentSpeedImages?: number;
  /**
   * The most the adapted p may reach (1 by default; needs augmentTarget). At target 0.2 from the
   * shipped teacher p kept rising to 0.78 and the FID rose with it past ~0.6, while a fixed p 0.5
   * held (twelfth session): a cap keeps the adaptive start without the late excess.
   */
  augmentMaxProbability?: number;
  /**
   * Cutout (DeVries & Taylor 2017), DiffAugment's other augmentation against a discriminator that
   * memorises: a square of this side (pixels), centred on a uniform pixel, set to -1 (background) in
   * each image with the same probability p as the translations (drawn on its own), after them, real
   * and generated alike, in both updates (`cutoutImages`: differentiable). DiffAugment's is half the
   * image's side, always applied. 0 (default): off; smaller than the image. **Measured worse** at 16
   * with p 0.5 beside the translations (nineteenth session, two seeds): the memorising gap halved
   * (0.05 at 4 M), but one seed's ratio network sat at chance from 0.2 to 1.5 M images (FID 9.66 at
   * 4 M) and the other trailed the recipe by 0.4–0.9 (4.98 at 4 M against 4.05).
   */
  augmentCutout?: number;
  /**
   * Horizontal flips (ADA's first augmentation): each image, real and generated alike, in both
   * updates, mirrored left to right with this probability, drawn on its own and fixed (ADA's p does
   * not move it), after the translations (`flipImages`: differentiable). Milder than cutout — nothing
   * of the image is lost — and for Fashion-MNIST nearly a second copy of most classes, against the
   * ratio network memorising its training images. Below 0.5: the generator's images are shown as
   * drawn more often than mirrored, so which way they face (Fashion-MNIST's shoes face left: all its
   * ankle boots, 99.7 % of its sneakers, 93 % of its sandals) is still judged, at (1 − 2p) of the
   * strength; at 0.5 it would not be. 0 (default): off. Measured at 0.2 (two seeds, one H200 each):
   * no change beyond the seeds' spread, and none in the ratio network's memorising (README, Results).
   */
  augmentFlip?: number;
  /**
   * Dropout in the ratio network's encoder blocks (EDM's, as the teacher trained with 0.1), on in
   * the ratio update and in the generator update through it, off wherever the ratio network is
   * measured (`ratio.logit`). Against its memorising of the training images: in the 4-GPU run of
   * the thirteenth session the test − train logit gap reached ~0.15 while the raw generator's FID
   * rose from 3.5 (8 M images) to 4.2 (21 M). 0 (default): off; < 1. Not with the gradient
   * penalties, whose finite differences would measure the dropout's noise. With cudaGraph the graph
   * draws its own dropout masks (seeded runs still repeat, but graph and eager steps then differ).
   * Measured at 0.1 (fourteenth session, 12.7 M images on 2 H200s): slower than none at every point
   * (500 k EMA 3.88 at best against 3.50) with the same test − train gap (0.066 against 0.069).
   */
  ratioDropout?: number;
  /**
   * Lookahead-minmax (Chavdarova et al., ICLR 2021): every `lookaheadSteps` iterations both networks
   * are pulled back towards their weights of that many iterations before,
   * slow ← slow + lookaheadAlpha·(fast − slow), fast ← slow (Adam's moments are kept). In a
   * two-player game the gradient field rotates and the iterates circle the equilibrium; the
   * pull-back lands nearer it. From the shipped teacher the generator's iterates did circle a better
   * point: its 2 000–4 000 k EMAs read 0.3–1 FID below the 500 k one late in the run while the
   * 500 k one rose (bench/NOTES.md, thirteenth session). Outside the CUDA graph, on the same weights;
   * the same on every process of a group; the slow weights are checkpointed. 0 (default): off.
   * Measured no better at 100 (α 0.5; fifteenth and sixteenth sessions): branched at 4.43 M images it
   * was slower (1 000 k EMA 3.52 against 3.16 at 7.6 M); branched at the 8 M peak it held the 500 k
   * EMA flat, but its 4 000 k EMA ended level with plain's (3.45 against 3.39 at 12.5 M).
   */
  lookaheadSteps?: number;
  /** Lookahead's α in (0, 1]; 0.5 by default (the paper's). 1 is no lookahead. */
  lookaheadAlpha?: number;
  /** 'fp32' (default), 'bf16' or 'bf16-autocast': see src/train/precision.ts. */
  precision?: Precision;
  /** Same as precision: 'bf16-autocast' (kept for older scripts). */
  bf16?: boolean;
  /**
   * Replay each iteration from a CUDA graph (CUDA only): the iteration's ~2 000 kernels go out in
   * one launch. Calls of 4 or more iterations capture after 3 eager ones; results match the eager
   * step to float tolerance. In a process group the backend must be NCCL, whose all-reduces the
   * graph records too (every process replays its own in step; Gloo is refused). Off by default.
   */
  cudaGraph?: boolean;
}


export interface DiJSTrainerArgs extends DiJSOptions {
  teacher: EDMNetwork;
  data: ImageSet;
  /** Generator initialisation: the teacher's weights (the method) or random (the ablation). */
  init?: GeneratorInit;
  ratioHead?: RatioHeadOptions;
  /** Seeds the random initialisations (the data order and noise follow manualSeed). */
  seed?: number;
  device?: Device;
  /**
   * Data-parallel training: this process trains on its share of a global batch of
   * batchSize × group size; gradients and statistics are averaged over the group (one all-reduce
   * per update). Every process must use the same options and seeds. `save` writes from rank 0.
   */
  processGroup?: ProcessGroup;
}

export interface DiJSStats {
  /** Ratio network's logistic loss (2·ln 2 ≈ 1.386 at chance). */
  lossRatio: number;
  /** Generator surrogate loss. */
  lossGenerator: number;
  /** Fraction of real images with d < 0 and of generated ones with d > 0. */
  ratioAccuracyReal: number;
  ratioAccuracyFake: number;
  /** Mean logits on real and generated images. */
  logitReal: number;
  logitFake: number;
  gradNormGenerator: number;
  gradNormRatio: number;
  /** The penalties' estimates of E‖∇x d‖² on noised real and generated images (0 where off). */
  ratioInputGradSqReal: number;
  ratioInputGradSqFake: number;
  /** The translations' probability (fixed, adapted with augmentTarget, 0 without augmentShift). */
  augmentProbability: number;
  imagesSeen: number;
  /** Iterations averaged in these figures. */
  iterations: number;
  /** The share of the group's processes that asked to stop after this call (run's stopWhen). */
  stopVote: number;
  /** The learning rates of the call's last iteration, after the 1/√t decay and lr G's warm-up (Adam's
   * step size before bias correction): where the schedules stand, e.g. after resume's resetRatio. */
  lrG: number;
  lrD: number;
}

interface NativeTrainer {
  step(iterations: number, stopVote?: number): Promise<DiJSStats>;
  state(): { tensors: [string, NativeHandle][]; imagesSeen: number; stepsG: number; stepsD: number; position: number };
  restore(tensors: [string, NativeHandle][], imagesSeen: number, stepsG: number, stepsD: number, position: number): void;
  dispose(): void;
}

const FORMAT = 'onestep-dijs-checkpoint/1';

/**
 * The options a run may change when it resumes (`DiJSTrainer.resume(path, data, { change })`):
 * rates and their schedules, the loss, the noise levels, the penalties, fixed-p translations,
 * cutouts and flips, the ratio network's dropout, the main EMA's half-life, the EMAs' ramp, lookahead (turned on,
 * its slow weights start from the checkpoint's). Not those that shape the saved state (extra
 * EMAs, the ratio head, σ_init) or whose values it carries (ADA's adapted p, Adam's β and ε).
 */
export const RESUME_CHANGEABLE = ['lrG', 'lrD', 'lrDecayImages', 'lrGWarmupImages', 'clipG', 'clipD', 'divergence', 'ratioSigma', 'generatorSigma',
  'weightPower', 'ratioSteps', 'r1Gamma', 'r2Gamma', 'penaltyStep', 'augmentShift', 'augmentProbability', 'augmentCutout', 'augmentFlip', 'ratioDropout', 'emaHalfLifeImages', 'emaRampupRatio', 'lookaheadSteps', 'lookaheadAlpha'] as const;
export type DiJSResumeChanges = Partial<Pick<DiJSOptions, (typeof RESUME_CHANGEABLE)[number]>>;

/** The trainer state that belongs to the ratio network: what `resume`'s resetRatio leaves behind. */
const RATIO_TRAINER_STATE = ['adamD.exp_avg', 'adamD.exp_avg_sq', 'lookahead.ratio'];

function checkResetTeacher(teacher: unknown, config: EDMConfig): asserts teacher is EDMNetwork {
  if (!(teacher instanceof EDMNetwork)) throw typeError('resetRatio needs the teacher EDMNetwork whose encoder the ratio network starts from (EDMNetwork.load)');
  // The generator's config is the teacher's with dropout 0: compare the shapes, not the dropout.
  const shape = (c: EDMConfig) => JSON.stringify({ ...c, dropout: 0 });
  if (shape(teacher.config) !== shape(config))
    throw valueError(`resetRatio's teacher has another network shape than this run's (${shape(teacher.config)} against the checkpoint's ${shape(config)}): pass the teacher the run started from`);
}

function checkResumeChanges(change: unknown, saved: Required<DiJSOptions>): DiJSResumeChanges {
  if (change === undefined) return {};
  if (typeof change !== 'object' || change === null) throw typeError('change must be an object of options to change, e.g. { lrD: 5e-5 }');
  for (const key of Object.keys(change))
    if (!(RESUME_CHANGEABLE as readonly string[]).includes(key))
      throw typeError(`${key} cannot change when a run resumes (its state depends on it); these can: ${RESUME_CHANGEABLE.join(', ')}`);
  if ('augmentProbability' in change && saved.augmentTarget > 0)
    throw typeError('augmentProbability cannot change when a run resumes with augmentTarget: the checkpoint carries the adapted p');
  return change as DiJSResumeChanges;
}

function checkSigmaDistribution(name: string, d: SigmaDistribution): void {
  const { pMean, pStd } = d ?? {};
  if (typeof pMean !== 'number' || typeof pStd !== 'number') throw typeError(`${name} must be { pMean, pStd } (ln σ ~ N(pMean, pStd²)), not ${JSON.stringify(d)}`);
  // A NaN or infinite one would only show up later, as NaN losses.
  if (!Number.isFinite(pMean) || !Number.isFinite(pStd) || pStd < 0)
    throw valueError(`${name} must have a finite pMean and a finite, non-negative pStd (ln σ ~ N(pMean, pStd²)); got pMean ${pMean}, pStd ${pStd}`);
}

function resolveOptions(o: DiJSOptions): Required<DiJSOptions> {
  const options: Required<DiJSOptions> = {
    divergence: checkDivergence(o.divergence ?? 'js'), batchSize: o.batchSize ?? 256, sigmaInit: o.sigmaInit ?? DEFAULT_SIGMA_INIT,
    lrG: o.lrG ?? 5e-5, lrD: o.lrD ?? 2e-4, lrDecayImages: o.lrDecayImages ?? 0, lrGWarmupImages: o.lrGWarmupImages ?? 0, ratioStartImages: o.ratioStartImages ?? 0, beta1: o.beta1 ?? 0, beta2: o.beta2 ?? 0.99, eps: o.eps ?? 1e-8,
    clipG: o.clipG ?? 0, clipD: o.clipD ?? 0, emaHalfLifeImages: o.emaHalfLifeImages ?? 100_000, emaRampupRatio: o.emaRampupRatio ?? 0,
    extraEmaHalfLives: checkExtraEmaHalfLives(o.extraEmaHalfLives ?? []),
    ratioSigma: o.ratioSigma ?? { pMean: -1.2, pStd: 1.2 }, generatorSigma: o.generatorSigma ?? { pMean: -1.2, pStd: 1.2 },
    weightPower: o.weightPower ?? 0, ratioSteps: o.ratioSteps ?? 1, r1Gamma: o.r1Gamma ?? 0, r2Gamma: o.r2Gamma ?? 0, penaltyStep: o.penaltyStep ?? 0.05,
    augmentShift: o.augmentShift ?? 0, augmentProbability: o.augmentProbability ?? ((o.augmentTarget ?? 0) > 0 ? 0 : 1),
    augmentTarget: o.augmentTarget ?? 0, augmentSpeedImages: o.augmentSpeedImages ?? 500_000, augmentMaxProbability: o.augmentMaxProbability ?? 1, augmentCutout: o.augmentCutout ?? 0, augmentFlip: o.augmentFlip ?? 0, ratioDropout: checkDropout(o.ratioDropout ?? 0, 'ratioDropout'),
    lookaheadSteps: o.lookaheadSteps ?? 0, lookaheadAlpha: o.lookaheadAlpha ?? 0.5, bf16: o.bf16 ?? false,
    precision: resolvePrecision(o), cudaGraph: o.cudaGraph ?? false,
  };
  if (typeof options.cudaGraph !== 'boolean') throw typeError('cudaGraph must be a boolean');
  if (!Number.isInteger(options.batchSize) || options.batchSize < 1) throw typeError(`batchSize must be a positive integer, not ${options.batchSize}`);
  if (!Number.isInteger(options.ratioSteps) || options.ratioSteps < 1) throw typeError(`ratioSteps must be a positive integer, not ${options.ratioSteps}`);
  for (const key of ['r1Gamma', 'r2Gamma', 'penaltyStep'] as const) {
    if (typeof options[key] !== 'number') throw typeError(`${key} must be a number, not ${JSON.stringify(options[key])}`);
    if (!Number.isFinite(options[key]) || !(key === 'penaltyStep' ? options[key] > 0 : options[key] >= 0))
      throw valueError(`${key} must be a finite number ${key === 'penaltyStep' ? '> 0' : '≥ 0 (0: no penalty)'}, not ${options[key]}`);
  }
  if (!Number.isInteger(options.augmentShift) || options.augmentShift < 0 || options.augmentShift > 8) throw typeError(`augmentShift must be a whole number of pixels from 0 to 8, not ${options.augmentShift}`);
  if (typeof options.augmentProbability !== 'number' || !(options.augmentProbability >= 0 && options.augmentProbability <= 1)) throw valueError(`augmentProbability must be between 0 and 1, not ${options.augmentProbability}`);
  if (typeof options.augmentTarget !== 'number' || !(options.augmentTarget >= 0 && options.augmentTarget < 1)) throw valueError(`augmentTarget must be in [0, 1) (0: a fixed augmentProbability), not ${options.augmentTarget}`);
  if (typeof options.augmentSpeedImages !== 'number' || !(options.augmentSpeedImages > 0 && Number.isFinite(options.augmentSpeedImages))) throw valueError(`augmentSpeedImages must be a finite, positive number, not ${options.augmentSpeedImages}`);
  if (typeof options.emaRampupRatio !== 'number' || !(options.emaRampupRatio >= 0 && Number.isFinite(options.emaRampupRatio)))
    throw valueError(`emaRampupRatio must be a finite number ≥ 0 (0: no ramp), not ${options.emaRampupRatio}`);
  if (!Number.isInteger(options.augmentCutout) || options.augmentCutout < 0) throw typeError(`augmentCutout must be a whole number of pixels ≥ 0 (0: off), not ${options.augmentCutout}`);
  if (typeof options.augmentFlip !== 'number') throw typeError(`augmentFlip must be a number (a probability), not ${JSON.stringify(options.augmentFlip)}`);
  // At 0.5 an image and its mirror image are equally likely whichever the generator drew: which way it faces would go unjudged.
  if (!(options.augmentFlip >= 0 && options.augmentFlip < 0.5)) throw valueError(`augmentFlip must be in [0, 0.5) (0: off), not ${options.augmentFlip}`);
  if (options.augmentTarget > 0 && options.augmentShift === 0 && options.augmentCutout === 0) throw valueError('augmentTarget adapts the augmentations\' probability: set augmentShift or augmentCutout too');
  if (typeof options.augmentMaxProbability !== 'number' || !(options.augmentMaxProbability > 0 && options.augmentMaxProbability <= 1)) throw valueError(`augmentMaxProbability must be in (0, 1], not ${options.augmentMaxProbability}`);
  if (options.augmentMaxProbability < 1 && options.augmentTarget === 0) throw valueError('augmentMaxProbability bounds the adapted p: set augmentTarget too');
  if (options.augmentTarget > 0 && options.augmentProbability > options.augmentMaxProbability) throw valueError(`augmentProbability (the first p, ${options.augmentProbability}) must not exceed augmentMaxProbability (${options.augmentMaxProbability})`);
  if (options.ratioDropout > 0 && (options.r1Gamma > 0 || options.r2Gamma > 0))
    throw valueError('ratioDropout cannot be combined with r1Gamma or r2Gamma: the penalties\' finite differences would measure the dropout\'s noise');
  if (!Number.isInteger(options.lookaheadSteps) || options.lookaheadSteps < 0) throw typeError(`lookaheadSteps must be a whole number of iterations ≥ 0 (0: off), not ${options.lookaheadSteps}`);
  if (typeof options.lookaheadAlpha !== 'number' || !(options.lookaheadAlpha > 0 && options.lookaheadAlpha <= 1)) throw valueError(`lookaheadAlpha must be in (0, 1], not ${options.lookaheadAlpha}`);
  checkSigmaDistribution('ratioSigma', options.ratioSigma);
  checkSigmaDistribution('generatorSigma', options.generatorSigma);
  return options;
}

export class DiJSTrainer {
  /** The EMA generator: the one to sample, evaluate and save. */
  readonly generator: OneStepGenerator;
  /** The generator whose weights the optimizer updates. */
  readonly onlineGenerator: OneStepGenerator;
  /** One more EMA generator per `extraEmaHalfLives` entry, in that order. */
  readonly extraEmaGenerators: readonly OneStepGenerator[];
  readonly ratio: RatioNetwork;
  readonly options: Readonly<Required<DiJSOptions>>;
  readonly processGroup: ProcessGroup | undefined;
  readonly #native: NativeTrainer;
  #imagesSeen = 0;
  #inFlight: Promise<unknown> = Promise.resolve();
  #disposed = false;

  constructor(args: DiJSTrainerArgs) {
    if (!args || !(args.teacher instanceof EDMNetwork)) throw typeError('DiJSTrainer needs { teacher }: an EDMNetwork (e.g. EDMNetwork.load of the teacher)');
    if (!args.data?.images) throw typeError('DiJSTrainer needs { data } from FashionMNIST.load or ImageDataset.load');
    const device = args.device ?? args.data.images.device;
    if (!sameDevice(args.data.images.device, device)) throw typeError(`the data are on ${args.data.images.device} but training runs on ${device}: load them there`);
    if (args.teacher.config.labelDim > 0 && args.data.labeled === false) throw typeError('the teacher is class-conditional but the data set has no labels');
    if (args.processGroup !== undefined && !(args.processGroup instanceof ProcessGroup)) throw typeError('processGroup must come from ProcessGroup.init()');
    this.options = Object.freeze(resolveOptions(args));
    this.processGroup = args.processGroup;
    // What is built here is freed here if a later part fails (a bad option the native side
    // rejects, say): a failed construction must not leave networks on the GPU until a GC.
    const built: { dispose(): void }[] = [];
    const keep = <T extends { dispose(): void }>(part: T): T => (built.push(part), part);
    try {
      this.onlineGenerator = keep(OneStepGenerator.fromTeacher(args.teacher, { sigmaInit: this.options.sigmaInit, init: args.init, seed: args.seed, device }));
      this.generator = keep(OneStepGenerator.fromTeacher(this.onlineGenerator.net, { sigmaInit: this.options.sigmaInit, device }));
      // A fixed seed for their (overwritten) initialisation keeps them off the global random stream:
      // a run draws the same numbers with or without extra EMAs.
      this.extraEmaGenerators = Object.freeze(this.options.extraEmaHalfLives.map(() =>
        keep(OneStepGenerator.fromTeacher(this.onlineGenerator.net, { sigmaInit: this.options.sigmaInit, device, seed: 0 }))));
      this.ratio = keep(RatioNetwork.fromTeacher(args.teacher, { head: args.ratioHead, dropout: this.options.ratioDropout, seed: args.seed, device }));
      const moduleOf = (n: { nativeHandle: { moduleRef(): unknown } }) => n.nativeHandle.moduleRef();
      const Ctor = native().DiJSTrainer as unknown as new (...a: unknown[]) => NativeTrainer;
      const o = this.options;
      this.#native = new Ctor(moduleOf(this.onlineGenerator.net), moduleOf(this.generator.net), moduleOf(this.ratio), args.data.images.handle,
        this.onlineGenerator.config.labelDim > 0 ? args.data.labels.handle : null, {
          batchSize: o.batchSize, sigmaInit: o.sigmaInit, divergence: o.divergence, lrG: o.lrG, lrD: o.lrD, lrDecayImages: o.lrDecayImages, lrGWarmupImages: o.lrGWarmupImages, ratioStartImages: o.ratioStartImages, beta1: o.beta1, beta2: o.beta2, eps: o.eps,
          clipG: o.clipG, clipD: o.clipD, emaHalfLifeImages: o.emaHalfLifeImages, emaRampupRatio: o.emaRampupRatio,
          extraEmas: this.extraEmaGenerators.map((g, i) => ({ module: moduleOf(g.net), halfLifeImages: o.extraEmaHalfLives[i] })),
          ratioPMean: o.ratioSigma.pMean, ratioPStd: o.ratioSigma.pStd, generatorPMean: o.generatorSigma.pMean, generatorPStd: o.generatorSigma.pStd,
          weightPower: o.weightPower, ratioSteps: o.ratioSteps, r1Gamma: o.r1Gamma, r2Gamma: o.r2Gamma, penaltyStep: o.penaltyStep,
          augmentShift: o.augmentShift, augmentProbability: o.augmentProbability, augmentTarget: o.augmentTarget, augmentSpeedImages: o.augmentSpeedImages, augmentMaxProbability: o.augmentMaxProbability, augmentCutout: o.augmentCutout, augmentFlip: o.augmentFlip, lookaheadSteps: o.lookaheadSteps, lookaheadAlpha: o.lookaheadAlpha, precision: o.precision, cudaGraph: o.cudaGraph, processGroup: args.processGroup?.nativeHandle ?? null,
        });
    } catch (error) {
      for (const part of built) part.dispose();
      throw error;
    }
  }

  get imagesSeen(): number {
    return this.#imagesSeen;
  }

  #call(iterations: number, stopVote = 0): Promise<DiJSStats> {
    if (this.#disposed) throw typeError('this DiJSTrainer was disposed');
    if (!Number.isInteger(iterations) || iterations < 1) throw typeError(`iterations must be a positive integer, not ${iterations}`);
    const call = this.#native.step(iterations, stopVote).then((stats) => {
      this.#imagesSeen = Math.max(this.#imagesSeen, stats.imagesSeen);
      return stats;
    });
    this.#inFlight = Promise.all([this.#inFlight, call.catch(() => undefined)]);
    return call;
  }

  /** `iterations` DiJS iterations in one native call; statistics averaged over them. */
  async step(iterations = 1): Promise<DiJSStats> {
    return this.#call(iterations);
  }

  /** Resolves once no native call is running (before sampling the live networks, for example). */
  async settled(): Promise<void> {
    await this.#inFlight;
  }

  /**
   * Trains until `images` images have been seen, yielding the statistics of every call of
   * `iterationsPerCall` iterations. While a call's statistics are read, the next two are queued
   * (one running, one waiting for the trainer), so the device never idles between calls.
   * `stopWhen` is asked as each call is queued (a time budget, say); once it says so — in a
   * process group, once any process says so — the calls already queued finish and the run ends,
   * at the same call on every process.
   */
  async *run(options: { images: number; iterationsPerCall?: number; stopWhen?: () => boolean }): AsyncGenerator<DiJSStats> {
    const target = options?.images;
    if (!(target > 0)) throw typeError('run needs { images }: how many images to train on in total');
    const k = options.iterationsPerCall ?? 10;
    if (!Number.isInteger(k) || k < 1) throw typeError('iterationsPerCall must be a positive integer');
    const perCall = k * this.options.batchSize * (this.processGroup?.worldSize ?? 1);
    const calls = Math.max(0, Math.ceil((target - this.#imagesSeen) / perCall));
    let issued = 0, stopping = false;
    const pending: Promise<DiJSStats>[] = [];
    const queue = () => {
      while (!stopping && pending.length < 2 && issued < calls) {
        pending.push(this.#call(k, options.stopWhen?.() ? 1 : 0));
        issued++;
      }
    };
    queue();
    while (pending.length) {
      const stats = await pending.shift()!;
      if (stats.stopVote > 0) stopping = true;
      queue();
      yield stats;
    }
  }

  /** Writes a resumable checkpoint atomically; waits for running calls first. In a process group only rank 0 writes. */
  async save(path: string): Promise<void> {
    await this.settled();
    if (this.processGroup && this.processGroup.rank !== 0) return;
    const state = this.#native.state();
    const meta = { format: FORMAT, config: this.onlineGenerator.config, options: this.options, ratioHead: this.ratio.head, ...state, tensors: undefined };
    const extraEmas = Object.fromEntries(this.extraEmaGenerators.map((g, i) => [`extraEma${i}`, g.net]));
    await saveTrainingCheckpoint(path, { generator: this.onlineGenerator.net, ema: this.generator.net, ...extraEmas, ratio: this.ratio, trainer: state.tensors }, meta);
  }

  /**
   * Continues a run from a checkpoint written by `save`, exactly where it stopped — also in a
   * process group of another size: every process draws the whole global batch's random numbers,
   * so pass `batchSize` = the saved global batch / the new group size to continue the same run.
   * `cudaGraph` and `precision` may change on resume (a run saved on a GPU continues on a CPU).
   * `change` continues the run with other settings (RESUME_CHANGEABLE: e.g. `{ lrD: 5e-5,
   * ratioDropout: 0.1 }`) from the same weights, optimiser state and position: a branch of the run,
   * no longer the same run; its checkpoints keep the changed options.
   * `resetRatio: teacher` starts the ratio network again as a run starts it — `teacher`'s mapping
   * network and encoder, a new head (drawn from the global random stream: manualSeed first repeats
   * it) — with fresh Adam moments and step count, and keeps the generators, the EMAs, the position
   * and the run's random state: a branch that asks whether a late stall lives in the ratio
   * network's learned state (its memorising, its confidence) or in the generator. Its schedules
   * restart with it (`ratioStartImages` = the checkpoint's position): lrD's decay and lrG's warm-up
   * count from here, so the new network learns at a run's opening rate, and `change.lrGWarmupImages`
   * holds the generator back while it does. Restarted at the run's decayed rate instead (0.15× the
   * start at 8.8 M images; bench/NOTES.md, twenty-fourth session), it stayed at chance for the 2.2 M
   * images that followed, and the generator, given almost no signal, drifted (1 000 k EMA 3.65 → 4.55
   * against the plain branch's 3.77).
   */
  static async resume(path: string, data: ImageSet, options: { device?: Device; processGroup?: ProcessGroup; batchSize?: number; cudaGraph?: boolean; precision?: Precision; change?: DiJSResumeChanges; resetRatio?: EDMNetwork } = {}): Promise<DiJSTrainer> {
    type Meta = { format: string; config: EDMConfig; options: Required<DiJSOptions>; ratioHead: RatioHeadOptions; imagesSeen: number; stepsG: number; stepsD: number; position: number };
    const device = options.device ?? data.images.device;
    const ckpt = await loadTrainingCheckpoint<Meta>(path, FORMAT, 'DiJS training', device);
    try {
      const { meta } = ckpt;
      const change = checkResumeChanges(options.change, meta.options);
      const reset = options.resetRatio !== undefined;
      if (reset) checkResetTeacher(options.resetRatio, meta.config);
      // A stand-in teacher with the right shapes, whose every weight is then overwritten from the
      // file; or, resetting the ratio network, the real one, whose encoder the ratio network keeps.
      const shell = options.resetRatio ?? EDMNetwork.create(meta.config, { device });
      let trainer: DiJSTrainer;
      try {
        trainer = new DiJSTrainer({
          // A restarted ratio network's schedules (lr D's decay, lr G's warm-up) count from here.
          ...meta.options, ...change, ...(reset ? { ratioStartImages: meta.imagesSeen } : {}), batchSize: options.batchSize ?? meta.options.batchSize, teacher: shell, data, device, ratioHead: meta.ratioHead, init: 'random',
          processGroup: options.processGroup, bf16: undefined, precision: options.precision ?? resolvePrecision(meta.options),
          // A graph-replayed run continues from the graph where it can: on a GPU, alone or over NCCL.
          cudaGraph: options.cudaGraph ?? (meta.options.cudaGraph === true && String(device).startsWith('cuda') && (options.processGroup?.backend ?? 'nccl') === 'nccl'),
        });
      } finally {
        if (!reset) shell.dispose();
      }
      // A file that does not fit frees what was built for it.
      disposeOnThrow(trainer, (t) => {
        fillModule(t.onlineGenerator.net, ckpt.part('generator'));
        fillModule(t.generator.net, ckpt.part('ema'));
        t.extraEmaGenerators.forEach((g, i) => fillModule(g.net, ckpt.part(`extraEma${i}`)));
        if (!reset) fillModule(t.ratio, ckpt.part('ratio'));
        // Reset: the ratio network's optimiser state is left out (its moments stay zero, its slow
        // lookahead weights follow the fresh ones) and its step count restarts Adam's bias correction.
        const state = [...ckpt.part('trainer')].filter(([k]) => !(reset && RATIO_TRAINER_STATE.includes(k)));
        t.#native.restore(state.map(([k, v]) => [k, v.handle]), meta.imagesSeen, meta.stepsG, reset ? 0 : meta.stepsD, meta.position);
      });
      trainer.#imagesSeen = meta.imagesSeen;
      return trainer;
    } finally {
      ckpt.dispose();
    }
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#native.dispose();
    this.generator.dispose();
    for (const g of this.extraEmaGenerators) g.dispose();
    this.onlineGenerator.dispose();
    this.ratio.dispose();
  }
}

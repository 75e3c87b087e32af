/**
 * A ratio network matched to the generator that verifier sampling draws from.
 *
 * Verifier sampling keeps candidates with weights exp(−d), which is p/q only when d ≈ log q/p for q
 * the distribution being sampled. A run's ratio network is trained against its online generator,
 * but one samples from an EMA of it or from a snapshot kept earlier: another q. At the end of the
 * sixteenth session's four runs, branched from one trunk, k = 4 moved the main EMA's FID by +1.73,
 * +0.64, −0.50 and −0.26. `calibrateRatio` continues a run's ratio updates against the chosen
 * generator held still (its rate 0, Lookahead off) and returns a copy of the ratio network so
 * trained.
 */
import { copyWeights } from '../checkpoint/load-into.js';
import type { ImageSet } from '../data/fashion-mnist.js';
import { typeError, valueError } from '../errors.js';
import { disposeOnThrow } from '../scope.js';
import type { Device } from '../tensor.js';
import { OneStepGenerator } from './generator.js';
import { RatioNetwork } from './ratio-network.js';
import type { Precision } from '../train/precision.js';
import { DiJSTrainer } from './trainer.js';

export interface RatioCalibrationOptions {
  /** How many images of ratio updates (generator iterations × batch, as a run counts them). */
  images: number;
  /** Ratio updates per (frozen) generator iteration: 4 by default, so that little of the time goes to a generator step of rate 0. */
  ratioSteps?: number;
  /** The ratio network's rate; the run's (at its position in the decay) when not given. */
  lrD?: number;
  device?: Device;
  batchSize?: number;
  cudaGraph?: boolean;
  precision?: Precision;
  /** Called after each native call with the calibration's images so far. */
  onProgress?: (images: number) => void;
}

/**
 * Continues the run saved at `checkpoint` (its ratio network, optimiser state and data position)
 * with only the ratio network learning, against `generator`'s samples; returns the ratio network
 * so trained, on the run's device. The checkpoint is only read.
 */
export async function calibrateRatio(checkpoint: string, generator: OneStepGenerator, data: ImageSet, options: RatioCalibrationOptions): Promise<RatioNetwork> {
  if (!(generator instanceof OneStepGenerator)) throw typeError('calibrateRatio needs the OneStepGenerator that verifier sampling will draw from');
  const { images, ratioSteps = 4 } = options ?? {};
  if (typeof images !== 'number' || !(images > 0) || !Number.isFinite(images)) throw typeError(`calibrateRatio needs { images } > 0: how many images of ratio updates, not ${images}`);
  const trainer = await DiJSTrainer.resume(checkpoint, data, {
    device: options.device, batchSize: options.batchSize, cudaGraph: options.cudaGraph, precision: options.precision,
    change: { lrG: 0, lookaheadSteps: 0, ratioSteps, ...(options.lrD !== undefined && { lrD: options.lrD }) },
  });
  try {
    // Only the weights are copied: a generator made for another σ_init would be calibrated as if it
    // denoised from the run's, another distribution from the one verifier sampling draws.
    if (generator.sigmaInit !== trainer.options.sigmaInit)
      throw valueError(`calibrateRatio: the generator samples from σ_init ${generator.sigmaInit} but the run at ${checkpoint} trained at σ_init ${trainer.options.sigmaInit}`);
    copyWeights(generator.net, trainer.onlineGenerator.net);
    const start = trainer.imagesSeen;
    // Ten iterations per native call, as a run makes them, unless the budget is smaller.
    const iterationsPerCall = Math.max(1, Math.min(10, Math.ceil(images / trainer.options.batchSize)));
    for await (const stats of trainer.run({ images: start + images, iterationsPerCall })) options.onProgress?.(stats.imagesSeen - start);
    const ratio = RatioNetwork.create(trainer.ratio.config, { head: trainer.ratio.head, device: trainer.ratio.device });
    return disposeOnThrow(ratio, () => {
      copyWeights(trainer.ratio, ratio);
      return ratio;
    });
  } finally {
    trainer.dispose();
  }
}

/**
 * Does the ratio network tell the training images from unseen real ones? Its mean logit on noised
 * training images against the same on noised test images (same noise, same σ, paired). A network
 * that only compares the generator with the data sees no difference (both are real); one that has
 * memorised the training set calls the test images more "generated" (higher logit) — the
 * discriminator overfitting that ADA (Karras et al. 2020) measures with E[sign D(real)].
 *
 * Why: from the shipped teacher, runs past ~2.5 M images (40 passes over Fashion-MNIST's 60 k
 * images) had a ratio network that kept gaining and an FID that swung and rose (bench/NOTES.md,
 * ninth session); this says whether memorising is part of it.
 *
 * It also gives how steep the network is at the training images: E‖∇x d‖², estimated as the R1
 * penalty of the DiJS step estimates it (DiJSOptions.r1Gamma), so a run with and one without the
 * penalty can be compared on the same figure.
 */
import type { ImageSet } from '../data/fashion-mnist.js';
import { tensor } from '../creation.js';
import { typeError, valueError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { oneHotLabels } from './class-labels.js';
import type { SigmaDistribution } from './trainer.js';
import type { RatioNetwork } from './ratio-network.js';

export interface RatioOverfit {
  /** Mean logit on noised training images. */
  train: number;
  /** Mean logit on noised test images, with the same noise and σ. */
  test: number;
  /** Mean of ((d(x + h·u) − d(x)) / h)² over the noised training images, u ~ N(0, I): E‖∇x d‖² to first order. */
  inputGradSq: number;
}

/**
 * The first `n` images of `train` and of `test`, noised at ln σ ~ N(pMean, pStd²); the draws come
 * from `seed` alone. `step` is h of the gradient estimate (0.05 by default, as DiJSOptions.penaltyStep).
 */
export async function ratioOverfit(ratio: RatioNetwork, train: ImageSet, test: ImageSet, options: { n: number; sigma: SigmaDistribution; seed?: number; batch?: number; step?: number }): Promise<RatioOverfit> {
  const { n, sigma, seed = 0, batch = 500, step = 0.05 } = options;
  if (!Number.isInteger(n) || n < 1 || n > train.images.shape[0]! || n > test.images.shape[0]!) throw typeError(`ratioOverfit: n must be from 1 to the size of both sets, not ${n}`);
  if (!(step > 0) || !Number.isFinite(step)) throw valueError(`ratioOverfit: step must be a finite number > 0, not ${step}`);
  const normal = gaussian(seed);
  // The directions from a stream of their own, so the noise is the same with or without them.
  const direction = gaussian(seed ^ 0x9e3779b9);
  // All σ first, then each image's noise in order: the same draws whatever the batch.
  const allSigmas = new Float32Array(n).map(() => Math.exp(sigma.pMean + sigma.pStd * normal()));
  const sums = { train: 0, test: 0, inputGradSq: 0 };
  for (let start = 0; start < n; start += batch) {
    const count = Math.min(batch, n - start);
    const [, c, h, w] = train.images.shape as number[];
    const noise = new Float32Array(count * c! * h! * w!).map(normal);
    const directions = new Float32Array(count * c! * h! * w!).map(direction);
    const sigmas = allSigmas.subarray(start, start + count);
    const made: Tensor[] = [];
    const keep = (t: Tensor): Tensor => (made.push(t), t);
    try {
      const device = train.images.device;
      const eps = keep(tensor(noise, { shape: [count, c!, h!, w!], device }));
      const s = keep(tensor(sigmas, { shape: [count], device }));
      const sImage = keep(s.reshape([count, 1, 1, 1]));
      for (const [key, set] of [['train', train], ['test', test]] as const) {
        const x = keep(keep(set.images.slice(0, start, start + count)).add(keep(eps.mul(sImage))));
        const classLabels = ratio.config.labelDim > 0 ? keep(oneHotLabels(count, ratio.config.labelDim, await classesOf(keep(set.labels.slice(0, start, start + count))), device)) : undefined;
        const logits = keep(await ratio.logit(x, s, { classLabels }));
        sums[key] += logits.sum().item() as number;
        if (key === 'train') {
          const u = keep(tensor(directions, { shape: [count, c!, h!, w!], device }));
          const moved = keep(await ratio.logit(keep(x.add(keep(u.mul(step)))), s, { classLabels }));
          sums.inputGradSq += keep(keep(keep(moved.sub(logits)).div(step)).square()).sum().item() as number;
        }
      }
    } finally {
      for (const t of made) t.dispose();
    }
  }
  return { train: sums.train / n, test: sums.test / n, inputGradSq: sums.inputGradSq / n };
}

/** An int64 [N] label tensor's class indices, for oneHotLabels. */
async function classesOf(labels: Tensor): Promise<number[]> {
  return Array.from(await labels.toTypedArray() as BigInt64Array, Number);
}

/** Standard normal draws (Box–Muller on mulberry32): seeded here, so the training's random stream is untouched. */
function gaussian(seed: number): () => number {
  let state = seed >>> 0;
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

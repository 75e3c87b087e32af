/** EDM's deterministic Heun sampler (S_churn = 0) and the one-step teacher for comparison. */
import { typeError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import type { EDMNetwork } from './network.js';

export interface SampleOptions {
  /** Noise z ~ N(0, I), shaped [N, C, H, W]; the first step starts from z·σ_max. */
  latents: Tensor;
  classLabels?: Tensor;
  /** Heun steps: 2·steps − 1 network evaluations (18 → 35). */
  steps?: number;
  sigmaMin?: number;
  sigmaMax?: number;
  rho?: number;
}

/** EDM's sampler, on a worker thread: float64 arithmetic around the float32 network, as edm_sampler. */
export async function edmSample(net: EDMNetwork, options: SampleOptions): Promise<Tensor> {
  const { latents, classLabels, steps = 18, sigmaMin = 0.002, sigmaMax = 80, rho = 7 } = options ?? {};
  if (!latents) throw typeError('edmSample needs { latents }');
  return net.heun(latents, classLabels, steps, sigmaMin, sigmaMax, rho);
}

/** The teacher in one step: D(σ_max·z; σ_max). */
export async function teacherOneStep(net: EDMNetwork, options: Omit<SampleOptions, 'steps' | 'sigmaMin' | 'rho'>): Promise<Tensor> {
  const { latents, classLabels, sigmaMax = 80 } = options;
  const x = latents.mul(sigmaMax);
  try {
    return await net.denoise(x, sigmaMax, { classLabels });
  } finally {
    x.dispose();
  }
}

/**
 * The DiJS loss family as differentiable ops (the fused step uses the same native code). With
 * d = log q/p the classifier's logit (fake = class 1), the generator minimises E w(σ)·f′(e^d):
 *   kl: d · js: ½·log σ(d) · fkl: −e^(−d) · hellinger: −e^(−d/2)
 * and the classifier minimises E softplus(−d_fake) + E softplus(d_real).
 */
import { typeError } from '../errors.js';
import { native } from '../native.js';
import { Tensor } from '../tensor.js';

export const DIVERGENCES = ['js', 'kl', 'fkl', 'hellinger'] as const;
export type Divergence = (typeof DIVERGENCES)[number];

export function checkDivergence(divergence: unknown): Divergence {
  if (!DIVERGENCES.includes(divergence as Divergence)) {
    throw typeError(`divergence must be one of ${DIVERGENCES.map((d) => `'${d}'`).join(', ')}, not ${JSON.stringify(divergence)}`);
  }
  return divergence as Divergence;
}

/** The per-sample generator surrogate f′(e^d) for logits d (gradients flow through d). */
export function divergenceLoss(divergence: Divergence, logits: Tensor): Tensor {
  checkDivergence(divergence);
  if (!(logits instanceof Tensor)) throw typeError('divergenceLoss needs a Tensor of logits');
  return new Tensor(native().divergenceLoss(divergence, logits.handle));
}

/** The classifier's logistic loss: mean softplus(−d_fake) + mean softplus(d_real). */
export function ratioLoss(fakeLogits: Tensor, realLogits: Tensor): Tensor {
  if (!(fakeLogits instanceof Tensor) || !(realLogits instanceof Tensor)) throw typeError('ratioLoss needs two Tensors of logits');
  return new Tensor(native().ratioLoss(fakeLogits.handle, realLogits.handle));
}

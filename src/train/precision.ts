/**
 * The trainers' arithmetic (native/src/train/precision.h). Weights, gradients, Adam, the EMA and
 * the losses stay float32 in all three:
 * - 'fp32' (default): TF32 where cuda.setAllowTF32 allows it;
 * - 'bf16': every activation in bf16, each layer casting its float32 weight (the fast one on GPUs);
 * - 'bf16-autocast': PyTorch's autocast (matrix products in bf16, normalisations in float32).
 */
import { typeError } from '../errors.js';

export type Precision = 'fp32' | 'bf16' | 'bf16-autocast';
const PRECISIONS: readonly Precision[] = ['fp32', 'bf16', 'bf16-autocast'];

/** `precision`, or the older `bf16: true` (= 'bf16-autocast'); checked. */
export function resolvePrecision(o: { precision?: Precision; bf16?: boolean }): Precision {
  if (o.bf16 && o.precision !== undefined && o.precision !== 'bf16-autocast') {
    throw typeError(`bf16: true means precision 'bf16-autocast', not '${o.precision}': give one of them`);
  }
  const precision = o.precision ?? (o.bf16 ? 'bf16-autocast' : 'fp32');
  if (!PRECISIONS.includes(precision)) throw typeError(`precision must be one of ${PRECISIONS.join(', ')}, not ${String(precision)}`);
  return precision;
}

/** One-hot class labels for sampling: from class indices, or balanced (i mod classes) by default. */
import { typeError } from '../errors.js';
import { tensor } from '../creation.js';
import { Tensor, type Device } from '../tensor.js';

export function oneHotLabels(n: number, classes: number, labels: readonly number[] | Tensor | undefined, device: Device): Tensor {
  if (labels instanceof Tensor) {
    if (labels.shape.length !== 2 || labels.shape[0] !== n || labels.shape[1] !== classes) {
      throw typeError(`classLabels must be [${n}, ${classes}] one-hot rows, not [${labels.shape.join(', ')}]`);
    }
    return labels.toSync(device);
  }
  if (labels !== undefined && (!Array.isArray(labels) || labels.length !== n)) throw typeError(`classLabels must be ${n} class indices or a one-hot Tensor`);
  const rows = new Float32Array(n * classes);
  for (let i = 0; i < n; i++) {
    const c = labels ? labels[i]! : i % classes;
    if (!Number.isInteger(c) || c < 0 || c >= classes) throw typeError(`class index ${c} is not in 0..${classes - 1}`);
    rows[i * classes + c] = 1;
  }
  return tensor(rows, { shape: [n, classes], device });
}

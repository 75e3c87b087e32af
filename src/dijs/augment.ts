/**
 * The augmentation DiJSOptions.augmentShift applies inside the fused step, as an op to inspect or
 * reuse: integer translation, the one ADA (Karras et al. 2020) and DiffAugment (Zhao et al. 2020)
 * use against a discriminator that memorises its real images. It is differentiable, so a generator
 * judged through it still gets its gradient.
 */
import { typeError } from '../errors.js';
import { native } from '../native.js';
import { Tensor } from '../tensor.js';

/**
 * Each image of `images` [N, C, H, W] moved by its row of `shifts` (int64 [N, 2]: rows down,
 * columns right); what moves in is -1, the background of images in [-1, 1].
 */
export function translateImages(images: Tensor, shifts: Tensor): Tensor {
  if (!(images instanceof Tensor) || !(shifts instanceof Tensor)) throw typeError('translateImages needs two Tensors: images [N, C, H, W] and shifts [N, 2] (int64)');
  return new Tensor(native().translateImages(images.handle, shifts.handle));
}

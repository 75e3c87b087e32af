/**
 * The augmentations DiJSOptions.augmentShift, augmentFlip and augmentCutout apply inside the fused
 * step, as ops to inspect or reuse: integer translation, horizontal flips and cutout, which ADA
 * (Karras et al. 2020) and DiffAugment (Zhao et al. 2020) use against a discriminator that memorises
 * its real images. All are differentiable, so a generator judged through them still gets its gradient.
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

/**
 * Each image of `images` [N, C, H, W] with the `size` × `size` square whose top-left corner is its
 * row of `corners` (int64 [N, 2]: row, column; it may reach past the edges or miss the image) set to
 * -1, the background of images in [-1, 1]. No gradient flows inside the square.
 */
export function cutoutImages(images: Tensor, corners: Tensor, size: number): Tensor {
  if (!(images instanceof Tensor) || !(corners instanceof Tensor)) throw typeError('cutoutImages needs two Tensors: images [N, C, H, W] and corners [N, 2] (int64)');
  if (!Number.isInteger(size)) throw typeError(`size must be a whole number of pixels, not ${size}`);
  return new Tensor(native().cutoutImages(images.handle, corners.handle, size));
}

/** Each image of `images` [N, C, H, W] mirrored left to right where its entry of `flips` (bool [N]) is true. */
export function flipImages(images: Tensor, flips: Tensor): Tensor {
  if (!(images instanceof Tensor) || !(flips instanceof Tensor)) throw typeError('flipImages needs two Tensors: images [N, C, H, W] and flips [N] (bool)');
  return new Tensor(native().flipImages(images.handle, flips.handle));
}

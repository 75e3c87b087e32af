// Integer translation, horizontal flips and cutout of images, augmentations ADA (Karras et al. 2020)
// and DiffAugment (Zhao et al. 2020) use against a discriminator that memorises its real images:
// applied to real and generated images alike (in distribution), and differentiable, so the
// generator's gradient passes back through them.
#pragma once
#include "../errors.h"

namespace onestep::dijs {

// x [N, C, H, W] shifted by shifts [N, 2] (int64: rows down, columns right), each |shift| ≤
// max_shift < min(H, W); what moves in is -1, the background of images in [-1, 1].
at::Tensor TranslateImages(const at::Tensor& x, const at::Tensor& shifts, int64_t max_shift);

// [n, 2] shifts, each image's uniform in [-max_shift, max_shift]² with probability p, a float32 [1]
// tensor on the device (ADA's adaptive p is moved there: drawing never waits for the host).
at::Tensor DrawShifts(int64_t n, int64_t max_shift, const at::Tensor& p, const at::TensorOptions& options);

// Cutout (DeVries & Taylor 2017; DiffAugment's second augmentation): in each image of x [N, C, H, W]
// the size × size square whose top-left corner is corners [N, 2] (int64: row, column; it may reach
// past the edges, or miss the image entirely) becomes -1, the background. Differentiable (no
// gradient inside the square) and without host synchronisation, for the step's CUDA graph.
at::Tensor CutoutImages(const at::Tensor& x, const at::Tensor& corners, int64_t size);

// [n, 2] corners for size × size cutouts of an h × w image, each image's square centred on a
// uniform pixel with probability p (as DrawShifts's); else placed off the image (nothing cut).
at::Tensor DrawCutouts(int64_t n, int64_t size, int64_t h, int64_t w, const at::Tensor& p, const at::TensorOptions& options);

// Each image of x [N, C, H, W] mirrored left to right where flips [N] (bool) is set; differentiable.
at::Tensor FlipImages(const at::Tensor& x, const at::Tensor& flips);

// [n] bool: each image flipped with probability p (fixed, on the host: flips are not adapted).
at::Tensor DrawFlips(int64_t n, double p, const at::TensorOptions& options);

}  // namespace onestep::dijs

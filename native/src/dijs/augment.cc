#include "augment.h"

namespace onestep::dijs {

at::Tensor TranslateImages(const at::Tensor& x, const at::Tensor& shifts, int64_t max_shift) {
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3), t = max_shift;
  // Pad by the largest shift, then gather each image's rows and columns from its own offset: two
  // gathers, no host synchronisation, so the step's CUDA graph can hold it.
  at::Tensor padded = at::constant_pad_nd(x, {t, t, t, t}, -1.0);
  at::TensorOptions index = shifts.options().dtype(at::kLong);
  at::Tensor rows = at::arange(h, index).unsqueeze(0) - shifts.select(1, 0).unsqueeze(1) + t;  // [N, H]
  at::Tensor cols = at::arange(w, index).unsqueeze(0) - shifts.select(1, 1).unsqueeze(1) + t;  // [N, W]
  at::Tensor picked_rows = padded.gather(2, rows.view({n, 1, h, 1}).expand({n, c, h, w + 2 * t}));
  return picked_rows.gather(3, cols.view({n, 1, 1, w}).expand({n, c, h, w}));
}

at::Tensor CutoutImages(const at::Tensor& x, const at::Tensor& corners, int64_t size) {
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
  at::TensorOptions index = corners.options().dtype(at::kLong);
  auto cut_along = [&](int64_t extent, int64_t axis) {  // [N, extent]: whether each row (column) is in the square
    at::Tensor position = at::arange(extent, index).unsqueeze(0), from = corners.select(1, axis).unsqueeze(1);
    return (position >= from).logical_and(position < from + size);
  };
  at::Tensor cut = cut_along(h, 0).view({n, 1, h, 1}).logical_and(cut_along(w, 1).view({n, 1, 1, w}));
  return at::where(cut, at::full({}, -1.0, x.options()), x);
}

at::Tensor FlipImages(const at::Tensor& x, const at::Tensor& flips) {
  return at::where(flips.view({-1, 1, 1, 1}), x.flip({3}), x);
}

// Shifts first, then the uniform numbers compared with p: the order every run has drawn them in.
at::Tensor DrawShifts(int64_t n, int64_t max_shift, const at::Tensor& p, const at::TensorOptions& options) {
  at::Tensor shifts = at::randint(-max_shift, max_shift + 1, {n, 2}, options.dtype(at::kLong));
  at::Tensor applied = at::rand({n, 1}, options.dtype(at::kFloat)) < p;
  return shifts * applied.to(at::kLong);
}

// Centres first, then the uniform numbers compared with p. An image left whole gets its corner at
// -size on both axes: its square ends at row and column 0, outside the image.
at::Tensor DrawCutouts(int64_t n, int64_t size, int64_t h, int64_t w, const at::Tensor& p, const at::TensorOptions& options) {
  at::TensorOptions index = options.dtype(at::kLong);
  at::Tensor centres = at::stack({at::randint(h, {n}, index), at::randint(w, {n}, index)}, 1);
  at::Tensor applied = (at::rand({n, 1}, options.dtype(at::kFloat)) < p).to(at::kLong);
  return (centres - size / 2) * applied - size * (1 - applied);
}

at::Tensor DrawFlips(int64_t n, double p, const at::TensorOptions& options) {
  return at::rand({n}, options.dtype(at::kFloat)) < p;
}

}  // namespace onestep::dijs

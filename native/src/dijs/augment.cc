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

namespace {

// Shifts first, then the uniform numbers compared with p: the order every run has drawn them in.
template <typename Probability>
at::Tensor Draw(int64_t n, int64_t max_shift, const Probability& p, const at::TensorOptions& options) {
  at::Tensor shifts = at::randint(-max_shift, max_shift + 1, {n, 2}, options.dtype(at::kLong));
  at::Tensor applied = at::rand({n, 1}, options.dtype(at::kFloat)) < p;
  return shifts * applied.to(at::kLong);
}

}  // namespace

at::Tensor DrawShifts(int64_t n, int64_t max_shift, double p, const at::TensorOptions& options) {
  return Draw(n, max_shift, p, options);
}

at::Tensor DrawShifts(int64_t n, int64_t max_shift, const at::Tensor& p, const at::TensorOptions& options) {
  return Draw(n, max_shift, p, options);
}

}  // namespace onestep::dijs

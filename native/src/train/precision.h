// The trainers' arithmetic: 'fp32' (TF32 where cuda.setAllowTF32 allows it); 'bf16-autocast':
// PyTorch's autocast (matrix products in bf16, GroupNorm and the rest in float32); 'bf16': every
// activation in bf16 (edm/compute_dtype.h). Weights, gradients, Adam, EMA and losses stay float32
// in all three.
#pragma once
#include "../edm/compute_dtype.h"
#include "optim.h"

namespace onestep::train {

enum class Precision { kFloat32, kBF16Autocast, kBF16 };

// options.precision ('fp32' when absent; the TypeScript layer maps the older `bf16: true`).
Precision PrecisionField(const Napi::Object& o);

// The forward passes of a scope in the chosen precision (per thread, like autocast).
class PrecisionScope {
 public:
  PrecisionScope(Precision precision, c10::DeviceType device);

 private:
  c10::optional<AutocastGuard> autocast_;
  c10::optional<edm::ComputeDtypeGuard> dtype_;
};

}  // namespace onestep::train

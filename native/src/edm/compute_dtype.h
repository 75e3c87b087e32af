// The dtype the networks compute in, per thread: float32 by default; bf16 makes every activation
// bf16 while the weights stay float32 masters (each layer casts its weight, and the cast's
// backward brings the gradient back to float32). Unlike autocast, GroupNorm, SiLU and the residual
// sums stay in bf16 too, so no activation is written twice in two precisions.
#pragma once
#include "../pch.h"

namespace onestep::edm {

at::ScalarType ComputeDtype();

// Sets this thread's compute dtype for a scope (the backward pass needs nothing: it follows the
// dtypes the forward pass recorded).
class ComputeDtypeGuard {
 public:
  explicit ComputeDtypeGuard(at::ScalarType dtype);
  ~ComputeDtypeGuard();
  ComputeDtypeGuard(const ComputeDtypeGuard&) = delete;
  ComputeDtypeGuard& operator=(const ComputeDtypeGuard&) = delete;

 private:
  at::ScalarType was_;
};

}  // namespace onestep::edm

// Launchers of the fused GroupNorm (+ per-channel shift) (+ SiLU) CUDA kernels. Torch-free on
// purpose: nvcc compiles only this pair of files, quickly and without libtorch's headers; the
// autograd wrapper (group_norm_act.cc) hands over pointers, sizes and the stream.
#pragma once
#include <cstdint>

namespace onestep::kernels::cuda {

enum class ElementType { kFloat32, kBFloat16, kFloat16 };

// Whether this binary holds code the current device can run (its architecture was built, or PTX
// the driver can compile for it): a cudaError_t as int, 0 when it does.
int KernelsLoadable();

struct GroupNormShape {
  int64_t n, channels, hw;  // x is [n, channels, hw] contiguous (NCHW with H·W flattened)
  int64_t groups;
};

// y = act(GroupNorm(x + shift[n, c]) · weight[c] + bias[c]); act is SiLU or the identity.
// shift (may be null), weight, bias: float32. mean, rstd: [n·groups] float32, written.
// Returns a cudaError_t as int (0: launched).
int GroupNormActForward(ElementType type, const GroupNormShape& shape, const void* x, const float* shift,
                        const float* weight, const float* bias, float eps, bool silu, void* y, float* mean,
                        float* rstd, void* stream);

// The gradients of the above: dx (x's type); per (n, c) partial sums for the weight and bias
// gradients (summed over n by the caller); dshift[n, c] when shift is given. All float32 but dx.
int GroupNormActBackward(ElementType type, const GroupNormShape& shape, const void* dy, const void* x,
                         const float* shift, const float* weight, const float* bias, const float* mean,
                         const float* rstd, bool silu, void* dx, float* dweight_nc, float* dbias_nc,
                         float* dshift, void* stream);

}  // namespace onestep::kernels::cuda

// Fused GroupNorm (+ per-channel shift) (+ SiLU) for NCHW tensors, forward and backward: one block
// per (sample, group), whose elements are contiguous. Replaces, per norm, libtorch's moments
// kernel, its broadcast (non-vectorised) apply kernel, the embedding add, SiLU, and the same again
// backward, and keeps one activation instead of three for the backward pass. The launchers pick
// the register-cached kernels (group_norm_act_cached.cuh) where the group fits, else the loops.
#include "group_norm_act_cached.cuh"
#include "group_norm_act_loop.cuh"

namespace onestep::kernels::cuda {
namespace {
using namespace detail;

// Vectors per thread for the cached kernels (1, 2, 4 or 8), or 0: use the loop kernels.
int CachedVectors(const GroupNormShape& s) {
  const int64_t count = s.channels / s.groups * s.hw;
  if (s.hw % kVector != 0 || count > int64_t{kCachedMaxVectors} * kCachedThreads * kVector) return 0;
  const int64_t needed = (count / kVector + kCachedThreads - 1) / kCachedThreads;
  int vectors = 1;
  while (vectors < needed) vectors *= 2;
  return vectors;
}

template <typename T, bool kSilu>
void Forward(const GroupNormShape& s, const T* x, const float* shift, const float* weight, const float* bias, float eps, T* y,
             float* mean, float* rstd, cudaStream_t stream) {
  const auto blocks = static_cast<unsigned>(s.n * s.groups);
  switch (CachedVectors(s)) {
#define ONESTEP_CASE(K) \
  case K: CachedForwardKernel<T, kSilu, K><<<blocks, kCachedThreads, 0, stream>>>(s, x, shift, weight, bias, eps, y, mean, rstd); return;
    ONESTEP_CASE(1) ONESTEP_CASE(2) ONESTEP_CASE(4) ONESTEP_CASE(8)
#undef ONESTEP_CASE
    default: LoopForwardKernel<T, kSilu><<<blocks, kLoopThreads, 0, stream>>>(s, x, shift, weight, bias, eps, y, mean, rstd);
  }
}

template <typename T, bool kSilu>
void Backward(const GroupNormShape& s, const T* dy, const T* x, const float* shift, const float* weight, const float* bias,
              const float* mean, const float* rstd, T* dx, float* dweight_nc, float* dbias_nc, float* dshift, cudaStream_t stream) {
  const auto blocks = static_cast<unsigned>(s.n * s.groups);
  const size_t shared = 3 * sizeof(float) * static_cast<size_t>(s.channels / s.groups);
  switch (CachedVectors(s)) {
#define ONESTEP_CASE(K)                                                                                                     \
  case K:                                                                                                                   \
    CachedBackwardKernel<T, kSilu, K><<<blocks, kCachedThreads, shared, stream>>>(s, dy, x, shift, weight, bias, mean, rstd, dx, \
                                                                                 dweight_nc, dbias_nc, dshift);             \
    return;
    ONESTEP_CASE(1) ONESTEP_CASE(2) ONESTEP_CASE(4) ONESTEP_CASE(8)
#undef ONESTEP_CASE
    default:
      LoopBackwardKernel<T, kSilu><<<blocks, kLoopThreads, shared, stream>>>(s, dy, x, shift, weight, bias, mean, rstd, dx, dweight_nc,
                                                                             dbias_nc, dshift);
  }
}

template <typename T>
int ForwardAs(const GroupNormShape& s, const void* x, const float* shift, const float* weight, const float* bias, float eps, bool silu,
              void* y, float* mean, float* rstd, cudaStream_t stream) {
  auto run = silu ? Forward<T, true> : Forward<T, false>;
  run(s, static_cast<const T*>(x), shift, weight, bias, eps, static_cast<T*>(y), mean, rstd, stream);
  return static_cast<int>(cudaGetLastError());
}

template <typename T>
int BackwardAs(const GroupNormShape& s, const void* dy, const void* x, const float* shift, const float* weight, const float* bias,
               const float* mean, const float* rstd, bool silu, void* dx, float* dweight_nc, float* dbias_nc, float* dshift,
               cudaStream_t stream) {
  auto run = silu ? Backward<T, true> : Backward<T, false>;
  run(s, static_cast<const T*>(dy), static_cast<const T*>(x), shift, weight, bias, mean, rstd, static_cast<T*>(dx), dweight_nc, dbias_nc,
      dshift, stream);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace

int KernelsLoadable() {
  cudaFuncAttributes attributes;
  const cudaError_t error = cudaFuncGetAttributes(&attributes, reinterpret_cast<const void*>(&CachedForwardKernel<float, true, 1>));
  cudaGetLastError();  // not sticky: clear it so that libtorch's next check does not see it
  return static_cast<int>(error);
}

int GroupNormActForward(ElementType type, const GroupNormShape& shape, const void* x, const float* shift, const float* weight,
                        const float* bias, float eps, bool silu, void* y, float* mean, float* rstd, void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  switch (type) {
    case ElementType::kFloat32: return ForwardAs<float>(shape, x, shift, weight, bias, eps, silu, y, mean, rstd, s);
    case ElementType::kBFloat16: return ForwardAs<__nv_bfloat16>(shape, x, shift, weight, bias, eps, silu, y, mean, rstd, s);
    case ElementType::kFloat16: return ForwardAs<__half>(shape, x, shift, weight, bias, eps, silu, y, mean, rstd, s);
  }
  return static_cast<int>(cudaErrorInvalidValue);
}

int GroupNormActBackward(ElementType type, const GroupNormShape& shape, const void* dy, const void* x, const float* shift,
                         const float* weight, const float* bias, const float* mean, const float* rstd, bool silu, void* dx,
                         float* dweight_nc, float* dbias_nc, float* dshift, void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  switch (type) {
    case ElementType::kFloat32: return BackwardAs<float>(shape, dy, x, shift, weight, bias, mean, rstd, silu, dx, dweight_nc, dbias_nc, dshift, s);
    case ElementType::kBFloat16:
      return BackwardAs<__nv_bfloat16>(shape, dy, x, shift, weight, bias, mean, rstd, silu, dx, dweight_nc, dbias_nc, dshift, s);
    case ElementType::kFloat16: return BackwardAs<__half>(shape, dy, x, shift, weight, bias, mean, rstd, silu, dx, dweight_nc, dbias_nc, dshift, s);
  }
  return static_cast<int>(cudaErrorInvalidValue);
}

}  // namespace onestep::kernels::cuda

// Fused GroupNorm (+ per-channel shift) (+ SiLU) for NCHW tensors, forward and backward. One block
// per (sample, group): the group's C/G · H·W elements are contiguous, so each pass is a coalesced
// sweep that stays in L1/L2 between passes. Replaces, per norm, libtorch's moments kernel, its
// broadcast (non-vectorised) apply kernel, the embedding add, SiLU, and the same again backward,
// and keeps one activation instead of three for the backward pass.
#include "group_norm_act_cuda.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

namespace onestep::kernels::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;

__device__ __forceinline__ float Load(const float* p, int i) { return p[i]; }
__device__ __forceinline__ float Load(const __nv_bfloat16* p, int i) { return __bfloat162float(p[i]); }
__device__ __forceinline__ float Load(const __half* p, int i) { return __half2float(p[i]); }
__device__ __forceinline__ void Store(float* p, int i, float v) { p[i] = v; }
__device__ __forceinline__ void Store(__nv_bfloat16* p, int i, float v) { p[i] = __float2bfloat16(v); }
__device__ __forceinline__ void Store(__half* p, int i, float v) { p[i] = __float2half(v); }

__device__ __forceinline__ float WarpSum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// The sum of `v` over the block, returned to every thread. `scratch` holds kWarps floats; the
// leading barrier lets consecutive calls reuse it.
__device__ float BlockSum(float v, float* scratch) {
  v = WarpSum(v);
  __syncthreads();
  if (threadIdx.x % 32 == 0) scratch[threadIdx.x / 32] = v;
  __syncthreads();
  float total = 0.f;
  for (int w = 0; w < kWarps; ++w) total += scratch[w];
  return total;
}

__device__ __forceinline__ float Sigmoid(float v) { return 1.f / (1.f + __expf(-v)); }

// Where one (sample, group) block's data lives.
struct Group {
  int index, sample, first_channel, count;  // count = channels per group · hw
  __device__ Group(const GroupNormShape& s)
      : index(blockIdx.x),
        sample(blockIdx.x / static_cast<int>(s.groups)),
        first_channel(blockIdx.x % static_cast<int>(s.groups) * static_cast<int>(s.channels / s.groups)),
        count(static_cast<int>(s.channels / s.groups * s.hw)) {}
  __device__ int64_t Offset(const GroupNormShape& s) const { return (static_cast<int64_t>(sample) * s.channels + first_channel) * s.hw; }
  __device__ int64_t ChannelIndex(const GroupNormShape& s) const { return static_cast<int64_t>(sample) * s.channels + first_channel; }
};

template <typename T, bool kSilu>
__global__ void __launch_bounds__(kThreads)
ForwardKernel(GroupNormShape shape, const T* __restrict__ x_all, const float* __restrict__ shift_all, const float* __restrict__ weight_all,
              const float* __restrict__ bias_all, float eps, T* __restrict__ y_all, float* __restrict__ mean_out, float* __restrict__ rstd_out) {
  __shared__ float scratch[kWarps];
  const Group group(shape);
  const int hw = static_cast<int>(shape.hw);
  const T* x = x_all + group.Offset(shape);
  T* y = y_all + group.Offset(shape);
  const float* shift = shift_all ? shift_all + group.ChannelIndex(shape) : nullptr;
  const float* weight = weight_all + group.first_channel;
  const float* bias = bias_all + group.first_channel;
  auto value = [&](int i) { return shift ? Load(x, i) + shift[i / hw] : Load(x, i); };

  // Two passes for the moments (exact where a one-pass sum of squares would cancel), a third writes.
  float sum = 0.f;
  for (int i = threadIdx.x; i < group.count; i += kThreads) sum += value(i);
  const float mean = BlockSum(sum, scratch) / group.count;
  float squares = 0.f;
  for (int i = threadIdx.x; i < group.count; i += kThreads) {
    const float d = value(i) - mean;
    squares += d * d;
  }
  const float rstd = rsqrtf(BlockSum(squares, scratch) / group.count + eps);
  for (int i = threadIdx.x; i < group.count; i += kThreads) {
    const int c = i / hw;
    float v = (value(i) - mean) * rstd * weight[c] + bias[c];
    if (kSilu) v *= Sigmoid(v);
    Store(y, i, v);
  }
  if (threadIdx.x == 0) {
    mean_out[group.index] = mean;
    rstd_out[group.index] = rstd;
  }
}

template <typename T, bool kSilu>
__global__ void __launch_bounds__(kThreads)
BackwardKernel(GroupNormShape shape, const T* __restrict__ dy_all, const T* __restrict__ x_all, const float* __restrict__ shift_all,
               const float* __restrict__ weight_all, const float* __restrict__ bias_all, const float* __restrict__ mean_in,
               const float* __restrict__ rstd_in, T* __restrict__ dx_all, float* __restrict__ dweight_nc, float* __restrict__ dbias_nc,
               float* __restrict__ dshift_all) {
  // Per channel of the group: Σ dz, Σ dz·x̂, Σ x̂, where z is the affine output (SiLU's input).
  extern __shared__ float channel_sums[];
  const Group group(shape);
  const int hw = static_cast<int>(shape.hw);
  const int per_group = group.count / hw;
  float* sum_dz = channel_sums;
  float* sum_dz_xhat = channel_sums + per_group;
  float* sum_xhat = channel_sums + 2 * per_group;
  for (int c = threadIdx.x; c < 3 * per_group; c += kThreads) channel_sums[c] = 0.f;
  __syncthreads();

  const T* x = x_all + group.Offset(shape);
  const T* dy = dy_all + group.Offset(shape);
  T* dx = dx_all + group.Offset(shape);
  const float* shift = shift_all ? shift_all + group.ChannelIndex(shape) : nullptr;
  const float* weight = weight_all + group.first_channel;
  const float* bias = bias_all + group.first_channel;
  const float mean = mean_in[group.index], rstd = rstd_in[group.index];
  // x̂ and dL/dz at element i of channel c (the forward recomputed: nothing else was kept).
  auto gradients = [&](int i, int c, float& xhat, float& dz) {
    xhat = ((shift ? Load(x, i) + shift[c] : Load(x, i)) - mean) * rstd;
    dz = Load(dy, i);
    if (kSilu) {
      const float z = xhat * weight[c] + bias[c];
      const float s = Sigmoid(z);
      dz *= s * (1.f + z * (1.f - s));
    }
  };

  // Pass 1: each warp takes a (channel, part) task so that all warps work when the group has
  // fewer channels than the block has warps; parts interleave over the channel's hw elements.
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int parts = max(1, kWarps / per_group);
  for (int task = warp; task < per_group * parts; task += kWarps) {
    const int c = task / parts, part = task % parts;
    float a = 0.f, b = 0.f, e = 0.f;
    for (int j = part * 32 + lane; j < hw; j += parts * 32) {
      float xhat, dz;
      gradients(c * hw + j, c, xhat, dz);
      a += dz;
      b += dz * xhat;
      e += xhat;
    }
    a = WarpSum(a);
    b = WarpSum(b);
    e = WarpSum(e);
    if (lane == 0) {
      atomicAdd(&sum_dz[c], a);
      atomicAdd(&sum_dz_xhat[c], b);
      atomicAdd(&sum_xhat[c], e);
    }
  }
  __syncthreads();

  // dL/dx̂ = dz·γ; dL/dh = rstd · (dL/dx̂ − mean(dL/dx̂) − x̂ · mean(dL/dx̂ · x̂)), means over the group.
  float mean_g = 0.f, mean_g_xhat = 0.f;
  for (int c = 0; c < per_group; ++c) {
    mean_g += weight[c] * sum_dz[c];
    mean_g_xhat += weight[c] * sum_dz_xhat[c];
  }
  mean_g /= group.count;
  mean_g_xhat /= group.count;
  for (int i = threadIdx.x; i < group.count; i += kThreads) {
    const int c = i / hw;
    float xhat, dz;
    gradients(i, c, xhat, dz);
    Store(dx, i, rstd * (dz * weight[c] - mean_g - xhat * mean_g_xhat));
  }
  for (int c = threadIdx.x; c < per_group; c += kThreads) {
    const int64_t nc = group.ChannelIndex(shape) + c;
    dweight_nc[nc] = sum_dz_xhat[c];
    dbias_nc[nc] = sum_dz[c];
    // The shift is added before the norm: its gradient is dL/dh summed over the channel's pixels.
    if (dshift_all) dshift_all[nc] = rstd * (weight[c] * sum_dz[c] - hw * mean_g - mean_g_xhat * sum_xhat[c]);
  }
}

template <typename T>
int Forward(const GroupNormShape& s, const void* x, const float* shift, const float* weight, const float* bias, float eps, bool silu, void* y,
            float* mean, float* rstd, cudaStream_t stream) {
  const auto blocks = static_cast<unsigned>(s.n * s.groups);
  auto kernel = silu ? ForwardKernel<T, true> : ForwardKernel<T, false>;
  kernel<<<blocks, kThreads, 0, stream>>>(s, static_cast<const T*>(x), shift, weight, bias, eps, static_cast<T*>(y), mean, rstd);
  return static_cast<int>(cudaGetLastError());
}

template <typename T>
int Backward(const GroupNormShape& s, const void* dy, const void* x, const float* shift, const float* weight, const float* bias,
             const float* mean, const float* rstd, bool silu, void* dx, float* dweight_nc, float* dbias_nc, float* dshift, cudaStream_t stream) {
  const auto blocks = static_cast<unsigned>(s.n * s.groups);
  const size_t shared = 3 * sizeof(float) * static_cast<size_t>(s.channels / s.groups);
  auto kernel = silu ? BackwardKernel<T, true> : BackwardKernel<T, false>;
  kernel<<<blocks, kThreads, shared, stream>>>(s, static_cast<const T*>(dy), static_cast<const T*>(x), shift, weight, bias, mean, rstd,
                                               static_cast<T*>(dx), dweight_nc, dbias_nc, dshift);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace

int GroupNormActForward(ElementType type, const GroupNormShape& shape, const void* x, const float* shift, const float* weight,
                        const float* bias, float eps, bool silu, void* y, float* mean, float* rstd, void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  switch (type) {
    case ElementType::kFloat32: return Forward<float>(shape, x, shift, weight, bias, eps, silu, y, mean, rstd, s);
    case ElementType::kBFloat16: return Forward<__nv_bfloat16>(shape, x, shift, weight, bias, eps, silu, y, mean, rstd, s);
    case ElementType::kFloat16: return Forward<__half>(shape, x, shift, weight, bias, eps, silu, y, mean, rstd, s);
  }
  return static_cast<int>(cudaErrorInvalidValue);
}

int GroupNormActBackward(ElementType type, const GroupNormShape& shape, const void* dy, const void* x, const float* shift,
                         const float* weight, const float* bias, const float* mean, const float* rstd, bool silu, void* dx,
                         float* dweight_nc, float* dbias_nc, float* dshift, void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  switch (type) {
    case ElementType::kFloat32: return Backward<float>(shape, dy, x, shift, weight, bias, mean, rstd, silu, dx, dweight_nc, dbias_nc, dshift, s);
    case ElementType::kBFloat16: return Backward<__nv_bfloat16>(shape, dy, x, shift, weight, bias, mean, rstd, silu, dx, dweight_nc, dbias_nc, dshift, s);
    case ElementType::kFloat16: return Backward<__half>(shape, dy, x, shift, weight, bias, mean, rstd, silu, dx, dweight_nc, dbias_nc, dshift, s);
  }
  return static_cast<int>(cudaErrorInvalidValue);
}

}  // namespace onestep::kernels::cuda

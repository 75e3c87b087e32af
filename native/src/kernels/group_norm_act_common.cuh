// Device helpers shared by the fused GroupNorm kernels: element loads and stores in float32
// arithmetic, warp and block sums, the sigmoid, and where a (sample, group) block's data lives.
#pragma once
#include "group_norm_act_cuda.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

namespace onestep::kernels::cuda::detail {

__device__ __forceinline__ float ToFloat(float v) { return v; }
__device__ __forceinline__ float ToFloat(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float ToFloat(__half v) { return __half2float(v); }
template <typename T> __device__ __forceinline__ T FromFloat(float v);
template <> __device__ __forceinline__ float FromFloat<float>(float v) { return v; }
template <> __device__ __forceinline__ __nv_bfloat16 FromFloat<__nv_bfloat16>(float v) { return __float2bfloat16(v); }
template <> __device__ __forceinline__ __half FromFloat<__half>(float v) { return __float2half(v); }

template <typename T> __device__ __forceinline__ float Load(const T* p, int i) { return ToFloat(p[i]); }
template <typename T> __device__ __forceinline__ void Store(T* p, int i, float v) { p[i] = FromFloat<T>(v); }

// Four consecutive elements as one aligned memory transaction (8 bytes in 16-bit types, 16 in float32).
constexpr int kVector = 4;
template <typename T> struct alignas(sizeof(T) * kVector) Vector { T v[kVector]; };
template <typename T> __device__ __forceinline__ void LoadVector(const T* p, int i, float (&out)[kVector]) {
  const Vector<T> q = *reinterpret_cast<const Vector<T>*>(p + i);
#pragma unroll
  for (int j = 0; j < kVector; ++j) out[j] = ToFloat(q.v[j]);
}
template <typename T> __device__ __forceinline__ void StoreVector(T* p, int i, const float (&in)[kVector]) {
  Vector<T> q;
#pragma unroll
  for (int j = 0; j < kVector; ++j) q.v[j] = FromFloat<T>(in[j]);
  *reinterpret_cast<Vector<T>*>(p + i) = q;
}

__device__ __forceinline__ float WarpSum(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// The sum of `v` over a block of kThreads, returned to every thread. `scratch` holds kThreads / 32
// floats; the leading barrier lets consecutive calls reuse it.
template <int kThreads>
__device__ __forceinline__ float BlockSum(float v, float* scratch) {
  v = WarpSum(v);
  __syncthreads();
  if (threadIdx.x % 32 == 0) scratch[threadIdx.x / 32] = v;
  __syncthreads();
  float total = 0.f;
#pragma unroll
  for (int w = 0; w < kThreads / 32; ++w) total += scratch[w];
  return total;
}

__device__ __forceinline__ float Sigmoid(float v) { return 1.f / (1.f + __expf(-v)); }

// dL/dz, where z = x̂·γ + β is SiLU's input (the identity's gradient without SiLU).
template <bool kSilu>
__device__ __forceinline__ float PreActivationGrad(float dy, float xhat, float weight, float bias) {
  if (!kSilu) return dy;
  const float z = xhat * weight + bias, s = Sigmoid(z);
  return dy * (s * (1.f + z * (1.f - s)));
}

// The backward's per-channel sums over a group, in shared memory: Σ dz, Σ dz·x̂, Σ x̂.
struct ChannelSums {
  float *dz, *dz_xhat, *xhat;
  int per_group;
  // Zeroed by the block (followed by a barrier) over the 3 · per_group floats at `shared`.
  __device__ ChannelSums(float* shared, int per_group)
      : dz(shared), dz_xhat(shared + per_group), xhat(shared + 2 * per_group), per_group(per_group) {
    for (int c = threadIdx.x; c < 3 * per_group; c += blockDim.x) shared[c] = 0.f;
    __syncthreads();
  }
  __device__ void Add(int c, float sum_dz, float sum_dz_xhat, float sum_xhat) {
    atomicAdd(&dz[c], sum_dz);
    atomicAdd(&dz_xhat[c], sum_dz_xhat);
    atomicAdd(&xhat[c], sum_xhat);
  }
};

// From the channel sums (after a barrier): dL/dx̂ = dz·γ and
// dL/dh = rstd · (dL/dx̂ − mean(dL/dx̂) − x̂ · mean(dL/dx̂ · x̂)), the means over the group.
struct GroupGradient {
  float rstd, mean_g, mean_g_xhat;
  __device__ GroupGradient(const ChannelSums& sums, const float* weight, int count, float rstd) : rstd(rstd), mean_g(0.f), mean_g_xhat(0.f) {
    for (int c = 0; c < sums.per_group; ++c) {
      mean_g += weight[c] * sums.dz[c];
      mean_g_xhat += weight[c] * sums.dz_xhat[c];
    }
    mean_g /= count;
    mean_g_xhat /= count;
  }
  __device__ float Dx(float dz, float xhat, float weight) const { return rstd * (dz * weight - mean_g - xhat * mean_g_xhat); }

  // Per (sample, channel): the partial sums of dγ and dβ and, with a shift, its gradient — dL/dh
  // summed over the channel's pixels, since the shift is added before the norm.
  __device__ void WriteChannels(const ChannelSums& sums, const float* weight, int hw, int64_t first_nc, float* dweight_nc,
                                float* dbias_nc, float* dshift_all) const {
    for (int c = threadIdx.x; c < sums.per_group; c += blockDim.x) {
      const int64_t nc = first_nc + c;
      dweight_nc[nc] = sums.dz_xhat[c];
      dbias_nc[nc] = sums.dz[c];
      if (dshift_all) dshift_all[nc] = rstd * (weight[c] * sums.dz[c] - hw * mean_g - mean_g_xhat * sums.xhat[c]);
    }
  }
};

// Where one (sample, group) block's data lives: the group's channels are adjacent in NCHW, so its
// channels-per-group · hw elements are contiguous.
struct Group {
  int index, sample, first_channel, count;
  __device__ explicit Group(const GroupNormShape& s)
      : index(blockIdx.x),
        sample(blockIdx.x / static_cast<int>(s.groups)),
        first_channel(blockIdx.x % static_cast<int>(s.groups) * static_cast<int>(s.channels / s.groups)),
        count(static_cast<int>(s.channels / s.groups * s.hw)) {}
  __device__ int64_t Offset(const GroupNormShape& s) const { return (static_cast<int64_t>(sample) * s.channels + first_channel) * s.hw; }
  __device__ int64_t ChannelIndex(const GroupNormShape& s) const { return static_cast<int64_t>(sample) * s.channels + first_channel; }
};

// A backward block's share of the kernel's arguments: its group's slices of x, dy and dx, of the
// per-channel shift (null: none), weight and bias, and the forward's statistics of the group.
template <typename T>
struct BackwardSlices {
  const T* __restrict__ x;
  const T* __restrict__ dy;
  T* __restrict__ dx;
  const float* __restrict__ shift;
  const float* __restrict__ weight;
  const float* __restrict__ bias;
  float mean, rstd;
  __device__ BackwardSlices(const Group& group, const GroupNormShape& shape, const T* dy_all, const T* x_all, const float* shift_all,
                            const float* weight_all, const float* bias_all, const float* mean_in, const float* rstd_in, T* dx_all)
      : x(x_all + group.Offset(shape)),
        dy(dy_all + group.Offset(shape)),
        dx(dx_all + group.Offset(shape)),
        shift(shift_all ? shift_all + group.ChannelIndex(shape) : nullptr),
        weight(weight_all + group.first_channel),
        bias(bias_all + group.first_channel),
        mean(mean_in[group.index]),
        rstd(rstd_in[group.index]) {}
};

}  // namespace onestep::kernels::cuda::detail

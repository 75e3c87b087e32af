// The fused GroupNorm kernels for the groups of EDM's networks (up to kCachedMaxVectors ·
// kCachedThreads · 4 elements, channels a multiple of 4 elements long): each thread loads its
// share of the group once, as 4-element vectors, and keeps it in registers for every pass, so the
// forward reads x once and writes y once, and the backward reads x and dy once and writes dx once.
#pragma once
#include "group_norm_act_common.cuh"

namespace onestep::kernels::cuda::detail {

constexpr int kCachedThreads = 128;
constexpr int kCachedMaxVectors = 8;  // per thread: 4 096 elements per group

template <typename T, bool kSilu, int kVectors>
__global__ void __launch_bounds__(kCachedThreads)
CachedForwardKernel(GroupNormShape shape, const T* __restrict__ x_all, const float* __restrict__ shift_all,
                    const float* __restrict__ weight_all, const float* __restrict__ bias_all, float eps, T* __restrict__ y_all,
                    float* __restrict__ mean_out, float* __restrict__ rstd_out) {
  __shared__ float scratch[kCachedThreads / 32];
  const Group group(shape);
  const int hw = static_cast<int>(shape.hw), vectors = group.count / kVector;
  const T* x = x_all + group.Offset(shape);
  T* y = y_all + group.Offset(shape);
  const float* shift = shift_all ? shift_all + group.ChannelIndex(shape) : nullptr;
  const float* weight = weight_all + group.first_channel;
  const float* bias = bias_all + group.first_channel;

  float h[kVectors][kVector];  // x + shift, this thread's share
  float sum = 0.f;
#pragma unroll
  for (int k = 0; k < kVectors; ++k) {
    const int vector = threadIdx.x + k * kCachedThreads;
    if (vector < vectors) {
      const int i = vector * kVector;
      LoadVector(x, i, h[k]);
      const float s = shift ? shift[i / hw] : 0.f;
#pragma unroll
      for (int j = 0; j < kVector; ++j) sum += (h[k][j] += s);
    }
  }
  const float mean = BlockSum<kCachedThreads>(sum, scratch) / group.count;
  float squares = 0.f;
#pragma unroll
  for (int k = 0; k < kVectors; ++k) {
    if (threadIdx.x + k * kCachedThreads < vectors) {
#pragma unroll
      for (int j = 0; j < kVector; ++j) squares += (h[k][j] - mean) * (h[k][j] - mean);
    }
  }
  const float rstd = rsqrtf(BlockSum<kCachedThreads>(squares, scratch) / group.count + eps);
#pragma unroll
  for (int k = 0; k < kVectors; ++k) {
    const int vector = threadIdx.x + k * kCachedThreads;
    if (vector < vectors) {
      const int i = vector * kVector, c = i / hw;
      const float scale = rstd * weight[c], offset = bias[c] - mean * scale;
      float out[kVector];
#pragma unroll
      for (int j = 0; j < kVector; ++j) {
        const float z = h[k][j] * scale + offset;
        out[j] = kSilu ? z * Sigmoid(z) : z;
      }
      StoreVector(y, i, out);
    }
  }
  if (threadIdx.x == 0) {
    mean_out[group.index] = mean;
    rstd_out[group.index] = rstd;
  }
}

template <typename T, bool kSilu, int kVectors>
__global__ void __launch_bounds__(kCachedThreads)
CachedBackwardKernel(GroupNormShape shape, const T* __restrict__ dy_all, const T* __restrict__ x_all, const float* __restrict__ shift_all,
                     const float* __restrict__ weight_all, const float* __restrict__ bias_all, const float* __restrict__ mean_in,
                     const float* __restrict__ rstd_in, T* __restrict__ dx_all, float* __restrict__ dweight_nc,
                     float* __restrict__ dbias_nc, float* __restrict__ dshift_all) {
  // Per channel of the group: Σ dz, Σ dz·x̂, Σ x̂, where z is the affine output (SiLU's input).
  extern __shared__ float channel_sums[];
  const Group group(shape);
  const int hw = static_cast<int>(shape.hw), vectors = group.count / kVector, per_group = group.count / hw;
  float* sum_dz = channel_sums;
  float* sum_dz_xhat = channel_sums + per_group;
  float* sum_xhat = channel_sums + 2 * per_group;
  for (int c = threadIdx.x; c < 3 * per_group; c += kCachedThreads) channel_sums[c] = 0.f;
  __syncthreads();

  const T* x = x_all + group.Offset(shape);
  const T* dy = dy_all + group.Offset(shape);
  T* dx = dx_all + group.Offset(shape);
  const float* shift = shift_all ? shift_all + group.ChannelIndex(shape) : nullptr;
  const float* weight = weight_all + group.first_channel;
  const float* bias = bias_all + group.first_channel;
  const float mean = mean_in[group.index], rstd = rstd_in[group.index];
  // When a channel is a multiple of 32 vectors long, a warp's vectors at each k share one channel:
  // the warp sums first and one lane adds to shared memory (else every thread adds its own).
  const bool warp_shares_channel = hw % (32 * kVector) == 0;

  float xhat[kVectors][kVector], dz[kVectors][kVector];
#pragma unroll
  for (int k = 0; k < kVectors; ++k) {
    const int vector = threadIdx.x + k * kCachedThreads;
    const bool mine = vector < vectors;
    const int i = vector * kVector, c = mine ? i / hw : 0;
    float a = 0.f, b = 0.f, e = 0.f;
    if (mine) {
      float xs[kVector];
      LoadVector(x, i, xs);
      LoadVector(dy, i, dz[k]);
      const float s = shift ? shift[c] : 0.f, w = weight[c], beta = bias[c];
#pragma unroll
      for (int j = 0; j < kVector; ++j) {
        xhat[k][j] = (xs[j] + s - mean) * rstd;
        if (kSilu) {
          const float z = xhat[k][j] * w + beta, sig = Sigmoid(z);
          dz[k][j] *= sig * (1.f + z * (1.f - sig));
        }
        a += dz[k][j];
        b += dz[k][j] * xhat[k][j];
        e += xhat[k][j];
      }
    }
    if (warp_shares_channel) {
      a = WarpSum(a);
      b = WarpSum(b);
      e = WarpSum(e);
      if (threadIdx.x % 32 != 0) continue;
    }
    if (mine) {
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
#pragma unroll
  for (int k = 0; k < kVectors; ++k) {
    const int vector = threadIdx.x + k * kCachedThreads;
    if (vector < vectors) {
      const int i = vector * kVector;
      const float w = weight[i / hw];
      float out[kVector];
#pragma unroll
      for (int j = 0; j < kVector; ++j) out[j] = rstd * (dz[k][j] * w - mean_g - xhat[k][j] * mean_g_xhat);
      StoreVector(dx, i, out);
    }
  }
  for (int c = threadIdx.x; c < per_group; c += kCachedThreads) {
    const int64_t nc = group.ChannelIndex(shape) + c;
    dweight_nc[nc] = sum_dz_xhat[c];
    dbias_nc[nc] = sum_dz[c];
    // The shift is added before the norm: its gradient is dL/dh summed over the channel's pixels.
    if (dshift_all) dshift_all[nc] = rstd * (weight[c] * sum_dz[c] - hw * mean_g - mean_g_xhat * sum_xhat[c]);
  }
}

}  // namespace onestep::kernels::cuda::detail

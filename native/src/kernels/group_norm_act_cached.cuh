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
  extern __shared__ float shared[];
  const Group group(shape);
  const int hw = static_cast<int>(shape.hw), vectors = group.count / kVector;
  ChannelSums sums(shared, group.count / hw);
  const BackwardSlices<T> in(group, shape, dy_all, x_all, shift_all, weight_all, bias_all, mean_in, rstd_in, dx_all);
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
      LoadVector(in.x, i, xs);
      LoadVector(in.dy, i, dz[k]);
      const float s = in.shift ? in.shift[c] : 0.f;
#pragma unroll
      for (int j = 0; j < kVector; ++j) {
        xhat[k][j] = (xs[j] + s - in.mean) * in.rstd;
        dz[k][j] = PreActivationGrad<kSilu>(dz[k][j], xhat[k][j], in.weight[c], in.bias[c]);
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
    if (mine) sums.Add(c, a, b, e);
  }
  __syncthreads();

  const GroupGradient grad(sums, in.weight, group.count, in.rstd);
#pragma unroll
  for (int k = 0; k < kVectors; ++k) {
    const int vector = threadIdx.x + k * kCachedThreads;
    if (vector < vectors) {
      const int i = vector * kVector;
      const float w = in.weight[i / hw];
      float out[kVector];
#pragma unroll
      for (int j = 0; j < kVector; ++j) out[j] = grad.Dx(dz[k][j], xhat[k][j], w);
      StoreVector(in.dx, i, out);
    }
  }
  grad.WriteChannels(sums, in.weight, hw, group.ChannelIndex(shape), dweight_nc, dbias_nc, dshift_all);
}

}  // namespace onestep::kernels::cuda::detail

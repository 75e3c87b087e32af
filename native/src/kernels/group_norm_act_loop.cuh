// The fused GroupNorm kernels for any group size: one block of kLoopThreads per (sample, group)
// sweeps the group's contiguous elements three times (twice for the moments, once to write), the
// later sweeps hitting L1/L2. The fallback of group_norm_act_cached.cuh, for groups too large to
// keep in registers or whose channels are not a multiple of 4 elements long.
#pragma once
#include "group_norm_act_common.cuh"

namespace onestep::kernels::cuda::detail {

constexpr int kLoopThreads = 256;

template <typename T, bool kSilu>
__global__ void __launch_bounds__(kLoopThreads)
LoopForwardKernel(GroupNormShape shape, const T* __restrict__ x_all, const float* __restrict__ shift_all, const float* __restrict__ weight_all,
                  const float* __restrict__ bias_all, float eps, T* __restrict__ y_all, float* __restrict__ mean_out, float* __restrict__ rstd_out) {
  __shared__ float scratch[kLoopThreads / 32];
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
  for (int i = threadIdx.x; i < group.count; i += kLoopThreads) sum += value(i);
  const float mean = BlockSum<kLoopThreads>(sum, scratch) / group.count;
  float squares = 0.f;
  for (int i = threadIdx.x; i < group.count; i += kLoopThreads) {
    const float d = value(i) - mean;
    squares += d * d;
  }
  const float rstd = rsqrtf(BlockSum<kLoopThreads>(squares, scratch) / group.count + eps);
  for (int i = threadIdx.x; i < group.count; i += kLoopThreads) {
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
__global__ void __launch_bounds__(kLoopThreads)
LoopBackwardKernel(GroupNormShape shape, const T* __restrict__ dy_all, const T* __restrict__ x_all, const float* __restrict__ shift_all,
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
  for (int c = threadIdx.x; c < 3 * per_group; c += kLoopThreads) channel_sums[c] = 0.f;
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
  const int parts = max(1, kLoopThreads / 32 / per_group);
  for (int task = warp; task < per_group * parts; task += kLoopThreads / 32) {
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
  for (int i = threadIdx.x; i < group.count; i += kLoopThreads) {
    const int c = i / hw;
    float xhat, dz;
    gradients(i, c, xhat, dz);
    Store(dx, i, rstd * (dz * weight[c] - mean_g - xhat * mean_g_xhat));
  }
  for (int c = threadIdx.x; c < per_group; c += kLoopThreads) {
    const int64_t nc = group.ChannelIndex(shape) + c;
    dweight_nc[nc] = sum_dz_xhat[c];
    dbias_nc[nc] = sum_dz[c];
    // The shift is added before the norm: its gradient is dL/dh summed over the channel's pixels.
    if (dshift_all) dshift_all[nc] = rstd * (weight[c] * sum_dz[c] - hw * mean_g - mean_g_xhat * sum_xhat[c]);
  }
}

}  // namespace onestep::kernels::cuda::detail

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
  extern __shared__ float shared[];
  const Group group(shape);
  const int hw = static_cast<int>(shape.hw);
  ChannelSums sums(shared, group.count / hw);
  const BackwardSlices<T> in(group, shape, dy_all, x_all, shift_all, weight_all, bias_all, mean_in, rstd_in, dx_all);
  // x̂ and dL/dz at element i of channel c (the forward recomputed: nothing else was kept).
  auto gradients = [&](int i, int c, float& xhat, float& dz) {
    xhat = ((in.shift ? Load(in.x, i) + in.shift[c] : Load(in.x, i)) - in.mean) * in.rstd;
    dz = PreActivationGrad<kSilu>(Load(in.dy, i), xhat, in.weight[c], in.bias[c]);
  };

  // Pass 1: each warp takes a (channel, part) task so that all warps work when the group has
  // fewer channels than the block has warps; parts interleave over the channel's hw elements.
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int parts = max(1, kLoopThreads / 32 / sums.per_group);
  for (int task = warp; task < sums.per_group * parts; task += kLoopThreads / 32) {
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
    if (lane == 0) sums.Add(c, a, b, e);
  }
  __syncthreads();

  const GroupGradient grad(sums, in.weight, group.count, in.rstd);
  for (int i = threadIdx.x; i < group.count; i += kLoopThreads) {
    const int c = i / hw;
    float xhat, dz;
    gradients(i, c, xhat, dz);
    Store(in.dx, i, grad.Dx(dz, xhat, in.weight[c]));
  }
  grad.WriteChannels(sums, in.weight, hw, group.ChannelIndex(shape), dweight_nc, dbias_nc, dshift_all);
}

}  // namespace onestep::kernels::cuda::detail

// EDM's building blocks (NVlabs/edm training/networks.py) as libtorch modules whose parameter and
// buffer names and shapes are EDM's, so that EDM state dicts load strictly.
#pragma once
#include "../pch.h"

namespace onestep::edm {

// While alive, weight initialisation on this thread draws from a generator seeded with `seed`
// (none: the global generator), so `create(config, { seed })` is reproducible on its own.
struct InitGeneratorGuard {
  explicit InitGeneratorGuard(c10::optional<uint64_t> seed);
  ~InitGeneratorGuard();
};

// EDM's weight_init: 'xavier_uniform' scaled by `gain` (init_weight). Biases start at zero.
at::Tensor XavierUniform(at::IntArrayRef shape, int64_t fan_in, int64_t fan_out, double gain);

struct LinearImpl : torch::nn::Module {
  LinearImpl(int64_t in, int64_t out, bool bias = true, double gain = 1.0);
  at::Tensor forward(const at::Tensor& x);
  int64_t in_features;
  at::Tensor weight, bias;
};
TORCH_MODULE(Linear);

// A convolution with optional 2× up- or down-sampling by the [1, 1] resampling filter, applied
// before the weight; kernel 0 means resampling only (no weight).
struct Conv2dImpl : torch::nn::Module {
  Conv2dImpl(int64_t in, int64_t out, int64_t kernel, bool up = false, bool down = false, double gain = 1.0);
  at::Tensor forward(const at::Tensor& x);
  int64_t in_channels, out_channels;
  bool up, down;
  at::Tensor weight, bias, resample_filter;
};
TORCH_MODULE(Conv2d);

// groups = min(32, channels / 4), as EDM.
struct GroupNormImpl : torch::nn::Module {
  GroupNormImpl(int64_t channels, double eps);
  at::Tensor forward(const at::Tensor& x);
  // SiLU(GroupNorm(x + shift[:, :, None, None])), shift [N, C] or undefined: one fused kernel on CUDA.
  at::Tensor NormSilu(const at::Tensor& x, const at::Tensor& shift = {});
  int64_t groups;
  double eps;
  at::Tensor weight, bias;
};
TORCH_MODULE(GroupNorm);

struct UNetBlockOptions {
  int64_t in_channels, out_channels, emb_channels;
  bool up = false, down = false, attention = false;
  double dropout = 0.0;
};

// DDPM++'s residual block: GroupNorm → SiLU → conv, plus the embedding (added, not adaptive
// scale), optional one-head self-attention; each residual sum scaled by √½.
struct UNetBlockImpl : torch::nn::Module {
  explicit UNetBlockImpl(const UNetBlockOptions& options);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& emb);
  UNetBlockOptions options;
  GroupNorm norm0{nullptr}, norm1{nullptr}, norm2{nullptr};
  Conv2d conv0{nullptr}, conv1{nullptr}, skip{nullptr}, qkv{nullptr}, proj{nullptr};
  Linear affine{nullptr};
};
TORCH_MODULE(UNetBlock);

}  // namespace onestep::edm

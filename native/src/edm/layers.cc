#include "layers.h"

#include "../kernels/group_norm_act.h"

#include <cmath>

namespace onestep::edm {

constexpr double kSkipScale = 0.70710678118654752440;  // √½
constexpr double kBlockEps = 1e-6;

namespace {
thread_local c10::optional<at::Generator> init_generator;
}

InitGeneratorGuard::InitGeneratorGuard(c10::optional<uint64_t> seed) {
  if (seed) {
    at::Generator gen = at::detail::createCPUGenerator(*seed);
    init_generator = gen;
  }
}
InitGeneratorGuard::~InitGeneratorGuard() { init_generator.reset(); }

at::Tensor XavierUniform(at::IntArrayRef shape, int64_t fan_in, int64_t fan_out, double gain) {
  double bound = gain * std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
  at::Tensor u = init_generator ? at::rand(shape, *init_generator) : at::rand(shape);
  return (u * 2 - 1) * bound;
}

LinearImpl::LinearImpl(int64_t in, int64_t out, bool with_bias, double gain) : in_features(in) {
  weight = register_parameter("weight", XavierUniform({out, in}, in, out, gain));
  if (with_bias) bias = register_parameter("bias", at::zeros({out}));
}

at::Tensor LinearImpl::forward(const at::Tensor& x) {
  at::Tensor y = at::matmul(x, weight.to(x.dtype()).t());
  return bias.defined() ? y.add_(bias.to(x.dtype())) : y;
}

Conv2dImpl::Conv2dImpl(int64_t in, int64_t out, int64_t kernel, bool up, bool down, double gain)
    : in_channels(in), out_channels(out), up(up), down(down) {
  if (kernel > 0) {
    weight = register_parameter("weight", XavierUniform({out, in, kernel, kernel}, in * kernel * kernel, out * kernel * kernel, gain));
    bias = register_parameter("bias", at::zeros({out}));
  }
  if (up || down) {
    at::Tensor f = at::ones({2});
    resample_filter = register_buffer("resample_filter", at::outer(f, f).unsqueeze(0).unsqueeze(1) / 4);
  }
}

at::Tensor Conv2dImpl::forward(const at::Tensor& input) {
  at::Tensor x = input;
  // EDM resamples with grouped convolutions by the [1, 1] filter (outer product / 4): up is
  // nearest-neighbour ×2 and down is 2×2 average pooling, the same numbers from cheaper kernels
  // (and libtorch 1.13's CPU bf16 grouped transposed convolution returns the wrong size). The
  // buffer stays for EDM's state-dict names; every EDM checkpoint holds that same constant.
  if (up) x = at::upsample_nearest2d(x, {x.size(2) * 2, x.size(3) * 2});
  if (down) x = at::avg_pool2d(x, {2, 2});
  if (weight.defined()) {
    x = at::conv2d(x, weight.to(x.dtype()), bias.to(x.dtype()), at::IntArrayRef{1}, at::IntArrayRef{weight.size(-1) / 2});
  }
  return x;
}

GroupNormImpl::GroupNormImpl(int64_t channels, double eps) : groups(std::min<int64_t>(32, channels / 4)), eps(eps) {
  weight = register_parameter("weight", at::ones({channels}));
  bias = register_parameter("bias", at::zeros({channels}));
}

at::Tensor GroupNormImpl::forward(const at::Tensor& x) { return kernels::GroupNormAct(x, {}, weight, bias, groups, eps, /*silu=*/false); }

at::Tensor GroupNormImpl::NormSilu(const at::Tensor& x, const at::Tensor& shift) {
  return kernels::GroupNormAct(x, shift, weight, bias, groups, eps, /*silu=*/true);
}

UNetBlockImpl::UNetBlockImpl(const UNetBlockOptions& o) : options(o) {
  // Registration order is EDM's attribute order, so state dicts list keys in the same order.
  norm0 = register_module("norm0", GroupNorm(o.in_channels, kBlockEps));
  conv0 = register_module("conv0", Conv2d(o.in_channels, o.out_channels, 3, o.up, o.down));
  affine = register_module("affine", Linear(o.emb_channels, o.out_channels));
  norm1 = register_module("norm1", GroupNorm(o.out_channels, kBlockEps));
  conv1 = register_module("conv1", Conv2d(o.out_channels, o.out_channels, 3, false, false, /*gain=*/1e-5));
  if (o.out_channels != o.in_channels || o.up || o.down)
    skip = register_module("skip", Conv2d(o.in_channels, o.out_channels, 1, o.up, o.down));
  if (o.attention) {
    norm2 = register_module("norm2", GroupNorm(o.out_channels, kBlockEps));
    qkv = register_module("qkv", Conv2d(o.out_channels, o.out_channels * 3, 1, false, false, /*gain=*/std::sqrt(0.2)));
    proj = register_module("proj", Conv2d(o.out_channels, o.out_channels, 1, false, false, /*gain=*/1e-5));
  }
}

at::Tensor UNetBlockImpl::forward(const at::Tensor& input, const at::Tensor& emb) {
  at::Tensor x = conv0(norm0->NormSilu(input));
  // The embedding is added to every pixel before norm1 (DDPM++ has no adaptive scale).
  x = norm1->NormSilu(x, affine(emb));
  x = conv1(at::dropout(x, options.dropout, is_training()));
  x = x.add(skip ? skip(input) : input).mul(kSkipScale);
  if (options.attention) {
    // One head: channel 3c + j of qkv is part j (q, k, v) of channel c.
    int64_t n = x.size(0), c = x.size(1);
    auto parts = qkv(norm2(x)).reshape({n, c, 3, -1}).unbind(2);
    at::Tensor q = parts[0], k = parts[1], v = parts[2];
    at::Tensor w = at::einsum("ncq,nck->nqk", {q.to(at::kFloat), (k / std::sqrt(static_cast<double>(c))).to(at::kFloat)})
                       .softmax(2)
                       .to(q.dtype());
    at::Tensor a = at::einsum("nqk,nck->ncq", {w, v});
    x = proj(a.reshape(x.sizes())).add(x).mul(kSkipScale);
  }
  return x;
}

}  // namespace onestep::edm

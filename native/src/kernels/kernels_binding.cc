// JS bindings of onestep's own kernels: the switch that falls back to libtorch's ops, and a check
// of the fused GroupNorm against a float64 reference that the GPU tests call.
#include "../convert.h"
#include "../registry.h"
#include "group_norm_act.h"

namespace onestep {
namespace {

Napi::Value FusedKernelsBuilt(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), kernels::FusedKernelsBuilt()); }

Napi::Value SetFusedKernels(const Napi::CallbackInfo& info) {
  kernels::SetFusedKernels(GetBool(info, 0, "on"));
  return info.Env().Undefined();
}

Napi::Value FusedKernelsEnabled(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), kernels::FusedKernelsEnabled()); }

// max |a − b| / max |b|: the error relative to the reference's scale.
double RelativeError(const at::Tensor& value, const at::Tensor& reference) {
  at::Tensor a = value.to(at::kCPU, at::kDouble), b = reference.to(at::kDouble);
  return (a - b).abs().max().item<double>() / std::max(b.abs().max().item<double>(), 1e-30);
}

// checkGroupNormAct(device, dtype, [n, c, h, w], groups, shift, silu, seed): GroupNormAct's output
// and every gradient on `device` in `dtype` (as the networks call it: float32 weight, bias and
// shift), against libtorch's ops in float64 on the CPU on the same (rounded) inputs.
Napi::Value CheckGroupNormAct(const Napi::CallbackInfo& info) {
  const c10::Device device = ParseDevice(info[0], "device");
  const at::ScalarType dtype = ParseDtype(info[1], "dtype");
  const std::vector<int64_t> shape = ParseShape(info[2], "shape");
  const int64_t groups = GetInt(info, 3, "groups");
  const bool with_shift = GetBool(info, 4, "shift"), silu = GetBool(info, 5, "silu");
  const int64_t seed = GetInt(info, 6, "seed");
  if (shape.size() != 4) ThrowValueError("shape must be [n, c, h, w]");
  if (groups < 1 || shape[1] % groups != 0) ThrowValueError("groups must divide the channel count");
  at::NoGradGuard no_grad_outside;
  at::Generator gen = at::detail::createCPUGenerator(static_cast<uint64_t>(seed));
  const int64_t n = shape[0], c = shape[1];
  // Inputs rounded to `dtype` first, so both sides see the same numbers; an offset mean makes the
  // variance's cancellation visible.
  at::Tensor x = (at::randn(shape, gen, at::kDouble) * 1.5 + 0.7).to(dtype).to(at::kDouble);
  at::Tensor shift = with_shift ? at::randn({n, c}, gen, at::kDouble).to(at::kFloat).to(at::kDouble) : at::Tensor();
  at::Tensor weight = (1 + 0.2 * at::randn({c}, gen, at::kDouble)).to(at::kFloat).to(at::kDouble);
  at::Tensor bias = (0.2 * at::randn({c}, gen, at::kDouble)).to(at::kFloat).to(at::kDouble);
  at::Tensor dy = at::randn(shape, gen, at::kDouble).to(dtype).to(at::kDouble);

  auto run = [&](const c10::Device& on, at::ScalarType x_type, at::ScalarType param_type) {
    at::AutoGradMode grad(true);
    auto leaf = [&](const at::Tensor& t, at::ScalarType type) { return t.to(on, type).clone().requires_grad_(true); };
    std::vector<at::Tensor> leaves{leaf(x, x_type), with_shift ? leaf(shift, param_type) : at::Tensor(), leaf(weight, param_type),
                                   leaf(bias, param_type)};
    at::Tensor y = kernels::GroupNormAct(leaves[0], leaves[1], leaves[2], leaves[3], groups, 1e-6, silu);
    y.backward(dy.to(on, x_type));
    return std::vector<at::Tensor>{y.detach(), leaves[0].grad(), with_shift ? leaves[1].grad() : at::Tensor(), leaves[2].grad(),
                                   leaves[3].grad()};
  };
  const auto got = run(device, dtype, at::kFloat);
  const auto want = run(at::kCPU, at::kDouble, at::kDouble);
  Napi::Object out = Napi::Object::New(info.Env());
  const char* names[] = {"y", "dx", "dshift", "dweight", "dbias"};
  for (size_t i = 0; i < got.size(); ++i)
    if (got[i].defined()) out.Set(names[i], RelativeError(got[i], want[i]));
  out.Set("fused", kernels::FusedKernelsBuilt() && kernels::FusedKernelsEnabled() && device.is_cuda());
  return out;
}

}  // namespace

void RegisterKernels(Napi::Env env, Napi::Object exports) {
  Export<&FusedKernelsBuilt>(env, exports, "fusedKernelsBuilt");
  Export<&SetFusedKernels>(env, exports, "setFusedKernels");
  Export<&FusedKernelsEnabled>(env, exports, "fusedKernelsEnabled");
  Export<&CheckGroupNormAct>(env, exports, "checkGroupNormAct");
}

}  // namespace onestep

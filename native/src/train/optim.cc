#include "optim.h"

#include <ATen/autocast_mode.h>

#include <cmath>

namespace onestep::train {

FlatParameters::FlatParameters(torch::nn::Module& module, bool with_grad) {
  at::NoGradGuard no_grad;
  params = module.parameters();
  int64_t total = 0;
  for (const auto& p : params) total += p.numel();
  data = at::empty({total}, params.at(0).options());
  if (with_grad) grad = at::zeros({total}, params.at(0).options());
  int64_t offset = 0;
  for (auto& p : params) {
    const int64_t n = p.numel();
    at::Tensor view = data.narrow(0, offset, n).view(p.sizes());
    view.copy_(p);
    p.set_data(view);
    // Backward accumulates in place into a defined gradient, so these stay views.
    if (with_grad) p.mutable_grad() = grad.narrow(0, offset, n).view(p.sizes());
    offset += n;
  }
}

Adam::Adam(FlatParameters& p, AdamOptions o)
    : params(p), options(o), exp_avg(at::zeros_like(p.data)), exp_avg_sq(at::zeros_like(p.data)) {}

// Both Step forms: the moments from the cleaned gradient, then the denominator √(v / bias2) + ε.
at::Tensor Adam::UpdateMoments(const c10::Scalar& inv_bias2_scalar, const at::Tensor& inv_bias2_tensor) {
  at::Tensor& grad = params.grad;
  at::nan_to_num_(grad, 0.0, 1e5, -1e5);
  exp_avg.mul_(options.beta1).add_(grad, 1 - options.beta1);
  exp_avg_sq.mul_(options.beta2).addcmul_(grad, grad, 1 - options.beta2);
  at::Tensor v = inv_bias2_tensor.defined() ? exp_avg_sq.mul(inv_bias2_tensor) : exp_avg_sq.mul(inv_bias2_scalar);
  return v.sqrt_().add_(options.eps);
}

std::array<double, 2> Adam::NextFactors(double lr) {
  ++steps;
  const double bias1 = 1 - std::pow(options.beta1, static_cast<double>(steps));
  const double bias2 = 1 - std::pow(options.beta2, static_cast<double>(steps));
  // β1 = 0 makes bias1 = 1: the first moment is the gradient itself.
  return {-lr / bias1, 1 / bias2};
}

void Adam::Step(double lr) {
  const auto [step, inv_bias2] = NextFactors(lr);
  params.data.addcdiv_(exp_avg, UpdateMoments(inv_bias2, at::Tensor()), step);
}

void Adam::Step(const at::Tensor& factors) {
  // data += m · (−lr / bias1) / denom, written as m / (denom / step) to reuse denom's buffer.
  params.data.addcdiv_(exp_avg, UpdateMoments(0, factors[1]).div_(factors[0]));
}

at::Tensor ClipGradNorm(at::Tensor& grad, double max_norm) {
  at::Tensor norm = grad.norm();
  if (max_norm > 0) grad.mul_((max_norm / (norm + 1e-6)).clamp_max(1.0));
  return norm;
}

double DecayedLr(double lr, double images, double decay_images) {
  return decay_images > 0 ? lr / std::sqrt(std::max(images / decay_images, 1.0)) : lr;
}

void UpdateEma(FlatParameters& ema, const FlatParameters& net, double batch, double halflife_images) {
  ema.data.lerp_(net.data, EmaWeight(batch, halflife_images));
}

double EmaWeight(double batch, double halflife_images) {
  return 1 - std::pow(0.5, batch / std::max(halflife_images, 1e-8));
}

void UpdateEma(FlatParameters& ema, const FlatParameters& net, const at::Tensor& weight) { ema.data.lerp_(net.data, weight); }

AutocastGuard::AutocastGuard(c10::DeviceType type) : type_(type) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  was_enabled_ = at::autocast::is_autocast_enabled(type_);
  was_dtype_ = at::autocast::get_autocast_dtype(type_);
  at::autocast::set_autocast_enabled(type_, true);
  at::autocast::set_autocast_dtype(type_, at::kBFloat16);
#else
  bool cpu = type_ == c10::DeviceType::CPU;
  was_enabled_ = cpu ? at::autocast::is_cpu_enabled() : at::autocast::is_enabled();
  was_dtype_ = cpu ? at::autocast::get_autocast_cpu_dtype() : at::autocast::get_autocast_gpu_dtype();
  if (cpu) { at::autocast::set_cpu_enabled(true); at::autocast::set_autocast_cpu_dtype(at::kBFloat16); }
  else { at::autocast::set_enabled(true); at::autocast::set_autocast_gpu_dtype(at::kBFloat16); }
#endif
}

AutocastGuard::~AutocastGuard() {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  at::autocast::set_autocast_enabled(type_, was_enabled_);
  at::autocast::set_autocast_dtype(type_, was_dtype_);
#else
  if (type_ == c10::DeviceType::CPU) { at::autocast::set_cpu_enabled(was_enabled_); at::autocast::set_autocast_cpu_dtype(was_dtype_); }
  else { at::autocast::set_enabled(was_enabled_); at::autocast::set_autocast_gpu_dtype(was_dtype_); }
#endif
  at::autocast::clear_cache();
}

double NumberField(const Napi::Object& o, const char* key, double fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber()) ThrowTypeError(std::string("options.") + key + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) ThrowValueError(std::string("options.") + key + " must be finite");
  return d;
}

bool BoolField(const Napi::Object& o, const char* key, bool fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsBoolean()) ThrowTypeError(std::string("options.") + key + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

std::string StringField(const Napi::Object& o, const char* key, const std::string& fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsString()) ThrowTypeError(std::string("options.") + key + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

at::Tensor GeneratorState(const c10::Device& device) {
  return at::globalContext().defaultGenerator(device).get_state();
}

void SetGeneratorState(const c10::Device& device, const at::Tensor& state) {
  at::Generator gen = at::globalContext().defaultGenerator(device);
  gen.set_state(state.to(at::kCPU).contiguous());
}

}  // namespace onestep::train

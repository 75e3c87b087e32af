// What every fused trainer shares: parameters in one flat buffer, Adam on it, EMA by one lerp,
// global-norm gradient clipping without a host read, bf16 autocast, and option parsing.
#pragma once
#include "../errors.h"

#include <array>

namespace onestep::train {

// Every parameter of a module moved into one contiguous buffer (the parameters become views of
// it), with gradients that are views of a second buffer: the optimizer, the gradient clean-up,
// clipping and the EMA then launch a handful of kernels per step instead of several per parameter.
struct FlatParameters {
  at::Tensor data, grad;
  std::vector<at::Tensor> params;  // the module's parameters (leaves for autograd::backward inputs)

  FlatParameters(torch::nn::Module& module, bool with_grad);
};

struct AdamOptions {
  double lr = 1e-4, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
};

// Adam on flat buffers; its state is two tensors we own (saved and restored for exact resume).
struct Adam {
  FlatParameters& params;
  AdamOptions options;
  at::Tensor exp_avg, exp_avg_sq;
  int64_t steps = 0;

  Adam(FlatParameters& p, AdamOptions o);
  // Non-finite gradients are replaced first (as EDM does), then the update at `lr`.
  void Step(double lr);
  // The same update with its step-dependent factors read from the device: `NextFactors` advances
  // the step count and returns {−lr / bias1, 1 / bias2} for the host to upload, and `Step(factors)`
  // reads them from a device tensor [2], so the kernels are the same every iteration (a CUDA
  // graph can replay them) and nothing waits for the host.
  std::array<double, 2> NextFactors(double lr);
  void Step(const at::Tensor& factors);

 private:
  at::Tensor UpdateMoments(const c10::Scalar& inv_bias2_scalar, const at::Tensor& inv_bias2_tensor);
};

// Scales the flat gradient so its global L2 norm is at most `max_norm`, on the device (no host
// read); `max_norm` ≤ 0 disables. Returns the norm before clipping (a device scalar).
at::Tensor ClipGradNorm(at::Tensor& grad, double max_norm);

// ema ← β·ema + (1 − β)·net with β = 0.5^(batch / half-life), one kernel.
// EDM2's inverse square-root decay: lr until `decay_images`, then lr·√(decay_images / images).
// decay_images ≤ 0: constant.
double DecayedLr(double lr, double images, double decay_images);

void UpdateEma(FlatParameters& ema, const FlatParameters& net, double batch, double halflife_images);
// The same with the weight 1 − β as a device scalar (see Adam::Step(factors)).
double EmaWeight(double batch, double halflife_images);
void UpdateEma(FlatParameters& ema, const FlatParameters& net, const at::Tensor& weight);

// bf16 autocast for a scope on one device type (autocast state is per thread: set on the
// worker). The API moved in libtorch 2.4; both spellings are handled.
class AutocastGuard {
 public:
  explicit AutocastGuard(c10::DeviceType type);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  c10::DeviceType type_;
  bool was_enabled_ = false;
  at::ScalarType was_dtype_ = at::kBFloat16;
};

// options.key as a finite number, or `fallback` when absent.
double NumberField(const Napi::Object& o, const char* key, double fallback);
bool BoolField(const Napi::Object& o, const char* key, bool fallback);
std::string StringField(const Napi::Object& o, const char* key, const std::string& fallback);

// The device's default generator state, for exact resume.
at::Tensor GeneratorState(const c10::Device& device);
void SetGeneratorState(const c10::Device& device, const at::Tensor& state);

}  // namespace onestep::train

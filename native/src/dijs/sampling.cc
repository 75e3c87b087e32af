// One-step sampling g(z, c) = D(σ_init·z; σ_init, c), optionally with the ratio network as a
// verifier: k candidates per sample, one kept by importance resampling with weights ∝ exp(−d/T)
// (p/q at T = 1), d measured at a small noise level; T = 0 keeps each group's arg-min of d.
#include "../registry.h"
#include "../tensor_handle.h"
#include "../worker.h"
#include "ratio_network.h"
#include "../edm/compute_dtype.h"

#include <ATen/CPUGeneratorImpl.h>
#include <cmath>

namespace onestep {
namespace {

using dijs::RatioNet;
using edm::EDMPrecond;

struct SampleRequest {
  EDMPrecond generator{nullptr};
  RatioNet ratio{nullptr};
  int64_t n = 0, candidates = 1;
  at::Tensor labels;  // [n, label_dim] or undefined
  double sigma_init = 2.5, sigma_verify = 0.1;
  double temperature = 1;  // of the verifier's weights exp(−d/T); 0: the arg-min of d
  c10::optional<uint64_t> seed;
  c10::Device device{c10::kCPU};
  std::vector<int64_t> image_shape;  // [C, H, W]
  bool bf16 = false;                  // the networks compute in bf16 (edm/compute_dtype.h)
};

at::Tensor Draw(const SampleRequest& r, at::IntArrayRef shape, c10::optional<at::Generator>& generator) {
  // A seed draws on the CPU, so one seed gives the same latents on every device.
  if (generator) return at::randn(shape, *generator, at::TensorOptions().dtype(at::kFloat)).to(r.device);
  return at::randn(shape, at::TensorOptions().dtype(at::kFloat).device(r.device));
}

at::Tensor Generate(SampleRequest& r) {
  at::NoGradGuard no_grad;
  c10::optional<edm::ComputeDtypeGuard> bf16;
  if (r.bf16) bf16.emplace(at::kBFloat16);
  c10::optional<at::Generator> generator;
  if (r.seed) generator = at::make_generator<at::CPUGeneratorImpl>(*r.seed);
  const int64_t total = r.n * r.candidates;
  std::vector<int64_t> shape{total};
  shape.insert(shape.end(), r.image_shape.begin(), r.image_shape.end());
  // Every random number is drawn up front, so the images do not depend on the chunking below.
  at::Tensor z = Draw(r, shape, generator);
  at::Tensor verify_noise, u;
  if (r.candidates > 1) {
    verify_noise = Draw(r, shape, generator);
    u = generator ? at::rand({r.n, 1}, *generator, at::TensorOptions().dtype(at::kDouble)).to(r.device)
                  : at::rand({r.n, 1}, at::TensorOptions().dtype(at::kDouble).device(r.device));
  }
  at::Tensor labels = r.labels.defined() && r.candidates > 1 ? r.labels.repeat_interleave(r.candidates, 0) : r.labels;
  // Chunks of at most kChunk outputs (× candidates network inputs) bound the activation memory:
  // 10 000 samples × 4 candidates at once would need tens of GiB.
  constexpr int64_t kChunk = 1024;
  std::vector<at::Tensor> out;
  for (int64_t start = 0; start < r.n; start += kChunk) {
    const int64_t n = std::min(kChunk, r.n - start), first = start * r.candidates, count = n * r.candidates;
    at::Tensor zc = z.narrow(0, first, count);
    at::Tensor lc = labels.defined() ? labels.narrow(0, first, count) : at::Tensor();
    at::Tensor x = r.generator->forward(zc * r.sigma_init, at::full({count}, r.sigma_init, zc.options()), lc, at::Tensor());
    if (r.candidates == 1) {
      out.push_back(x);
      continue;
    }
    at::Tensor noisy = x + verify_noise.narrow(0, first, count) * r.sigma_verify;
    at::Tensor d = r.ratio->forward(noisy, at::full({count}, r.sigma_verify, zc.options()), lc).view({n, r.candidates});
    at::Tensor pick;
    if (r.temperature == 0) {
      pick = d.argmin(1);
    } else {
      at::Tensor weights = at::softmax(-d.to(at::kDouble) / r.temperature, 1);
      // Inverse-CDF draw from each group's weights (multinomial without its host synchronisation).
      pick = (weights.cumsum(1) < u.narrow(0, start, n)).sum(1).clamp_max(r.candidates - 1);
    }
    at::Tensor index = at::arange(n, pick.options()) * r.candidates + pick;
    out.push_back(x.index_select(0, index));
  }
  return out.size() == 1 ? out[0] : at::cat(out);
}

// generatorSample(generatorRef, ratioRef | null, n, classLabels | null, sigmaInit, seed | null,
//                 candidates, sigmaVerify, device, imageShape, bf16, verifierTemperature) → Promise<handle>
Napi::Value GeneratorSample(const Napi::CallbackInfo& info) {
  SampleRequest r;
  r.generator = *static_cast<EDMPrecond*>(info[0].As<Napi::External<EDMPrecond>>().Data());
  if (!IsNullish(info[1])) r.ratio = *static_cast<RatioNet*>(info[1].As<Napi::External<RatioNet>>().Data());
  r.n = GetInt(info, 2, "n");
  if (r.n < 1 || r.n > 10'000'000) ThrowValueError("n must be between 1 and 10 000 000");
  if (!IsNullish(info[3])) r.labels = TensorHandle::TensorOf(info[3], "classLabels");
  r.sigma_init = GetNumber(info, 4, "sigmaInit");
  if (!IsNullish(info[5])) r.seed = static_cast<uint64_t>(GetInt(info, 5, "seed"));
  r.candidates = GetInt(info, 6, "candidates");
  r.sigma_verify = GetNumber(info, 7, "sigmaVerify");
  r.device = ParseDevice(info[8], "device");
  r.image_shape = ParseShape(info[9], "imageShape");
  r.bf16 = info.Length() > 10 && info[10].IsBoolean() && info[10].As<Napi::Boolean>().Value();
  if (info.Length() > 11 && !IsNullish(info[11])) r.temperature = GetNumber(info, 11, "verifierTemperature");
  if (!(r.temperature >= 0) || !std::isfinite(r.temperature)) ThrowValueError("verifierTemperature must be a finite number ≥ 0 (0: the arg-min of d)");
  if (r.candidates < 1 || r.candidates > 1024) ThrowValueError("candidates must be between 1 and 1024");
  if (r.candidates > 1 && !r.ratio) ThrowValueError("verifier sampling (candidates > 1) needs a ratio network");
  if (!(r.sigma_init > 0) || !(r.sigma_verify > 0)) ThrowValueError("sigmaInit and sigmaVerify must be positive");
  const int64_t label_dim = r.generator->model->config.label_dim;
  if (label_dim > 0) {
    if (!r.labels.defined()) ThrowValueError("this generator is class-conditional: pass classLabels");
    if (r.labels.dim() != 2 || r.labels.size(0) != r.n || r.labels.size(1) != label_dim)
      ThrowValueError("classLabels must be [n, " + std::to_string(label_dim) + "]");
    if (r.labels.device() != r.device) ThrowValueError("classLabels must be on the generator's device");
  }
  return TorchJob<at::Tensor>::Start(info.Env(), "onestep.generatorSample", [r]() mutable { return Generate(r); }, WrapTensorResult);
}

}  // namespace

void RegisterSampling(Napi::Env env, Napi::Object exports) { Export<GeneratorSample>(env, exports, "generatorSample"); }

}  // namespace onestep

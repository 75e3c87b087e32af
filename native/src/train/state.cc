#include "state.h"

#include "../tensor_handle.h"
#include "optim.h"

namespace onestep::train {

at::Tensor EpochSampler::Next(int64_t n, int64_t b, const c10::Device& device) {
  if (!permutation.defined() || position + b > n) {
    permutation = at::randperm(n, at::TensorOptions().dtype(at::kLong).device(device));
    position = 0;
  }
  at::Tensor idx = permutation.slice(0, position, position + b);
  position += b;
  return idx;
}

std::vector<std::pair<std::string, at::Tensor>> TrainerState::Snapshot(const c10::Device& device, const EpochSampler& sampler) const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  // Copies: the state keeps changing as training goes on.
  for (const auto& [name, slot] : slots_) out.emplace_back(name, slot->clone());
  out.emplace_back("rng.state", GeneratorState(device));
  if (sampler.permutation.defined()) out.emplace_back("data.permutation", sampler.permutation.clone());
  return out;
}

std::vector<std::string> TrainerState::Restore(const Napi::Value& value, const c10::Device& device, EpochSampler& sampler, int64_t dataset_size) const {
  if (!value.IsArray()) ThrowTypeError("restore needs an array of [name, tensor]");
  std::vector<std::string> restored;
  Napi::Array list = value.As<Napi::Array>();
  at::NoGradGuard no_grad;
  for (uint32_t i = 0; i < list.Length(); ++i) {
    Napi::Value entry = list.Get(i);
    if (!entry.IsArray() || entry.As<Napi::Array>().Length() != 2 || !entry.As<Napi::Array>().Get(0u).IsString())
      ThrowTypeError("restore needs an array of [name, tensor]");
    Napi::Array pair = entry.As<Napi::Array>();
    const std::string name = pair.Get(0u).As<Napi::String>().Utf8Value();
    const at::Tensor& t = TensorHandle::TensorOf(pair.Get(1u), name.c_str());
    if (name == "rng.state") { SetGeneratorState(device, t); continue; }
    if (name == "data.permutation") {
      if (t.dim() != 1 || t.size(0) != dataset_size)
        ThrowValueError("this checkpoint's run drew its batches from " + std::to_string(t.dim() == 1 ? t.size(0) : t.numel()) + " images; the data set given has " +
                        std::to_string(dataset_size) + ": resume with the run's data set (the same split and limit)");
      sampler.permutation = t.to(device, at::kLong).clone();
      continue;
    }
    if (std::find(ignored_.begin(), ignored_.end(), name) != ignored_.end()) continue;
    auto slot = std::find_if(slots_.begin(), slots_.end(), [&](const auto& s) { return s.first == name; });
    if (slot == slots_.end()) ThrowValueError("unknown trainer state '" + name + "'");
    if (!slot->second->sizes().equals(t.sizes())) ThrowValueError("trainer state '" + name + "' has the wrong shape");
    slot->second->copy_(t);
    restored.push_back(name);
  }
  return restored;
}

}  // namespace onestep::train

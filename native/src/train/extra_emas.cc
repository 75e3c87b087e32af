#include "extra_emas.h"

#include "../convert.h"

#include <algorithm>

namespace onestep::train {

double RampedHalfLife(double halflife_images, double images_seen, double rampup_ratio) {
  return rampup_ratio > 0 ? std::min(halflife_images, images_seen * rampup_ratio) : halflife_images;
}

void ExtraEmas::Parse(const Napi::Value& value, const c10::Device& device, int64_t numel) {
  if (IsNullish(value)) return;
  if (!value.IsArray()) ThrowTypeError("extraEmas must be an array");
  Napi::Array array = value.As<Napi::Array>();
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value entry = array.Get(i);
    if (!entry.IsObject() || !entry.As<Napi::Object>().Get("module").IsExternal()) ThrowTypeError("extraEmas entries must be { module, halfLifeImages }");
    Napi::Object o = entry.As<Napi::Object>();
    Ema ema;
    ema.module = *static_cast<edm::EDMPrecond*>(o.Get("module").As<Napi::External<edm::EDMPrecond>>().Data());
    ema.halflife_images = NumberField(o, "halfLifeImages", 0);
    if (!(ema.halflife_images > 0)) ThrowValueError("extra EMA half-lives must be positive");
    if (ema.module->model->map_layer0->weight.device() != device) ThrowValueError("extra EMA networks must be on the trainer's device");
    ema.module->eval();
    ema.flat = std::make_unique<FlatParameters>(*ema.module, /*with_grad=*/false);
    if (ema.flat->data.numel() != numel) ThrowValueError("extra EMA networks must have the trained network's shapes");
    emas_.push_back(std::move(ema));
  }
}

std::vector<double> ExtraEmas::Weights(double batch, double images_seen, double rampup_ratio) const {
  std::vector<double> weights;
  for (const Ema& ema : emas_) weights.push_back(EmaWeight(batch, RampedHalfLife(ema.halflife_images, images_seen, rampup_ratio)));
  return weights;
}

void ExtraEmas::Update(const FlatParameters& net, double batch, double images_seen, double rampup_ratio) {
  for (Ema& ema : emas_) UpdateEma(*ema.flat, net, batch, RampedHalfLife(ema.halflife_images, images_seen, rampup_ratio));
}

void ExtraEmas::Update(const FlatParameters& net, const at::Tensor& factors, int64_t offset) {
  for (size_t i = 0; i < emas_.size(); ++i) UpdateEma(*emas_[i].flat, net, factors[offset + static_cast<int64_t>(i)]);
}

}  // namespace onestep::train

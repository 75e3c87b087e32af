#include "precision.h"

namespace onestep::train {

Precision PrecisionField(const Napi::Object& o) {
  const std::string name = StringField(o, "precision", "fp32");
  if (name == "fp32") return Precision::kFloat32;
  if (name == "bf16-autocast") return Precision::kBF16Autocast;
  if (name == "bf16") return Precision::kBF16;
  ThrowValueError("precision must be 'fp32', 'bf16' or 'bf16-autocast', not '" + name + "'");
}

PrecisionScope::PrecisionScope(Precision precision, c10::DeviceType device) {
  if (precision == Precision::kBF16Autocast) autocast_.emplace(device);
  if (precision == Precision::kBF16) dtype_.emplace(at::kBFloat16);
}

}  // namespace onestep::train

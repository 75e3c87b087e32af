#include "convert.h"

#include "worker.h"

#include <cmath>

namespace onestep {
namespace {

struct DtypeEntry {
  const char* name;
  at::ScalarType type;
};
constexpr DtypeEntry kDtypes[] = {
    {"float32", at::kFloat}, {"float16", at::kHalf},  {"bfloat16", at::kBFloat16},
    {"float64", at::kDouble}, {"int64", at::kLong},   {"int32", at::kInt},
    {"int16", at::kShort},   {"int8", at::kChar},     {"uint8", at::kByte},
    {"bool", at::kBool},
};

std::string Describe(const Napi::Value& value) {
  if (value.IsUndefined()) return "undefined";
  if (value.IsNull()) return "null";
  if (value.IsString()) return "'" + value.As<Napi::String>().Utf8Value() + "'";
  if (value.IsNumber()) return std::to_string(value.As<Napi::Number>().DoubleValue());
  if (value.IsArray()) return "an array";
  if (value.IsObject()) return "an object";
  return "a value of another type";
}

}  // namespace

at::ScalarType ParseDtype(const Napi::Value& value, const char* what) {
  if (value.IsString()) {
    std::string name = value.As<Napi::String>().Utf8Value();
    for (const auto& entry : kDtypes)
      if (name == entry.name) return entry.type;
  }
  ThrowTypeError(std::string(what) + " must be one of float32, float16, bfloat16, float64, int64, "
                 "int32, int16, int8, uint8, bool; got " + Describe(value));
}

const char* DtypeName(at::ScalarType dtype) {
  for (const auto& entry : kDtypes)
    if (entry.type == dtype) return entry.name;
  return c10::toString(dtype);
}

c10::Device ParseDevice(const Napi::Value& value, const char* what) {
  if (!value.IsString()) ThrowTypeError(std::string(what) + " must be a string such as 'cpu' or 'cuda:0'; got " + Describe(value));
  std::string name = value.As<Napi::String>().Utf8Value();
  if (name == "cpu") return c10::Device(c10::kCPU);
  if (name.rfind("cuda", 0) == 0) {
    int64_t index = 0;
    if (name.size() > 4) {
      if (name[4] != ':' || name.size() == 5 || name.find_first_not_of("0123456789", 5) != std::string::npos || name.size() > 8)
        ThrowValueError(std::string(what) + " '" + name + "' is not a device: use 'cpu', 'cuda' or 'cuda:N'");
      index = std::stoll(name.substr(5));
    }
    if (!torch::cuda::is_available())
      throw UserError(code::kCudaUnavailable,
                      "CUDA is not available: this onestep addon is built against libtorch " TORCH_VERSION
#ifdef ONESTEP_WITH_CUDA
                      " with CUDA, but no CUDA device is visible"
#else
                      " without CUDA (a CPU build); rebuild against a CUDA libtorch to use '" + name + "'"
#endif
      );
    int64_t count = static_cast<int64_t>(torch::cuda::device_count());
    if (index >= count)
      ThrowValueError(std::string(what) + " '" + name + "' does not exist: " + std::to_string(count) + " CUDA device(s) visible");
    MarkCudaInUse();
    return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  ThrowValueError(std::string(what) + " '" + name + "' is not a device: use 'cpu', 'cuda' or 'cuda:N'");
}

std::string DeviceName(const c10::Device& device) {
  if (device.is_cpu()) return "cpu";
  return std::string(c10::DeviceTypeName(device.type(), /*lower_case=*/true)) + ":" +
         std::to_string(device.has_index() ? device.index() : 0);
}

std::vector<int64_t> ParseShape(const Napi::Value& value, const char* what, bool allow_infer) {
  if (!value.IsArray()) ThrowTypeError(std::string(what) + " must be an array of integers; got " + Describe(value));
  Napi::Array array = value.As<Napi::Array>();
  if (array.Length() > 64) ThrowValueError(std::string(what) + " has " + std::to_string(array.Length()) + " dimensions; at most 64 are supported");
  std::vector<int64_t> shape;
  bool inferred = false;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value item = array.Get(i);
    double d = item.IsNumber() ? item.As<Napi::Number>().DoubleValue() : NAN;
    bool integer = std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9.0e15;
    if (integer && d == -1 && allow_infer && !inferred) {
      inferred = true;
    } else if (!integer || d < 0) {
      ThrowValueError(std::string(what) + "[" + std::to_string(i) + "] must be a non-negative integer" +
                      (allow_infer ? " (or a single -1)" : "") + "; got " + Describe(item));
    }
    shape.push_back(static_cast<int64_t>(d));
  }
  return shape;
}

Napi::Array ShapeToJs(Napi::Env env, at::IntArrayRef sizes) {
  Napi::Array array = Napi::Array::New(env, sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i) array.Set(i, Napi::Number::New(env, static_cast<double>(sizes[i])));
  return array;
}

std::string GetString(const Napi::CallbackInfo& info, size_t index, const char* what) {
  if (!info[index].IsString()) ThrowTypeError(std::string(what) + " must be a string; got " + Describe(info[index]));
  return info[index].As<Napi::String>().Utf8Value();
}

double GetNumber(const Napi::CallbackInfo& info, size_t index, const char* what) {
  if (!info[index].IsNumber()) ThrowTypeError(std::string(what) + " must be a number; got " + Describe(info[index]));
  return info[index].As<Napi::Number>().DoubleValue();
}

int64_t GetInt(const Napi::CallbackInfo& info, size_t index, const char* what) {
  double d = GetNumber(info, index, what);
  if (!std::isfinite(d) || std::floor(d) != d || std::fabs(d) > 9007199254740992.0)
    ThrowValueError(std::string(what) + " must be an integer; got " + Describe(info[index]));
  return static_cast<int64_t>(d);
}

bool GetBool(const Napi::CallbackInfo& info, size_t index, const char* what) {
  if (!info[index].IsBoolean()) ThrowTypeError(std::string(what) + " must be a boolean; got " + Describe(info[index]));
  return info[index].As<Napi::Boolean>().Value();
}

bool IsNullish(const Napi::Value& value) { return value.IsUndefined() || value.IsNull(); }

}  // namespace onestep

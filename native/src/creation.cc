// Tensor factories: from JS typed arrays, constants, random draws and ranges.
#include "registry.h"
#include "tensor_handle.h"

#include <cstring>

namespace onestep {
namespace {

// The dtype that a typed array's bytes already are; Uint16Array carries float16/bfloat16 bits.
at::ScalarType SourceDtype(napi_typedarray_type type, c10::optional<at::ScalarType> requested) {
  switch (type) {
    case napi_float32_array: return at::kFloat;
    case napi_float64_array: return at::kDouble;
    case napi_int32_array: return at::kInt;
    case napi_bigint64_array: return at::kLong;
    case napi_uint8_array:
    case napi_uint8_clamped_array: return at::kByte;
    case napi_int8_array: return at::kChar;
    case napi_int16_array: return at::kShort;
    case napi_uint16_array:
      if (requested == at::kHalf || requested == at::kBFloat16) return *requested;
      ThrowTypeError("a Uint16Array holds float16 or bfloat16 bits: pass dtype 'float16' or 'bfloat16'");
    default:
      ThrowTypeError("unsupported typed array: use Float32Array, Float64Array, Int32Array, BigInt64Array, "
                     "Int16Array, Int8Array, Uint8Array, or Uint16Array (float16/bfloat16 bits)");
  }
}

c10::optional<at::ScalarType> OptionalDtype(const Napi::Value& value) {
  if (IsNullish(value)) return c10::nullopt;
  return ParseDtype(value, "dtype");
}

at::Tensor WithGrad(at::Tensor t, bool requires_grad) {
  if (requires_grad) {
    if (!at::isFloatingType(t.scalar_type()))
      ThrowValueError(std::string("requiresGrad needs a floating-point dtype, not ") + DtypeName(t.scalar_type()));
    t.set_requires_grad(true);
  }
  return t;
}

int64_t Numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d != 0 && n > (int64_t{1} << 62) / d) ThrowValueError("shape has too many elements");
    n *= d;
  }
  return n;
}

// fromData(data: TypedArray, shape, dtype?, device, requiresGrad)
Napi::Value FromData(const Napi::CallbackInfo& info) {
  if (!info[0].IsTypedArray()) ThrowTypeError("data must be a typed array or an array of numbers");
  Napi::TypedArray data = info[0].As<Napi::TypedArray>();
  std::vector<int64_t> shape = ParseShape(info[1], "shape");
  c10::optional<at::ScalarType> dtype = OptionalDtype(info[2]);
  c10::Device device = ParseDevice(info[3], "device");
  bool requires_grad = GetBool(info, 4, "requiresGrad");

  at::ScalarType source = SourceDtype(data.TypedArrayType(), dtype);
  int64_t numel = Numel(shape);
  if (numel != static_cast<int64_t>(data.ElementLength()))
    ThrowValueError("shape " + c10::str(at::IntArrayRef(shape)) + " needs " + std::to_string(numel) +
                    " elements, but data has " + std::to_string(data.ElementLength()));
  at::Tensor host = at::empty(shape, at::TensorOptions().dtype(source));
  if (numel > 0) {
    const auto* bytes = static_cast<const uint8_t*>(data.ArrayBuffer().Data()) + data.ByteOffset();
    std::memcpy(host.data_ptr(), bytes, host.nbytes());
  }
  at::Tensor out = host.to(device, dtype.value_or(source));
  return TensorHandle::Wrap(info.Env(), WithGrad(out, requires_grad));
}

at::TensorOptions Options(const Napi::CallbackInfo& info, size_t dtype_index, size_t device_index) {
  return at::TensorOptions()
      .dtype(OptionalDtype(info[dtype_index]).value_or(at::kFloat))
      .device(ParseDevice(info[device_index], "device"));
}

// full(shape, value, dtype?, device, requiresGrad)
Napi::Value Full(const Napi::CallbackInfo& info) {
  std::vector<int64_t> shape = ParseShape(info[0], "shape");
  double value = GetNumber(info, 1, "value");
  Numel(shape);
  return TensorHandle::Wrap(info.Env(), WithGrad(at::full(shape, value, Options(info, 2, 3)), GetBool(info, 4, "requiresGrad")));
}

// random(kind: 'randn' | 'rand', shape, dtype?, device)
Napi::Value Random(const Napi::CallbackInfo& info) {
  std::string kind = GetString(info, 0, "kind");
  std::vector<int64_t> shape = ParseShape(info[1], "shape");
  Numel(shape);
  at::TensorOptions options = Options(info, 2, 3);
  if (!at::isFloatingType(c10::typeMetaToScalarType(options.dtype())))
    ThrowValueError(kind + " needs a floating-point dtype");
  if (kind == "randn") return TensorHandle::Wrap(info.Env(), at::randn(shape, options));
  if (kind == "rand") return TensorHandle::Wrap(info.Env(), at::rand(shape, options));
  ThrowValueError("unknown random kind '" + kind + "'");
}

// randint(low, high, shape, dtype?, device): integers in [low, high)
Napi::Value RandInt(const Napi::CallbackInfo& info) {
  int64_t low = GetInt(info, 0, "low"), high = GetInt(info, 1, "high");
  if (high <= low) ThrowValueError("randint needs low < high; got [" + std::to_string(low) + ", " + std::to_string(high) + ")");
  std::vector<int64_t> shape = ParseShape(info[2], "shape");
  Numel(shape);
  at::TensorOptions options = at::TensorOptions()
                                  .dtype(OptionalDtype(info[3]).value_or(at::kLong))
                                  .device(ParseDevice(info[4], "device"));
  return TensorHandle::Wrap(info.Env(), at::randint(low, high, shape, options));
}

// arange(start, end, step, dtype?, device)
Napi::Value Arange(const Napi::CallbackInfo& info) {
  double start = GetNumber(info, 0, "start"), end = GetNumber(info, 1, "end"), step = GetNumber(info, 2, "step");
  if (step == 0 || !std::isfinite(start) || !std::isfinite(end) || !std::isfinite(step))
    ThrowValueError("arange needs finite start and end and a non-zero step");
  if ((end - start) / step > 1e12) ThrowValueError("arange would create too many elements");
  c10::optional<at::ScalarType> dtype = OptionalDtype(info[3]);
  bool integral = std::floor(start) == start && std::floor(end) == end && std::floor(step) == step;
  at::TensorOptions options = at::TensorOptions()
                                  .dtype(dtype.value_or(integral ? at::kLong : at::kFloat))
                                  .device(ParseDevice(info[4], "device"));
  return TensorHandle::Wrap(info.Env(), at::arange(start, end, step, options));
}

}  // namespace

void RegisterCreation(Napi::Env env, Napi::Object exports) {
  Export<&FromData>(env, exports, "fromData");
  Export<&Full>(env, exports, "full");
  Export<&Random>(env, exports, "random");
  Export<&RandInt>(env, exports, "randint");
  Export<&Arange>(env, exports, "arange");
}

}  // namespace onestep

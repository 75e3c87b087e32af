// Synchronous tensor operations: elementwise maths, reductions, shape changes, indexing. Each is
// quick to launch (on CUDA, asynchronous on the device); anything slow lives in transfer.cc or in
// the fused training steps.
#include "registry.h"
#include "tensor_handle.h"

#include <unordered_map>

namespace onestep {
namespace {

using Tensor = at::Tensor;
using UnaryFn = Tensor (*)(const Tensor&);
using BinaryFn = Tensor (*)(const Tensor&, const Tensor&);

const std::unordered_map<std::string, UnaryFn>& UnaryOps() {
  static const std::unordered_map<std::string, UnaryFn> ops = {
      {"neg", [](const Tensor& a) { return at::neg(a); }},
      {"abs", [](const Tensor& a) { return at::abs(a); }},
      {"exp", [](const Tensor& a) { return at::exp(a); }},
      {"log", [](const Tensor& a) { return at::log(a); }},
      {"sqrt", [](const Tensor& a) { return at::sqrt(a); }},
      {"rsqrt", [](const Tensor& a) { return at::rsqrt(a); }},
      {"square", [](const Tensor& a) { return at::square(a); }},
      {"sin", [](const Tensor& a) { return at::sin(a); }},
      {"cos", [](const Tensor& a) { return at::cos(a); }},
      {"tanh", [](const Tensor& a) { return at::tanh(a); }},
      {"sigmoid", [](const Tensor& a) { return at::sigmoid(a); }},
      {"relu", [](const Tensor& a) { return at::relu(a); }},
      {"silu", [](const Tensor& a) { return at::silu(a); }},
      {"softplus", [](const Tensor& a) { return at::softplus(a); }},
      {"floor", [](const Tensor& a) { return at::floor(a); }},
      {"ceil", [](const Tensor& a) { return at::ceil(a); }},
      {"round", [](const Tensor& a) { return at::round(a); }},
      {"sign", [](const Tensor& a) { return at::sign(a); }},
      {"isnan", [](const Tensor& a) { return at::isnan(a); }},
      {"isfinite", [](const Tensor& a) { return at::isfinite(a); }},
      {"logicalNot", [](const Tensor& a) { return at::logical_not(a); }},
      {"clone", [](const Tensor& a) { return a.clone(); }},
      {"contiguous", [](const Tensor& a) { return a.contiguous(); }},
      {"detach", [](const Tensor& a) { return a.detach(); }},
  };
  return ops;
}

const std::unordered_map<std::string, BinaryFn>& BinaryOps() {
  static const std::unordered_map<std::string, BinaryFn> ops = {
      {"add", [](const Tensor& a, const Tensor& b) { return at::add(a, b); }},
      {"sub", [](const Tensor& a, const Tensor& b) { return at::sub(a, b); }},
      {"mul", [](const Tensor& a, const Tensor& b) { return at::mul(a, b); }},
      {"div", [](const Tensor& a, const Tensor& b) { return at::div(a, b); }},
      {"pow", [](const Tensor& a, const Tensor& b) { return at::pow(a, b); }},
      {"remainder", [](const Tensor& a, const Tensor& b) { return at::remainder(a, b); }},
      {"maximum", [](const Tensor& a, const Tensor& b) { return at::maximum(a, b); }},
      {"minimum", [](const Tensor& a, const Tensor& b) { return at::minimum(a, b); }},
      {"eq", [](const Tensor& a, const Tensor& b) { return at::eq(a, b); }},
      {"ne", [](const Tensor& a, const Tensor& b) { return at::ne(a, b); }},
      {"lt", [](const Tensor& a, const Tensor& b) { return at::lt(a, b); }},
      {"le", [](const Tensor& a, const Tensor& b) { return at::le(a, b); }},
      {"gt", [](const Tensor& a, const Tensor& b) { return at::gt(a, b); }},
      {"ge", [](const Tensor& a, const Tensor& b) { return at::ge(a, b); }},
      {"logicalAnd", [](const Tensor& a, const Tensor& b) { return at::logical_and(a, b); }},
      {"logicalOr", [](const Tensor& a, const Tensor& b) { return at::logical_or(a, b); }},
      {"matmul", [](const Tensor& a, const Tensor& b) { return at::matmul(a, b); }},
  };
  return ops;
}

template <class Table>
typename Table::mapped_type Lookup(const Table& table, const std::string& name, const char* kind) {
  auto it = table.find(name);
  if (it == table.end()) ThrowValueError(std::string("unknown ") + kind + " operation '" + name + "'");
  return it->second;
}

// A JS number used as an operand behaves like a Python scalar in type promotion: integral values
// keep integer tensors integral, fractional ones promote to the default float type.
Tensor Operand(const Napi::Value& value, const Tensor& like, const char* what) {
  if (TensorHandle::IsHandle(value)) return TensorHandle::TensorOf(value, what);
  if (value.IsBoolean()) {
    Tensor s = at::scalar_to_tensor(at::Scalar(value.As<Napi::Boolean>().Value()), like.device());
    s.unsafeGetTensorImpl()->set_wrapped_number(true);
    return s;
  }
  if (!value.IsNumber()) ThrowTypeError(std::string(what) + " must be a Tensor or a number");
  double d = value.As<Napi::Number>().DoubleValue();
  bool integral = std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9.0e15;
  Tensor s = integral ? at::scalar_to_tensor(at::Scalar(static_cast<int64_t>(d)), like.device())
                      : at::scalar_to_tensor(at::Scalar(d), like.device());
  s.unsafeGetTensorImpl()->set_wrapped_number(true);
  return s;
}

Napi::Value Wrap(const Napi::CallbackInfo& info, Tensor t) { return TensorHandle::Wrap(info.Env(), std::move(t)); }

// unary(op, tensor)
Napi::Value Unary(const Napi::CallbackInfo& info) {
  UnaryFn fn = Lookup(UnaryOps(), GetString(info, 0, "op"), "unary");
  return Wrap(info, fn(TensorHandle::TensorOf(info[1], "tensor")));
}

// binary(op, a, b): a or b may be a number, not both
Napi::Value Binary(const Napi::CallbackInfo& info) {
  BinaryFn fn = Lookup(BinaryOps(), GetString(info, 0, "op"), "binary");
  if (TensorHandle::IsHandle(info[1])) {
    const Tensor& a = TensorHandle::TensorOf(info[1], "first operand");
    return Wrap(info, fn(a, Operand(info[2], a, "second operand")));
  }
  const Tensor& b = TensorHandle::TensorOf(info[2], "second operand");
  return Wrap(info, fn(Operand(info[1], b, "first operand"), b));
}

std::vector<int64_t> Dims(const Napi::Value& value) {
  if (IsNullish(value)) return {};
  if (value.IsNumber()) return {static_cast<int64_t>(value.As<Napi::Number>().DoubleValue())};
  std::vector<int64_t> dims;
  if (!value.IsArray()) ThrowTypeError("dim must be an integer or an array of integers");
  Napi::Array array = value.As<Napi::Array>();
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value item = array.Get(i);
    if (!item.IsNumber()) ThrowTypeError("dim must be an integer or an array of integers");
    dims.push_back(static_cast<int64_t>(item.As<Napi::Number>().DoubleValue()));
  }
  return dims;
}

// reduce(op, tensor, dims?, keepdim)
Napi::Value Reduce(const Napi::CallbackInfo& info) {
  std::string op = GetString(info, 0, "op");
  const Tensor& t = TensorHandle::TensorOf(info[1], "tensor");
  bool all = IsNullish(info[2]);
  std::vector<int64_t> dims = Dims(info[2]);
  bool keepdim = GetBool(info, 3, "keepdim");
  at::IntArrayRef d(dims);
  if (op == "sum") return Wrap(info, all ? t.sum() : t.sum(d, keepdim));
  if (op == "mean") return Wrap(info, all ? t.mean() : t.mean(d, keepdim));
  if (op == "max") return Wrap(info, all ? t.max() : t.amax(d, keepdim));
  if (op == "min") return Wrap(info, all ? t.min() : t.amin(d, keepdim));
  if (op == "std") return Wrap(info, all ? t.std() : t.std(d, /*unbiased=*/true, keepdim));
  if (op == "var") return Wrap(info, all ? t.var() : t.var(d, /*unbiased=*/true, keepdim));
  if (op == "norm") return Wrap(info, all ? t.norm() : at::norm(t, 2, d, keepdim));
  if (op == "logsumexp") return Wrap(info, at::logsumexp(all ? t.flatten() : t, all ? at::IntArrayRef{0} : d, keepdim && !all));
  if (op == "any") return Wrap(info, all ? t.any() : t.any(dims.size() == 1 ? dims[0] : (ThrowValueError("any takes one dim"), 0), keepdim));
  if (op == "all") return Wrap(info, all ? t.all() : t.all(dims.size() == 1 ? dims[0] : (ThrowValueError("all takes one dim"), 0), keepdim));
  if (op == "argmax" || op == "argmin") {
    if (dims.size() > 1) ThrowValueError(op + " takes a single dim");
    c10::optional<int64_t> dim = all ? c10::nullopt : c10::optional<int64_t>(dims[0]);
    return Wrap(info, op == "argmax" ? at::argmax(t, dim, keepdim) : at::argmin(t, dim, keepdim));
  }
  ThrowValueError("unknown reduction '" + op + "'");
}

// to(tensor, device?, dtype?): a synchronous move or cast (transfer.cc has the async one)
Napi::Value To(const Napi::CallbackInfo& info) {
  const Tensor& t = TensorHandle::TensorOf(info[0], "tensor");
  c10::Device device = IsNullish(info[1]) ? t.device() : ParseDevice(info[1], "device");
  at::ScalarType dtype = IsNullish(info[2]) ? t.scalar_type() : ParseDtype(info[2], "dtype");
  return Wrap(info, t.to(device, dtype));
}

// reshape(tensor, shape): a view where possible, like torch.reshape
Napi::Value Reshape(const Napi::CallbackInfo& info) {
  const Tensor& t = TensorHandle::TensorOf(info[0], "tensor");
  return Wrap(info, t.reshape(ParseShape(info[1], "shape", /*allow_infer=*/true)));
}

Napi::Value Permute(const Napi::CallbackInfo& info) {
  return Wrap(info, TensorHandle::TensorOf(info[0], "tensor").permute(Dims(info[1])));
}

Napi::Value Transpose(const Napi::CallbackInfo& info) {
  return Wrap(info, TensorHandle::TensorOf(info[0], "tensor").transpose(GetInt(info, 1, "dim0"), GetInt(info, 2, "dim1")));
}

Napi::Value Squeeze(const Napi::CallbackInfo& info) {
  const Tensor& t = TensorHandle::TensorOf(info[0], "tensor");
  return Wrap(info, IsNullish(info[1]) ? t.squeeze() : t.squeeze(GetInt(info, 1, "dim")));
}

Napi::Value Unsqueeze(const Napi::CallbackInfo& info) {
  return Wrap(info, TensorHandle::TensorOf(info[0], "tensor").unsqueeze(GetInt(info, 1, "dim")));
}

Napi::Value Flatten(const Napi::CallbackInfo& info) {
  return Wrap(info, TensorHandle::TensorOf(info[0], "tensor").flatten(GetInt(info, 1, "startDim"), GetInt(info, 2, "endDim")));
}

Napi::Value Expand(const Napi::CallbackInfo& info) {
  return Wrap(info, TensorHandle::TensorOf(info[0], "tensor").expand(ParseShape(info[1], "shape", true)));
}

// slice(tensor, dim, start, end, step)
Napi::Value Slice(const Napi::CallbackInfo& info) {
  const Tensor& t = TensorHandle::TensorOf(info[0], "tensor");
  int64_t step = GetInt(info, 4, "step");
  if (step <= 0) ThrowValueError("slice step must be positive");
  return Wrap(info, t.slice(GetInt(info, 1, "dim"), GetInt(info, 2, "start"), GetInt(info, 3, "end"), step));
}

// select(tensor, dim, index): drops the dimension
Napi::Value Select(const Napi::CallbackInfo& info) {
  return Wrap(info, TensorHandle::TensorOf(info[0], "tensor").select(GetInt(info, 1, "dim"), GetInt(info, 2, "index")));
}

Napi::Value IndexSelect(const Napi::CallbackInfo& info) {
  return Wrap(info, at::index_select(TensorHandle::TensorOf(info[0], "tensor"), GetInt(info, 1, "dim"),
                                     TensorHandle::TensorOf(info[2], "index")));
}

std::vector<Tensor> TensorList(const Napi::Value& value) {
  if (!value.IsArray()) ThrowTypeError("expected an array of Tensors");
  Napi::Array array = value.As<Napi::Array>();
  if (array.Length() == 0) ThrowValueError("expected at least one Tensor");
  std::vector<Tensor> tensors;
  for (uint32_t i = 0; i < array.Length(); ++i) tensors.push_back(TensorHandle::TensorOf(array.Get(i), "list element"));
  return tensors;
}

Napi::Value Cat(const Napi::CallbackInfo& info) { return Wrap(info, at::cat(TensorList(info[0]), GetInt(info, 1, "dim"))); }
Napi::Value Stack(const Napi::CallbackInfo& info) { return Wrap(info, at::stack(TensorList(info[0]), GetInt(info, 1, "dim"))); }

Napi::Value Softmax(const Napi::CallbackInfo& info) {
  const Tensor& t = TensorHandle::TensorOf(info[0], "tensor");
  int64_t dim = GetInt(info, 1, "dim");
  return Wrap(info, GetBool(info, 2, "log") ? at::log_softmax(t, dim) : at::softmax(t, dim));
}

Napi::Value Clamp(const Napi::CallbackInfo& info) {
  const Tensor& t = TensorHandle::TensorOf(info[0], "tensor");
  c10::optional<at::Scalar> lo, hi;
  if (!IsNullish(info[1])) lo = GetNumber(info, 1, "min");
  if (!IsNullish(info[2])) hi = GetNumber(info, 2, "max");
  if (!lo && !hi) ThrowValueError("clamp needs min, max or both");
  return Wrap(info, at::clamp(t, lo, hi));
}

Napi::Value Where(const Napi::CallbackInfo& info) {
  const Tensor& cond = TensorHandle::TensorOf(info[0], "condition");
  const Tensor& like = TensorHandle::IsHandle(info[1]) ? TensorHandle::TensorOf(info[1], "x") : cond;
  return Wrap(info, at::where(cond, Operand(info[1], like, "x"), Operand(info[2], like, "y")));
}

// item(tensor): the value of a one-element tensor as a JS number (int64 beyond 2^53 loses
// precision; toTypedArray is exact). Copies to the host, so it synchronises on CUDA.
Napi::Value Item(const Napi::CallbackInfo& info) {
  const Tensor& t = TensorHandle::TensorOf(info[0], "tensor");
  if (t.numel() != 1) ThrowValueError("item() needs a tensor with one element; this one has " + std::to_string(t.numel()));
  at::Scalar s = t.item();
  if (s.isBoolean()) return Napi::Boolean::New(info.Env(), s.toBool());
  return Napi::Number::New(info.Env(), s.toDouble());
}

// conv2d(input, weight, bias?, stride, padding, dilation, groups)
Napi::Value Conv2d(const Napi::CallbackInfo& info) {
  const Tensor& input = TensorHandle::TensorOf(info[0], "input");
  const Tensor& weight = TensorHandle::TensorOf(info[1], "weight");
  c10::optional<Tensor> bias;
  if (!IsNullish(info[2])) bias = TensorHandle::TensorOf(info[2], "bias");
  int64_t stride = GetInt(info, 3, "stride"), padding = GetInt(info, 4, "padding");
  int64_t dilation = GetInt(info, 5, "dilation"), groups = GetInt(info, 6, "groups");
  if (stride < 1 || dilation < 1 || groups < 1 || padding < 0) ThrowValueError("conv2d needs stride, dilation, groups >= 1 and padding >= 0");
  return Wrap(info, at::conv2d(input, weight, bias, stride, padding, dilation, groups));
}

// grad(tensor) → the accumulated gradient, or null before any backward pass
Napi::Value Grad(const Napi::CallbackInfo& info) {
  const Tensor& t = TensorHandle::TensorOf(info[0], "tensor");
  if (!t.grad().defined()) return info.Env().Null();
  return Wrap(info, t.grad());
}

// setRequiresGrad(tensor, flag): in place, on a leaf (a tensor no operation produced)
Napi::Value SetRequiresGrad(const Napi::CallbackInfo& info) {
  Tensor t = TensorHandle::TensorOf(info[0], "tensor");
  t.set_requires_grad(GetBool(info, 1, "requiresGrad"));
  return info.Env().Undefined();
}

Napi::Value SharesStorage(const Napi::CallbackInfo& info) {
  const Tensor& a = TensorHandle::TensorOf(info[0], "a");
  const Tensor& b = TensorHandle::TensorOf(info[1], "b");
  return Napi::Boolean::New(info.Env(), a.storage().unsafeGetStorageImpl() == b.storage().unsafeGetStorageImpl());
}

}  // namespace

void RegisterOps(Napi::Env env, Napi::Object exports) {
  Export<&Unary>(env, exports, "unary");
  Export<&Binary>(env, exports, "binary");
  Export<&Reduce>(env, exports, "reduce");
  Export<&To>(env, exports, "to");
  Export<&Reshape>(env, exports, "reshape");
  Export<&Permute>(env, exports, "permute");
  Export<&Transpose>(env, exports, "transpose");
  Export<&Squeeze>(env, exports, "squeeze");
  Export<&Unsqueeze>(env, exports, "unsqueeze");
  Export<&Flatten>(env, exports, "flatten");
  Export<&Expand>(env, exports, "expand");
  Export<&Slice>(env, exports, "slice");
  Export<&Select>(env, exports, "select");
  Export<&IndexSelect>(env, exports, "indexSelect");
  Export<&Cat>(env, exports, "cat");
  Export<&Stack>(env, exports, "stack");
  Export<&Softmax>(env, exports, "softmax");
  Export<&Clamp>(env, exports, "clamp");
  Export<&Where>(env, exports, "where");
  Export<&Item>(env, exports, "item");
  Export<&Conv2d>(env, exports, "conv2d");
  Export<&Grad>(env, exports, "grad");
  Export<&SetRequiresGrad>(env, exports, "setRequiresGrad");
  Export<&SharesStorage>(env, exports, "sharesStorage");
}

}  // namespace onestep

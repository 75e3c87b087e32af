#include "tensor_handle.h"

#include "memory.h"

namespace onestep {
namespace {

Napi::FunctionReference* Constructor(Napi::Env env) { return env.GetInstanceData<Napi::FunctionReference>(); }

}  // namespace

void TensorHandle::Register(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "TensorHandle", {
      InstanceMethod<&TensorHandle::Dispose>("dispose"),
      InstanceMethod<&TensorHandle::IsDisposed>("isDisposed"),
      InstanceMethod<&TensorHandle::Shape>("shape"),
      InstanceMethod<&TensorHandle::Dtype>("dtype"),
      InstanceMethod<&TensorHandle::Device>("device"),
      InstanceMethod<&TensorHandle::RequiresGrad>("requiresGrad"),
      InstanceMethod<&TensorHandle::Describe>("describe"),
  });
  env.SetInstanceData(new Napi::FunctionReference(Napi::Persistent(ctor)));
  exports.Set("TensorHandle", ctor);
}

TensorHandle::TensorHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorHandle>(info) {
  // Only Wrap() may construct: it passes the tensor as an External.
  if (info.Length() != 1 || !info[0].IsExternal())
    throw MakeJsError(info.Env(), {code::kInvalidArgType, "TensorHandle is created by onestep's tensor functions, not by `new`", true});
  tensor_ = *info[0].As<Napi::External<at::Tensor>>().Data();
  memory_key_ = memory::Track(tensor_);
  memory::FlushToV8(info.Env());
}

TensorHandle::~TensorHandle() { Release(); }

void TensorHandle::Release() {
  if (!tensor_.defined()) return;
  memory::Untrack(memory_key_);
  tensor_.reset();
}

Napi::Object TensorHandle::Wrap(Napi::Env env, at::Tensor tensor) {
  if (!tensor.defined()) throw UserError(code::kNative, "internal error: wrapping an undefined tensor");
  return Constructor(env)->New({Napi::External<at::Tensor>::New(env, &tensor)});
}

bool TensorHandle::IsHandle(const Napi::Value& value) {
  return value.IsObject() && value.As<Napi::Object>().InstanceOf(Constructor(value.Env())->Value());
}

const at::Tensor& TensorHandle::TensorOf(const Napi::Value& value, const char* what) {
  if (!IsHandle(value)) ThrowTypeError(std::string(what) + " must be a Tensor");
  TensorHandle* handle = ObjectWrap<TensorHandle>::Unwrap(value.As<Napi::Object>());
  if (!handle->tensor_.defined())
    throw UserError(code::kDisposed, std::string(what) + " was disposed and can no longer be used");
  return handle->tensor_;
}

Napi::Value TensorHandle::Dispose(const Napi::CallbackInfo& info) {
  Release();
  memory::FlushToV8(info.Env());
  return info.Env().Undefined();
}

Napi::Value TensorHandle::IsDisposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !tensor_.defined());
}

Napi::Value TensorHandle::Shape(const Napi::CallbackInfo& info) {
  return Guard(info.Env(), [&]() -> Napi::Value { return ShapeToJs(info.Env(), TensorOf(Value(), "tensor").sizes()); });
}

Napi::Value TensorHandle::Dtype(const Napi::CallbackInfo& info) {
  return Guard(info.Env(), [&]() -> Napi::Value {
    return Napi::String::New(info.Env(), DtypeName(TensorOf(Value(), "tensor").scalar_type()));
  });
}

Napi::Value TensorHandle::Device(const Napi::CallbackInfo& info) {
  return Guard(info.Env(), [&]() -> Napi::Value {
    return Napi::String::New(info.Env(), DeviceName(TensorOf(Value(), "tensor").device()));
  });
}

Napi::Value TensorHandle::RequiresGrad(const Napi::CallbackInfo& info) {
  return Guard(info.Env(), [&]() -> Napi::Value {
    return Napi::Boolean::New(info.Env(), TensorOf(Value(), "tensor").requires_grad());
  });
}

// shape, dtype and device in one call: the TS wrapper caches them at creation.
Napi::Value TensorHandle::Describe(const Napi::CallbackInfo& info) {
  return Guard(info.Env(), [&]() -> Napi::Value {
    const at::Tensor& t = TensorOf(Value(), "tensor");
    Napi::Array out = Napi::Array::New(info.Env(), 3);
    out.Set(0u, ShapeToJs(info.Env(), t.sizes()));
    out.Set(1u, Napi::String::New(info.Env(), DtypeName(t.scalar_type())));
    out.Set(2u, Napi::String::New(info.Env(), DeviceName(t.device())));
    return out;
  });
}

Napi::Value WrapTensorResult(Napi::Env env, at::Tensor& tensor) { return TensorHandle::Wrap(env, std::move(tensor)); }

Napi::Array NamedTensorsToJs(Napi::Env env, const std::vector<std::pair<std::string, at::Tensor>>& entries) {
  Napi::Array out = Napi::Array::New(env, entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    Napi::Array pair = Napi::Array::New(env, 2);
    pair.Set(0u, Napi::String::New(env, entries[i].first));
    pair.Set(1u, TensorHandle::Wrap(env, entries[i].second));
    out.Set(i, pair);
  }
  return out;
}

namespace {
void CollectModuleState(const torch::nn::Module& module, const std::string& prefix, std::vector<std::pair<std::string, at::Tensor>>& out) {
  for (const auto& p : module.named_parameters(/*recurse=*/false)) out.emplace_back(prefix + p.key(), p.value());
  for (const auto& b : module.named_buffers(/*recurse=*/false)) out.emplace_back(prefix + b.key(), b.value());
  for (const auto& child : module.named_children()) CollectModuleState(*child.value(), prefix + child.key() + ".", out);
}
}  // namespace

std::vector<std::pair<std::string, at::Tensor>> ModuleState(const torch::nn::Module& module) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  CollectModuleState(module, "", out);
  return out;
}

}  // namespace onestep

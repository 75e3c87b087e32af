// The JS-visible owner of one at::Tensor reference. Disposing (or garbage-collecting) a handle
// drops that reference only: storage shared with other tensors lives on until the last is gone.
#pragma once
#include "convert.h"

namespace onestep {

class TensorHandle : public Napi::ObjectWrap<TensorHandle> {
 public:
  static void Register(Napi::Env env, Napi::Object exports);
  // Creates a new JS handle owning `tensor`. JS thread only.
  static Napi::Object Wrap(Napi::Env env, at::Tensor tensor);
  // The tensor behind a handle argument; throws a clear error for non-handles and disposed ones.
  static const at::Tensor& TensorOf(const Napi::Value& value, const char* what);
  static bool IsHandle(const Napi::Value& value);

  explicit TensorHandle(const Napi::CallbackInfo& info);
  ~TensorHandle() override;

 private:
  void Release();
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value IsDisposed(const Napi::CallbackInfo& info);
  Napi::Value Shape(const Napi::CallbackInfo& info);
  Napi::Value Dtype(const Napi::CallbackInfo& info);
  Napi::Value Device(const Napi::CallbackInfo& info);
  Napi::Value RequiresGrad(const Napi::CallbackInfo& info);
  Napi::Value Describe(const Napi::CallbackInfo& info);

  at::Tensor tensor_;
  const void* memory_key_ = nullptr;
};

// The finish step of a TorchJob<at::Tensor>: wraps the result in a new handle.
Napi::Value WrapTensorResult(Napi::Env env, at::Tensor& tensor);

// Named tensors (a module's state, a trainer's state) as a JS array of [name, handle] pairs.
Napi::Array NamedTensorsToJs(Napi::Env env, const std::vector<std::pair<std::string, at::Tensor>>& entries);

// A module's parameters and buffers in PyTorch's state_dict order (own parameters, own buffers,
// then each child's, recursively), under dotted names.
std::vector<std::pair<std::string, at::Tensor>> ModuleState(const torch::nn::Module& module);

}  // namespace onestep

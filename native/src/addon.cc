// Entry point of the onestep addon: registers every translation unit's functions.
#include "registry.h"
#include "tensor_handle.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  onestep::TensorHandle::Register(env, exports);
  onestep::RegisterCreation(env, exports);
  onestep::RegisterOps(env, exports);
  onestep::RegisterTransfer(env, exports);
  onestep::RegisterRuntime(env, exports);
  onestep::RegisterStorage(env, exports);
  onestep::RegisterEdm(env, exports);
  onestep::RegisterTeacherTrainer(env, exports);
  onestep::RegisterEval(env, exports);
  onestep::RegisterRatio(env, exports);
  onestep::RegisterSampling(env, exports);
  onestep::RegisterDiJSTrainer(env, exports);
  onestep::RegisterProcessGroup(env, exports);
  onestep::RegisterProfiler(env, exports);
  onestep::RegisterKernels(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(onestep, Init)

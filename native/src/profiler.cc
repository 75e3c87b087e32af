// The device profiler for benchmarks: libtorch's Kineto profiler (CUPTI underneath) records every
// CUDA kernel the process launches, from any thread, and writes a Chrome trace
// (bench/reference/trace_summary.py sums it by kernel). CUDA builds on libtorch ≥ 2 only.
#include "errors.h"
#include "convert.h"
#include "registry.h"

#if defined(ONESTEP_WITH_CUDA) && TORCH_VERSION_MAJOR >= 2 && __has_include(<torch/csrc/autograd/profiler_kineto.h>)
#define ONESTEP_WITH_PROFILER 1
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/autograd/profiler_kineto.h>
#endif

namespace onestep {
namespace {

#ifdef ONESTEP_WITH_PROFILER
namespace prof = torch::autograd::profiler;
using torch::profiler::impl::ActivityType;

bool profiling = false;

const prof::ProfilerConfig& Config() {
  static const prof::ProfilerConfig config(torch::profiler::impl::ProfilerState::KINETO, /*report_input_shapes=*/false,
                                           /*profile_memory=*/false);
  return config;
}

Napi::Value ProfilerStart(const Napi::CallbackInfo& info) {
  if (profiling) ThrowValueError("the profiler is already running");
  const std::set<ActivityType> activities{ActivityType::CPU, ActivityType::CUDA};
  c10::cuda::device_synchronize();  // earlier work stays out of the trace
  prof::prepareProfiler(Config(), activities);
  prof::enableProfiler(Config(), activities);
  profiling = true;
  return info.Env().Undefined();
}

// profilerStop(path): waits for the device, then writes the trace.
Napi::Value ProfilerStop(const Napi::CallbackInfo& info) {
  if (!profiling) ThrowValueError("the profiler is not running");
  const std::string path = GetString(info, 0, "path");
  c10::cuda::device_synchronize();
  profiling = false;
  std::unique_ptr<prof::ProfilerResult> result = prof::disableProfiler();
  result->save(path);
  return info.Env().Undefined();
}
#else
[[noreturn]] void NoProfiler() {
  throw UserError(code::kCudaUnavailable, "the device profiler needs a CUDA build of onestep on libtorch 2 or later");
}
Napi::Value ProfilerStart(const Napi::CallbackInfo&) { NoProfiler(); }
Napi::Value ProfilerStop(const Napi::CallbackInfo&) { NoProfiler(); }
#endif

}  // namespace

void RegisterProfiler(Napi::Env env, Napi::Object exports) {
  Export<&ProfilerStart>(env, exports, "profilerStart");
  Export<&ProfilerStop>(env, exports, "profilerStop");
}

}  // namespace onestep

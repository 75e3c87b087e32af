// Process-wide state: what the addon was built against, CUDA, seeds, threads, grad mode, memory.
#include "convert.h"
#include "memory.h"
#include "registry.h"
#include "worker.h"

#ifdef ONESTEP_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <cuda_runtime_api.h>
#endif

namespace onestep {
namespace {

Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("torchVersion", TORCH_VERSION);
  out.Set("flavour", ONESTEP_TORCH_FLAVOUR);
#ifdef ONESTEP_WITH_CUDA
  out.Set("cuda", Napi::Boolean::New(env, true));
  out.Set("cudaVersion", std::to_string(CUDART_VERSION / 1000) + "." + std::to_string(CUDART_VERSION % 1000 / 10));
#else
  out.Set("cuda", Napi::Boolean::New(env, false));
  out.Set("cudaVersion", env.Null());
#endif
  out.Set("parallelInfo", at::get_parallel_info());
  return out;
}

Napi::Value CudaIsAvailable(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), torch::cuda::is_available()); }

Napi::Value CudaDeviceCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(torch::cuda::device_count()));
}

// cudaSetDevice(index): the calling thread's current CUDA device, as torch.cuda.set_device. Jobs
// queued from this thread adopt it (worker.h), so one process per GPU never touches GPU 0's
// memory unless it is its own.
Napi::Value CudaSetDevice(const Napi::CallbackInfo& info) {
  int64_t index = GetInt(info, 0, "index");
  if (index < 0 || index >= static_cast<int64_t>(torch::cuda::device_count()))
    throw UserError(code::kCudaUnavailable, "no CUDA device " + std::to_string(index) + " (this process sees " +
                                                std::to_string(torch::cuda::device_count()) + ")");
  c10::impl::getDeviceGuardImpl(c10::DeviceType::CUDA)->setDevice(c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index)));
  MarkCudaInUse();
  return info.Env().Undefined();
}

Napi::Value CudaCurrentDevice(const Napi::CallbackInfo& info) {
  if (torch::cuda::device_count() == 0) throw UserError(code::kCudaUnavailable, "no CUDA device");
  return Napi::Number::New(info.Env(), c10::impl::getDeviceGuardImpl(c10::DeviceType::CUDA)->getDevice().index());
}

// cudaMemory(index) → { free, total } bytes as the driver sees them, { allocated, reserved } as
// libtorch's caching allocator does.
Napi::Value CudaMemory(const Napi::CallbackInfo& info) {
  int64_t index = GetInt(info, 0, "index");
  if (index < 0 || index >= static_cast<int64_t>(torch::cuda::device_count()))
    throw UserError(code::kCudaUnavailable, "no CUDA device " + std::to_string(index));
  Napi::Object out = Napi::Object::New(info.Env());
#ifdef ONESTEP_WITH_CUDA
  c10::DeviceGuard guard(c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index)));
  size_t free_bytes = 0, total_bytes = 0;
  if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) throw UserError(code::kTorch, "cudaMemGetInfo failed");
  out.Set("free", Napi::Number::New(info.Env(), static_cast<double>(free_bytes)));
  out.Set("total", Napi::Number::New(info.Env(), static_cast<double>(total_bytes)));
  // Index 0 of each statistic is the aggregate over pool types.
  auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(index));
  out.Set("allocated", Napi::Number::New(info.Env(), static_cast<double>(stats.allocated_bytes[0].current)));
  out.Set("reserved", Napi::Number::New(info.Env(), static_cast<double>(stats.reserved_bytes[0].current)));
  out.Set("peakAllocated", Napi::Number::New(info.Env(), static_cast<double>(stats.allocated_bytes[0].peak)));
#endif
  return out;
}

Napi::Value CudaSynchronize(const Napi::CallbackInfo& info) {
#ifdef ONESTEP_WITH_CUDA
  if (torch::cuda::is_available()) c10::cuda::device_synchronize();
#endif
  return info.Env().Undefined();
}

// Returns cached, unused blocks of the CUDA caching allocator to the driver.
Napi::Value CudaEmptyCache(const Napi::CallbackInfo& info) {
#ifdef ONESTEP_WITH_CUDA
  if (torch::cuda::is_available()) c10::cuda::CUDACachingAllocator::emptyCache();
#endif
  return info.Env().Undefined();
}

// cudaResetPeak(index): restarts the allocator's peak statistics (for benchmarks).
Napi::Value CudaResetPeak(const Napi::CallbackInfo& info) {
  int64_t index = GetInt(info, 0, "index");
#ifdef ONESTEP_WITH_CUDA
  if (index >= 0 && index < static_cast<int64_t>(torch::cuda::device_count()))
    c10::cuda::CUDACachingAllocator::resetPeakStats(static_cast<c10::DeviceIndex>(index));
#endif
  return info.Env().Undefined();
}

// cudaSetTF32(matmul, cudnn): TensorFloat-32 for float32 matrix products (cuBLAS) and
// convolutions (cuDNN), as torch.backends.cuda.matmul.allow_tf32 / torch.backends.cudnn.allow_tf32.
// Process-wide flags of libtorch's global context (a CPU build keeps them too: they do nothing).
Napi::Value CudaSetTF32(const Napi::CallbackInfo& info) {
  const bool matmul = GetBool(info, 0, "matmul"), cudnn = GetBool(info, 1, "cudnn");
  at::globalContext().setAllowTF32CuBLAS(matmul);
  at::globalContext().setAllowTF32CuDNN(cudnn);
  return info.Env().Undefined();
}

Napi::Value CudaGetTF32(const Napi::CallbackInfo& info) {
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("matmul", at::globalContext().allowTF32CuBLAS());
  out.Set("cudnn", at::globalContext().allowTF32CuDNN());
  return out;
}

// cudaSetCudnnBenchmark(on): cuDNN tries its algorithms on the first call of each shape and keeps
// the fastest, as torch.backends.cudnn.benchmark. Pays off with fixed shapes (training steps).
Napi::Value CudaSetCudnnBenchmark(const Napi::CallbackInfo& info) {
  at::globalContext().setBenchmarkCuDNN(GetBool(info, 0, "on"));
  return info.Env().Undefined();
}

Napi::Value CudaGetCudnnBenchmark(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), at::globalContext().benchmarkCuDNN());
}

Napi::Value ManualSeed(const Napi::CallbackInfo& info) {
  int64_t seed = GetInt(info, 0, "seed");
  if (seed < 0) ThrowValueError("seed must be a non-negative integer");
  torch::manual_seed(static_cast<uint64_t>(seed));  // CPU and every CUDA device
  return info.Env().Undefined();
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  int64_t threads = GetInt(info, 0, "threads");
  if (threads < 1 || threads > 1024) ThrowValueError("threads must be between 1 and 1024");
  SetIntraOpThreads(static_cast<int>(threads));
  return info.Env().Undefined();
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), IntraOpThreads()); }

Napi::Value SetGradEnabled(const Napi::CallbackInfo& info) {
  at::GradMode::set_enabled(GetBool(info, 0, "enabled"));
  return info.Env().Undefined();
}

Napi::Value IsGradEnabled(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), at::GradMode::is_enabled()); }

Napi::Value Memory(const Napi::CallbackInfo& info) {
  memory::Stats stats = memory::Current();
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("tensors", Napi::Number::New(info.Env(), static_cast<double>(stats.tensors)));
  out.Set("bytes", Napi::Number::New(info.Env(), static_cast<double>(stats.bytes)));
  return out;
}

}  // namespace

void RegisterRuntime(Napi::Env env, Napi::Object exports) {
  Export<&BuildInfo>(env, exports, "buildInfo");
  Export<&CudaIsAvailable>(env, exports, "cudaIsAvailable");
  Export<&CudaDeviceCount>(env, exports, "cudaDeviceCount");
  Export<&CudaMemory>(env, exports, "cudaMemory");
  Export<&CudaSynchronize>(env, exports, "cudaSynchronize");
  Export<&CudaSetDevice>(env, exports, "cudaSetDevice");
  Export<&CudaCurrentDevice>(env, exports, "cudaCurrentDevice");
  Export<&CudaEmptyCache>(env, exports, "cudaEmptyCache");
  Export<&CudaResetPeak>(env, exports, "cudaResetPeak");
  Export<&CudaSetTF32>(env, exports, "cudaSetTF32");
  Export<&CudaGetTF32>(env, exports, "cudaGetTF32");
  Export<&CudaSetCudnnBenchmark>(env, exports, "cudaSetCudnnBenchmark");
  Export<&CudaGetCudnnBenchmark>(env, exports, "cudaGetCudnnBenchmark");
  Export<&ManualSeed>(env, exports, "manualSeed");
  Export<&SetNumThreads>(env, exports, "setNumThreads");
  Export<&GetNumThreads>(env, exports, "getNumThreads");
  Export<&SetGradEnabled>(env, exports, "setGradEnabled");
  Export<&IsGradEnabled>(env, exports, "isGradEnabled");
  Export<&Memory>(env, exports, "memory");
}

}  // namespace onestep

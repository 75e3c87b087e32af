// Asynchronous work: moving tensors between devices and to JavaScript memory. Runs on a worker
// thread (worker.h) and resolves a Promise.
#include "registry.h"
#include "tensor_handle.h"
#include "worker.h"

#include <chrono>

namespace onestep {
namespace {

// toAsync(tensor, device?, dtype?) → Promise<handle>
Napi::Value ToAsync(const Napi::CallbackInfo& info) {
  at::Tensor t = TensorHandle::TensorOf(info[0], "tensor");  // a reference held until the job ends
  c10::Device device = IsNullish(info[1]) ? t.device() : ParseDevice(info[1], "device");
  at::ScalarType dtype = IsNullish(info[2]) ? t.scalar_type() : ParseDtype(info[2], "dtype");
  return TorchJob<at::Tensor>::Start(info.Env(), "onestep.to", [t, device, dtype] { return t.to(device, dtype); }, WrapTensorResult);
}

// backward(tensor) → Promise<void>: gradients of a scalar into the leaves that require grad.
Napi::Value Backward(const Napi::CallbackInfo& info) {
  at::Tensor t = TensorHandle::TensorOf(info[0], "tensor");
  if (!t.requires_grad()) ThrowValueError("backward() needs a tensor that requires grad (made from tensors with requiresGrad: true)");
  if (t.numel() != 1) ThrowValueError("backward() needs a scalar (one-element) tensor; this one has " + std::to_string(t.numel()) + " elements");
  return TorchJob<bool>::Start(
      info.Env(), "onestep.backward", [t] { t.backward(); return true; },
      [](Napi::Env env, bool&) -> Napi::Value { return env.Undefined(); });
}

// The host dtype JavaScript receives: 16-bit floats widen to float32, bool is bytes.
at::ScalarType HostDtype(at::ScalarType dtype) {
  if (dtype == at::kHalf || dtype == at::kBFloat16) return at::kFloat;
  if (dtype == at::kBool) return at::kByte;
  return dtype;
}

// toBuffer(tensor, raw) → Promise<ArrayBuffer>: a contiguous host copy that JavaScript owns, in
// the tensor's own dtype when `raw` (the bytes a file stores), else in HostDtype. The ArrayBuffer
// points at the copy's memory (no second copy); its finaliser frees it.
Napi::Value ToBuffer(const Napi::CallbackInfo& info) {
  at::Tensor t = TensorHandle::TensorOf(info[0], "tensor");
  at::ScalarType dtype = GetBool(info, 1, "raw") ? t.scalar_type() : HostDtype(t.scalar_type());
  return TorchJob<at::Tensor>::Start(
      info.Env(), "onestep.toBuffer",
      [t, dtype] {
        return t.detach().to(c10::Device(c10::kCPU), dtype, /*non_blocking=*/false, /*copy=*/true, at::MemoryFormat::Contiguous);
      },
      [](Napi::Env env, at::Tensor& host) -> Napi::Value {
        if (host.nbytes() == 0) return Napi::ArrayBuffer::New(env, 0);
        auto* owner = new at::Tensor(std::move(host));
        return Napi::ArrayBuffer::New(env, owner->data_ptr(), owner->nbytes(),
                                      [](Napi::Env, void*, at::Tensor* held) { delete held; }, owner);
      });
}

// busy(ms) → Promise<{ tensor, gradEnabled, threads, iterations }>: at least `ms` milliseconds of
// real libtorch work (matrix products) on a worker. Used by the tests that prove the event loop
// keeps running during native work and that the worker sees the caller's thread state.
struct BusyResult {
  at::Tensor tensor;
  bool grad_enabled = false;
  int threads = 0;
  int64_t iterations = 0;
};

Napi::Value Busy(const Napi::CallbackInfo& info) {
  double ms = GetNumber(info, 0, "ms");
  if (!(ms >= 0 && ms <= 60000)) ThrowValueError("ms must be between 0 and 60000");
  return TorchJob<BusyResult>::Start(
      info.Env(), "onestep.busy",
      [ms] {
        BusyResult r;
        auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(static_cast<int64_t>(ms * 1000));
        at::Tensor a = at::randn({128, 128});
        {
          at::NoGradGuard no_grad;
          do {
            a = at::tanh(at::matmul(a, a) * (1.0 / 128));
            ++r.iterations;
          } while (std::chrono::steady_clock::now() < until);
        }
        // Records whether autograd is on here: the result requires grad only if it is.
        at::Tensor leaf = at::ones({1}).set_requires_grad(true);
        r.tensor = leaf * 2;
        r.grad_enabled = at::GradMode::is_enabled();
        r.threads = at::get_num_threads();
        return r;
      },
      [](Napi::Env env, BusyResult& r) -> Napi::Value {
        Napi::Object out = Napi::Object::New(env);
        out.Set("tensor", TensorHandle::Wrap(env, std::move(r.tensor)));
        out.Set("gradEnabled", Napi::Boolean::New(env, r.grad_enabled));
        out.Set("threads", Napi::Number::New(env, r.threads));
        out.Set("iterations", Napi::Number::New(env, static_cast<double>(r.iterations)));
        return out;
      });
}

}  // namespace

void RegisterTransfer(Napi::Env env, Napi::Object exports) {
  Export<&ToAsync>(env, exports, "toAsync");
  Export<&ToBuffer>(env, exports, "toBuffer");
  Export<&Backward>(env, exports, "backward");
  Export<&Busy>(env, exports, "busy");
}

}  // namespace onestep

// JS binding of the EDM network: creation from a config, the live state dict (tensors that alias
// the parameters, so loadInto fills the network), denoising and Heun sampling on a worker.
#include "../registry.h"
#include "../tensor_handle.h"
#include "../worker.h"
#include "config_binding.h"

#include <ATen/CPUGeneratorImpl.h>

namespace onestep {
namespace {

using edm::EDMPrecond;

class EDMNetworkHandle : public Napi::ObjectWrap<EDMNetworkHandle> {
 public:
  static void Register(Napi::Env env, Napi::Object exports) {
    Napi::Function ctor = DefineClass(env, "EDMNetworkHandle", {
        InstanceMethod<&EDMNetworkHandle::StateDict>("stateDict"),
        InstanceMethod<&EDMNetworkHandle::Denoise>("denoise"),
        InstanceMethod<&EDMNetworkHandle::ForwardRaw>("forwardRaw"),
        InstanceMethod<&EDMNetworkHandle::Sample>("sample"),
        InstanceMethod<&EDMNetworkHandle::ModuleRef>("moduleRef"),
        InstanceMethod<&EDMNetworkHandle::SetTraining>("setTraining"),
        InstanceMethod<&EDMNetworkHandle::Dispose>("dispose"),
    });
    exports.Set("EDMNetworkHandle", ctor);
  }

  // new EDMNetworkHandle(config, seed | null, device)
  explicit EDMNetworkHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EDMNetworkHandle>(info) {
    Guard(info.Env(), [&] {
      edm::SongUNetConfig config = edm::ParseConfig(info[0]);
      c10::optional<uint64_t> seed;
      if (!IsNullish(info[1])) seed = static_cast<uint64_t>(GetInt(info, 1, "seed"));
      c10::Device device = ParseDevice(info[2], "device");
      {
        edm::InitGeneratorGuard init(seed);
        at::NoGradGuard no_grad;
        net_ = EDMPrecond(config);
      }
      net_->to(device);
      net_->eval();
      return 0;
    });
  }

 private:
  EDMPrecond& Net() {
    if (!net_) throw UserError(code::kDisposed, "this network was disposed");
    return net_;
  }

  // stateDict() → [[name, handle], …]: handles alias the live parameters and buffers.
  Napi::Value StateDict(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      return NamedTensorsToJs(info.Env(), ModuleState(*Net()));
    });
  }

  static at::Tensor Optional(const Napi::Value& v, const char* what) {
    return IsNullish(v) ? at::Tensor() : TensorHandle::TensorOf(v, what);
  }

  // denoise(x, sigma, classLabels?, augmentLabels?) → Promise<handle>: D(x; σ), and
  // forwardRaw(x, noiseLabels, classLabels?, augmentLabels?) → Promise<handle>: F, without preconditioning.
  Napi::Value Forward(const Napi::CallbackInfo& info, bool raw) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      EDMPrecond net = Net();
      at::Tensor x = TensorHandle::TensorOf(info[0], "x"), level = TensorHandle::TensorOf(info[1], raw ? "noiseLabels" : "sigma");
      at::Tensor labels = Optional(info[2], "classLabels"), augment = Optional(info[3], "augmentLabels");
      return TorchJob<at::Tensor>::Start(info.Env(), raw ? "onestep.forwardRaw" : "onestep.denoise",
          [net, x, level, labels, augment, raw]() mutable {
            at::NoGradGuard no_grad;
            if (raw) return net->model->forward(x, level, labels, augment);
            return net->forward(x, level.dim() == 0 ? level.expand({x.size(0)}) : level, labels, augment);
          },
          WrapTensorResult);
    });
  }
  Napi::Value Denoise(const Napi::CallbackInfo& info) { return Forward(info, false); }
  Napi::Value ForwardRaw(const Napi::CallbackInfo& info) { return Forward(info, true); }

  // sample(latents, classLabels?, steps, sigmaMin, sigmaMax, rho) → Promise<handle>: EDM's Heun
  // sampler (S_churn = 0), sampler arithmetic in float64, the network in float32, as edm_sampler.
  Napi::Value Sample(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      EDMPrecond net = Net();
      at::Tensor latents = TensorHandle::TensorOf(info[0], "latents"), labels = Optional(info[1], "classLabels");
      int64_t steps = GetInt(info, 2, "steps");
      double sigma_min = GetNumber(info, 3, "sigmaMin"), sigma_max = GetNumber(info, 4, "sigmaMax"), rho = GetNumber(info, 5, "rho");
      if (steps < 1 || steps > 10000) ThrowValueError("steps must be between 1 and 10000");
      if (!(sigma_min > 0 && sigma_max > sigma_min && rho > 0)) ThrowValueError("need 0 < sigmaMin < sigmaMax and rho > 0");
      return TorchJob<at::Tensor>::Start(info.Env(), "onestep.sample",
          [=]() mutable {
            at::NoGradGuard no_grad;
            const int64_t n = latents.size(0);
            auto opts = latents.options().dtype(at::kDouble);
            std::vector<double> t(steps + 1, 0.0);
            for (int64_t i = 0; i < steps; ++i) {
              double frac = steps == 1 ? 0.0 : static_cast<double>(i) / static_cast<double>(steps - 1);
              t[i] = std::pow(std::pow(sigma_max, 1 / rho) + frac * (std::pow(sigma_min, 1 / rho) - std::pow(sigma_max, 1 / rho)), rho);
            }
            auto D = [&](const at::Tensor& x, double sigma) {
              return net->forward(x, at::full({n}, sigma, opts), labels, at::Tensor()).to(at::kDouble);
            };
            at::Tensor x_next = latents.to(at::kDouble) * t[0];
            for (int64_t i = 0; i < steps; ++i) {
              at::Tensor x_hat = x_next;
              at::Tensor d_cur = (x_hat - D(x_hat, t[i])) / t[i];
              x_next = x_hat + (t[i + 1] - t[i]) * d_cur;
              if (i < steps - 1) {
                at::Tensor d_prime = (x_next - D(x_next, t[i + 1])) / t[i + 1];
                x_next = x_hat + (t[i + 1] - t[i]) * (0.5 * d_cur + 0.5 * d_prime);
              }
            }
            return x_next.to(at::kFloat);
          },
          WrapTensorResult);
    });
  }

  // moduleRef() → External: the module itself, for native trainers that update it in place.
  Napi::Value ModuleRef(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value { return Napi::External<EDMPrecond>::New(info.Env(), &Net()); });
  }

  // setTraining(flag): dropout on (training) or off (evaluation).
  Napi::Value SetTraining(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      Net()->train(GetBool(info, 0, "training"));
      return info.Env().Undefined();
    });
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    net_ = EDMPrecond(nullptr);
    return info.Env().Undefined();
  }

  EDMPrecond net_{nullptr};
};

}  // namespace

void RegisterEdm(Napi::Env env, Napi::Object exports) { EDMNetworkHandle::Register(env, exports); }

}  // namespace onestep

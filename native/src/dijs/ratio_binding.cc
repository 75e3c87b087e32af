// JS binding of the ratio network (creation, live state dict, logits on a worker) and of the
// loss family as differentiable ops, so that tests can check them against closed forms.
#include "../registry.h"
#include "../tensor_handle.h"
#include "../worker.h"
#include "../edm/config_binding.h"
#include "augment.h"
#include "divergence.h"
#include "ratio_network.h"

namespace onestep {
namespace {

using dijs::RatioNet;

class RatioNetworkHandle : public Napi::ObjectWrap<RatioNetworkHandle> {
 public:
  static void Register(Napi::Env env, Napi::Object exports) {
    exports.Set("RatioNetworkHandle", DefineClass(env, "RatioNetworkHandle", {
        InstanceMethod<&RatioNetworkHandle::StateDict>("stateDict"),
        InstanceMethod<&RatioNetworkHandle::Logit>("logit"),
        InstanceMethod<&RatioNetworkHandle::ModuleRef>("moduleRef"),
        InstanceMethod<&RatioNetworkHandle::Dispose>("dispose"),
    }));
  }

  // new RatioNetworkHandle(teacherConfig, headHidden, headPool ('features' | 'logits'), seed | null, device)
  explicit RatioNetworkHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RatioNetworkHandle>(info) {
    Guard(info.Env(), [&] {
      edm::SongUNetConfig config = edm::ParseConfig(info[0]);
      const int64_t hidden = GetInt(info, 1, "head.hidden");
      if (hidden < 0 || hidden > 65536) ThrowValueError("head.hidden must be between 0 and 65536");
      if (!info[2].IsString()) ThrowTypeError("head.pool must be 'features' or 'logits'");
      const std::string pool = info[2].As<Napi::String>().Utf8Value();
      if (pool != "features" && pool != "logits") ThrowValueError("head.pool must be 'features' or 'logits', not '" + pool + "'");
      c10::optional<uint64_t> seed;
      if (!IsNullish(info[3])) seed = static_cast<uint64_t>(GetInt(info, 3, "seed"));
      c10::Device device = ParseDevice(info[4], "device");
      {
        edm::InitGeneratorGuard init(seed);
        at::NoGradGuard no_grad;
        net_ = RatioNet(config, hidden, pool == "logits");
      }
      net_->to(device);
      net_->eval();
      return 0;
    });
  }

 private:
  RatioNet& Net() {
    if (!net_) throw UserError(code::kDisposed, "this ratio network was disposed");
    return net_;
  }

  Napi::Value StateDict(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value { return NamedTensorsToJs(info.Env(), ModuleState(*Net())); });
  }

  // logit(x, sigma, classLabels | null) → Promise<handle>: d(x_σ, σ, c), one logit per image.
  Napi::Value Logit(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      RatioNet net = Net();
      at::Tensor x = TensorHandle::TensorOf(info[0], "x"), sigma = TensorHandle::TensorOf(info[1], "sigma");
      at::Tensor labels = IsNullish(info[2]) ? at::Tensor() : TensorHandle::TensorOf(info[2], "classLabels");
      if (x.dim() != 4) ThrowValueError("x must be [N, C, H, W]");
      if (sigma.numel() != 1 && sigma.numel() != x.size(0)) ThrowValueError("sigma must be a number or one value per image");
      return TorchJob<at::Tensor>::Start(info.Env(), "onestep.ratioLogit",
          [net, x, sigma, labels]() mutable {
            at::NoGradGuard no_grad;
            return net->forward(x, sigma.numel() == 1 ? sigma.reshape({1}).expand({x.size(0)}) : sigma, labels);
          },
          WrapTensorResult);
    });
  }

  Napi::Value ModuleRef(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value { return Napi::External<RatioNet>::New(info.Env(), &Net()); });
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    net_ = RatioNet(nullptr);
    return info.Env().Undefined();
  }

  RatioNet net_{nullptr};
};

// divergenceLoss(name, logits) → handle: the per-sample generator surrogate f′(e^d), differentiable.
Napi::Value DivergenceLoss(const Napi::CallbackInfo& info) {
  dijs::Divergence divergence = dijs::ParseDivergence(GetString(info, 0, "divergence"));
  const at::Tensor& logits = TensorHandle::TensorOf(info[1], "logits");
  if (!at::isFloatingType(logits.scalar_type())) ThrowTypeError("logits must be a floating-point tensor");
  return TensorHandle::Wrap(info.Env(), dijs::GeneratorSurrogate(logits, divergence));
}

// ratioLoss(fakeLogits, realLogits) → handle: the classifier's logistic loss (a scalar).
Napi::Value RatioLossOp(const Napi::CallbackInfo& info) {
  const at::Tensor& fake = TensorHandle::TensorOf(info[0], "fakeLogits");
  const at::Tensor& real = TensorHandle::TensorOf(info[1], "realLogits");
  if (!at::isFloatingType(fake.scalar_type()) || !at::isFloatingType(real.scalar_type())) ThrowTypeError("logits must be floating-point tensors");
  return TensorHandle::Wrap(info.Env(), dijs::RatioLoss(fake, real));
}

// translateImages(x, shifts) → handle: each image moved by its (rows, columns) shift, -1 moving in.
Napi::Value TranslateImagesOp(const Napi::CallbackInfo& info) {
  const at::Tensor& x = TensorHandle::TensorOf(info[0], "images");
  const at::Tensor& shifts = TensorHandle::TensorOf(info[1], "shifts");
  if (x.dim() != 4 || !at::isFloatingType(x.scalar_type())) ThrowValueError("images must be a floating-point [N, C, H, W] tensor");
  if (shifts.scalar_type() != at::kLong || shifts.dim() != 2 || shifts.size(0) != x.size(0) || shifts.size(1) != 2)
    ThrowValueError("shifts must be an int64 [N, 2] tensor (rows, columns) with one row per image");
  if (shifts.device() != x.device()) ThrowValueError("images and shifts must be on the same device");
  const int64_t largest = shifts.numel() > 0 ? shifts.abs().max().item<int64_t>() : 0;
  if (largest >= std::min(x.size(2), x.size(3))) ThrowValueError("a shift must be smaller than the image (" + std::to_string(largest) + ")");
  return TensorHandle::Wrap(info.Env(), dijs::TranslateImages(x, shifts, largest));
}

// cutoutImages(x, corners, size) → handle: in each image the size × size square at its (row, column)
// corner becomes -1; differentiable.
Napi::Value CutoutImagesOp(const Napi::CallbackInfo& info) {
  const at::Tensor& x = TensorHandle::TensorOf(info[0], "images");
  const at::Tensor& corners = TensorHandle::TensorOf(info[1], "corners");
  const int64_t size = GetInt(info, 2, "size");
  if (x.dim() != 4 || !at::isFloatingType(x.scalar_type())) ThrowValueError("images must be a floating-point [N, C, H, W] tensor");
  if (corners.scalar_type() != at::kLong || corners.dim() != 2 || corners.size(0) != x.size(0) || corners.size(1) != 2)
    ThrowValueError("corners must be an int64 [N, 2] tensor (row, column) with one row per image");
  if (corners.device() != x.device()) ThrowValueError("images and corners must be on the same device");
  if (size < 1 || size > std::min(x.size(2), x.size(3))) ThrowValueError("size must be from 1 to the image's side (" + std::to_string(std::min(x.size(2), x.size(3))) + "), not " + std::to_string(size));
  return TensorHandle::Wrap(info.Env(), dijs::CutoutImages(x, corners, size));
}

// flipImages(x, flips) → handle: each image mirrored left to right where its flips entry is set.
Napi::Value FlipImagesOp(const Napi::CallbackInfo& info) {
  const at::Tensor& x = TensorHandle::TensorOf(info[0], "images");
  const at::Tensor& flips = TensorHandle::TensorOf(info[1], "flips");
  if (x.dim() != 4 || !at::isFloatingType(x.scalar_type())) ThrowValueError("images must be a floating-point [N, C, H, W] tensor");
  if (flips.scalar_type() != at::kBool || flips.dim() != 1 || flips.size(0) != x.size(0))
    ThrowValueError("flips must be a bool [N] tensor with one entry per image");
  if (flips.device() != x.device()) ThrowValueError("images and flips must be on the same device");
  return TensorHandle::Wrap(info.Env(), dijs::FlipImages(x, flips));
}

}  // namespace

void RegisterRatio(Napi::Env env, Napi::Object exports) {
  RatioNetworkHandle::Register(env, exports);
  Export<DivergenceLoss>(env, exports, "divergenceLoss");
  Export<RatioLossOp>(env, exports, "ratioLoss");
  Export<TranslateImagesOp>(env, exports, "translateImages");
  Export<CutoutImagesOp>(env, exports, "cutoutImages");
  Export<FlipImagesOp>(env, exports, "flipImages");
}

}  // namespace onestep

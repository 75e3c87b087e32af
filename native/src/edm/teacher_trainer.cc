// The fused teacher training step (EDM's loss, backward, Adam with learning-rate warm-up, EMA),
// run `k` iterations per native call on a worker thread. Batches are drawn on the device from a
// permutation of the whole data set, so the GPU never waits for JavaScript; the losses stay on
// the device and are read once per call.
#include "../registry.h"
#include "../tensor_handle.h"
#include "../worker.h"
#include "songunet.h"

#include <ATen/autocast_mode.h>

#include <cmath>
#include <mutex>

namespace onestep {
namespace {

using edm::EDMPrecond;

struct TrainOptions {
  int64_t batch_size = 256;
  double lr = 5e-4, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double warmup_images = 256e3;      // linear learning-rate warm-up (EDM: lr_rampup_kimg)
  double ema_halflife_images = 500e3;
  double ema_rampup_ratio = 0.05;    // EDM: the half-life grows with the images seen, up to the above
  double p_mean = -1.2, p_std = 1.2;
  double sigma_data = edm::kSigmaData;
  bool bf16 = false;  // bf16 autocast for the forward pass (weights, loss and optimizer stay fp32)
};

// bf16 autocast for one iteration on one device type (autocast state is per thread: set on the
// worker). The API moved in libtorch 2.4; both spellings are here.
class AutocastGuard {
 public:
  explicit AutocastGuard(c10::DeviceType type) : type_(type) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    was_enabled_ = at::autocast::is_autocast_enabled(type_);
    was_dtype_ = at::autocast::get_autocast_dtype(type_);
    at::autocast::set_autocast_enabled(type_, true);
    at::autocast::set_autocast_dtype(type_, at::kBFloat16);
#else
    bool cpu = type_ == c10::DeviceType::CPU;
    was_enabled_ = cpu ? at::autocast::is_cpu_enabled() : at::autocast::is_enabled();
    was_dtype_ = cpu ? at::autocast::get_autocast_cpu_dtype() : at::autocast::get_autocast_gpu_dtype();
    if (cpu) { at::autocast::set_cpu_enabled(true); at::autocast::set_autocast_cpu_dtype(at::kBFloat16); }
    else { at::autocast::set_enabled(true); at::autocast::set_autocast_gpu_dtype(at::kBFloat16); }
#endif
  }
  ~AutocastGuard() {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    at::autocast::set_autocast_enabled(type_, was_enabled_);
    at::autocast::set_autocast_dtype(type_, was_dtype_);
#else
    if (type_ == c10::DeviceType::CPU) { at::autocast::set_cpu_enabled(was_enabled_); at::autocast::set_autocast_cpu_dtype(was_dtype_); }
    else { at::autocast::set_enabled(was_enabled_); at::autocast::set_autocast_gpu_dtype(was_dtype_); }
#endif
    at::autocast::clear_cache();
  }

 private:
  c10::DeviceType type_;
  bool was_enabled_ = false;
  at::ScalarType was_dtype_ = at::kBFloat16;
};

double NumberField(const Napi::Object& o, const char* key, double fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber()) ThrowTypeError(std::string("options.") + key + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) ThrowValueError(std::string("options.") + key + " must be finite");
  return d;
}

// Every parameter of a module moved into one contiguous buffer (the parameters become views of
// it), with gradients that are views of a second buffer: the optimizer, the gradient clean-up and
// the EMA then launch a handful of kernels per step instead of several per parameter.
struct FlatParameters {
  at::Tensor data, grad;

  FlatParameters(torch::nn::Module& module, bool with_grad) {
    at::NoGradGuard no_grad;
    auto params = module.parameters();
    int64_t total = 0;
    for (const auto& p : params) total += p.numel();
    data = at::empty({total}, params.at(0).options());
    if (with_grad) grad = at::zeros({total}, params.at(0).options());
    int64_t offset = 0;
    for (auto& p : params) {
      const int64_t n = p.numel();
      at::Tensor view = data.narrow(0, offset, n).view(p.sizes());
      view.copy_(p);
      p.set_data(view);
      // Backward accumulates in place into a defined gradient, so these stay views.
      if (with_grad) p.mutable_grad() = grad.narrow(0, offset, n).view(p.sizes());
      offset += n;
    }
  }
};

// Adam on the flat buffers; its state is two tensors we own (saved and restored for exact resume).
struct Adam {
  FlatParameters& params;
  at::Tensor exp_avg, exp_avg_sq;
  int64_t steps = 0;

  explicit Adam(FlatParameters& p) : params(p), exp_avg(at::zeros_like(p.data)), exp_avg_sq(at::zeros_like(p.data)) {}

  void Step(double lr, const TrainOptions& o) {
    ++steps;
    const double bias1 = 1 - std::pow(o.beta1, static_cast<double>(steps));
    const double bias2 = 1 - std::pow(o.beta2, static_cast<double>(steps));
    at::Tensor& grad = params.grad;
    at::nan_to_num_(grad, 0.0, 1e5, -1e5);  // EDM replaces non-finite gradients before the update
    exp_avg.mul_(o.beta1).add_(grad, 1 - o.beta1);
    exp_avg_sq.mul_(o.beta2).addcmul_(grad, grad, 1 - o.beta2);
    at::Tensor denom = (exp_avg_sq / bias2).sqrt_().add_(o.eps);
    params.data.addcdiv_(exp_avg, denom, -lr / bias1);
  }
};

class TeacherTrainer : public Napi::ObjectWrap<TeacherTrainer> {
 public:
  static void Register(Napi::Env env, Napi::Object exports) {
    exports.Set("TeacherTrainer", DefineClass(env, "TeacherTrainer", {
        InstanceMethod<&TeacherTrainer::Step>("step"),
        InstanceMethod<&TeacherTrainer::State>("state"),
        InstanceMethod<&TeacherTrainer::Restore>("restore"),
        InstanceMethod<&TeacherTrainer::Dispose>("dispose"),
    }));
  }

  // new TeacherTrainer(netHandle, emaHandle, images, labels | null, labelDim, options)
  // The networks are EDMNetworkHandle objects' modules, shared: training updates them in place.
  explicit TeacherTrainer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TeacherTrainer>(info) {
    Guard(info.Env(), [&] {
      net_ = *static_cast<EDMPrecond*>(info[0].As<Napi::External<EDMPrecond>>().Data());
      ema_ = *static_cast<EDMPrecond*>(info[1].As<Napi::External<EDMPrecond>>().Data());
      images_ = TensorHandle::TensorOf(info[2], "images");
      if (!IsNullish(info[3])) labels_ = TensorHandle::TensorOf(info[3], "labels");
      label_dim_ = GetInt(info, 4, "labelDim");
      if (!info[5].IsObject()) ThrowTypeError("options must be an object");
      Napi::Object o = info[5].As<Napi::Object>();
      options_.batch_size = static_cast<int64_t>(NumberField(o, "batchSize", 256));
      options_.lr = NumberField(o, "lr", options_.lr);
      options_.beta1 = NumberField(o, "beta1", options_.beta1);
      options_.beta2 = NumberField(o, "beta2", options_.beta2);
      options_.eps = NumberField(o, "eps", options_.eps);
      options_.warmup_images = NumberField(o, "warmupImages", options_.warmup_images);
      options_.ema_halflife_images = NumberField(o, "emaHalfLifeImages", options_.ema_halflife_images);
      options_.ema_rampup_ratio = NumberField(o, "emaRampupRatio", options_.ema_rampup_ratio);
      options_.p_mean = NumberField(o, "pMean", options_.p_mean);
      options_.p_std = NumberField(o, "pStd", options_.p_std);
      Napi::Value bf16 = o.Get("bf16");
      if (!bf16.IsUndefined() && !bf16.IsBoolean()) ThrowTypeError("options.bf16 must be a boolean");
      options_.bf16 = bf16.IsBoolean() && bf16.As<Napi::Boolean>().Value();
      if (options_.batch_size < 1 || options_.batch_size > images_.size(0))
        ThrowValueError("batchSize must be between 1 and the number of images (" + std::to_string(images_.size(0)) + ")");
      if (images_.dim() != 4) ThrowValueError("images must be [N, C, H, W]");
      if (labels_.defined() && (labels_.dim() != 1 || labels_.size(0) != images_.size(0) || labels_.scalar_type() != at::kLong))
        ThrowValueError("labels must be an int64 tensor [N] matching the images");
      if (label_dim_ > 0 && !labels_.defined()) ThrowValueError("a class-conditional network needs labels");
      if (images_.device() != net_->model->map_layer0->weight.device())
        ThrowValueError("images and network must be on the same device");
      net_->train();
      ema_->eval();
      net_flat_ = std::make_unique<FlatParameters>(*net_, /*with_grad=*/true);
      ema_flat_ = std::make_unique<FlatParameters>(*ema_, /*with_grad=*/false);
      adam_ = std::make_unique<Adam>(*net_flat_);
      return 0;
    });
  }

 private:
  // A fresh permutation of the data set each epoch, drawn on the device.
  at::Tensor NextIndices() {
    const int64_t n = images_.size(0), b = options_.batch_size;
    if (!perm_.defined() || position_ + b > n) {
      perm_ = at::randperm(n, at::TensorOptions().dtype(at::kLong).device(images_.device()));
      position_ = 0;
    }
    at::Tensor idx = perm_.slice(0, position_, position_ + b);
    position_ += b;
    return idx;
  }

  // One iteration; returns the batch's loss (on the device).
  at::Tensor Iterate() {
    const auto& o = options_;
    at::Tensor idx = NextIndices();
    at::Tensor y = images_.index_select(0, idx);
    at::Tensor labels;
    if (label_dim_ > 0) labels = at::one_hot(labels_.index_select(0, idx), label_dim_).to(y.scalar_type());
    at::Tensor sigma = (at::randn({y.size(0), 1, 1, 1}, y.options()) * o.p_std + o.p_mean).exp();
    at::Tensor weight = (sigma.square() + o.sigma_data * o.sigma_data) / (sigma * o.sigma_data).square();
    at::Tensor noisy = y + at::randn_like(y) * sigma;
    at::Tensor denoised;
    {
      c10::optional<AutocastGuard> autocast;
      if (o.bf16) autocast.emplace(y.device().type());
      denoised = net_->forward(noisy, sigma.flatten(), labels, at::Tensor()).to(at::kFloat);
    }
    // EDM: λ(σ)·‖D − y‖² summed over pixels, averaged over the batch.
    at::Tensor loss = (weight * (denoised - y).square()).sum() / static_cast<double>(y.size(0));
    net_flat_->grad.zero_();
    loss.backward();
    images_seen_ += static_cast<double>(y.size(0));
    const double lr = o.lr * std::min(images_seen_ / std::max(o.warmup_images, 1e-8), 1.0);
    {
      at::NoGradGuard no_grad;
      adam_->Step(lr, o);
      double halflife = o.ema_halflife_images;
      if (o.ema_rampup_ratio > 0) halflife = std::min(halflife, images_seen_ * o.ema_rampup_ratio);
      const double beta = std::pow(0.5, static_cast<double>(y.size(0)) / std::max(halflife, 1e-8));
      ema_flat_->data.lerp_(net_flat_->data, 1 - beta);  // ema ← β·ema + (1 − β)·net, one kernel
    }
    last_lr_ = lr;
    return loss.detach();
  }

  // step(k) → Promise<{ loss, imagesSeen, lr }>: k iterations, one host read at the end.
  Napi::Value Step(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      if (!adam_) throw UserError(code::kDisposed, "this trainer was disposed");
      int64_t k = GetInt(info, 0, "iterations");
      if (k < 1 || k > 100000) ThrowValueError("iterations must be between 1 and 100000");
      struct Out { double loss, images, lr; };
      return TorchJob<Out>::Start(info.Env(), "onestep.teacherStep",
          [this, k] {
            std::lock_guard<std::mutex> lock(mutex_);  // one step at a time, even if called concurrently
            at::AutoGradMode grad(true);
            at::Tensor total;
            for (int64_t i = 0; i < k; ++i) {
              at::Tensor loss = Iterate();
              total = total.defined() ? total + loss : loss;
            }
            return Out{total.item<double>() / static_cast<double>(k), images_seen_, last_lr_};
          },
          [](Napi::Env env, Out& out) -> Napi::Value {
            Napi::Object o = Napi::Object::New(env);
            o.Set("loss", out.loss);
            o.Set("imagesSeen", out.images);
            o.Set("lr", out.lr);
            return o;
          });
    });
  }

  // state() → { tensors: [[name, handle]], imagesSeen, steps, position }: what resume needs
  // beyond the weights (optimizer moments, the epoch's permutation, the generator's state).
  Napi::Value State(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      std::lock_guard<std::mutex> lock(mutex_);
      Napi::Env env = info.Env();
      // Copies: the state keeps changing as training goes on.
      std::vector<std::pair<std::string, at::Tensor>> state = {
          {"adam.exp_avg", adam_->exp_avg.clone()},
          {"adam.exp_avg_sq", adam_->exp_avg_sq.clone()},
          {"rng.state", at::globalContext().defaultGenerator(images_.device()).get_state()},
      };
      if (perm_.defined()) state.emplace_back("data.permutation", perm_.clone());
      Napi::Object out = Napi::Object::New(env);
      out.Set("tensors", NamedTensorsToJs(env, state));
      out.Set("imagesSeen", images_seen_);
      out.Set("steps", static_cast<double>(adam_->steps));
      out.Set("position", static_cast<double>(position_));
      return out;
    });
  }

  // restore(tensors: [[name, handle]], imagesSeen, steps, position)
  Napi::Value Restore(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!info[0].IsArray()) ThrowTypeError("restore needs an array of [name, tensor]");
      Napi::Array list = info[0].As<Napi::Array>();
      at::NoGradGuard no_grad;
      for (uint32_t i = 0; i < list.Length(); ++i) {
        Napi::Array pair = list.Get(i).As<Napi::Array>();
        std::string name = pair.Get(0u).As<Napi::String>().Utf8Value();
        const at::Tensor& t = TensorHandle::TensorOf(pair.Get(1u), name.c_str());
        auto copy = [&](at::Tensor& dst) {
          if (!dst.sizes().equals(t.sizes())) ThrowValueError("trainer state '" + name + "' has the wrong shape");
          dst.copy_(t);
        };
        if (name == "adam.exp_avg_sq") copy(adam_->exp_avg_sq);
        else if (name == "adam.exp_avg") copy(adam_->exp_avg);
        else if (name == "data.permutation") perm_ = t.to(images_.device(), at::kLong).clone();
        else if (name == "rng.state") {
          at::Generator gen = at::globalContext().defaultGenerator(images_.device());
          gen.set_state(t.to(at::kCPU).contiguous());
        }
        else ThrowValueError("unknown trainer state '" + name + "'");
      }
      images_seen_ = GetNumber(info, 1, "imagesSeen");
      adam_->steps = GetInt(info, 2, "steps");
      position_ = GetInt(info, 3, "position");
      return info.Env().Undefined();
    });
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    std::lock_guard<std::mutex> lock(mutex_);
    adam_.reset();
    net_flat_.reset();
    ema_flat_.reset();
    images_ = labels_ = perm_ = at::Tensor();
    return info.Env().Undefined();
  }

  EDMPrecond net_{nullptr}, ema_{nullptr};
  at::Tensor images_, labels_, perm_;
  int64_t label_dim_ = 0, position_ = 0;
  TrainOptions options_;
  std::unique_ptr<FlatParameters> net_flat_, ema_flat_;
  std::unique_ptr<Adam> adam_;
  double images_seen_ = 0, last_lr_ = 0;
  std::mutex mutex_;
};

}  // namespace

void RegisterTeacherTrainer(Napi::Env env, Napi::Object exports) { TeacherTrainer::Register(env, exports); }

}  // namespace onestep

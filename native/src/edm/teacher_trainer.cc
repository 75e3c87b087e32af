// The fused teacher training step (EDM's loss, backward, Adam with learning-rate warm-up, EMA),
// run `k` iterations per native call on a worker thread. Batches are drawn on the device from a
// permutation of the whole data set, so the GPU never waits for JavaScript; the losses stay on
// the device and are read once per call.
#include "../registry.h"
#include "../tensor_handle.h"
#include "../worker.h"
#include "../dist/collective.h"
#include "../train/call_order.h"
#include "../train/extra_emas.h"
#include "../train/optim.h"
#include "../train/precision.h"
#include "../train/state.h"
#include "songunet.h"

#include <cmath>
#include <mutex>

namespace onestep {
namespace {

using edm::EDMPrecond;
using train::Adam;
using train::FlatParameters;
using train::NumberField;

struct TrainOptions {
  int64_t batch_size = 256;
  train::AdamOptions adam{5e-4, 0.9, 0.999, 1e-8};
  double warmup_images = 256e3;      // linear learning-rate warm-up (EDM: lr_rampup_kimg)
  double decay_images = 0;           // EDM2's inverse square-root decay after this many images; 0: none
  double ema_halflife_images = 500e3;
  double ema_rampup_ratio = 0.05;    // EDM: the half-life grows with the images seen, up to the above
  double p_mean = -1.2, p_std = 1.2;
  double sigma_data = edm::kSigmaData;
  train::Precision precision = train::Precision::kFloat32;  // train/precision.h
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

  // new TeacherTrainer(netHandle, emaHandle, images, labels | null, labelDim, options); options.extraEmas:
  // [{ module: a network of the same shape, halfLifeImages }] (optional, train/extra_emas.h).
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
      options_.adam.lr = NumberField(o, "lr", options_.adam.lr);
      options_.adam.beta1 = NumberField(o, "beta1", options_.adam.beta1);
      options_.adam.beta2 = NumberField(o, "beta2", options_.adam.beta2);
      options_.adam.eps = NumberField(o, "eps", options_.adam.eps);
      options_.warmup_images = NumberField(o, "warmupImages", options_.warmup_images);
      options_.decay_images = NumberField(o, "lrDecayImages", options_.decay_images);
      if (!(options_.decay_images >= 0)) ThrowValueError("lrDecayImages must be non-negative (0: no decay)");
      options_.ema_halflife_images = NumberField(o, "emaHalfLifeImages", options_.ema_halflife_images);
      options_.ema_rampup_ratio = NumberField(o, "emaRampupRatio", options_.ema_rampup_ratio);
      options_.p_mean = NumberField(o, "pMean", options_.p_mean);
      options_.p_std = NumberField(o, "pStd", options_.p_std);
      options_.precision = train::PrecisionField(o);
      parallel_.Join(dist::CollectiveOf(o.Get("processGroup")));
      if (options_.batch_size < 1 || parallel_.GlobalBatch(options_.batch_size) > images_.size(0))
        ThrowValueError("batchSize" + std::string(parallel_.Size() > 1 ? " × the group's size" : "") + " must be between 1 and the number of images (" +
                        std::to_string(images_.size(0)) + ")");
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
      extra_emas_.Parse(o.Get("extraEmas"), images_.device(), ema_flat_->data.numel());
      adam_ = std::make_unique<Adam>(*net_flat_, options_.adam);
      state_.Add("adam.exp_avg", &adam_->exp_avg);
      state_.Add("adam.exp_avg_sq", &adam_->exp_avg_sq);
      return 0;
    });
  }

 private:
  // One iteration; returns the batch's loss (on the device).
  at::Tensor Iterate() {
    const auto& o = options_;
    const int64_t b = o.batch_size, global = parallel_.GlobalBatch(b);  // data parallel: dist/collective.h
    at::Tensor idx = parallel_.Rows(sampler_.Next(images_.size(0), global, images_.device()), b);
    at::Tensor y = images_.index_select(0, idx);
    at::Tensor labels;
    if (label_dim_ > 0) labels = at::one_hot(labels_.index_select(0, idx), label_dim_).to(y.scalar_type());
    at::Tensor sigma = (parallel_.Rows(at::randn({global, 1, 1, 1}, y.options()), b) * o.p_std + o.p_mean).exp();
    at::Tensor weight = (sigma.square() + o.sigma_data * o.sigma_data) / (sigma * o.sigma_data).square();
    at::Tensor noisy = y + parallel_.Rows(at::randn({global, y.size(1), y.size(2), y.size(3)}, y.options()), b) * sigma;
    at::Tensor denoised;
    {
      train::PrecisionScope precision(o.precision, y.device().type());
      denoised = net_->forward(noisy, sigma.flatten(), labels, at::Tensor()).to(at::kFloat);
    }
    // EDM: λ(σ)·‖D − y‖² summed over pixels, averaged over the batch.
    at::Tensor loss = (weight * (denoised - y).square()).sum() / static_cast<double>(y.size(0));
    net_flat_->grad.zero_();
    loss.backward();
    parallel_.Average(net_flat_->grad);
    images_seen_ += static_cast<double>(global);
    // Warm-up, then EDM2's decay (settles the weights the EMA averages).
    const double lr = train::DecayedLr(o.adam.lr * std::min(images_seen_ / std::max(o.warmup_images, 1e-8), 1.0), images_seen_, o.decay_images);
    {
      at::NoGradGuard no_grad;
      adam_->Step(lr);
      train::UpdateEma(*ema_flat_, *net_flat_, static_cast<double>(global), train::RampedHalfLife(o.ema_halflife_images, images_seen_, o.ema_rampup_ratio));
      extra_emas_.Update(*net_flat_, static_cast<double>(global), images_seen_, o.ema_rampup_ratio);
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
      // A vote to stop after this call (a time budget), averaged over the group with the loss.
      const double stop_vote = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : 0.0;
      struct Out { double loss, images, lr, stop_vote; };
      return TorchJob<Out>::Start(info.Env(), "onestep.teacherStep",
          [this, k, stop_vote, ticket = call_order_.Take()] {
            train::CallOrder::Turn turn(call_order_, ticket);  // calls run in the order they were made
            std::lock_guard<std::mutex> lock(mutex_);
            at::AutoGradMode grad(true);
            at::Tensor total;
            for (int64_t i = 0; i < k; ++i) {
              at::Tensor loss = Iterate();
              total = total.defined() ? total + loss : loss;
            }
            at::Tensor mean = at::stack({total / static_cast<double>(k), at::full({}, stop_vote, total.options())});
            parallel_.Average(mean);  // the group's loss and stop votes, the same on every process
            at::Tensor host = mean.to(at::kCPU, at::kDouble);
            return Out{host[0].item<double>(), images_seen_, last_lr_, host[1].item<double>()};
          },
          [](Napi::Env env, Out& out) -> Napi::Value {
            Napi::Object o = Napi::Object::New(env);
            o.Set("loss", out.loss);
            o.Set("imagesSeen", out.images);
            o.Set("lr", out.lr);
            o.Set("stopVote", out.stop_vote);
            return o;
          });
    });
  }

  // state() → { tensors: [[name, handle]], imagesSeen, steps, position }: what resume needs
  // beyond the weights (optimizer moments, the epoch's permutation, the generator's state).
  Napi::Value State(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!adam_) throw UserError(code::kDisposed, "this trainer was disposed");
      Napi::Env env = info.Env();
      auto state = state_.Snapshot(images_.device(), sampler_);
      Napi::Object out = Napi::Object::New(env);
      out.Set("tensors", NamedTensorsToJs(env, state));
      out.Set("imagesSeen", images_seen_);
      out.Set("steps", static_cast<double>(adam_->steps));
      out.Set("position", static_cast<double>(sampler_.position));
      return out;
    });
  }

  // restore(tensors: [[name, handle]], imagesSeen, steps, position)
  Napi::Value Restore(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!adam_) throw UserError(code::kDisposed, "this trainer was disposed");
      state_.Restore(info[0], images_.device(), sampler_, images_.size(0));
      images_seen_ = GetNumber(info, 1, "imagesSeen");
      adam_->steps = GetInt(info, 2, "steps");
      sampler_.position = GetInt(info, 3, "position");
      return info.Env().Undefined();
    });
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    std::lock_guard<std::mutex> lock(mutex_);
    adam_.reset();
    net_flat_.reset();
    ema_flat_.reset();
    extra_emas_.Clear();
    parallel_.Leave();
    images_ = labels_ = sampler_.permutation = at::Tensor();
    return info.Env().Undefined();
  }

  EDMPrecond net_{nullptr}, ema_{nullptr};
  at::Tensor images_, labels_;
  train::EpochSampler sampler_;
  train::TrainerState state_;
  int64_t label_dim_ = 0;
  TrainOptions options_;
  std::unique_ptr<FlatParameters> net_flat_, ema_flat_;
  train::ExtraEmas extra_emas_;  // beside the main EMA (options.extraEmas)
  std::unique_ptr<Adam> adam_;
  double images_seen_ = 0, last_lr_ = 0;
  std::mutex mutex_;
  train::CallOrder call_order_;
  dist::DataParallel parallel_;  // identity when training alone
};

}  // namespace

void RegisterTeacherTrainer(Napi::Env env, Napi::Object exports) { TeacherTrainer::Register(env, exports); }

}  // namespace onestep

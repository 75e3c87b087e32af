// The fused DiJS step: one native call runs whole iterations on a worker thread — draw z,
// generate, noise real and fake at sampled σ, ratio loss and update, generator loss through the
// frozen ratio network and update, EMA — with no host synchronisation inside. Statistics stay on
// the device; at the end of a call they are copied to pinned memory behind an event, and the
// call waits for that event only after releasing the trainer, so a next call can already queue
// its iterations (DiJSTrainer.run keeps two calls queued ahead of the one it reads).
#include <algorithm>
#include <cmath>

#include "../registry.h"
#include "../tensor_handle.h"
#include "../dist/collective.h"
#include "../train/call_order.h"
#include "../train/extra_emas.h"
#include "../train/lookahead.h"
#include "../train/optim.h"
#include "../train/precision.h"
#include "../train/state.h"
#include "../train/step_graph.h"
#include "../worker.h"
#include "augment.h"
#include "divergence.h"
#include "ratio_network.h"

#include <c10/core/Event.h>
#include <c10/core/impl/VirtualGuardImpl.h>

#include <chrono>
#include <mutex>
#include <thread>

namespace onestep {
namespace {

using dijs::Divergence;
using dijs::RatioNet;
using dijs::RatioNetImpl;
using edm::EDMPrecond;
using train::Adam;
using train::FlatParameters;
using train::NumberField;

struct LogNormal {
  double mean = -1.2, std = 1.2;
};

struct DiJSOptions {
  int64_t batch_size = 256;
  double sigma_init = 2.5;
  Divergence divergence = Divergence::kJS;
  train::AdamOptions adam_g{5e-5, 0.0, 0.99, 1e-8}, adam_d{2e-4, 0.0, 0.99, 1e-8};
  double lr_decay_images = 0;                 // EDM2's 1/√t decay of both learning rates after this; 0 = off
  double lr_g_warmup_images = 0;              // linear warm-up of the generator's learning rate; 0 = off
  // Images seen when the ratio network last started (0, or a resume's resetRatio): lr D's decay and
  // lr G's warm-up count from here, so a restarted network gets a run's opening rates.
  double ratio_start_images = 0;
  double clip_g = 0, clip_d = 0;              // global gradient-norm limits; 0 = off
  double ema_halflife_images = 100e3;
  double ema_rampup_ratio = 0;                // > 0: half-life ≤ ratio × images seen (EDM's rule)
  LogNormal sigma_d, sigma_g;                 // ln σ for the ratio step and the generator step
  double weight_power = 0;                    // generator loss weight w(σ) = σ^power (0: uniform)
  int64_t ratio_steps = 1;                    // ratio updates per generator update
  double r1_gamma = 0;                        // R1 penalty γ/2·E‖∇x d‖² on noised real images; 0 = off
  double r2_gamma = 0;                        // the same on noised generated images (R2); 0 = off
  double penalty_step = 0.05;                 // their finite-difference step (pixels, [-1, 1] scale)
  int64_t augment_shift = 0;                  // random translations of up to this many pixels; 0 = off
  double augment_probability = 1;             // … applied to each image with this probability (the first, if adaptive)
  double augment_target = 0;                  // > 0: adapt that probability towards this E[sign(−d(real))] (ADA)
  double augment_speed_images = 500e3;        // … by at most 1 per this many images
  double augment_max_probability = 1;         // … and never above this
  int64_t augment_cutout = 0;                 // cutout squares of this side (pixels), with the same p; 0 = off
  double augment_flip = 0;                    // horizontal flips with this probability of their own (< 0.5); 0 = off
  int64_t lookahead_steps = 0;                // Lookahead-minmax: pull both networks back every this many steps; 0 = off
  double lookahead_alpha = 0.5;               // … to slow + α·(fast − slow)
  train::Precision precision = train::Precision::kFloat32;
  bool cuda_graph = false;                    // replay each iteration from a CUDA graph
};

// Eager iterations in a call before it captures: cuDNN's autotuning and cuBLAS's set-up must not
// run under capture.
constexpr int64_t kGraphWarmupIterations = 3;

// Statistics per iteration, in this order (summed on the device, averaged when read).
constexpr const char* kStatNames[] = {"lossRatio", "lossGenerator", "ratioAccuracyReal", "ratioAccuracyFake",
                                      "logitReal", "logitFake", "gradNormGenerator", "gradNormRatio", "ratioInputGradSqReal",
                                      "ratioInputGradSqFake", "augmentProbability"};
constexpr int64_t kStats = 11;

class DiJSTrainer : public Napi::ObjectWrap<DiJSTrainer> {
 public:
  static void Register(Napi::Env env, Napi::Object exports) {
    exports.Set("DiJSTrainer", DefineClass(env, "DiJSTrainer", {
        InstanceMethod<&DiJSTrainer::Step>("step"),
        InstanceMethod<&DiJSTrainer::State>("state"),
        InstanceMethod<&DiJSTrainer::Restore>("restore"),
        InstanceMethod<&DiJSTrainer::Dispose>("dispose"),
    }));
  }

  // new DiJSTrainer(generatorRef, emaRef, ratioRef, images, labels | null, options); options.extraEmas:
  // [{ module: generatorRef, halfLifeImages }] (optional).
  explicit DiJSTrainer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DiJSTrainer>(info) {
    Guard(info.Env(), [&] {
      gen_ = *static_cast<EDMPrecond*>(info[0].As<Napi::External<EDMPrecond>>().Data());
      ema_ = *static_cast<EDMPrecond*>(info[1].As<Napi::External<EDMPrecond>>().Data());
      ratio_ = *static_cast<RatioNet*>(info[2].As<Napi::External<RatioNet>>().Data());
      images_ = TensorHandle::TensorOf(info[3], "images");
      if (!IsNullish(info[4])) labels_ = TensorHandle::TensorOf(info[4], "labels");
      if (!info[5].IsObject()) ThrowTypeError("options must be an object");
      ParseOptions(info[5].As<Napi::Object>());
      label_dim_ = gen_->model->config.label_dim;
      if (images_.dim() != 4) ThrowValueError("images must be [N, C, H, W]");
      parallel_.Join(dist::CollectiveOf(info[5].As<Napi::Object>().Get("processGroup")));
      if (options_.batch_size < 1 || parallel_.GlobalBatch(options_.batch_size) > images_.size(0))
        ThrowValueError("batchSize" + std::string(parallel_.Size() > 1 ? " × the group's size" : "") + " must be between 1 and the number of images (" +
                        std::to_string(images_.size(0)) + ")");
      if (labels_.defined() && (labels_.dim() != 1 || labels_.size(0) != images_.size(0) || labels_.scalar_type() != at::kLong))
        ThrowValueError("labels must be an int64 tensor [N] matching the images");
      if (label_dim_ > 0 && !labels_.defined()) ThrowValueError("a class-conditional generator needs labeled data");
      const auto& config = gen_->model->config;
      if (images_.size(1) != config.in_channels || images_.size(2) != config.img_resolution || images_.size(3) != config.img_resolution)
        ThrowValueError("images must be [N, " + std::to_string(config.in_channels) + ", " + std::to_string(config.img_resolution) + ", " +
                        std::to_string(config.img_resolution) + "] for this generator");
      if (options_.augment_cutout >= config.img_resolution)
        ThrowValueError("augmentCutout must be smaller than the images (" + std::to_string(config.img_resolution) + " pixels)");
      const c10::Device device = gen_->model->map_layer0->weight.device();
      if (images_.device() != device || ratio_->head_out->weight.device() != device)
        ThrowValueError("data, generator and ratio network must be on the same device");
      // The generators never drop out; the ratio network only inside Compute, where its config
      // asks for it (RatioDropoutScope), so that measuring it between steps sees no dropout.
      gen_->eval();
      ema_->eval();
      ratio_->eval();
      if (ratio_->model->config.dropout > 0 && (options_.r1_gamma > 0 || options_.r2_gamma > 0))
        ThrowValueError("ratio network dropout cannot be combined with r1Gamma or r2Gamma: the penalties' finite differences would measure its noise");
      if (options_.cuda_graph && !device.is_cuda())
        throw UserError(code::kCudaUnavailable, "cudaGraph needs a CUDA device (this trainer is on " + device.str() + ")");
      if (options_.cuda_graph && !train::StepGraph::Supported())
        throw UserError(code::kCudaUnavailable, "cudaGraph needs a CUDA build of onestep");
      // Over NCCL the graph records the all-reduces too (every process replays its graph in step).
      if (options_.cuda_graph && !parallel_.Capturable())
        ThrowValueError("cudaGraph in a process group needs the NCCL backend (Gloo's all-reduce waits on the host)");
      gen_flat_ = std::make_unique<FlatParameters>(*gen_, /*with_grad=*/true);
      ema_flat_ = std::make_unique<FlatParameters>(*ema_, /*with_grad=*/false);
      extra_emas_.Parse(info[5].As<Napi::Object>().Get("extraEmas"), device, ema_flat_->data.numel());
      ratio_flat_ = std::make_unique<FlatParameters>(*ratio_, /*with_grad=*/true);
      adam_g_ = std::make_unique<Adam>(*gen_flat_, options_.adam_g);
      adam_d_ = std::make_unique<Adam>(*ratio_flat_, options_.adam_d);
      factors_ = at::zeros({2 * options_.ratio_steps + 3 + static_cast<int64_t>(extra_emas_.size())}, images_.options().dtype(at::kFloat));
      state_.Add("adamG.exp_avg", &adam_g_->exp_avg);
      state_.Add("adamG.exp_avg_sq", &adam_g_->exp_avg_sq);
      state_.Add("adamD.exp_avg", &adam_d_->exp_avg);
      state_.Add("adamD.exp_avg_sq", &adam_d_->exp_avg_sq);
      // The augmentations' probability lives on the device: the draws read it there, and the adaptive
      // rule moves it there, inside the step (and its graph). A fixed one is never written.
      augment_p_ = at::full({1}, options_.augment_shift > 0 || options_.augment_cutout > 0 ? options_.augment_probability : 0.0, images_.options().dtype(at::kFloat));
      if (Adaptive()) state_.Add("augmentProbability", &augment_p_);
      lookahead_.Init({{"generator", gen_flat_.get()}, {"ratio", ratio_flat_.get()}}, options_.lookahead_steps, options_.lookahead_alpha, state_);
      return 0;
    });
  }

 private:
  void ParseOptions(const Napi::Object& o) {
    DiJSOptions& p = options_;
    p.batch_size = static_cast<int64_t>(NumberField(o, "batchSize", 256));
    p.sigma_init = NumberField(o, "sigmaInit", p.sigma_init);
    p.divergence = dijs::ParseDivergence(train::StringField(o, "divergence", "js"));
    p.adam_g.lr = NumberField(o, "lrG", p.adam_g.lr);
    p.adam_d.lr = NumberField(o, "lrD", p.adam_d.lr);
    p.adam_g.beta1 = p.adam_d.beta1 = NumberField(o, "beta1", 0.0);
    p.adam_g.beta2 = p.adam_d.beta2 = NumberField(o, "beta2", 0.99);
    p.adam_g.eps = p.adam_d.eps = NumberField(o, "eps", 1e-8);
    p.lr_decay_images = NumberField(o, "lrDecayImages", 0);
    p.lr_g_warmup_images = NumberField(o, "lrGWarmupImages", 0);
    p.ratio_start_images = NumberField(o, "ratioStartImages", 0);
    p.clip_g = NumberField(o, "clipG", 0);
    p.clip_d = NumberField(o, "clipD", 0);
    p.ema_halflife_images = NumberField(o, "emaHalfLifeImages", p.ema_halflife_images);
    p.ema_rampup_ratio = NumberField(o, "emaRampupRatio", p.ema_rampup_ratio);
    p.sigma_d = {NumberField(o, "ratioPMean", -1.2), NumberField(o, "ratioPStd", 1.2)};
    p.sigma_g = {NumberField(o, "generatorPMean", -1.2), NumberField(o, "generatorPStd", 1.2)};
    p.weight_power = NumberField(o, "weightPower", 0);
    p.ratio_steps = static_cast<int64_t>(NumberField(o, "ratioSteps", 1));
    p.r1_gamma = NumberField(o, "r1Gamma", 0);
    p.r2_gamma = NumberField(o, "r2Gamma", 0);
    p.penalty_step = NumberField(o, "penaltyStep", p.penalty_step);
    p.augment_shift = static_cast<int64_t>(NumberField(o, "augmentShift", 0));
    p.augment_probability = NumberField(o, "augmentProbability", 1);
    p.augment_target = NumberField(o, "augmentTarget", 0);
    p.augment_speed_images = NumberField(o, "augmentSpeedImages", p.augment_speed_images);
    p.augment_max_probability = NumberField(o, "augmentMaxProbability", 1);
    p.augment_cutout = static_cast<int64_t>(NumberField(o, "augmentCutout", 0));
    p.augment_flip = NumberField(o, "augmentFlip", 0);
    p.lookahead_steps = static_cast<int64_t>(NumberField(o, "lookaheadSteps", 0));
    p.lookahead_alpha = NumberField(o, "lookaheadAlpha", p.lookahead_alpha);
    p.precision = train::PrecisionField(o);
    p.cuda_graph = train::BoolField(o, "cudaGraph", false);
    if (!(p.sigma_init > 0)) ThrowValueError("sigmaInit must be positive");
    if (!(p.adam_g.lr >= 0 && p.adam_d.lr >= 0)) ThrowValueError("lrG and lrD must be non-negative");
    if (!(p.adam_g.beta1 >= 0 && p.adam_g.beta1 < 1 && p.adam_g.beta2 >= 0 && p.adam_g.beta2 < 1)) ThrowValueError("beta1 and beta2 must be in [0, 1)");
    if (!(p.lr_decay_images >= 0)) ThrowValueError("lrDecayImages must be non-negative (0: no decay)");
    if (!(p.lr_g_warmup_images >= 0 && std::isfinite(p.lr_g_warmup_images))) ThrowValueError("lrGWarmupImages must be a finite, non-negative number (0: no warm-up)");
    if (!(p.ratio_start_images >= 0 && std::isfinite(p.ratio_start_images))) ThrowValueError("ratioStartImages must be a finite, non-negative number of images");
    if (!(p.adam_g.eps > 0)) ThrowValueError("eps must be positive");
    if (p.ratio_steps < 1 || p.ratio_steps > 100) ThrowValueError("ratioSteps must be between 1 and 100");
    if (!(p.sigma_d.std >= 0 && p.sigma_g.std >= 0)) ThrowValueError("ratioPStd and generatorPStd must be non-negative");
    if (!(p.ema_halflife_images > 0)) ThrowValueError("emaHalfLifeImages must be positive");
    if (!(p.r1_gamma >= 0 && std::isfinite(p.r1_gamma))) ThrowValueError("r1Gamma must be a finite, non-negative number (0: no penalty)");
    if (!(p.r2_gamma >= 0 && std::isfinite(p.r2_gamma))) ThrowValueError("r2Gamma must be a finite, non-negative number (0: no penalty)");
    if (!(p.penalty_step > 0 && std::isfinite(p.penalty_step))) ThrowValueError("penaltyStep must be a finite, positive number");
    if (p.augment_shift < 0 || p.augment_shift > 8) ThrowValueError("augmentShift must be between 0 and 8 pixels");
    if (!(p.augment_probability >= 0 && p.augment_probability <= 1)) ThrowValueError("augmentProbability must be between 0 and 1");
    if (!(p.augment_target >= 0 && p.augment_target < 1)) ThrowValueError("augmentTarget must be in [0, 1) (0: a fixed augmentProbability)");
    if (!(p.augment_speed_images > 0 && std::isfinite(p.augment_speed_images))) ThrowValueError("augmentSpeedImages must be a finite, positive number");
    if (p.augment_target > 0 && p.augment_shift == 0 && p.augment_cutout == 0)
      ThrowValueError("augmentTarget adapts the augmentations' probability: set augmentShift or augmentCutout too");
    if (p.augment_cutout < 0) ThrowValueError("augmentCutout must not be negative (0: off)");
    // At 0.5 an image and its mirror image are equally likely to be shown, whichever the generator
    // drew: the ratio network could no longer judge which way its images face.
    if (!(p.augment_flip >= 0 && p.augment_flip < 0.5)) ThrowValueError("augmentFlip must be in [0, 0.5) (0: off)");
    if (p.lookahead_steps < 0) ThrowValueError("lookaheadSteps must not be negative (0: off)");
    if (!(p.lookahead_alpha > 0 && p.lookahead_alpha <= 1)) ThrowValueError("lookaheadAlpha must be in (0, 1]");
    if (!(p.augment_max_probability > 0 && p.augment_max_probability <= 1)) ThrowValueError("augmentMaxProbability must be in (0, 1]");
    if (p.augment_max_probability < 1 && p.augment_target == 0) ThrowValueError("augmentMaxProbability bounds the adapted p: set augmentTarget too");
    if (p.augment_target > 0 && p.augment_probability > p.augment_max_probability) ThrowValueError("augmentProbability (the first p) must not exceed augmentMaxProbability");
  }

  bool Adaptive() const { return options_.augment_target > 0; }

  // The ratio network in training mode (its encoder blocks' dropout on) for the scope, if its
  // config has a rate; back in evaluation mode after, even on a throw. Dropout's masks are drawn
  // where they are used, not in Draw(): a graph replays its own draws (seeded, but not the eager
  // step's), which only matters with a rate > 0.
  class RatioDropoutScope {
   public:
    explicit RatioDropoutScope(RatioNetImpl& ratio) : ratio_(ratio.model->config.dropout > 0 ? &ratio : nullptr) {
      if (ratio_) ratio_->train(true);
    }
    ~RatioDropoutScope() {
      if (ratio_) ratio_->train(false);
    }
    RatioDropoutScope(const RatioDropoutScope&) = delete;
    RatioDropoutScope& operator=(const RatioDropoutScope&) = delete;

   private:
    RatioNetImpl* ratio_;
  };

  at::Tensor SampleSigma(const LogNormal& d, int64_t n) {
    return (at::randn({n}, images_.options()) * d.std + d.mean).exp();
  }

  at::Tensor OneHot(const at::Tensor& classes) {
    return label_dim_ > 0 ? at::one_hot(classes, label_dim_).to(at::kFloat) : at::Tensor();
  }

  // Everything random an iteration reads, drawn in one place and in the order the step has always
  // drawn it, so the eager and the graph step see the same numbers. Per ratio step: latents,
  // their classes, the real batch and its classes, σ and noise for fake+real; then the generator
  // update's σ and noise. Options added later draw after these (gradient penalties' directions
  // per ratio step; then translations, cutouts and flips, each per ratio step and for the generator
  // update), so a run without them draws exactly the numbers it always did.
  struct Draws {
    std::vector<at::Tensor> z, fake_labels, real, real_labels, sigma, noise, penalty_direction, shifts, cutouts, flips;
    at::Tensor sigma_g, noise_g, shifts_g, cutouts_g, flips_g;
    std::vector<at::Tensor*> All() {
      std::vector<at::Tensor*> out;
      for (auto* v : {&z, &fake_labels, &real, &real_labels, &sigma, &noise, &penalty_direction, &shifts, &cutouts, &flips})
        for (auto& t : *v) out.push_back(&t);
      for (auto* t : {&sigma_g, &noise_g, &shifts_g, &cutouts_g, &flips_g}) out.push_back(t);
      return out;
    }
  };

  Draws Draw() {
    const DiJSOptions& o = options_;
    const int64_t b = o.batch_size, global = parallel_.GlobalBatch(b);
    const auto& config = gen_->model->config;
    auto rows = [&](const at::Tensor& t) { return parallel_.Rows(t, b); };
    Draws d;
    for (int64_t r = 0; r < o.ratio_steps; ++r) {
      d.z.push_back(rows(at::randn({global, config.in_channels, config.img_resolution, config.img_resolution}, images_.options())));
      d.fake_labels.push_back(label_dim_ > 0 ? OneHot(rows(at::randint(label_dim_, {global}, labels_.options()))) : at::Tensor());
      at::Tensor idx = rows(sampler_.Next(images_.size(0), global, images_.device()));
      d.real.push_back(images_.index_select(0, idx));
      d.real_labels.push_back(label_dim_ > 0 ? OneHot(labels_.index_select(0, idx)) : at::Tensor());
      d.sigma.push_back(parallel_.PairRows(SampleSigma(o.sigma_d, 2 * global), b));
      d.noise.push_back(parallel_.PairRows(at::randn({2 * global, config.in_channels, config.img_resolution, config.img_resolution}, images_.options()), b));
    }
    d.sigma_g = rows(SampleSigma(o.sigma_g, global));
    d.noise_g = rows(at::randn({global, config.in_channels, config.img_resolution, config.img_resolution}, images_.options()));
    const int64_t penalised = (o.r1_gamma > 0) + (o.r2_gamma > 0);  // blocks of B: real, then generated
    if (penalised > 0)
      for (int64_t r = 0; r < o.ratio_steps; ++r)
        d.penalty_direction.push_back(parallel_.BlockRows(
            at::randn({penalised * global, config.in_channels, config.img_resolution, config.img_resolution}, images_.options()), b, penalised));
    if (o.augment_shift > 0) {
      auto draw = [&](int64_t n) { return dijs::DrawShifts(n, o.augment_shift, augment_p_, images_.options()); };
      for (int64_t r = 0; r < o.ratio_steps; ++r) d.shifts.push_back(parallel_.PairRows(draw(2 * global), b));
      d.shifts_g = rows(draw(global));
    }
    if (o.augment_cutout > 0) {
      const int64_t side = config.img_resolution;
      auto draw = [&](int64_t n) { return dijs::DrawCutouts(n, o.augment_cutout, side, side, augment_p_, images_.options()); };
      for (int64_t r = 0; r < o.ratio_steps; ++r) d.cutouts.push_back(parallel_.PairRows(draw(2 * global), b));
      d.cutouts_g = rows(draw(global));
    }
    if (o.augment_flip > 0) {
      auto draw = [&](int64_t n) { return dijs::DrawFlips(n, o.augment_flip, images_.options()); };
      for (int64_t r = 0; r < o.ratio_steps; ++r) d.flips.push_back(parallel_.PairRows(draw(2 * global), b));
      d.flips_g = rows(draw(global));
    }
    return d;
  }

  // The iteration's learning-rate, bias-correction and EMA factors ([2 per ratio step, 2, 1, then 1
  // per extra EMA]), computed on the host from the counters and uploaded without waiting (pinned
  // memory on GPUs).
  void UploadFactors() {
    const DiJSOptions& o = options_;
    std::vector<float> f;
    const double since_ratio_start = std::max(images_seen_ - o.ratio_start_images, 0.0);
    lr_d_now_ = train::DecayedLr(o.adam_d.lr, since_ratio_start, o.lr_decay_images);
    for (int64_t r = 0; r < o.ratio_steps; ++r)
      for (double v : adam_d_->NextFactors(lr_d_now_)) f.push_back(static_cast<float>(v));
    // As EDM's teacher warm-up: lr × images seen / warm-up images (0 at the first step). After a
    // ratio restart it holds the generator back while the new ratio network finds its signal.
    const double warmup_g = o.lr_g_warmup_images > 0 ? std::min(since_ratio_start / o.lr_g_warmup_images, 1.0) : 1.0;
    lr_g_now_ = train::DecayedLr(o.adam_g.lr * warmup_g, images_seen_, o.lr_decay_images);
    for (double v : adam_g_->NextFactors(lr_g_now_)) f.push_back(static_cast<float>(v));
    const double global = static_cast<double>(parallel_.GlobalBatch(o.batch_size));
    images_seen_ += global;
    f.push_back(static_cast<float>(train::EmaWeight(global, train::RampedHalfLife(o.ema_halflife_images, images_seen_, o.ema_rampup_ratio))));
    for (double w : extra_emas_.Weights(global, images_seen_, o.ema_rampup_ratio)) f.push_back(static_cast<float>(w));
    at::Tensor host = at::empty({static_cast<int64_t>(f.size())}, at::TensorOptions().dtype(at::kFloat).pinned_memory(factors_.is_cuda()));
    std::copy(f.begin(), f.end(), host.data_ptr<float>());
    factors_.copy_(host, /*non_blocking=*/true);
  }

  // One iteration on drawn inputs: `ratio_steps` ratio updates, then one generator update, then
  // the EMA. Reads only tensors (draws, factors_), so a CUDA graph can capture it. Returns stats [8].
  at::Tensor Compute(Draws& d) {
    const DiJSOptions& o = options_;
    const int64_t b = o.batch_size;
    const c10::DeviceType device_type = images_.device().type();
    RatioDropoutScope dropout(*ratio_);
    at::Tensor fake, stats_d;
    for (int64_t r = 0; r < o.ratio_steps; ++r) {
      const bool last = r == o.ratio_steps - 1;
      {
        // Generate: the last fake batch keeps its graph for the generator update.
        c10::optional<at::NoGradGuard> no_grad;
        if (!last) no_grad.emplace();
        train::PrecisionScope precision(o.precision, device_type);
        fake = gen_->forward(d.z[r] * o.sigma_init, at::full({b}, o.sigma_init, d.z[r].options()), d.fake_labels[r], at::Tensor());
      }
      // Ratio update: fake (detached) vs real, both noised from the same σ distribution. They go
      // through the ratio network as one batch of 2B: half the kernel launches (GroupNorm and the
      // head are per image, so nothing mixes).
      // Translated and flipped (both classes alike) before the noise: the ratio network never sees
      // the training images exactly as stored, against memorising them.
      at::Tensor images = at::cat({fake.detach(), d.real[r]});
      if (o.augment_shift > 0) images = dijs::TranslateImages(images, d.shifts[r], o.augment_shift);
      if (o.augment_flip > 0) images = dijs::FlipImages(images, d.flips[r]);
      if (o.augment_cutout > 0) images = dijs::CutoutImages(images, d.cutouts[r], o.augment_cutout);
      at::Tensor noised = images + d.noise[r] * d.sigma[r].view({-1, 1, 1, 1});
      at::Tensor sigma = d.sigma[r];
      at::Tensor labels = label_dim_ > 0 ? at::cat({d.fake_labels[r], d.real_labels[r]}) : at::Tensor();
      // Gradient penalties (Mescheder et al. 2018; R1 on the real images, R2 on the generated ones,
      // as R3GAN pairs them): γ/2·E‖∇x d(x_σ)‖², meant to damp the oscillation an unregularised
      // discriminator drives — measured worse from the shipped teacher at every γ tried
      // (bench/NOTES.md, tenth session), so off by default. ∇x d·u for u ~ N(0, I) has second moment ‖∇x d‖², so a finite
      // difference along u estimates it with one more block of B in the same forward pass and no
      // double backward (which the fused GroupNorm kernels do not provide). The step must stay
      // well above bf16's rounding: from the shipped teacher, bf16 read 8× float32's figure at
      // h = 0.01, 1.2× at 0.05 (the default), 1.0× at 0.2. Blocks: fake, real, then real moved
      // (R1), then fake moved (R2).
      std::vector<int64_t> moved_from;  // the block each moved block is a copy of: 1 real, 0 fake
      if (o.r1_gamma > 0) moved_from.push_back(1);
      if (o.r2_gamma > 0) moved_from.push_back(0);
      if (!moved_from.empty()) {
        std::vector<at::Tensor> x{noised}, s{sigma}, l{labels};
        for (size_t i = 0; i < moved_from.size(); ++i) {
          x.push_back(noised.narrow(0, moved_from[i] * b, b) + d.penalty_direction[r].narrow(0, i * b, b) * o.penalty_step);
          s.push_back(sigma.narrow(0, moved_from[i] * b, b));
          if (labels.defined()) l.push_back(labels.narrow(0, moved_from[i] * b, b));
        }
        noised = at::cat(x);
        sigma = at::cat(s);
        if (labels.defined()) labels = at::cat(l);
      }
      at::Tensor dl;
      {
        train::PrecisionScope precision(o.precision, device_type);
        dl = ratio_->forward(noised, sigma, labels);
      }
      at::Tensor d_fake = dl.narrow(0, 0, b), d_real = dl.narrow(0, b, b);
      at::Tensor loss_logistic = dijs::RatioLoss(d_fake, d_real), loss_d = loss_logistic;
      const at::Tensor none = at::zeros({}, loss_logistic.options());
      at::Tensor grad_sq[2] = {none, none};  // fake, real; zero where that penalty is off
      for (size_t i = 0; i < moved_from.size(); ++i) {
        const int64_t from = moved_from[i];
        grad_sq[from] = ((dl.narrow(0, (2 + i) * b, b) - dl.narrow(0, from * b, b)) / o.penalty_step).pow(2).mean();
        loss_d = loss_d + grad_sq[from] * ((from == 1 ? o.r1_gamma : o.r2_gamma) / 2);
      }
      ratio_flat_->grad.zero_();
      torch::autograd::backward({loss_d}, {}, c10::nullopt, false, ratio_flat_->params);
      at::NoGradGuard no_grad;
      parallel_.Average(ratio_flat_->grad);
      at::Tensor norm_d = train::ClipGradNorm(ratio_flat_->grad, o.clip_d);
      adam_d_->Step(factors_.narrow(0, 2 * r, 2));
      if (last) {
        stats_d = at::stack({loss_logistic.detach(), (d_real < 0).to(at::kFloat).mean(), (d_fake > 0).to(at::kFloat).mean(),
                             d_real.detach().mean(), d_fake.detach().mean(), norm_d, grad_sq[1].detach(), grad_sq[0].detach()});
        if (Adaptive()) AdaptAugmentProbability(stats_d[1]);
      }
    }
    // Generator update through the ratio network: gradients flow into the generator only.
    at::Tensor d_gen;
    {
      train::PrecisionScope precision(o.precision, device_type);
      // The generator is judged through the same augmentations; all three are differentiable.
      at::Tensor judged = o.augment_shift > 0 ? dijs::TranslateImages(fake, d.shifts_g, o.augment_shift) : fake;
      if (o.augment_flip > 0) judged = dijs::FlipImages(judged, d.flips_g);
      if (o.augment_cutout > 0) judged = dijs::CutoutImages(judged, d.cutouts_g, o.augment_cutout);
      d_gen = ratio_->forward(judged + d.noise_g * d.sigma_g.view({-1, 1, 1, 1}), d.sigma_g, d.fake_labels.back());
    }
    at::Tensor surrogate = dijs::GeneratorSurrogate(d_gen, o.divergence);
    if (o.weight_power != 0) surrogate = surrogate * d.sigma_g.pow(o.weight_power);
    at::Tensor loss_g = surrogate.mean();
    gen_flat_->grad.zero_();
    torch::autograd::backward({loss_g}, {}, c10::nullopt, false, gen_flat_->params);
    at::NoGradGuard no_grad;
    parallel_.Average(gen_flat_->grad);
    at::Tensor norm_g = train::ClipGradNorm(gen_flat_->grad, o.clip_g);
    const int64_t g = 2 * o.ratio_steps;
    adam_g_->Step(factors_.narrow(0, g, 2));
    train::UpdateEma(*ema_flat_, *gen_flat_, factors_[g + 2]);
    extra_emas_.Update(*gen_flat_, factors_, g + 3);
    // Order: kStatNames.
    return at::stack({stats_d[0], loss_g.detach(), stats_d[1], stats_d[2], stats_d[3], stats_d[4], norm_g, stats_d[5], stats_d[6], stats_d[7],
                      augment_p_[0].to(stats_d.scalar_type())});
  }

  // ADA's rule (Karras et al. 2020): r = E[sign(−d)] over this update's real images (the share the
  // ratio network calls real minus the share it calls generated; 2·accuracy on them − 1, from the
  // statistic already computed) grows as it memorises them; p moves by ±(images per
  // iteration)/augment_speed_images towards the r it targets. All on the device (no host
  // synchronisation, capturable); r is averaged over the group first, so every process keeps the
  // same p and draws the same global batch of shifts.
  void AdaptAugmentProbability(const at::Tensor& accuracy_real) {
    const DiJSOptions& o = options_;
    at::Tensor r = (accuracy_real * 2 - 1).reshape({1});
    parallel_.Average(r);
    const double step = static_cast<double>(parallel_.GlobalBatch(o.batch_size)) / o.augment_speed_images;
    augment_p_.add_((r - o.augment_target).sign() * step).clamp_(0, o.augment_max_probability);
  }

  // One iteration, eager or from the graph; adds its statistics to `total`. With cudaGraph the
  // capture waits for kGraphWarmupIterations eager iterations in the same call: cuDNN keeps its
  // autotuning per thread, and a call runs on one thread.
  void Iterate(at::Tensor& total, int64_t& eager_in_call) {
    Draws d = Draw();
    UploadFactors();
    at::Tensor stats;
    if (!options_.cuda_graph || (!graph_.Captured() && eager_in_call < kGraphWarmupIterations)) {
      stats = Compute(d);
      ++eager_in_call;
    } else {
      if (!graph_.Captured()) {
        // The graph reads these buffers: made once, refreshed by copies before every replay.
        graph_draws_ = d;
        for (at::Tensor* t : graph_draws_.All()) if (t->defined()) *t = t->clone();
        graph_.Capture([&] { graph_stats_ = Compute(graph_draws_); }, /*other_threads=*/parallel_.Size() > 1);
      } else {
        auto to = graph_draws_.All(), from = d.All();
        for (size_t i = 0; i < to.size(); ++i) if (to[i]->defined()) to[i]->copy_(*from[i]);
      }
      graph_.Replay();
      stats = graph_stats_;
    }
    // Outside the graph, on the weights it reads in place; the same step count on every process.
    lookahead_.AfterStep(adam_g_->steps);
    total = total.defined() ? total.add_(stats) : stats.clone();
  }

  // Copies `stats` to the host behind an event; waits for the event later, outside the lock.
  struct PendingStats {
    at::Tensor host;
    c10::optional<c10::Event> event;
  };
  static PendingStats StartCopy(const at::Tensor& stats) {
    PendingStats out;
    if (stats.device().is_cpu()) {
      out.host = stats;
      return out;
    }
    out.host = at::empty(stats.sizes(), stats.options().device(at::kCPU).pinned_memory(true));
    out.host.copy_(stats, /*non_blocking=*/true);
    c10::impl::VirtualGuardImpl impl(stats.device().type());
    out.event.emplace(stats.device().type());
    out.event->record(impl.getStream(stats.device()));
    return out;
  }
  static void Wait(PendingStats& pending) {
    // c10::Event has no blocking wait in libtorch 1.13: poll (the GPU is busy meanwhile).
    if (pending.event) while (!pending.event->query()) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }

  // step(k) → Promise<{ stats…, imagesSeen, iterations }>: k iterations, averaged statistics.
  Napi::Value Step(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      if (!adam_g_) throw UserError(code::kDisposed, "this trainer was disposed");
      int64_t k = GetInt(info, 0, "iterations");
      if (k < 1 || k > 100000) ThrowValueError("iterations must be between 1 and 100000");
      // A vote to stop after this call (e.g. a time budget): averaged over the group with the
      // statistics, so every process learns at the same call whether any wants to stop.
      const double stop_vote = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : 0.0;
      struct Out { std::vector<double> stats; double images = 0; int64_t k = 0; double lr_g = 0, lr_d = 0; };
      return TorchJob<Out>::Start(info.Env(), "onestep.dijsStep",
          [this, k, stop_vote, ticket = call_order_.Take()] {
            PendingStats pending;
            double images = 0, lr_g = 0, lr_d = 0;
            {
              train::CallOrder::Turn turn(call_order_, ticket);  // calls run in the order they were made
              std::lock_guard<std::mutex> lock(mutex_);          // … and not beside state() or dispose()
              if (!adam_g_) throw UserError(code::kDisposed, "this trainer was disposed");
              at::AutoGradMode grad(true);
              c10::optional<train::StepGraph::Scope> graph_scope;  // the trainer's own stream
              if (options_.cuda_graph) graph_scope.emplace(graph_, images_.device());
              at::Tensor total;
              int64_t eager_in_call = 0;
              for (int64_t i = 0; i < k; ++i) Iterate(total, eager_in_call);
              at::Tensor mean = at::cat({total / static_cast<double>(k), at::full({1}, stop_vote, total.options())});
              parallel_.Average(mean);  // the group's statistics, the same on every process
              pending = StartCopy(mean);
              images = images_seen_;
              lr_g = lr_g_now_;
              lr_d = lr_d_now_;
            }
            Wait(pending);
            at::Tensor host = pending.host.to(at::kDouble).contiguous();
            return Out{std::vector<double>(host.data_ptr<double>(), host.data_ptr<double>() + kStats + 1), images, k, lr_g, lr_d};
          },
          [](Napi::Env env, Out& out) -> Napi::Value {
            Napi::Object o = Napi::Object::New(env);
            for (int64_t i = 0; i < kStats; ++i) o.Set(kStatNames[i], out.stats[i]);
            o.Set("imagesSeen", out.images);
            o.Set("iterations", static_cast<double>(out.k));
            o.Set("stopVote", out.stats[kStats]);
            o.Set("lrG", out.lr_g);
            o.Set("lrD", out.lr_d);
            return o;
          });
    });
  }

  // state() → { tensors: [[name, handle]], imagesSeen, stepsG, stepsD, position }
  Napi::Value State(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!adam_g_) throw UserError(code::kDisposed, "this trainer was disposed");
      Napi::Env env = info.Env();
      auto state = state_.Snapshot(images_.device(), sampler_);
      Napi::Object out = Napi::Object::New(env);
      out.Set("tensors", NamedTensorsToJs(env, state));
      out.Set("imagesSeen", images_seen_);
      out.Set("stepsG", static_cast<double>(adam_g_->steps));
      out.Set("stepsD", static_cast<double>(adam_d_->steps));
      out.Set("position", static_cast<double>(sampler_.position));
      return out;
    });
  }

  // restore(tensors: [[name, handle]], imagesSeen, stepsG, stepsD, position)
  Napi::Value Restore(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!adam_g_) throw UserError(code::kDisposed, "this trainer was disposed");
      lookahead_.AfterRestore(state_.Restore(info[0], images_.device(), sampler_, images_.size(0)));
      images_seen_ = GetNumber(info, 1, "imagesSeen");
      adam_g_->steps = GetInt(info, 2, "stepsG");
      adam_d_->steps = GetInt(info, 3, "stepsD");
      sampler_.position = GetInt(info, 4, "position");
      return info.Env().Undefined();
    });
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    std::lock_guard<std::mutex> lock(mutex_);
    adam_g_.reset();
    adam_d_.reset();
    gen_flat_.reset();
    ema_flat_.reset();
    extra_emas_.Clear();
    lookahead_.Clear();
    ratio_flat_.reset();
    graph_.Reset();
    graph_draws_ = Draws();
    graph_stats_ = factors_ = augment_p_ = at::Tensor();
    parallel_.Leave();
    images_ = labels_ = sampler_.permutation = at::Tensor();
    return info.Env().Undefined();
  }

  EDMPrecond gen_{nullptr}, ema_{nullptr};
  RatioNet ratio_{nullptr};
  at::Tensor images_, labels_;
  train::EpochSampler sampler_;
  train::TrainerState state_;
  int64_t label_dim_ = 0;
  DiJSOptions options_;
  std::unique_ptr<FlatParameters> gen_flat_, ema_flat_, ratio_flat_;
  train::ExtraEmas extra_emas_;  // beside the main EMA (options.extraEmas)
  train::Lookahead lookahead_;   // options.lookaheadSteps: off by default
  std::unique_ptr<Adam> adam_g_, adam_d_;
  double images_seen_ = 0;
  double lr_g_now_ = 0, lr_d_now_ = 0;  // the last iteration's rates (after decay and warm-up), for step()'s statistics
  at::Tensor factors_;  // see UploadFactors
  at::Tensor augment_p_;  // [1] float32: the augmentations' probability (adapted with augmentTarget)
  train::StepGraph graph_;
  Draws graph_draws_;
  at::Tensor graph_stats_;
  std::mutex mutex_;
  train::CallOrder call_order_;
  dist::DataParallel parallel_;  // identity when training alone
};

}  // namespace

void RegisterDiJSTrainer(Napi::Env env, Napi::Object exports) { DiJSTrainer::Register(env, exports); }

}  // namespace onestep

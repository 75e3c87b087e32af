// The yardstick: a small Fashion-MNIST classifier (trained in the project, shipped with its
// weights) whose penultimate features define FID, precision and recall; plus those metrics.
// Training runs many steps per native call on a worker thread, like the other trainers.
#include "../registry.h"
#include "../tensor_handle.h"
#include "../worker.h"

#include <mutex>

namespace onestep {
namespace {

namespace nn = torch::nn;

// conv-BN-ReLU stacks over 32×32 inputs, pooled to 4×4, then a 256-wide feature layer.
struct ClassifierNetImpl : nn::Module {
  ClassifierNetImpl(int64_t channels, int64_t classes) {
    body = register_module("body", nn::Sequential());
    auto block = [&](int64_t in, int64_t out) {
      body->push_back(nn::Conv2d(nn::Conv2dOptions(in, out, 3).padding(1).bias(false)));
      body->push_back(nn::BatchNorm2d(out));
      body->push_back(nn::ReLU());
    };
    block(channels, 32);
    block(32, 32);
    body->push_back(nn::MaxPool2d(2));
    block(32, 64);
    block(64, 64);
    body->push_back(nn::MaxPool2d(2));
    block(64, 128);
    body->push_back(nn::MaxPool2d(2));
    body->push_back(nn::Flatten());
    body->push_back(nn::Linear(128 * 4 * 4, kFeatures));
    body->push_back(nn::ReLU());
    dropout = register_module("dropout", nn::Dropout(0.3));
    head = register_module("head", nn::Linear(kFeatures, classes));
  }
  at::Tensor features(const at::Tensor& x) { return body->forward(x); }
  at::Tensor forward(const at::Tensor& x) { return head->forward(dropout->forward(features(x))); }
  static constexpr int64_t kFeatures = 256;
  nn::Sequential body{nullptr};
  nn::Dropout dropout{nullptr};
  nn::Linear head{nullptr};
};
TORCH_MODULE(ClassifierNet);

// Evaluates `fn` over `x` in batches (no grad), concatenating the results.
template <class Fn>
at::Tensor Batched(const at::Tensor& x, int64_t batch, Fn fn) {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> parts;
  for (int64_t i = 0; i < x.size(0); i += batch) parts.push_back(fn(x.slice(0, i, std::min(i + batch, x.size(0)))));
  return at::cat(parts);
}

class ClassifierHandle : public Napi::ObjectWrap<ClassifierHandle> {
 public:
  static void Register(Napi::Env env, Napi::Object exports) {
    exports.Set("ClassifierHandle", DefineClass(env, "ClassifierHandle", {
        InstanceMethod<&ClassifierHandle::Train>("train"),
        InstanceMethod<&ClassifierHandle::Logits>("logits"),
        InstanceMethod<&ClassifierHandle::Features>("features"),
        InstanceMethod<&ClassifierHandle::StateDict>("stateDict"),
        InstanceMethod<&ClassifierHandle::Dispose>("dispose"),
    }));
  }

  // new ClassifierHandle(channels, classes, seed | null, device)
  explicit ClassifierHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ClassifierHandle>(info) {
    Guard(info.Env(), [&] {
      int64_t channels = GetInt(info, 0, "channels"), classes = GetInt(info, 1, "classes");
      if (channels < 1 || classes < 2) ThrowValueError("a classifier needs ≥ 1 channel and ≥ 2 classes");
      if (!IsNullish(info[2])) torch::manual_seed(static_cast<uint64_t>(GetInt(info, 2, "seed")));
      net_ = ClassifierNet(channels, classes);
      net_->to(ParseDevice(info[3], "device"));
      net_->eval();
      return 0;
    });
  }

 private:
  // libtorch's own message for this ("Input type (CUDAFloatType) and weight type (CPUFloatType)
  // should be the same") names neither the classifier nor the way out.
  static void CheckSameDevice(const at::Tensor& images, const ClassifierNet& net) {
    const c10::Device device = net->parameters().front().device();
    if (images.device() != device)
      ThrowValueError("the images are on " + images.device().str() + " but the classifier is on " + device.str() +
                      ": move the images there, or load the classifier on their device (Classifier.load(path, { device }))");
  }

  // The live network; a disposed classifier says so instead of crashing.
  ClassifierNet Net() const {
    if (!net_) throw UserError(code::kDisposed, "this classifier was disposed");
    return net_;
  }

  // train(images, labels, steps, batch, lr, augment) → Promise<{ loss, accuracy }> over those steps
  Napi::Value Train(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      at::Tensor images = TensorHandle::TensorOf(info[0], "images"), labels = TensorHandle::TensorOf(info[1], "labels");
      int64_t steps = GetInt(info, 2, "steps"), batch = GetInt(info, 3, "batch");
      double lr = GetNumber(info, 4, "lr");
      bool augment = GetBool(info, 5, "augment");
      if (images.dim() != 4 || labels.dim() != 1 || labels.size(0) != images.size(0)) ThrowValueError("need images [N, C, H, W] and labels [N]");
      if (batch < 1 || batch > images.size(0) || steps < 1) ThrowValueError("batch must be in [1, N] and steps ≥ 1");
      CheckSameDevice(images, Net());
      if (labels.device() != images.device()) ThrowValueError("labels must be on the images' device (" + images.device().str() + ")");
      std::lock_guard<std::mutex> lock(mutex_);
      if (!optimizer_) optimizer_ = std::make_unique<torch::optim::Adam>(Net()->parameters(), torch::optim::AdamOptions(lr));
      for (auto& group : optimizer_->param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
      struct Out { double loss, accuracy; };
      return TorchJob<Out>::Start(info.Env(), "onestep.classifierTrain",
          [this, images, labels, steps, batch, augment] {
            std::lock_guard<std::mutex> lock(mutex_);
            if (!net_) throw UserError(code::kDisposed, "this classifier was disposed");  // while queued
            at::AutoGradMode grad(true);
            net_->train();
            at::Tensor loss_sum = at::zeros({}, images.options()), correct = at::zeros({}, images.options());
            for (int64_t s = 0; s < steps; ++s) {
              at::Tensor idx = at::randint(images.size(0), {batch}, labels.options());
              at::Tensor x = images.index_select(0, idx), y = labels.index_select(0, idx);
              if (augment) {
                // Random horizontal flips and shifts of up to 2 pixels (on the device).
                at::Tensor flip = at::rand({batch, 1, 1, 1}, x.options()) < 0.5;
                x = at::where(flip, x.flip({3}), x);
                int64_t dx = at::randint(-2, 3, {1}).item<int64_t>(), dy = at::randint(-2, 3, {1}).item<int64_t>();
                x = x.roll({dy, dx}, {2, 3});
              }
              at::Tensor logits = net_->forward(x);
              at::Tensor loss = at::cross_entropy_loss(logits, y);
              optimizer_->zero_grad();
              loss.backward();
              optimizer_->step();
              loss_sum += loss.detach();
              correct += (logits.argmax(1) == y).sum().to(images.scalar_type());
            }
            net_->eval();
            return Out{loss_sum.item<double>() / steps, correct.item<double>() / static_cast<double>(steps * batch)};
          },
          [](Napi::Env env, Out& out) -> Napi::Value {
            Napi::Object o = Napi::Object::New(env);
            o.Set("loss", out.loss);
            o.Set("accuracy", out.accuracy);
            return o;
          });
    });
  }

  Napi::Value Run(const Napi::CallbackInfo& info, bool features) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      at::Tensor images = TensorHandle::TensorOf(info[0], "images");
      if (images.dim() != 4) ThrowValueError("images must be [N, C, H, W]");
      ClassifierNet net = Net();  // held by the job: a dispose meanwhile frees it after the job
      CheckSameDevice(images, net);
      return TorchJob<at::Tensor>::Start(info.Env(), "onestep.classifier",
          [this, net, images, features]() mutable {
            std::lock_guard<std::mutex> lock(mutex_);
            return Batched(images, 1000, [&](const at::Tensor& x) { return features ? net->features(x) : net->forward(x); });
          },
          WrapTensorResult);
    });
  }
  Napi::Value Logits(const Napi::CallbackInfo& info) { return Run(info, false); }
  Napi::Value Features(const Napi::CallbackInfo& info) { return Run(info, true); }

  Napi::Value StateDict(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      return NamedTensorsToJs(info.Env(), ModuleState(*Net()));
    });
  }

  // Frees the weights and the optimizer state now (after a running job); later calls say it was disposed.
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    std::lock_guard<std::mutex> lock(mutex_);
    optimizer_.reset();
    net_ = ClassifierNet(nullptr);
    return info.Env().Undefined();
  }

  ClassifierNet net_{nullptr};
  std::unique_ptr<torch::optim::Adam> optimizer_;
  std::mutex mutex_;
};

// fid(a, b) → number: Fréchet distance between Gaussians fitted to two feature sets, in float64,
// with the matrix square root taken symmetrically: tr √(Σa Σb) = tr √(√Σa Σb √Σa).
Napi::Value Fid(const Napi::CallbackInfo& info) {
  at::Tensor a = TensorHandle::TensorOf(info[0], "a"), b = TensorHandle::TensorOf(info[1], "b");
  if (a.dim() != 2 || b.dim() != 2 || a.size(1) != b.size(1) || a.size(0) < 2 || b.size(0) < 2)
    ThrowValueError("fid needs two [N, D] feature sets with the same D and N ≥ 2");
  return TorchJob<double>::Start(info.Env(), "onestep.fid",
      [a, b] {
        at::NoGradGuard no_grad;
        auto stats = [](const at::Tensor& x) {
          at::Tensor d = x.to(at::kDouble);
          at::Tensor mu = d.mean(0);
          at::Tensor c = d - mu;
          return std::make_pair(mu, at::matmul(c.t(), c) / static_cast<double>(d.size(0) - 1));
        };
        auto [mu_a, cov_a] = stats(a);
        auto [mu_b, cov_b] = stats(b);
        auto sqrt_psd = [](const at::Tensor& m) {
          auto [values, vectors] = at::linalg_eigh(m);
          return at::matmul(vectors * values.clamp_min(0).sqrt().unsqueeze(0), vectors.t());
        };
        at::Tensor root_a = sqrt_psd(cov_a);
        at::Tensor middle = at::matmul(at::matmul(root_a, cov_b), root_a);
        middle = (middle + middle.t()) / 2;  // symmetric up to rounding
        at::Tensor trace_sqrt = std::get<0>(at::linalg_eigh(middle)).clamp_min(0).sqrt().sum();
        at::Tensor fid = (mu_a - mu_b).square().sum() + cov_a.trace() + cov_b.trace() - 2 * trace_sqrt;
        return fid.item<double>();
      },
      [](Napi::Env env, double& v) -> Napi::Value { return Napi::Number::New(env, v); });
}

// precisionRecall(real, fake, k) → { precision, recall } (Kynkäänniemi et al.): a sample counts when
// it falls inside the k-nearest-neighbour ball of some sample of the other set.
Napi::Value PrecisionRecall(const Napi::CallbackInfo& info) {
  at::Tensor real = TensorHandle::TensorOf(info[0], "real"), fake = TensorHandle::TensorOf(info[1], "fake");
  int64_t k = GetInt(info, 2, "k");
  if (real.dim() != 2 || fake.dim() != 2 || real.size(1) != fake.size(1)) ThrowValueError("need two [N, D] feature sets");
  if (k < 1 || k >= std::min(real.size(0), fake.size(0))) ThrowValueError("k must be at least 1 and below the set sizes");
  struct Out { double precision, recall; };
  return TorchJob<Out>::Start(info.Env(), "onestep.precisionRecall",
      [real, fake, k] {
        at::NoGradGuard no_grad;
        const int64_t chunk = 1000;
        auto radii = [&](const at::Tensor& x) {  // distance to the k-th neighbour, self excluded
          return Batched(x, chunk, [&](const at::Tensor& part) { return std::get<0>(at::cdist(part, x).topk(k + 1, 1, false)).select(1, k); });
        };
        auto covered = [&](const at::Tensor& probes, const at::Tensor& ref, const at::Tensor& ref_radii) {
          at::Tensor inside = Batched(probes, chunk, [&](const at::Tensor& part) { return (at::cdist(part, ref) <= ref_radii.unsqueeze(0)).any(1); });
          return inside.to(at::kDouble).mean().item<double>();
        };
        at::Tensor r = real.to(at::kFloat), f = fake.to(at::kFloat);
        return Out{covered(f, r, radii(r)), covered(r, f, radii(f))};
      },
      [](Napi::Env env, Out& out) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        o.Set("precision", out.precision);
        o.Set("recall", out.recall);
        return o;
      });
}

}  // namespace

void RegisterEval(Napi::Env env, Napi::Object exports) {
  ClassifierHandle::Register(env, exports);
  Export<&Fid>(env, exports, "fid");
  Export<&PrecisionRecall>(env, exports, "precisionRecall");
}

}  // namespace onestep

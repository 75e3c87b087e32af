#include "songunet.h"

#include "compute_dtype.h"

#include <algorithm>
#include <cmath>

namespace onestep::edm {

namespace {
std::string Res(int64_t res) { return std::to_string(res) + "x" + std::to_string(res); }
bool Contains(const std::vector<int64_t>& v, int64_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }
// ModuleDict keeps insertion order; `names` keeps it for the forward pass too.
void Add(torch::nn::ModuleDict& dict, std::vector<std::string>& names, const std::string& key, std::shared_ptr<torch::nn::Module> module) {
  dict->update(std::vector<std::pair<std::string, std::shared_ptr<torch::nn::Module>>>{{key, std::move(module)}});
  names.push_back(key);
}
}  // namespace

SongUNetImpl::SongUNetImpl(const SongUNetConfig& c) : config(c) {
  const int64_t noise_channels = c.model_channels;
  const int64_t emb_channels = c.model_channels * c.channel_mult_emb;
  auto block = [&](int64_t in, int64_t out, bool up, bool down, bool attention) {
    return UNetBlock(UNetBlockOptions{in, out, emb_channels, up, down, attention, c.dropout});
  };
  // Mapping network (EDM's attribute order: map_noise has no parameters).
  if (c.label_dim) map_label = register_module("map_label", Linear(c.label_dim, noise_channels));
  if (c.augment_dim) map_augment = register_module("map_augment", Linear(c.augment_dim, noise_channels, /*bias=*/false));
  map_layer0 = register_module("map_layer0", Linear(noise_channels, emb_channels));
  map_layer1 = register_module("map_layer1", Linear(emb_channels, emb_channels));

  // Encoder.
  enc = register_module("enc", torch::nn::ModuleDict());
  std::vector<int64_t> skips;
  int64_t cout = c.in_channels;
  for (size_t level = 0; level < c.channel_mult.size(); ++level) {
    int64_t res = c.img_resolution >> level;
    if (level == 0) {
      int64_t cin = cout;
      cout = c.model_channels;
      Add(enc, enc_names, Res(res) + "_conv", Conv2d(cin, cout, 3).ptr());
    } else {
      Add(enc, enc_names, Res(res) + "_down", block(cout, cout, false, true, false).ptr());
    }
    skips.push_back(cout);
    for (int64_t i = 0; i < c.num_blocks; ++i) {
      int64_t cin = cout;
      cout = c.model_channels * c.channel_mult[level];
      Add(enc, enc_names, Res(res) + "_block" + std::to_string(i), block(cin, cout, false, false, Contains(c.attn_resolutions, res)).ptr());
      skips.push_back(cout);
    }
  }

  encoder_channels = cout;
  if (c.encoder_only) return;

  // Decoder.
  dec = register_module("dec", torch::nn::ModuleDict());
  for (int64_t level = static_cast<int64_t>(c.channel_mult.size()) - 1; level >= 0; --level) {
    int64_t res = c.img_resolution >> level;
    if (level == static_cast<int64_t>(c.channel_mult.size()) - 1) {
      Add(dec, dec_names, Res(res) + "_in0", block(cout, cout, false, false, true).ptr());
      Add(dec, dec_names, Res(res) + "_in1", block(cout, cout, false, false, false).ptr());
    } else {
      Add(dec, dec_names, Res(res) + "_up", block(cout, cout, true, false, false).ptr());
    }
    for (int64_t i = 0; i <= c.num_blocks; ++i) {
      int64_t cin = cout + skips.back();
      skips.pop_back();
      cout = c.model_channels * c.channel_mult[level];
      bool attention = i == c.num_blocks && Contains(c.attn_resolutions, res);
      Add(dec, dec_names, Res(res) + "_block" + std::to_string(i), block(cin, cout, false, false, attention).ptr());
    }
    if (level == 0) {
      Add(dec, dec_names, Res(res) + "_aux_norm", GroupNorm(cout, 1e-6).ptr());
      Add(dec, dec_names, Res(res) + "_aux_conv", Conv2d(cout, c.out_channels, 3, false, false, /*gain=*/1e-5).ptr());
    }
  }
}

at::Tensor SongUNetImpl::Embed(const at::Tensor& noise_labels, const at::Tensor& class_labels, const at::Tensor& augment_labels,
                               at::ScalarType dtype) {
  // Positional noise embedding, sin and cos halves swapped as EDM does.
  const int64_t half = config.model_channels / 2;
  at::Tensor freqs = at::arange(half, noise_labels.options().dtype(at::kFloat)) / static_cast<double>(half - 1);
  freqs = at::pow(1.0 / 10000.0, freqs);
  at::Tensor angles = at::outer(noise_labels.to(at::kFloat), freqs).to(dtype);
  at::Tensor emb = at::cat({angles.sin(), angles.cos()}, 1);
  if (map_label) {
    TORCH_CHECK(class_labels.defined(), "this network is class-conditional: pass class labels");
    emb = emb + map_label(class_labels * std::sqrt(static_cast<double>(map_label->in_features)));
  }
  if (map_augment && augment_labels.defined()) emb = emb + map_augment(augment_labels);
  emb = at::silu(map_layer0(emb));
  return at::silu(map_layer1(emb));
}

void SongUNetImpl::Encode(const at::Tensor& input, const at::Tensor& emb, std::vector<at::Tensor>& skips) {
  at::Tensor x = input;
  for (const auto& name : enc_names) {
    auto module = enc[name];
    if (auto b = module->as<UNetBlockImpl>()) x = b->forward(x, emb);
    else x = module->as<Conv2dImpl>()->forward(x);
    skips.push_back(x);
  }
}

at::Tensor SongUNetImpl::forward(const at::Tensor& input, const at::Tensor& noise_labels, const at::Tensor& class_labels,
                                 const at::Tensor& augment_labels) {
  TORCH_CHECK(!config.encoder_only, "this SongUNet has no decoder");
  at::Tensor emb = Embed(noise_labels, class_labels, augment_labels, input.scalar_type());
  std::vector<at::Tensor> skips;
  Encode(input, emb, skips);
  at::Tensor x = skips.back();
  at::Tensor out, tmp;
  for (const auto& name : dec_names) {
    auto module = dec[name];
    if (auto norm = module->as<GroupNormImpl>()) {
      tmp = norm->NormSilu(x);
    } else if (auto conv = module->as<Conv2dImpl>()) {
      out = conv->forward(tmp);
    } else {
      auto b = module->as<UNetBlockImpl>();
      if (x.size(1) != b->options.in_channels) {
        x = at::cat({x, skips.back()}, 1);
        skips.pop_back();
      }
      x = b->forward(x, emb);
    }
  }
  return out;
}

EDMPrecondImpl::EDMPrecondImpl(const SongUNetConfig& config) {
  model = register_module("model", SongUNet(config));
}

Preconditioning::Preconditioning(const at::Tensor& sigma) {
  const double sd2 = kSigmaData * kSigmaData;
  c_skip = sd2 / (sigma.square() + sd2);
  c_out = sigma * kSigmaData / (sigma.square() + sd2).sqrt();
  c_in = 1 / (sd2 + sigma.square()).sqrt();
  c_noise = sigma.log() / 4;
}

at::Tensor EDMPrecondImpl::forward(const at::Tensor& x_in, const at::Tensor& sigma_in, const at::Tensor& class_labels,
                                   const at::Tensor& augment_labels) {
  at::Tensor x = x_in.to(at::kFloat);
  at::Tensor sigma = sigma_in.to(at::kFloat).reshape({-1, 1, 1, 1});
  Preconditioning p(sigma);
  at::Tensor labels = class_labels;
  if (model->config.label_dim && !labels.defined()) labels = at::zeros({1, model->config.label_dim}, x.options());
  if (labels.defined()) labels = labels.to(at::kFloat).reshape({-1, model->config.label_dim});
  at::Tensor f = model->forward((p.c_in * x).to(ComputeDtype()), p.c_noise.flatten(), labels, augment_labels);
  return p.c_skip * x + p.c_out * f.to(at::kFloat);
}

}  // namespace onestep::edm

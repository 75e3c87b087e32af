#include "ratio_network.h"

#include "../edm/compute_dtype.h"

namespace onestep::dijs {

RatioNetImpl::RatioNetImpl(edm::SongUNetConfig config, int64_t hidden, bool pool_logits) : pool_logits(pool_logits) {
  config.encoder_only = true;
  model = register_module("model", edm::SongUNet(config));
  const int64_t channels = model->EncoderChannels();
  head_norm = register_module("head_norm", edm::GroupNorm(channels, 1e-6));
  if (hidden > 0) head_hidden = register_module("head_hidden", edm::Linear(channels, hidden));
  head_out = register_module("head_out", edm::Linear(hidden > 0 ? hidden : channels, 1));
}

at::Tensor RatioNetImpl::forward(const at::Tensor& x_in, const at::Tensor& sigma_in, const at::Tensor& class_labels) {
  at::Tensor x = x_in.to(at::kFloat);
  at::Tensor sigma = sigma_in.to(at::kFloat).reshape({-1, 1, 1, 1});
  edm::Preconditioning p(sigma);
  const int64_t label_dim = model->config.label_dim;
  at::Tensor labels = class_labels;
  if (label_dim && !labels.defined()) labels = at::zeros({1, label_dim}, x.options());
  if (labels.defined()) labels = labels.to(at::kFloat).reshape({-1, label_dim});
  at::Tensor h = (p.c_in * x).to(edm::ComputeDtype());
  at::Tensor emb = model->Embed(p.c_noise.flatten().expand({x.size(0)}), labels, at::Tensor(), h.scalar_type());
  std::vector<at::Tensor> features;
  model->Encode(h, emb, features);
  h = head_norm->NormSilu(features.back());
  // Pooling first gives one feature vector per image; pooling last, one score per position
  // (channels last, so that the linear layers act on each position's channels).
  h = pool_logits ? h.permute({0, 2, 3, 1}) : h.mean({2, 3});
  if (head_hidden) h = at::silu(head_hidden->forward(h));
  h = head_out->forward(h);
  return (pool_logits ? h.mean({1, 2, 3}) : h.flatten()).to(at::kFloat);
}

}  // namespace onestep::dijs

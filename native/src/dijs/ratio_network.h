// The class-ratio network d(x_σ, σ, c) ≈ log q_σ(x)/p_σ(x): the teacher's mapping network and
// encoder (EDM's names under `model.`, so the teacher's weights copy over by name) and a small
// head: GroupNorm → SiLU → global mean pool → [Linear → SiLU →] Linear → one logit. With
// `pool_logits` the head's layers score every position of the encoder's last feature map and the
// scores are averaged instead (a patch classifier; the same weights, and the same logit without the
// hidden layer, where the head is linear).
#pragma once
#include "../edm/songunet.h"

namespace onestep::dijs {

struct RatioNetImpl : torch::nn::Module {
  // `config` is the teacher's; the decoder is never built. `head_hidden` 0: one linear layer.
  RatioNetImpl(edm::SongUNetConfig config, int64_t head_hidden, bool pool_logits = false);
  // Logits [N] for noisy images x [N, C, H, W] at noise levels σ [N].
  at::Tensor forward(const at::Tensor& x, const at::Tensor& sigma, const at::Tensor& class_labels);
  edm::SongUNet model{nullptr};
  edm::GroupNorm head_norm{nullptr};
  edm::Linear head_hidden{nullptr}, head_out{nullptr};
  bool pool_logits = false;
};
TORCH_MODULE(RatioNet);

}  // namespace onestep::dijs

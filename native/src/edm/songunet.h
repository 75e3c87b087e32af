// EDM's preconditioned SongUNet (DDPM++): EDMPrecond wrapping the UNet as its child `model`.
#pragma once
#include "layers.h"

namespace onestep::edm {

struct SongUNetConfig {
  int64_t img_resolution = 32, in_channels = 1, out_channels = 1;
  int64_t label_dim = 0, augment_dim = 0;
  int64_t model_channels = 64;
  std::vector<int64_t> channel_mult{1, 2, 2};
  int64_t num_blocks = 2;
  std::vector<int64_t> attn_resolutions{16};
  double dropout = 0.0;
  int64_t channel_mult_emb = 4;
  // Mapping network and encoder only (the ratio network's trunk): no decoder modules.
  bool encoder_only = false;
};

struct SongUNetImpl : torch::nn::Module {
  explicit SongUNetImpl(const SongUNetConfig& config);
  // F(x; noise_labels, class_labels, augment_labels); labels may be undefined tensors.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& noise_labels, const at::Tensor& class_labels, const at::Tensor& augment_labels);
  // The mapping network's embedding of noise level and labels.
  at::Tensor Embed(const at::Tensor& noise_labels, const at::Tensor& class_labels, const at::Tensor& augment_labels, at::ScalarType dtype);
  // Runs the encoder; every block's output is appended to `skips` (the last is the deepest).
  void Encode(const at::Tensor& x, const at::Tensor& emb, std::vector<at::Tensor>& skips);
  int64_t EncoderChannels() const { return encoder_channels; }
  SongUNetConfig config;
  int64_t encoder_channels = 0;
  Linear map_label{nullptr}, map_augment{nullptr}, map_layer0{nullptr}, map_layer1{nullptr};
  torch::nn::ModuleDict enc{nullptr}, dec{nullptr};
  std::vector<std::string> enc_names, dec_names;
};
TORCH_MODULE(SongUNet);

constexpr double kSigmaData = 0.5;

// EDM's preconditioning coefficients for noise levels σ (any shape), σ_data = 0.5.
struct Preconditioning {
  at::Tensor c_skip, c_out, c_in, c_noise;
  explicit Preconditioning(const at::Tensor& sigma);
};

struct EDMPrecondImpl : torch::nn::Module {
  explicit EDMPrecondImpl(const SongUNetConfig& config);
  // D(x; σ, c) = c_skip·x + c_out·F(c_in·x; ln(σ)/4, c). sigma: [N] (or broadcastable).
  at::Tensor forward(const at::Tensor& x, const at::Tensor& sigma, const at::Tensor& class_labels, const at::Tensor& augment_labels);
  SongUNet model{nullptr};
};
TORCH_MODULE(EDMPrecond);

}  // namespace onestep::edm

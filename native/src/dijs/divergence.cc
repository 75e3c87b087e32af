#include "divergence.h"

namespace onestep::dijs {

Divergence ParseDivergence(const std::string& name) {
  if (name == "js") return Divergence::kJS;
  if (name == "kl") return Divergence::kKL;
  if (name == "fkl") return Divergence::kForwardKL;
  if (name == "hellinger") return Divergence::kHellinger;
  ThrowValueError("divergence must be 'js', 'kl', 'fkl' or 'hellinger', not '" + name + "'");
}

at::Tensor GeneratorSurrogate(const at::Tensor& d, Divergence divergence) {
  switch (divergence) {
    case Divergence::kKL: return d;
    // ½·log σ(d) = −½·softplus(−d): stable for logits of either sign.
    case Divergence::kJS: return at::softplus(-d) * -0.5;
    case Divergence::kForwardKL: return -at::exp(-d);
    case Divergence::kHellinger: return -at::exp(d * -0.5);
  }
  return d;
}

at::Tensor RatioLoss(const at::Tensor& fake_logits, const at::Tensor& real_logits) {
  return at::softplus(-fake_logits).mean() + at::softplus(real_logits).mean();
}

}  // namespace onestep::dijs

// The DiJS loss family. One classifier d = log q/p (fake = class 1) serves every divergence:
// the generator minimises E w(σ)·f′(e^d) through the frozen classifier (the table in
// ../shared/docs/method.md), the classifier minimises the logistic loss.
#pragma once
#include "../errors.h"

namespace onestep::dijs {

enum class Divergence { kKL, kJS, kForwardKL, kHellinger };

// "js" | "kl" | "fkl" | "hellinger"; anything else is a user error naming the choices.
Divergence ParseDivergence(const std::string& name);

// Per-sample generator surrogate f′(e^d) up to constants: kl d; js ½·log σ(d); fkl −e^(−d);
// hellinger −e^(−d/2). Its derivative in d is the weight the divergence puts on ∇x d.
at::Tensor GeneratorSurrogate(const at::Tensor& logits, Divergence divergence);

// L_D = mean softplus(−d_fake) + mean softplus(d_real).
at::Tensor RatioLoss(const at::Tensor& fake_logits, const at::Tensor& real_logits);

}  // namespace onestep::dijs

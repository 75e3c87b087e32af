#include "lookahead.h"

#include <algorithm>

namespace onestep::train {

void Lookahead::Init(const std::vector<std::pair<std::string, FlatParameters*>>& nets, int64_t steps, double alpha, TrainerState& state) {
  steps_ = steps;
  alpha_ = alpha;
  nets_.clear();
  if (steps <= 0) {
    // Off: the slow weights of a checkpoint saved with it on are left behind.
    for (const auto& net : nets) state.Ignore("lookahead." + net.first);
    return;
  }
  nets_.reserve(nets.size());  // the state keeps pointers to the slow tensors: no reallocation after this
  for (const auto& [name, fast] : nets) nets_.push_back({name, fast, fast->data.detach().clone()});
  for (Net& net : nets_) state.Add("lookahead." + net.name, &net.slow);
}

void Lookahead::AfterStep(int64_t step) {
  if (steps_ <= 0 || step % steps_ != 0) return;
  at::NoGradGuard no_grad;
  for (Net& net : nets_) {
    net.slow.lerp_(net.fast->data, alpha_);
    net.fast->data.copy_(net.slow);
  }
}

void Lookahead::AfterRestore(const std::vector<std::string>& restored) {
  at::NoGradGuard no_grad;
  for (Net& net : nets_)
    if (std::find(restored.begin(), restored.end(), "lookahead." + net.name) == restored.end()) net.slow.copy_(net.fast->data);
}

}  // namespace onestep::train

// Lookahead (Zhang et al. 2019) over both players of a game at once, as Lookahead-minmax
// (Chavdarova et al. 2021): every k optimiser steps, the weights of each network are pulled back
// to a point between where they were k steps before (the "slow" weights) and where they are now,
//   slow ← slow + α·(fast − slow),   fast ← slow,
// and training goes on from there (the optimiser's moments are kept). In a game whose gradient
// field rotates, the k fast steps circle the equilibrium and the pull-back lands nearer it.
#pragma once
#include "optim.h"
#include "state.h"

#include <string>
#include <vector>

namespace onestep::train {

class Lookahead {
 public:
  // Slow copies of each named flat buffer, registered with `state` as "lookahead.<name>" so that
  // checkpoints carry them. `steps` 0: off (nothing is copied; a checkpoint's slow weights are ignored).
  void Init(const std::vector<std::pair<std::string, FlatParameters*>>& nets, int64_t steps, double alpha, TrainerState& state);
  // Called after optimiser step `step` (1-based, restored on resume): the pull-back every `steps`.
  void AfterStep(int64_t step);
  // After a restore that set `restored`: slow weights the checkpoint did not carry (a run branched
  // with lookahead turned on) start from the restored weights.
  void AfterRestore(const std::vector<std::string>& restored);
  void Clear() { nets_.clear(); }

 private:
  struct Net {
    std::string name;
    FlatParameters* fast = nullptr;
    at::Tensor slow;
  };
  std::vector<Net> nets_;
  int64_t steps_ = 0;
  double alpha_ = 0.5;
};

}  // namespace onestep::train

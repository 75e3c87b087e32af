// What makes a fused trainer resumable: its data order (a device permutation per epoch and the
// position in it), the device's random generator, and its own tensors (optimizer moments) — saved
// by name for state() and put back, with shape checks, by restore().
#pragma once
#include "../errors.h"

namespace onestep::train {

// Shuffled batches of a data set resident on the device: a fresh permutation each epoch, drawn on
// the device, so the GPU never waits for the host.
struct EpochSampler {
  at::Tensor permutation;
  int64_t position = 0;
  at::Tensor Next(int64_t dataset_size, int64_t batch, const c10::Device& device);
};

class TrainerState {
 public:
  // Registers a tensor of the trainer under `name` (it must outlive this object).
  void Add(const std::string& name, at::Tensor* slot) { slots_.emplace_back(name, slot); }
  // A name a checkpoint may carry that this trainer does not use (state of a setting a resumed
  // branch turned off): restore skips it instead of refusing it as unknown.
  void Ignore(const std::string& name) { ignored_.push_back(name); }
  // Copies of every registered tensor, the generator state and the sampler's permutation.
  std::vector<std::pair<std::string, at::Tensor>> Snapshot(const c10::Device& device, const EpochSampler& sampler) const;
  // Puts back a [[name, handle], …] array made from a Snapshot (the sampler's position is set apart).
  // A data order over another number of images than `dataset_size` is refused: the run resumed
  // on another data set (a limit, another split) would index past it or skip part of it.
  // Returns the names of the registered tensors it set: a checkpoint made before a tensor was
  // registered (a run branched with a new setting) leaves that one as the trainer made it.
  std::vector<std::string> Restore(const Napi::Value& list, const c10::Device& device, EpochSampler& sampler, int64_t dataset_size) const;

 private:
  std::vector<std::pair<std::string, at::Tensor*>> slots_;
  std::vector<std::string> ignored_;
};

}  // namespace onestep::train

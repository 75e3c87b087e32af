// One training iteration captured in a CUDA graph and replayed: the ~2 000 kernels of a DiJS
// iteration launched by one call instead of one by one from the host (and from the autograd
// engine's thread). CUDA builds only; elsewhere `Supported()` is false and the trainers refuse the
// option with a clear error.
//
// The rules the trainer keeps (PyTorch's for whole-network capture): static shapes; every input
// the iteration reads (random draws, data, learning-rate factors) lives in a tensor allocated
// before capture and is refreshed by copies before each replay; no host read inside; cuDNN's
// autotuning and cuBLAS's set-up happen in eager iterations on the same stream and thread first.
#pragma once
#include "../pch.h"

#include <memory>

namespace onestep::train {

class StepGraph {
 public:
  StepGraph();
  ~StepGraph();
  static bool Supported();

  // While alive, the calling thread's work goes to this trainer's own stream (needed for capture:
  // the legacy default stream cannot be captured). The stream first waits for the work already
  // queued on the device's current stream, and that stream waits for this one at the end — GPU-side
  // waits only, so other users of the device (sampling, checkpoints) see the trainer's results in order.
  class Scope {
   public:
    Scope(StepGraph& graph, const c10::Device& device);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
  };

  bool Captured() const;
  // Records `body` (which does not run) into the graph; call within a Scope. If capture fails the
  // graph stays empty and the error propagates. `other_threads` true: capture in CUDA's
  // thread-local mode, so that CUDA calls from other threads (NCCL's watchdog polling the events of
  // earlier all-reduces) neither fail nor spoil the capture; this thread's own unsafe calls still fail it.
  void Capture(const std::function<void()>& body, bool other_threads = false);
  // Runs the captured iteration on the current stream.
  void Replay();
  void Reset();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace onestep::train

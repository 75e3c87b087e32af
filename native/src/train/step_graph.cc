#include "step_graph.h"

#include "../errors.h"

#ifdef ONESTEP_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#endif

namespace onestep::train {

#ifdef ONESTEP_WITH_CUDA

struct StepGraph::Impl {
  c10::optional<at::cuda::CUDAStream> stream;  // created at the first Scope, on its device
  std::unique_ptr<at::cuda::CUDAGraph> graph;
};

struct StepGraph::Scope::Impl {
  at::cuda::CUDAStream outer, inner;
  c10::cuda::CUDAStreamGuard guard;
  Impl(at::cuda::CUDAStream outer, at::cuda::CUDAStream inner) : outer(outer), inner(inner), guard(inner) {}
};

StepGraph::StepGraph() : impl_(std::make_unique<Impl>()) {}
StepGraph::~StepGraph() = default;
bool StepGraph::Supported() { return true; }

StepGraph::Scope::Scope(StepGraph& graph, const c10::Device& device) {
  if (!device.is_cuda()) throw UserError(code::kCudaUnavailable, "CUDA graphs need a CUDA device");
  c10::cuda::CUDAGuard device_guard(device);
  auto& stream = graph.impl_->stream;
  if (!stream) stream = at::cuda::getStreamFromPool(/*isHighPriority=*/false, device.index());
  at::cuda::CUDAStream outer = at::cuda::getCurrentCUDAStream(device.index());
  at::cuda::CUDAEvent ready;
  ready.record(outer);
  ready.block(*stream);
  impl_ = std::make_unique<Impl>(outer, *stream);
}

StepGraph::Scope::~Scope() {
  at::cuda::CUDAEvent done;
  done.record(impl_->inner);
  done.block(impl_->outer);
}

bool StepGraph::Captured() const { return impl_->graph != nullptr; }

void StepGraph::Capture(const std::function<void()>& body, bool other_threads) {
  auto graph = std::make_unique<at::cuda::CUDAGraph>();
#if TORCH_VERSION_MAJOR >= 2
  graph->capture_begin({0, 0}, other_threads ? cudaStreamCaptureModeThreadLocal : cudaStreamCaptureModeGlobal);
#else
  (void)other_threads;  // libtorch 1.13 captures in global mode only
  graph->capture_begin();
#endif
  try {
    body();
  } catch (...) {
    // End the capture so the stream and the allocator leave capture mode; the original error wins.
    try { graph->capture_end(); } catch (...) {}
    throw;
  }
  graph->capture_end();
  impl_->graph = std::move(graph);
  // The eager warm-up's cached blocks are free now and the graph has its own pool: give them back.
  c10::cuda::CUDACachingAllocator::emptyCache();
}

void StepGraph::Replay() { impl_->graph->replay(); }
void StepGraph::Reset() { impl_->graph.reset(); }

#else  // a CPU build: nothing to capture

struct StepGraph::Impl {};
struct StepGraph::Scope::Impl {};
StepGraph::StepGraph() : impl_(std::make_unique<Impl>()) {}
StepGraph::~StepGraph() = default;
bool StepGraph::Supported() { return false; }
StepGraph::Scope::Scope(StepGraph&, const c10::Device&) {
  throw UserError(code::kCudaUnavailable, "CUDA graphs need a CUDA build of onestep and a CUDA device");
}
StepGraph::Scope::~Scope() = default;
bool StepGraph::Captured() const { return false; }
void StepGraph::Capture(const std::function<void()>&, bool) { throw UserError(code::kCudaUnavailable, "CUDA graphs need a CUDA build of onestep"); }
void StepGraph::Replay() {}
void StepGraph::Reset() {}

#endif

}  // namespace onestep::train

#include "worker.h"

#include <atomic>

namespace onestep {
namespace {
std::atomic<int> g_intra_op_threads{1};
std::atomic<bool> g_cuda_in_use{false};
}  // namespace

void MarkCudaInUse() { g_cuda_in_use = true; }

void SetIntraOpThreads(int threads) {
  g_intra_op_threads = threads;
  at::set_num_threads(threads);
}

int IntraOpThreads() { return g_intra_op_threads; }

ThreadContext ThreadContext::Capture() {
  ThreadContext context;
  context.grad_enabled = at::GradMode::is_enabled();
  context.intra_op_threads = g_intra_op_threads;
  // Only a CUDA build registers a CUDA guard implementation, and only code that named a CUDA
  // device needs its stream: asking earlier would initialise CUDA for CPU-only work.
  if (g_cuda_in_use && c10::impl::hasDeviceGuardImpl(c10::DeviceType::CUDA)) {
    const auto* impl = c10::impl::getDeviceGuardImpl(c10::DeviceType::CUDA);
    if (impl->deviceCount() > 0) context.cuda_stream = impl->getStream(impl->getDevice());
  }
  return context;
}

ThreadContextGuard::ThreadContextGuard(const ThreadContext& context) : grad_mode_(context.grad_enabled) {
  if (at::get_num_threads() != context.intra_op_threads) at::set_num_threads(context.intra_op_threads);
  if (context.cuda_stream) stream_guard_.emplace(*context.cuda_stream);
}

}  // namespace onestep

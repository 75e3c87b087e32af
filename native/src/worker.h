// Native work that can take more than a millisecond runs here: on a libuv worker thread, with
// a Promise for JavaScript, so that the event loop keeps turning.
//
// libtorch keeps grad mode, the intra-op thread count (OpenMP's is per thread), the current CUDA
// device and the current CUDA stream per thread. A job captures them on the JS thread when it is
// queued and reinstates them on the worker, so it behaves as if it ran where it was called.
#pragma once
#include "errors.h"

namespace onestep {

struct ThreadContext {
  bool grad_enabled = true;
  int intra_op_threads = 1;
  c10::optional<c10::Stream> cuda_stream;  // also names the current CUDA device

  static ThreadContext Capture();
};

class ThreadContextGuard {
 public:
  explicit ThreadContextGuard(const ThreadContext& context);

 private:
  at::AutoGradMode grad_mode_;
  c10::optional<c10::StreamGuard> stream_guard_;
};

// Set once a CUDA device has been named (convert.cc): until then jobs do not touch CUDA, so that
// CPU-only work never pays for initialising it.
void MarkCudaInUse();

// The intra-op thread count chosen for the process (setNumThreads); workers adopt it.
void SetIntraOpThreads(int threads);
int IntraOpThreads();

template <class Result>
class TorchJob final : public Napi::AsyncWorker {
 public:
  using Work = std::function<Result()>;
  // Converts the result to JS on the JS thread (e.g. wraps tensors in handles).
  using Finish = std::function<Napi::Value(Napi::Env, Result&)>;

  static Napi::Promise Start(Napi::Env env, const char* name, Work work, Finish finish) {
    auto* job = new TorchJob(env, name, std::move(work), std::move(finish));
    Napi::Promise promise = job->deferred_.Promise();
    job->Queue();  // libuv owns the job now and deletes it after OnOK/OnError
    return promise;
  }

 private:
  TorchJob(Napi::Env env, const char* name, Work work, Finish finish)
      : Napi::AsyncWorker(env, name),
        deferred_(Napi::Promise::Deferred::New(env)),
        context_(ThreadContext::Capture()),
        work_(std::move(work)),
        finish_(std::move(finish)) {}

  void Execute() override {
    try {
      ThreadContextGuard guard(context_);
      result_ = work_();
    } catch (...) {
      error_ = ClassifyCurrentException();
      SetError(error_.message);
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    try {
      deferred_.Resolve(finish_(env, result_));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    } catch (...) {
      deferred_.Reject(MakeJsError(env, ClassifyCurrentException()).Value());
    }
    result_ = Result();  // release tensors now rather than when libuv frees the job
  }

  void OnError(const Napi::Error&) override { deferred_.Reject(MakeJsError(Env(), error_).Value()); }

  Napi::Promise::Deferred deferred_;
  ThreadContext context_;
  Work work_;
  Finish finish_;
  Result result_{};
  ErrorInfo error_;
};

}  // namespace onestep

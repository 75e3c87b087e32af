// ProcessGroup: libtorch's c10d process groups for JavaScript. Rendezvous through c10d's TCPStore
// (rank 0 serves it at MASTER_ADDR:MASTER_PORT), then Gloo (CPU tensors) or NCCL (CUDA tensors).
// Built only where their headers are found (CMakeLists.txt): Debian's libtorch needs libgloo-dev;
// elsewhere init() says what is missing.
#include "../registry.h"
#include "../convert.h"
#include "../tensor_handle.h"
#include "../worker.h"
#include "collective.h"

#ifdef ONESTEP_WITH_GLOO
#define USE_C10D_GLOO 1
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef ONESTEP_WITH_NCCL
#define USE_C10D_NCCL 1
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#if defined(ONESTEP_WITH_GLOO) || defined(ONESTEP_WITH_NCCL)
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

#include <atomic>
#include <chrono>

namespace onestep {
namespace dist {
namespace {

struct GroupOptions {
  std::string backend;  // "gloo" | "nccl"
  int rank = 0, size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::chrono::milliseconds timeout{300000};
};

#if defined(ONESTEP_WITH_GLOO) || defined(ONESTEP_WITH_NCCL)
// libtorch 2 split the process group into a front and per-device "backends"; 1.13 had one class.
#if TORCH_VERSION_MAJOR >= 2
using Backend = c10d::Backend;
#else
using Backend = c10d::ProcessGroup;
#endif

class C10dCollective final : public Collective {
 public:
  C10dCollective(const GroupOptions& o) : rank_(o.rank), size_(o.size) {
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<uint16_t>(o.master_port);
    store_options.isServer = o.rank == 0;
    store_options.numWorkers = o.size;
    store_options.waitWorkers = true;
    store_options.timeout = o.timeout;
    store_ = c10::make_intrusive<c10d::TCPStore>(o.master_addr, store_options);
    if (o.backend == "gloo") {
#ifdef ONESTEP_WITH_GLOO
      auto options = c10d::ProcessGroupGloo::Options::create(o.timeout);
      // Loopback rendezvous (one machine): bind Gloo there too, whatever the hostname resolves to.
      const bool local = o.master_addr == "127.0.0.1" || o.master_addr == "localhost";
      const char* iface = std::getenv("GLOO_SOCKET_IFNAME");
      options->devices.push_back(iface ? c10d::ProcessGroupGloo::createDeviceForInterface(iface)
                                 : local ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                         : c10d::ProcessGroupGloo::createDefaultDevice());
      group_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store_, o.rank, o.size, options);
#endif
    } else {
#ifdef ONESTEP_WITH_NCCL
      nccl_ = c10::make_intrusive<c10d::ProcessGroupNCCL>(store_, o.rank, o.size);
      group_ = nccl_;
#endif
    }
    if (!group_) throw UserError(code::kDistributed, "this build of onestep has no '" + o.backend + "' backend");
  }
  // When the last user lets go (the handle and every trainer disposed): as destroy_process_group.
  ~C10dCollective() override { Close(); }
  int Rank() const override { return rank_; }
  int Size() const override { return size_; }
  bool Capturable() const override {
#ifdef ONESTEP_WITH_NCCL
    return nccl_ != nullptr;  // NCCL's all-reduces are device kernels; Gloo's wait on the host
#else
    return false;
#endif
  }
  void AllReduceSum(at::Tensor& t) override {
    std::vector<at::Tensor> tensors{t};
    try {
      group_->allreduce(tensors)->wait();
    } catch (...) {
      failed_ = true;
      throw;
    }
  }

 private:
  // NCCL's own shutdown first: without it ProcessGroupNCCL's destructor warns that
  // destroy_process_group() was not called and aborts its communicators, and its monitor thread
  // may still poll the store (the c10::Error traces a rank printed when rank 0 had gone). Skipped
  // after a failed all-reduce, where flushing could wait on a dead peer: the destructor then
  // aborts. Then rank 0, which serves the store, waits (5 s at most) until every rank has closed.
  void Close() noexcept {
    try {
#if defined(ONESTEP_WITH_NCCL) && TORCH_VERSION_MAJOR >= 2
      if (nccl_ && !failed_) nccl_->shutdown();
#endif
      if (failed_) return;
      store_->set(ClosedKey(rank_), std::vector<uint8_t>{1});
      if (rank_ != 0) return;
      std::vector<std::string> keys;
      for (int r = 0; r < size_; ++r) keys.push_back(ClosedKey(r));
      store_->wait(keys, std::chrono::milliseconds(5000));
    } catch (...) {
      // A peer gone, or the store with it: nothing left to close politely.
    }
  }
  static std::string ClosedKey(int rank) { return "onestep/closed/" + std::to_string(rank); }

  int rank_, size_;
  std::atomic<bool> failed_{false};  // set on a worker thread, read by the destructor
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<Backend> group_;
#ifdef ONESTEP_WITH_NCCL
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl_;
#endif
};
#endif

// The backends this build has, as "gloo, nccl" (or "none").
std::string Backends() {
  std::string out;
#ifdef ONESTEP_WITH_GLOO
  out += "gloo";
#endif
#ifdef ONESTEP_WITH_NCCL
  out += out.empty() ? "nccl" : ", nccl";
#endif
  return out.empty() ? "none" : out;
}

bool HasBackend(const std::string& backend) {
  const std::string built = ", " + Backends() + ",";
  return built.find(", " + backend + ",") != std::string::npos;
}

class ProcessGroupHandle : public Napi::ObjectWrap<ProcessGroupHandle> {
 public:
  static Napi::FunctionReference* constructor;

  static void Register(Napi::Env env, Napi::Object exports) {
    Napi::Function ctor = DefineClass(env, "ProcessGroupHandle", {
        InstanceMethod<&ProcessGroupHandle::AllReduce>("allReduce"),
        InstanceMethod<&ProcessGroupHandle::Dispose>("dispose"),
    });
    constructor = new Napi::FunctionReference(Napi::Persistent(ctor));
    exports.Set("ProcessGroupHandle", ctor);
    exports.Set("processGroupInit", Napi::Function::New(env, Init, "processGroupInit"));
    exports.Set("processGroupBackends", Napi::Function::New(env, [](const Napi::CallbackInfo& info) -> Napi::Value {
      return Napi::String::New(info.Env(), Backends());
    }));
  }

  // Built by Init only: new ProcessGroupHandle(External<shared_ptr<Collective>>).
  explicit ProcessGroupHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ProcessGroupHandle>(info) {
    Guard(info.Env(), [&] {
      if (!info[0].IsExternal()) ThrowTypeError("use processGroupInit");
      group_ = *info[0].As<Napi::External<std::shared_ptr<Collective>>>().Data();
      return 0;
    });
  }

  std::shared_ptr<Collective> group() const { return group_; }

 private:
  // processGroupInit({ backend, rank, worldSize, masterAddr, masterPort, timeoutMs }) → Promise<handle>.
  // The rendezvous blocks until every rank has arrived, so it runs on a worker thread.
  static Napi::Value Init(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      if (!info[0].IsObject()) ThrowTypeError("processGroupInit takes an options object");
      Napi::Object o = info[0].As<Napi::Object>();
      GroupOptions options;
      options.backend = o.Get("backend").As<Napi::String>().Utf8Value();
      options.rank = o.Get("rank").As<Napi::Number>().Int32Value();
      options.size = o.Get("worldSize").As<Napi::Number>().Int32Value();
      options.master_addr = o.Get("masterAddr").As<Napi::String>().Utf8Value();
      options.master_port = o.Get("masterPort").As<Napi::Number>().Int32Value();
      options.timeout = std::chrono::milliseconds(o.Get("timeoutMs").As<Napi::Number>().Int64Value());
      if (!HasBackend(options.backend))
        throw UserError(code::kDistributed, "this build of onestep has no '" + options.backend + "' backend (built with: " + Backends() +
                                                "); on Debian, install libgloo-dev and rebuild (npm run build:native)");
      using Result = std::shared_ptr<Collective>;
      return TorchJob<Result>::Start(info.Env(), "onestep.processGroupInit",
          [options]() -> Result {
#if defined(ONESTEP_WITH_GLOO) || defined(ONESTEP_WITH_NCCL)
            try {
              return std::make_shared<C10dCollective>(options);
            } catch (const UserError&) {
              throw;
            } catch (const std::exception& e) {
              throw UserError(code::kDistributed, "rank " + std::to_string(options.rank) + " of " + std::to_string(options.size) +
                                                      " could not join the group at " + options.master_addr + ":" +
                                                      std::to_string(options.master_port) + ": " + e.what());
            }
#else
            return nullptr;
#endif
          },
          [](Napi::Env env, Result& group) -> Napi::Value {
            return constructor->New({Napi::External<Result>::New(env, &group)});
          });
    });
  }

  // allReduce(tensor) → Promise<void>: sums the tensor over the group, in place.
  Napi::Value AllReduce(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      if (!group_) throw UserError(code::kDisposed, "this process group was disposed");
      at::Tensor t = TensorHandle::TensorOf(info[0], "tensor");
      auto group = group_;
      return TorchJob<int>::Start(info.Env(), "onestep.allReduce",
          [group, t]() mutable {
            try {
              group->AllReduceSum(t);
            } catch (const std::exception& e) {
              throw UserError(code::kDistributed, std::string("allReduce failed (a peer process may have stopped): ") + e.what());
            }
            return 0;
          },
          [](Napi::Env env, int&) -> Napi::Value { return env.Undefined(); });
    });
  }

  // Trainers that use the group keep it alive until they are disposed too.
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    group_.reset();
    return info.Env().Undefined();
  }

  std::shared_ptr<Collective> group_;
};

Napi::FunctionReference* ProcessGroupHandle::constructor = nullptr;

}  // namespace

std::shared_ptr<Collective> CollectiveOf(const Napi::Value& value) {
  if (IsNullish(value)) return nullptr;
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(ProcessGroupHandle::constructor->Value()))
    ThrowTypeError("processGroup must come from ProcessGroup.init()");
  auto group = Napi::ObjectWrap<ProcessGroupHandle>::Unwrap(value.As<Napi::Object>())->group();
  if (!group) throw UserError(code::kDisposed, "this process group was disposed");
  return group;
}

void DataParallel::Average(at::Tensor& t) const {
  if (!group_ || group_->Size() == 1) return;
  try {
    group_->AllReduceSum(t);
  } catch (const std::exception& e) {
    throw UserError(code::kDistributed, "process " + std::to_string(group_->Rank()) + ": the group's all-reduce failed " +
                                            "(another process may have stopped): " + e.what());
  }
  t.div_(group_->Size());
}

}  // namespace dist

void RegisterProcessGroup(Napi::Env env, Napi::Object exports) { dist::ProcessGroupHandle::Register(env, exports); }

}  // namespace onestep

// What a trainer needs from a group of processes training together: its place in the group and
// a sum over all of them. libtorch's c10d process groups (Gloo on CPUs, NCCL on GPUs) do the
// work (process_group.cc); a trainer without a group trains alone.
#pragma once
#include "../pch.h"

#include <memory>

namespace onestep::dist {

class Collective {
 public:
  virtual ~Collective() = default;
  virtual int Rank() const = 0;
  virtual int Size() const = 0;
  // Sums `t` over the group in place (on its device); returns when the result is there.
  virtual void AllReduceSum(at::Tensor& t) = 0;
  // Whether AllReduceSum may be recorded into a CUDA graph: NCCL's collectives are kernels on the
  // device (NCCL ≥ 2.9.6 supports capture); Gloo's wait on the host.
  virtual bool Capturable() const = 0;
};

// The group behind a JS ProcessGroup handle; null for undefined or null.
std::shared_ptr<Collective> CollectiveOf(const Napi::Value& value);

// Data parallelism as the trainers do it: each process of a group trains on its rows of one
// global batch of (local batch) × (group size). Every process draws the random numbers of the
// whole global batch (the same seed everywhere) and keeps its rows, so a run does not depend on
// how many processes share it, and a checkpoint resumes on any number of them. Gradients and
// statistics are averaged over the group, as one process with the global batch would have them.
// Without a group (training alone) every call is the identity.
class DataParallel {
 public:
  void Join(std::shared_ptr<Collective> group) { group_ = std::move(group); }
  void Leave() { group_.reset(); }
  int Size() const { return group_ ? group_->Size() : 1; }
  int64_t GlobalBatch(int64_t local) const { return local * Size(); }
  // This process's `local` rows of a tensor drawn for the global batch.
  at::Tensor Rows(const at::Tensor& global, int64_t local) const {
    return group_ ? global.narrow(0, group_->Rank() * local, local) : global;
  }
  // The same for a batch of `blocks` global batches one after another, e.g. [fake; real] (2).
  at::Tensor BlockRows(const at::Tensor& global, int64_t local, int64_t blocks) const {
    if (!group_) return global;
    const int64_t block = global.size(0) / blocks;
    std::vector<at::Tensor> rows;
    for (int64_t i = 0; i < blocks; ++i) rows.push_back(Rows(global.narrow(0, i * block, block), local));
    return at::cat(rows);
  }
  at::Tensor PairRows(const at::Tensor& global, int64_t local) const { return BlockRows(global, local, 2); }
  // Averages `t` over the group in place; a failed peer becomes ERR_DISTRIBUTED.
  void Average(at::Tensor& t) const;
  // Whether Average may be recorded into a CUDA graph (alone: it does nothing).
  bool Capturable() const { return Size() == 1 || group_->Capturable(); }

 private:
  std::shared_ptr<Collective> group_;
};

}  // namespace onestep::dist

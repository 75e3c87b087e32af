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
};

// The group behind a JS ProcessGroup handle; null for undefined or null.
std::shared_ptr<Collective> CollectiveOf(const Napi::Value& value);

}  // namespace onestep::dist

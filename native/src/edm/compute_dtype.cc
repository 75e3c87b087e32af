#include "compute_dtype.h"

namespace onestep::edm {
namespace {
thread_local at::ScalarType compute_dtype = at::kFloat;
}

at::ScalarType ComputeDtype() { return compute_dtype; }

ComputeDtypeGuard::ComputeDtypeGuard(at::ScalarType dtype) : was_(compute_dtype) { compute_dtype = dtype; }
ComputeDtypeGuard::~ComputeDtypeGuard() { compute_dtype = was_; }

}  // namespace onestep::edm

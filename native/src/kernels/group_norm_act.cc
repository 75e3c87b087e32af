#include "group_norm_act.h"

#include <array>
#include <atomic>

#ifdef ONESTEP_WITH_CUDA_KERNELS
#include "group_norm_act_cuda.h"

#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace onestep::kernels {
namespace {

std::atomic<bool> fused_enabled{true};

// libtorch's ops: the reference, and the path on CPU or without the kernels.
at::Tensor Composite(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& weight, const at::Tensor& bias, int64_t groups,
                     double eps, bool silu) {
  at::Tensor h = shift.defined() ? x.add(shift.to(x.dtype()).unsqueeze(2).unsqueeze(3)) : x;
  at::Tensor y = at::group_norm(h, groups, weight.to(x.dtype()), bias.to(x.dtype()), eps);
  return silu ? at::silu(y) : y;
}

#ifdef ONESTEP_WITH_CUDA_KERNELS
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

cuda::ElementType ElementTypeOf(const at::Tensor& x) {
  switch (x.scalar_type()) {
    case at::kFloat: return cuda::ElementType::kFloat32;
    case at::kBFloat16: return cuda::ElementType::kBFloat16;
    default: return cuda::ElementType::kFloat16;
  }
}

cuda::GroupNormShape ShapeOf(const at::Tensor& x, int64_t groups) { return {x.size(0), x.size(1), x.size(2) * x.size(3), groups}; }

// "No shift" travels as an empty tensor: autograd::Function records every input's device and dtype,
// which an undefined tensor does not have.
const float* ShiftData(const at::Tensor& shift) { return shift.numel() > 0 ? shift.data_ptr<float>() : nullptr; }

void Check(int error, const char* what) {
  TORCH_CHECK(error == 0, "onestep's fused GroupNorm ", what, " kernel failed to launch (CUDA error ", error, ")");
}

// The inputs arrive contiguous, weight and bias float32, shift float32 [N, C] or empty.
struct FusedGroupNormAct : torch::autograd::Function<FusedGroupNormAct> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& shift, const at::Tensor& weight,
                            const at::Tensor& bias, int64_t groups, double eps, bool silu) {
    const c10::cuda::CUDAGuard device_guard(x.device());  // the kernel runs on x's device, whichever is current
    at::Tensor y = at::empty_like(x);
    at::Tensor mean = at::empty({x.size(0) * groups}, x.options().dtype(at::kFloat));
    at::Tensor rstd = at::empty_like(mean);
    Check(cuda::GroupNormActForward(ElementTypeOf(x), ShapeOf(x, groups), x.data_ptr(), ShiftData(shift), weight.data_ptr<float>(),
                                    bias.data_ptr<float>(), static_cast<float>(eps), silu, y.data_ptr(), mean.data_ptr<float>(),
                                    rstd.data_ptr<float>(), c10::cuda::getCurrentCUDAStream(x.device().index()).stream()),
          "forward");
    // Only the input is kept (not the normalised or activated tensors): the backward recomputes them.
    ctx->save_for_backward({x, shift, weight, bias, mean, rstd});
    ctx->saved_data["groups"] = groups;
    ctx->saved_data["silu"] = silu;
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    if (!grad_outputs[0].defined()) return variable_list(7);
    auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &shift = saved[1], &weight = saved[2], &bias = saved[3], &mean = saved[4], &rstd = saved[5];
    const c10::cuda::CUDAGuard device_guard(x.device());
    const int64_t groups = ctx->saved_data["groups"].toInt();
    const bool silu = ctx->saved_data["silu"].toBool();
    at::Tensor dy = grad_outputs[0].to(x.dtype()).contiguous();
    at::Tensor dx = at::empty_like(x);
    auto float_options = x.options().dtype(at::kFloat);
    at::Tensor dweight_nc = at::empty({x.size(0), x.size(1)}, float_options);
    at::Tensor dbias_nc = at::empty_like(dweight_nc);
    const bool has_shift = shift.numel() > 0;
    at::Tensor dshift = has_shift ? at::empty_like(dweight_nc) : at::Tensor();
    Check(cuda::GroupNormActBackward(ElementTypeOf(x), ShapeOf(x, groups), dy.data_ptr(), x.data_ptr(), ShiftData(shift),
                                     weight.data_ptr<float>(), bias.data_ptr<float>(), mean.data_ptr<float>(), rstd.data_ptr<float>(),
                                     silu, dx.data_ptr(), dweight_nc.data_ptr<float>(), dbias_nc.data_ptr<float>(),
                                     has_shift ? dshift.data_ptr<float>() : nullptr,
                                     c10::cuda::getCurrentCUDAStream(x.device().index()).stream()),
          "backward");
    return {dx, dshift, dweight_nc.sum(0), dbias_nc.sum(0), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// Whether the kernels can run on `device`, asked once per device: a build whose architectures do
// not include this GPU (e.g. TORCH_CUDA_ARCH_LIST=9.0 on an older card) falls back to libtorch's
// ops with one warning instead of failing every call.
bool LoadableOn(const c10::Device& device) {
  static std::array<std::atomic<int>, 64> state{};  // 0 unknown, 1 yes, 2 no
  const int index = device.index() < 0 ? 0 : device.index();
  if (index >= static_cast<int>(state.size())) return false;
  int known = state[index].load(std::memory_order_relaxed);
  if (known == 0) {
    const c10::cuda::CUDAGuard device_guard(device);
    const int error = cuda::KernelsLoadable();
    if (error != 0) {
      TORCH_WARN("onestep's fused CUDA kernels have no code for GPU ", index, " (CUDA error ", error,
                 "): GroupNorm runs on libtorch's ops there. Rebuild with its architecture in TORCH_CUDA_ARCH_LIST or "
                 "CMAKE_CUDA_ARCHITECTURES (npm run rebuild:native) to use them.");
    }
    known = error == 0 ? 1 : 2;
    state[index].store(known, std::memory_order_relaxed);
  }
  return known == 1;
}

// The kernels trust their pointers, so anything unusual — other devices, shapes that do not match,
// an empty batch — takes libtorch's ops, which check and raise a clear error where one is due.
bool FusedApplies(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& weight, const at::Tensor& bias, int64_t groups) {
  const auto dtype = x.scalar_type();
  if (!fused_enabled.load(std::memory_order_relaxed) || !x.is_cuda() || x.dim() != 4 || x.numel() == 0 || !LoadableOn(x.device())) return false;
  if (dtype != at::kFloat && dtype != at::kBFloat16 && dtype != at::kHalf) return false;
  const int64_t n = x.size(0), c = x.size(1);
  auto on_x = [&](const at::Tensor& t) { return t.device() == x.device(); };
  return groups > 0 && c % groups == 0 && x.numel() / n / groups < (int64_t{1} << 30) &&  // a group is indexed in 32 bits
         weight.defined() && bias.defined() && on_x(weight) && on_x(bias) && weight.numel() == c && bias.numel() == c &&
         (!shift.defined() || (on_x(shift) && shift.dim() == 2 && shift.size(0) == n && shift.size(1) == c));
}
#endif

}  // namespace

at::Tensor GroupNormAct(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& weight, const at::Tensor& bias, int64_t groups,
                        double eps, bool silu) {
#ifdef ONESTEP_WITH_CUDA_KERNELS
  if (FusedApplies(x, shift, weight, bias, groups)) {
    // The casts are recorded by autograd (their backward brings gradients back to the masters'
    // dtype); on float32 masters and a float32 shift they are no-ops.
    at::Tensor shift32 = shift.defined() ? shift.to(at::kFloat).contiguous() : at::empty({0}, x.options().dtype(at::kFloat));
    return FusedGroupNormAct::apply(x.contiguous(), shift32, weight.to(at::kFloat).contiguous(), bias.to(at::kFloat).contiguous(), groups,
                                    eps, silu);
  }
#endif
  return Composite(x, shift, weight, bias, groups, eps, silu);
}

bool FusedKernelsBuilt() {
#ifdef ONESTEP_WITH_CUDA_KERNELS
  return true;
#else
  return false;
#endif
}
void SetFusedKernels(bool enabled) { fused_enabled.store(enabled); }
bool FusedKernelsEnabled() { return fused_enabled.load(); }

}  // namespace onestep::kernels

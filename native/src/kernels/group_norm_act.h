// GroupNorm with an optional per-channel shift added before it and an optional SiLU after it:
// act(GroupNorm(x + shift[:, :, None, None]) · weight + bias), the pattern of every norm in EDM's
// SongUNet and the ratio head. On CUDA, with the kernels built and enabled, one fused kernel each
// way (kernels/group_norm_act.cu); elsewhere libtorch's own ops, exactly as before.
#pragma once
#include "../pch.h"

namespace onestep::kernels {

// shift: [N, C] or undefined; weight, bias: [C] (float32 masters are used as they are).
at::Tensor GroupNormAct(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& weight, const at::Tensor& bias,
                        int64_t groups, double eps, bool silu);

// Whether this build has the CUDA kernels, and the process-wide switch (on by default) that
// lets a user fall back to libtorch's ops and a test compare the two.
bool FusedKernelsBuilt();
void SetFusedKernels(bool enabled);
bool FusedKernelsEnabled();

}  // namespace onestep::kernels

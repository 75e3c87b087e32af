// Precompiled header: the heavy libtorch includes, parsed once for every translation unit.
#pragma once
#include <torch/torch.h>
#include <torch/version.h>
#include <ATen/Parallel.h>
#include <ATen/ScalarOps.h>
#include <c10/core/DeviceGuard.h>
#include <c10/core/StreamGuard.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <napi.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

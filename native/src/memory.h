// Accounting of the native memory held by live tensor handles, for `memory()` and for V8.
// Storage shared by several handles (views, aliases) is counted once and reported to V8 once.
// All calls happen on the JS thread: handles are only created, disposed and finalised there.
#pragma once
#include "pch.h"

namespace onestep::memory {

// Registers a tensor that a new handle holds; returns the key to pass to Untrack.
const void* Track(const at::Tensor& tensor);
void Untrack(const void* key);

struct Stats {
  int64_t tensors;  // live handles
  int64_t bytes;    // distinct storage bytes they hold, all devices
};
Stats Current();

// Tells V8 (napi_adjust_external_memory) about the bytes tracked since the last flush, so that
// garbage collection feels the pressure of native tensors. Finalisers only record the change;
// the next flush reports it.
void FlushToV8(Napi::Env env);

}  // namespace onestep::memory

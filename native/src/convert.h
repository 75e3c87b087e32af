// Conversions between JS values and libtorch types, with the checks that turn bad input into
// clear errors (never into an abort inside libtorch).
#pragma once
#include "errors.h"

namespace onestep {

at::ScalarType ParseDtype(const Napi::Value& value, const char* what);
const char* DtypeName(at::ScalarType dtype);

// 'cpu', 'cuda', 'cuda:N'. A CUDA device must exist: ERR_CUDA_UNAVAILABLE otherwise.
c10::Device ParseDevice(const Napi::Value& value, const char* what);
std::string DeviceName(const c10::Device& device);

// An array of non-negative integers; `allow_infer` permits one -1 (reshape).
std::vector<int64_t> ParseShape(const Napi::Value& value, const char* what, bool allow_infer = false);
Napi::Array ShapeToJs(Napi::Env env, at::IntArrayRef sizes);

std::string GetString(const Napi::CallbackInfo& info, size_t index, const char* what);
double GetNumber(const Napi::CallbackInfo& info, size_t index, const char* what);
int64_t GetInt(const Napi::CallbackInfo& info, size_t index, const char* what);
bool GetBool(const Napi::CallbackInfo& info, size_t index, const char* what);
bool IsNullish(const Napi::Value& value);

}  // namespace onestep

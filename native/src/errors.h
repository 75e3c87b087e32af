// Per-call error translation, after tch-rs: every exception a native call can raise (libtorch's
// c10::Error, out-of-memory, a bad argument) reaches JavaScript as an Error with a stable `code`,
// never as an abort.
#pragma once
#include "pch.h"

namespace onestep {

// Codes shared with src/errors.ts.
namespace code {
inline constexpr const char* kInvalidArgType = "ERR_INVALID_ARG_TYPE";
inline constexpr const char* kInvalidArgValue = "ERR_INVALID_ARG_VALUE";
inline constexpr const char* kDisposed = "ERR_TENSOR_DISPOSED";
inline constexpr const char* kTorch = "ERR_TORCH";
inline constexpr const char* kOutOfMemory = "ERR_OUT_OF_MEMORY";
inline constexpr const char* kCudaUnavailable = "ERR_CUDA_UNAVAILABLE";
inline constexpr const char* kNative = "ERR_NATIVE";
inline constexpr const char* kCheckpointCorrupt = "ERR_CHECKPOINT_CORRUPT";
inline constexpr const char* kIo = "ERR_IO";
inline constexpr const char* kDistributed = "ERR_DISTRIBUTED";
}  // namespace code

// An error the caller caused; `type_error` makes it a JS TypeError.
struct UserError : std::runtime_error {
  UserError(const char* code, const std::string& message, bool type_error = false)
      : std::runtime_error(message), code(code), type_error(type_error) {}
  const char* code;
  bool type_error;
};

[[noreturn]] inline void ThrowTypeError(const std::string& message) {
  throw UserError(code::kInvalidArgType, message, true);
}
[[noreturn]] inline void ThrowValueError(const std::string& message) {
  throw UserError(code::kInvalidArgValue, message);
}

// What an exception becomes in JavaScript. Plain data, so a worker thread can build it and the
// main thread can turn it into an Error later.
struct ErrorInfo {
  std::string code;
  std::string message;
  bool type_error = false;
};

// Classifies the exception currently being handled (call inside a catch block).
ErrorInfo ClassifyCurrentException();

Napi::Error MakeJsError(Napi::Env env, const ErrorInfo& info);

// Runs `body`, turning any C++ exception into a JS Error (Napi::Error passes through).
template <class Body>
auto Guard(Napi::Env env, Body&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    throw MakeJsError(env, ClassifyCurrentException());
  }
}

// Wraps a native function for registration: Napi::Function::New(env, Checked<&Fn>).
template <Napi::Value (*Fn)(const Napi::CallbackInfo&)>
Napi::Value Checked(const Napi::CallbackInfo& info) {
  return Guard(info.Env(), [&] { return Fn(info); });
}

// Registers a Checked function on the addon's exports under `name`.
template <Napi::Value (*Fn)(const Napi::CallbackInfo&)>
void Export(Napi::Env env, Napi::Object exports, const char* name) {
  exports.Set(name, Napi::Function::New(env, Checked<Fn>, name));
}

}  // namespace onestep

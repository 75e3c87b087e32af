#include "errors.h"

namespace onestep {

ErrorInfo ClassifyCurrentException() {
  try {
    throw;
  } catch (const UserError& e) {
    return {e.code, e.what(), e.type_error};
  } catch (const c10::OutOfMemoryError& e) {
    return {code::kOutOfMemory, e.what_without_backtrace()};
  } catch (const c10::Error& e) {
    std::string message = e.what_without_backtrace();
    // The CPU allocator reports exhaustion as a plain enforce failure, not OutOfMemoryError.
    bool oom = message.find("can't allocate memory") != std::string::npos ||
               message.find("out of memory") != std::string::npos;
    return {oom ? code::kOutOfMemory : code::kTorch, message};
  } catch (const std::bad_alloc&) {
    return {code::kOutOfMemory, "host memory allocation failed (std::bad_alloc)"};
  } catch (const std::exception& e) {
    // Parts of libtorch throw std::runtime_error for bad input (e.g. reshape's size check).
    return {code::kTorch, e.what()};
  } catch (...) {
    return {code::kNative, "unknown native exception"};
  }
}

Napi::Error MakeJsError(Napi::Env env, const ErrorInfo& info) {
  Napi::Error error = info.type_error ? Napi::TypeError::New(env, info.message)
                                      : Napi::Error::New(env, info.message);
  error.Set("code", Napi::String::New(env, info.code));
  return error;
}

}  // namespace onestep

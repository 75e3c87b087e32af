// Each translation unit registers its functions on the addon's exports.
#pragma once
#include "pch.h"

namespace onestep {
void RegisterCreation(Napi::Env env, Napi::Object exports);
void RegisterOps(Napi::Env env, Napi::Object exports);
void RegisterTransfer(Napi::Env env, Napi::Object exports);
void RegisterRuntime(Napi::Env env, Napi::Object exports);
void RegisterStorage(Napi::Env env, Napi::Object exports);
void RegisterEdm(Napi::Env env, Napi::Object exports);
void RegisterTeacherTrainer(Napi::Env env, Napi::Object exports);
void RegisterEval(Napi::Env env, Napi::Object exports);
void RegisterRatio(Napi::Env env, Napi::Object exports);
void RegisterSampling(Napi::Env env, Napi::Object exports);
void RegisterDiJSTrainer(Napi::Env env, Napi::Object exports);
void RegisterProcessGroup(Napi::Env env, Napi::Object exports);
void RegisterProfiler(Napi::Env env, Napi::Object exports);
void RegisterKernels(Napi::Env env, Napi::Object exports);
}  // namespace onestep

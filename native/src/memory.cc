#include "memory.h"

#include <unordered_map>

namespace onestep::memory {
namespace {

struct StorageEntry {
  int64_t handles;
  int64_t bytes;
};

std::unordered_map<const void*, StorageEntry> storages;
int64_t live_handles = 0;
int64_t live_bytes = 0;
int64_t unreported_bytes = 0;

// Tensors without storage (none that the addon makes today) still count as handles.
const void* kNoStorage = &live_handles;

}  // namespace

const void* Track(const at::Tensor& tensor) {
  ++live_handles;
  if (!tensor.defined() || !tensor.has_storage()) return kNoStorage;
  const void* key = tensor.storage().unsafeGetStorageImpl();
  auto [it, inserted] = storages.try_emplace(key, StorageEntry{0, 0});
  if (inserted) {
    it->second.bytes = static_cast<int64_t>(tensor.storage().nbytes());
    live_bytes += it->second.bytes;
    unreported_bytes += it->second.bytes;
  }
  ++it->second.handles;
  return key;
}

void Untrack(const void* key) {
  --live_handles;
  if (key == kNoStorage) return;
  auto it = storages.find(key);
  if (it == storages.end()) return;
  if (--it->second.handles == 0) {
    live_bytes -= it->second.bytes;
    unreported_bytes -= it->second.bytes;
    storages.erase(it);
  }
}

Stats Current() { return {live_handles, live_bytes}; }

void FlushToV8(Napi::Env env) {
  if (unreported_bytes == 0) return;
  Napi::MemoryManagement::AdjustExternalMemory(env, unreported_bytes);
  unreported_bytes = 0;
}

}  // namespace onestep::memory

// Checkpoint storages: raw bytes read from a file (pread or mmap) into tensors, reinterpreted as a
// dtype, and viewed with bounds-checked strides. The TypeScript reader has already checked the
// container; these checks are the last line before libtorch touches memory.
#include "registry.h"
#include "tensor_handle.h"
#include "worker.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace onestep {
namespace {

[[noreturn]] void ThrowIo(const std::string& what, const std::string& path) {
  throw UserError(code::kIo, what + " '" + path + "': " + std::strerror(errno));
}

struct File {
  explicit File(const std::string& path) : path(path), fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
    if (fd < 0) ThrowIo("cannot open", path);
  }
  ~File() { if (fd >= 0) ::close(fd); }
  int64_t Size() const {
    struct stat st {};
    if (::fstat(fd, &st) != 0) ThrowIo("cannot stat", path);
    return st.st_size;
  }
  // Reads exactly n bytes at offset into dst.
  void ReadAt(void* dst, int64_t n, int64_t offset) const {
    auto* out = static_cast<char*>(dst);
    while (n > 0) {
      ssize_t got = ::pread(fd, out, static_cast<size_t>(std::min<int64_t>(n, 1 << 30)), offset);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) ThrowIo("cannot read", path);
      if (got == 0) throw UserError(code::kCheckpointCorrupt, "'" + path + "' ended early (truncated file)");
      out += got;
      n -= got;
      offset += got;
    }
  }
  std::string path;
  int fd;
};

void CheckRange(int64_t offset, int64_t nbytes, int64_t size, const std::string& path) {
  if (offset < 0 || nbytes < 0 || offset > size || nbytes > size - offset)
    throw UserError(code::kCheckpointCorrupt, "a record of " + std::to_string(nbytes) + " bytes at offset " +
                                                  std::to_string(offset) + " lies outside '" + path + "' (" +
                                                  std::to_string(size) + " bytes)");
}

struct Mapping {
  void* data;
  size_t size;
  ~Mapping() { ::munmap(data, size); }
};

// Host memory for a storage read from disk. Large buffers are mapped with MAP_POPULATE: the
// kernel provides all pages in one call instead of faulting them in one 4 KiB page at a time
// during the read, which otherwise dominates loading a checkpoint into a fresh process.
at::Tensor HostBuffer(int64_t nbytes) {
  constexpr int64_t kPopulateFrom = 1 << 20;
  if (nbytes < kPopulateFrom) return at::empty({nbytes}, at::kByte);
  void* data = ::mmap(nullptr, static_cast<size_t>(nbytes), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (data == MAP_FAILED) return at::empty({nbytes}, at::kByte);
  auto* mapping = new Mapping{data, static_cast<size_t>(nbytes)};
  return at::from_blob(data, {nbytes}, [mapping](void*) { delete mapping; }, at::TensorOptions().dtype(at::kByte));
}

// How much host memory a CUDA load stages at a time: loading never holds a full host copy.
constexpr int64_t kStagingBytes = 64 << 20;

// readFile(path, offset, nbytes, device) → Promise<uint8 handle>
Napi::Value ReadFile(const Napi::CallbackInfo& info) {
  std::string path = GetString(info, 0, "path");
  int64_t offset = GetInt(info, 1, "offset"), nbytes = GetInt(info, 2, "nbytes");
  c10::Device device = ParseDevice(info[3], "device");
  return TorchJob<at::Tensor>::Start(
      info.Env(), "onestep.readFile",
      [path, offset, nbytes, device] {
        File file(path);
        CheckRange(offset, nbytes, file.Size(), path);
        if (device.is_cpu()) {
          at::Tensor out = HostBuffer(nbytes);
          file.ReadAt(out.data_ptr(), nbytes, offset);  // straight into the tensor: one copy of the bytes
          return out;
        }
        at::Tensor out = at::empty({nbytes}, at::TensorOptions().dtype(at::kByte).device(device));
        {
          at::Tensor staging = at::empty({std::min(nbytes, kStagingBytes)}, at::TensorOptions().dtype(at::kByte).pinned_memory(true));
          for (int64_t done = 0; done < nbytes; done += kStagingBytes) {
            int64_t n = std::min(kStagingBytes, nbytes - done);
            file.ReadAt(staging.data_ptr(), n, offset + done);
            out.slice(0, done, done + n).copy_(staging.slice(0, 0, n));  // synchronous: staging is reused
          }
        }
        return out;
      },
      WrapTensorResult);
}

// mmapFile(path) → Promise<uint8 handle over the whole file>. Private and copy-on-write: a tensor
// written in place never reaches the file. The mapping lives while any view of it does.
Napi::Value MmapFile(const Napi::CallbackInfo& info) {
  std::string path = GetString(info, 0, "path");
  return TorchJob<at::Tensor>::Start(
      info.Env(), "onestep.mmapFile",
      [path] {
        File file(path);
        int64_t size = file.Size();
        if (size == 0) return at::empty({0}, at::kByte);
        void* data = ::mmap(nullptr, static_cast<size_t>(size), PROT_READ | PROT_WRITE, MAP_PRIVATE, file.fd, 0);
        if (data == MAP_FAILED) ThrowIo("cannot map", path);
        auto* mapping = new Mapping{data, static_cast<size_t>(size)};
        return at::from_blob(data, {size}, [mapping](void*) { delete mapping; }, at::TensorOptions().dtype(at::kByte));
      },
      WrapTensorResult);
}

// storageView(bytes, byteOffset, nbytes, dtype) → a 1-D tensor of `dtype` over those bytes (a view
// when aligned, else an aligned copy).
Napi::Value StorageView(const Napi::CallbackInfo& info) {
  const at::Tensor& bytes = TensorHandle::TensorOf(info[0], "bytes");
  int64_t offset = GetInt(info, 1, "byteOffset"), nbytes = GetInt(info, 2, "nbytes");
  at::ScalarType dtype = ParseDtype(info[3], "dtype");
  if (bytes.scalar_type() != at::kByte || bytes.dim() != 1 || !bytes.is_contiguous()) ThrowValueError("bytes must be a contiguous 1-D uint8 tensor");
  CheckRange(offset, nbytes, bytes.numel(), "storage");
  int64_t element = static_cast<int64_t>(c10::elementSize(dtype));
  if (nbytes % element != 0)
    throw UserError(code::kCheckpointCorrupt, "a storage of " + std::to_string(nbytes) + " bytes does not hold whole " + DtypeName(dtype) + " elements");
  at::Tensor slice = bytes.slice(0, offset, offset + nbytes);
  bool aligned = (reinterpret_cast<uintptr_t>(slice.data_ptr()) % element) == 0 && (bytes.storage_offset() + offset) % element == 0;
  if (!aligned) slice = slice.clone();
  return TensorHandle::Wrap(info.Env(), nbytes == 0 ? at::empty({0}, slice.options().dtype(dtype)) : slice.view(dtype));
}

// asStrided(storage, size, stride, offset): a view of a 1-D storage tensor, checked to stay inside.
Napi::Value AsStrided(const Napi::CallbackInfo& info) {
  const at::Tensor& storage = TensorHandle::TensorOf(info[0], "storage");
  std::vector<int64_t> size = ParseShape(info[1], "size"), stride = ParseShape(info[2], "stride");
  int64_t offset = GetInt(info, 3, "offset");
  if (storage.dim() != 1 || !storage.is_contiguous()) ThrowValueError("storage must be a contiguous 1-D tensor");
  if (size.size() != stride.size()) throw UserError(code::kCheckpointCorrupt, "tensor size and stride differ in length");
  int64_t last = offset;  // the highest element index the view touches
  bool empty = false;
  for (size_t i = 0; i < size.size(); ++i) {
    if (size[i] == 0) empty = true;
    else if (stride[i] > (int64_t{1} << 53) / size[i]) throw UserError(code::kCheckpointCorrupt, "tensor stride out of range");
    else last += (size[i] - 1) * stride[i];
  }
  if (offset < 0 || (!empty && last >= storage.numel()) || (empty && offset > storage.numel()))
    throw UserError(code::kCheckpointCorrupt, "a tensor view (offset " + std::to_string(offset) + ", size " + c10::str(at::IntArrayRef(size)) +
                                                  ", stride " + c10::str(at::IntArrayRef(stride)) + ") reaches outside its storage of " +
                                                  std::to_string(storage.numel()) + " elements");
  return TensorHandle::Wrap(info.Env(), storage.as_strided(size, stride, storage.storage_offset() + offset));
}

// copyInto(dst, src): dst.copy_(src) without recording autograd (loading weights into a module).
Napi::Value CopyInto(const Napi::CallbackInfo& info) {
  at::Tensor dst = TensorHandle::TensorOf(info[0], "destination");
  const at::Tensor& src = TensorHandle::TensorOf(info[1], "source");
  if (!dst.sizes().equals(src.sizes()))
    ThrowValueError("cannot copy a tensor of shape " + c10::str(src.sizes()) + " into one of shape " + c10::str(dst.sizes()));
  at::NoGradGuard no_grad;
  dst.copy_(src);
  return info.Env().Undefined();
}

}  // namespace

void RegisterStorage(Napi::Env env, Napi::Object exports) {
  Export<&ReadFile>(env, exports, "readFile");
  Export<&MmapFile>(env, exports, "mmapFile");
  Export<&StorageView>(env, exports, "storageView");
  Export<&AsStrided>(env, exports, "asStrided");
  Export<&CopyInto>(env, exports, "copyInto");
}

}  // namespace onestep

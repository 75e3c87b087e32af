/** Process-wide controls: CUDA, random seeds, threads, autograd mode, memory accounting. */
import { typeError, valueError } from './errors.js';
import { native } from './native.js';
import type { BuildInfo } from './native-types.js';
import { Tensor } from './tensor.js';

export type { BuildInfo };

/** What the loaded addon was built against (libtorch version, CUDA, prebuild flavour). */
export function buildInfo(): BuildInfo {
  return native().buildInfo();
}

export const cuda = {
  /** True when the addon has CUDA and a CUDA device is visible. */
  isAvailable(): boolean {
    return native().cudaIsAvailable();
  },
  deviceCount(): number {
    return native().cudaDeviceCount();
  },
  /**
   * Makes CUDA device `index` current for this thread and the native work it queues, as
   * `torch.cuda.set_device` ('cuda' then means that device to libtorch's kernels and streams).
   * ProcessGroup.init does it for each process's GPU.
   */
  setDevice(index: number): void {
    if (!Number.isInteger(index)) throw valueError(`setDevice takes a device index, not ${index}`);
    native().cudaSetDevice(index);
  },
  /** The current CUDA device's index. */
  currentDevice(): number {
    return native().cudaCurrentDevice();
  },
  /** Waits for all queued work on the current CUDA device. */
  synchronize(): void {
    native().cudaSynchronize();
  },
  /** Returns cached, unused GPU memory of libtorch's caching allocator to the driver. */
  emptyCache(): void {
    native().cudaEmptyCache();
  },
  /**
   * Bytes on a device: `free` and `total` as the driver reports them; `allocated` (held by live
   * tensors) and `reserved` (held by libtorch's caching allocator, allocated included).
   */
  memoryInfo(index = 0): { free: number; total: number; allocated: number; reserved: number; peakAllocated: number } {
    const info = native().cudaMemory(index);
    return { free: info.free ?? 0, total: info.total ?? 0, allocated: info.allocated ?? 0, reserved: info.reserved ?? 0, peakAllocated: info.peakAllocated ?? 0 };
  },
  /**
   * TensorFloat-32 for float32 work on the GPU, process-wide, as PyTorch's
   * `torch.backends.cuda.matmul.allow_tf32` (default off) and `torch.backends.cudnn.allow_tf32`
   * (default on). Pass only what you change.
   */
  setAllowTF32(options: { matmul?: boolean; cudnn?: boolean }): void {
    const current = native().cudaGetTF32();
    const { matmul = current.matmul, cudnn = current.cudnn } = options ?? {};
    if (typeof matmul !== 'boolean' || typeof cudnn !== 'boolean') throw valueError('setAllowTF32 takes { matmul?: boolean, cudnn?: boolean }');
    native().cudaSetTF32(matmul, cudnn);
  },
  /** The TF32 settings now in force. */
  allowTF32(): { matmul: boolean; cudnn: boolean } {
    return native().cudaGetTF32();
  },
  /**
   * cuDNN autotuning, process-wide, as `torch.backends.cudnn.benchmark` (default off): the first
   * convolution of each shape tries cuDNN's algorithms and keeps the fastest. Worth it for
   * training, whose shapes repeat; the first steps are slower. cuDNN keeps its choices per thread,
   * so the first call on each of libuv's worker threads (4 unless UV_THREADPOOL_SIZE says
   * otherwise) pays for the search once.
   */
  setCudnnBenchmark(on: boolean): void {
    if (typeof on !== 'boolean') throw valueError('setCudnnBenchmark takes a boolean');
    native().cudaSetCudnnBenchmark(on);
  },
  /** Whether cuDNN autotuning is on. */
  cudnnBenchmark(): boolean {
    return native().cudaGetCudnnBenchmark();
  },
  /**
   * Records every CUDA kernel the process launches (libtorch's Kineto profiler) until
   * `stopProfiler(path)` writes them as a Chrome trace (chrome://tracing, Perfetto, or
   * bench/reference/trace_summary.py). For benchmarks; CUDA builds on libtorch ≥ 2.
   */
  startProfiler(): void {
    native().profilerStart();
  },
  /** Waits for the device, stops the profiler and writes the trace to `path`. */
  stopProfiler(path: string): void {
    if (typeof path !== 'string' || path === '') throw valueError('stopProfiler needs the path of the trace to write');
    native().profilerStop(path);
  },
  /**
   * onestep's own CUDA kernels, process-wide (on by default where built): every GroupNorm of the
   * EDM networks and the ratio head, with the embedding added before it and the SiLU after it,
   * runs as one fused kernel each way instead of libtorch's five or six. Off falls back to
   * libtorch's ops (the same numbers within float rounding), e.g. to compare.
   */
  setFusedKernels(on: boolean): void {
    if (typeof on !== 'boolean') throw valueError('setFusedKernels takes a boolean');
    native().setFusedKernels(on);
  },
  /** Whether the fused kernels are switched on (they run only where `fusedKernelsBuilt()`). */
  fusedKernels(): boolean {
    return native().fusedKernelsEnabled();
  },
  /** Whether this addon was built with its CUDA kernels (a CUDA libtorch and nvcc at build time). */
  fusedKernelsBuilt(): boolean {
    return native().fusedKernelsBuilt();
  },
  /** Restarts the peak of `memoryInfo().peakAllocated` (benchmarks). */
  resetPeakMemory(index = 0): void {
    native().cudaResetPeak(index);
  },
};

/** Seeds the CPU generator and every CUDA device's, as torch.manual_seed. */
export function manualSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0) throw valueError(`seed must be a non-negative integer; got ${String(seed)}`);
  native().manualSeed(seed);
}

/**
 * Intra-op threads for CPU work (default: OMP_NUM_THREADS or every core). Applies to the JS
 * thread and to the worker threads that run async work.
 */
export function setNumThreads(threads: number): void {
  if (!Number.isSafeInteger(threads) || threads < 1) throw valueError(`threads must be a positive integer; got ${String(threads)}`);
  native().setNumThreads(threads);
}

export function getNumThreads(): number {
  return native().getNumThreads();
}

/** Whether autograd records operations on this thread (async work inherits it). */
export function isGradEnabled(): boolean {
  return native().isGradEnabled();
}

/**
 * Runs `fn` with autograd off, as torch.no_grad(). Native work queued inside `fn` (async calls)
 * captures the mode when queued, so it runs without grad even after `fn` returns; code after an
 * `await` inside an async `fn` runs with the outer mode again.
 */
export function noGrad<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw typeError('noGrad(fn) needs a function');
  const binding = native();
  const previous = binding.isGradEnabled();
  binding.setGradEnabled(false);
  try {
    return fn();
  } finally {
    binding.setGradEnabled(previous);
  }
}

/** Live native tensors and the distinct storage bytes they hold (shared storage counted once). */
export function memory(): { tensors: number; bytes: number } {
  return native().memory();
}

/** True when two tensors are views of the same storage. */
export function sharesStorage(a: Tensor, b: Tensor): boolean {
  return native().sharesStorage(a.handle, b.handle);
}

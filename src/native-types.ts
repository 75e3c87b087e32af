/**
 * The native addon's surface, as native/src/*.cc registers it. Internal: users see the typed
 * wrappers in tensor.ts and friends, which validate arguments before they get here.
 */
import type { DType } from './dtype.js';

export interface NativeHandle {
  dispose(): void;
  isDisposed(): boolean;
  shape(): number[];
  dtype(): DType;
  device(): string;
  requiresGrad(): boolean;
  /** [shape, dtype, device] in one call. */
  describe(): [number[], DType, string];
}

export interface NativeProcessGroup {
  allReduce(t: NativeHandle): Promise<void>;
  dispose(): void;
}

export interface BuildInfo {
  /** libtorch version the addon was compiled against, e.g. '2.11.0'. */
  torchVersion: string;
  /** e.g. 'torch1.13-cpu', 'torch2.11-cu130': also the prebuild's name. */
  flavour: string;
  cuda: boolean;
  cudaVersion: string | null;
  /** libtorch's own description of its threading and BLAS set-up. */
  parallelInfo: string;
}

type Dims = number | number[] | null;
type Operand = NativeHandle | number | boolean;

export interface NativeBinding {
  TensorHandle: Function;
  EDMNetworkHandle: Function;
  TeacherTrainer: Function;
  ClassifierHandle: Function;
  RatioNetworkHandle: Function;
  DiJSTrainer: Function;
  divergenceLoss(divergence: string, logits: NativeHandle): NativeHandle;
  cudaSetTF32(matmul: boolean, cudnn: boolean): void;
  cudaGetTF32(): { matmul: boolean; cudnn: boolean };
  ProcessGroupHandle: Function;
  processGroupInit(options: { backend: string; rank: number; worldSize: number; masterAddr: string; masterPort: number; timeoutMs: number }): Promise<NativeProcessGroup>;
  processGroupBackends(): string;
  cudaSetCudnnBenchmark(on: boolean): void;
  cudaSetDevice(index: number): void;
  cudaCurrentDevice(): number;
  cudaGetCudnnBenchmark(): boolean;
  ratioLoss(fakeLogits: NativeHandle, realLogits: NativeHandle): NativeHandle;
  translateImages(images: NativeHandle, shifts: NativeHandle): NativeHandle;
  cutoutImages(images: NativeHandle, corners: NativeHandle, size: number): NativeHandle;
  flipImages(images: NativeHandle, flips: NativeHandle): NativeHandle;
  generatorSample(generator: unknown, ratio: unknown, n: number, classLabels: NativeHandle | null, sigmaInit: number, seed: number | null,
    candidates: number, sigmaVerify: number, device: string, imageShape: number[], bf16: boolean, verifierTemperature: number): Promise<NativeHandle>;
  fid(a: NativeHandle, b: NativeHandle): Promise<number>;
  precisionRecall(real: NativeHandle, fake: NativeHandle, k: number): Promise<{ precision: number; recall: number }>;
  fromData(data: ArrayBufferView, shape: number[], dtype: DType | null, device: string, requiresGrad: boolean): NativeHandle;
  full(shape: number[], value: number, dtype: DType | null, device: string, requiresGrad: boolean): NativeHandle;
  random(kind: 'randn' | 'rand', shape: number[], dtype: DType | null, device: string): NativeHandle;
  randint(low: number, high: number, shape: number[], dtype: DType | null, device: string): NativeHandle;
  arange(start: number, end: number, step: number, dtype: DType | null, device: string): NativeHandle;

  unary(op: string, t: NativeHandle): NativeHandle;
  binary(op: string, a: Operand, b: Operand): NativeHandle;
  reduce(op: string, t: NativeHandle, dims: Dims, keepdim: boolean): NativeHandle;
  to(t: NativeHandle, device: string | null, dtype: DType | null): NativeHandle;
  reshape(t: NativeHandle, shape: number[]): NativeHandle;
  permute(t: NativeHandle, dims: number[]): NativeHandle;
  transpose(t: NativeHandle, dim0: number, dim1: number): NativeHandle;
  squeeze(t: NativeHandle, dim: number | null): NativeHandle;
  unsqueeze(t: NativeHandle, dim: number): NativeHandle;
  flatten(t: NativeHandle, startDim: number, endDim: number): NativeHandle;
  expand(t: NativeHandle, shape: number[]): NativeHandle;
  slice(t: NativeHandle, dim: number, start: number, end: number, step: number): NativeHandle;
  select(t: NativeHandle, dim: number, index: number): NativeHandle;
  indexSelect(t: NativeHandle, dim: number, index: NativeHandle): NativeHandle;
  cat(ts: NativeHandle[], dim: number): NativeHandle;
  stack(ts: NativeHandle[], dim: number): NativeHandle;
  softmax(t: NativeHandle, dim: number, log: boolean): NativeHandle;
  clamp(t: NativeHandle, min: number | null, max: number | null): NativeHandle;
  where(cond: NativeHandle, x: Operand, y: Operand): NativeHandle;
  item(t: NativeHandle): number | boolean;
  sharesStorage(a: NativeHandle, b: NativeHandle): boolean;
  conv2d(input: NativeHandle, weight: NativeHandle, bias: NativeHandle | null, stride: number, padding: number, dilation: number, groups: number): NativeHandle;
  grad(t: NativeHandle): NativeHandle | null;
  setRequiresGrad(t: NativeHandle, requiresGrad: boolean): void;
  backward(t: NativeHandle): Promise<void>;

  toAsync(t: NativeHandle, device: string | null, dtype: DType | null): Promise<NativeHandle>;
  /** A contiguous host copy: in the tensor's dtype when `raw`, else float16/bfloat16 widened and bool as uint8. */
  toBuffer(t: NativeHandle, raw: boolean): Promise<ArrayBuffer>;
  busy(ms: number): Promise<{ tensor: NativeHandle; gradEnabled: boolean; threads: number; iterations: number }>;

  readFile(path: string, offset: number, nbytes: number, device: string): Promise<NativeHandle>;
  mmapFile(path: string): Promise<NativeHandle>;
  storageView(bytes: NativeHandle, byteOffset: number, nbytes: number, dtype: DType): NativeHandle;
  asStrided(storage: NativeHandle, size: number[], stride: number[], offset: number): NativeHandle;
  copyInto(dst: NativeHandle, src: NativeHandle): void;

  buildInfo(): BuildInfo;
  cudaIsAvailable(): boolean;
  cudaDeviceCount(): number;
  cudaMemory(index: number): { free?: number; total?: number; allocated?: number; reserved?: number; peakAllocated?: number };
  cudaResetPeak(index: number): void;
  profilerStart(): void;
  profilerStop(path: string): void;
  fusedKernelsBuilt(): boolean;
  setFusedKernels(on: boolean): void;
  fusedKernelsEnabled(): boolean;
  /** Test hook: the fused GroupNorm's output and gradients against a float64 reference (relative errors). */
  checkGroupNormAct(device: string, dtype: DType, shape: number[], groups: number, shift: boolean, silu: boolean, seed: number):
    { fused: boolean; y: number; dx: number; dshift?: number; dweight: number; dbias: number };
  cudaSynchronize(): void;
  cudaEmptyCache(): void;
  manualSeed(seed: number): void;
  setNumThreads(threads: number): void;
  getNumThreads(): number;
  setGradEnabled(enabled: boolean): void;
  isGradEnabled(): boolean;
  memory(): { tensors: number; bytes: number };
}

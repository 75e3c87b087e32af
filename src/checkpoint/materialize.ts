/**
 * Turns the storages and tensor views a container describes into native tensors: each storage
 * is read once (pread straight into the tensor, or one shared mmap of the file), every view is
 * checked against the bytes that really exist, and views of one storage stay one storage.
 */
import type { DType } from '../dtype.js';
import { ErrorCode, OnestepError } from '../errors.js';
import { native } from '../native.js';
import type { NativeHandle } from '../native-types.js';
import { Tensor } from '../tensor.js';
import type { StorageRef, TensorRef } from './globals.js';
import { corrupt } from './pickle.js';

export const ELEMENT_SIZE: Record<DType, number> = {
  float32: 4, float16: 2, bfloat16: 2, float64: 8, int64: 8, int32: 4, int16: 2, int8: 1, uint8: 1, bool: 1,
};

/** Where a storage's bytes are: a byte range of a file, or bytes already in memory. */
export type ByteSource =
  | { kind: 'file'; path: string; offset: number; nbytes: number }
  | { kind: 'memory'; bytes: Uint8Array };

export interface MaterializeOptions {
  device: string;
  /** Map the file once and view storages in place (CPU only). */
  mmap: boolean;
}

export function checkedDtype(dtype: StorageRef['dtype'] | TensorRef['dtype']): DType {
  if (dtype === 'untyped') throw corrupt('a tensor needs a typed storage');
  if (dtype.startsWith('unsupported:')) {
    throw new OnestepError(ErrorCode.CheckpointUnsupported, `checkpoint holds a tensor of ${dtype.slice(12)}, which onestep does not support yet`);
  }
  return dtype as DType;
}

/** Loads storages on demand, once each, for one container. */
export class StorageLoader {
  // Keyed by the StorageRef itself: keys inside nested legacy blobs (EDM pickles) may repeat.
  readonly #typed = new Map<StorageRef, Map<DType, NativeHandle>>();
  readonly #raw = new Map<StorageRef, NativeHandle>();
  #mapping: NativeHandle | undefined;

  constructor(
    readonly options: MaterializeOptions,
    readonly sourceOf: (storage: StorageRef) => ByteSource,
  ) {
    if (options.mmap && options.device !== 'cpu') {
      throw new OnestepError(ErrorCode.InvalidArgValue, `mmap loads to the CPU; got device '${options.device}' (load without mmap, or move the tensors afterwards)`);
    }
  }

  /** The raw bytes of a storage as a 1-D uint8 tensor on the target device. */
  async #rawBytes(storage: StorageRef): Promise<NativeHandle> {
    const cached = this.#raw.get(storage);
    if (cached) return cached;
    const source = this.sourceOf(storage);
    let handle: NativeHandle;
    if (source.kind === 'memory') {
      handle = native().fromData(source.bytes, [source.bytes.length], 'uint8', this.options.device, false);
    } else if (this.options.mmap) {
      this.#mapping ??= await native().mmapFile(source.path);
      handle = native().storageView(this.#mapping, source.offset, source.nbytes, 'uint8');
    } else {
      handle = await native().readFile(source.path, source.offset, source.nbytes, this.options.device);
    }
    this.#raw.set(storage, handle);
    return handle;
  }

  /** A 1-D tensor of `dtype` over the storage's bytes. */
  async typed(storage: StorageRef, dtype: DType): Promise<NativeHandle> {
    const views = this.#typed.get(storage) ?? new Map<DType, NativeHandle>();
    this.#typed.set(storage, views);
    const cached = views.get(dtype);
    if (cached) return cached;
    const raw = await this.#rawBytes(storage);
    const nbytes = raw.shape()[0]!;
    const declared = storage.dtype === 'untyped' ? storage.numel : storage.numel * ELEMENT_SIZE[checkedDtype(storage.dtype)];
    if (declared > nbytes) throw corrupt(`storage '${storage.key}' declares ${declared} bytes but its record holds ${nbytes}`);
    const usable = nbytes - (nbytes % ELEMENT_SIZE[dtype]);
    const handle = native().storageView(raw, 0, Math.min(usable, declared - (declared % ELEMENT_SIZE[dtype])), dtype);
    views.set(dtype, handle);
    return handle;
  }

  async tensor(ref: TensorRef): Promise<Tensor> {
    const dtype = checkedDtype(ref.dtype);
    const storage = await this.typed(ref.storage, dtype);
    return new Tensor(native().asStrided(storage, ref.size, ref.stride, ref.offset));
  }

  /** Drops the intermediate storage handles; the tensors keep what they view. */
  release(): void {
    for (const views of this.#typed.values()) for (const handle of views.values()) handle.dispose();
    for (const handle of this.#raw.values()) handle.dispose();
    this.#mapping?.dispose();
    this.#typed.clear();
    this.#raw.clear();
  }
}

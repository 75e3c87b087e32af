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
  // Promises, so that concurrent views of one storage share a single read.
  readonly #typed = new Map<StorageRef, Map<DType, Promise<NativeHandle>>>();
  readonly #raw = new Map<StorageRef, Promise<NativeHandle>>();
  #mapping: Promise<NativeHandle> | undefined;

  constructor(
    readonly options: MaterializeOptions,
    readonly sourceOf: (storage: StorageRef) => ByteSource,
  ) {
    if (options.mmap && options.device !== 'cpu') {
      throw new OnestepError(ErrorCode.InvalidArgValue, `mmap loads to the CPU; got device '${options.device}' (load without mmap, or move the tensors afterwards)`);
    }
  }

  /** The raw bytes of a storage as a 1-D uint8 tensor on the target device. */
  #rawBytes(storage: StorageRef): Promise<NativeHandle> {
    let pending = this.#raw.get(storage);
    if (!pending) {
      pending = this.#readRaw(storage);
      this.#raw.set(storage, pending);
    }
    return pending;
  }

  async #readRaw(storage: StorageRef): Promise<NativeHandle> {
    const source = this.sourceOf(storage);
    if (source.kind === 'memory') return native().fromData(source.bytes, [source.bytes.length], 'uint8', this.options.device, false);
    if (this.options.mmap) {
      this.#mapping ??= native().mmapFile(source.path);
      return native().storageView(await this.#mapping, source.offset, source.nbytes, 'uint8');
    }
    return native().readFile(source.path, source.offset, source.nbytes, this.options.device);
  }

  /** A 1-D tensor of `dtype` over the storage's bytes. */
  typed(storage: StorageRef, dtype: DType): Promise<NativeHandle> {
    const views = this.#typed.get(storage) ?? new Map<DType, Promise<NativeHandle>>();
    this.#typed.set(storage, views);
    let pending = views.get(dtype);
    if (!pending) {
      pending = this.#view(storage, dtype);
      views.set(dtype, pending);
    }
    return pending;
  }

  async #view(storage: StorageRef, dtype: DType): Promise<NativeHandle> {
    const raw = await this.#rawBytes(storage);
    const nbytes = raw.shape()[0]!;
    const declared = storage.dtype === 'untyped' ? storage.numel : storage.numel * ELEMENT_SIZE[checkedDtype(storage.dtype)];
    if (declared > nbytes) throw corrupt(`storage '${storage.key}' declares ${declared} bytes but its record holds ${nbytes}`);
    const usable = nbytes - (nbytes % ELEMENT_SIZE[dtype]);
    return native().storageView(raw, 0, Math.min(usable, declared - (declared % ELEMENT_SIZE[dtype])), dtype);
  }

  async tensor(ref: TensorRef): Promise<Tensor> {
    const dtype = checkedDtype(ref.dtype);
    const storage = await this.typed(ref.storage, dtype);
    return new Tensor(native().asStrided(storage, ref.size, ref.stride, ref.offset));
  }

  /** Drops the intermediate storage handles once settled; the tensors keep what they view. */
  async release(): Promise<void> {
    const pending = [...[...this.#typed.values()].flatMap((views) => [...views.values()]), ...this.#raw.values()];
    if (this.#mapping) pending.push(this.#mapping);
    const settled = await Promise.allSettled(pending);
    for (const result of settled) if (result.status === 'fulfilled') result.value.dispose();
    this.#typed.clear();
    this.#raw.clear();
    this.#mapping = undefined;
  }
}

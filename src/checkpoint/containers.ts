/**
 * Opens a checkpoint file of any supported format and returns its object graph (tensors still
 * unloaded, as TensorRefs) with the byte source of every storage.
 */
import { open, readFile } from 'node:fs/promises';
import { ErrorCode, OnestepError } from '../errors.js';
import { isStorageRef, makeResolver, StorageClass, type GlobalPolicy, type StorageRef, type TensorRef } from './globals.js';
import { isLegacy, memoryReader, readLegacy, withFileReader } from './legacy.js';
import type { ByteSource } from './materialize.js';
import { corrupt, unpickle, type PickleEnv, type PyValue } from './pickle.js';
import { headerLength, parseHeader } from './safetensors.js';
import { readTorchZip } from './zip.js';

export type Format = 'zip' | 'legacy' | 'safetensors' | 'pickle';

export interface Contents {
  format: Format;
  value: PyValue;
  sourceOf(storage: StorageRef): ByteSource;
  /** True when unknown globals became placeholders (EDM snapshots, or the permissive option). */
  permissive: boolean;
  /** safetensors `__metadata__` (empty for other formats). */
  metadata?: Map<string, string>;
}

export interface OpenOptions {
  allowGlobals?: readonly string[];
  /** Unknown globals become inert placeholders (never for .pt/.pth files unless asked). */
  permissive?: boolean;
}

const MAX_PLAIN_PICKLE = 4 * 2 ** 30;

export async function sniff(path: string): Promise<{ format: Format; size: number }> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    throw new OnestepError(ErrorCode.Io, `cannot open checkpoint '${path}': ${e.code === 'ENOENT' ? 'no such file' : e.message}`, { cause: error });
  }
  try {
    const size = (await handle.stat()).size;
    const head = new Uint8Array(16);
    await handle.read(head, 0, 16, 0);
    if (size === 0) throw corrupt(`checkpoint '${path}' is empty`);
    if (head[0] === 0x50 && head[1] === 0x4b && (head[2] === 0x03 || head[2] === 0x05)) return { format: 'zip', size };
    if (isLegacy(head)) return { format: 'legacy', size };
    if (head[0] === 0x80 && head[1]! >= 2 && head[1]! <= 5) return { format: 'pickle', size };
    if (size >= 9 && head[8] === 0x7b /* { */) {
      const n = headerLength(head);
      if (8 + n <= size) return { format: 'safetensors', size };
    }
    throw corrupt(`'${path}' is not a checkpoint onestep recognises (torch.save zip or legacy, safetensors, or a pickle)`);
  } finally {
    await handle.close();
  }
}

function zipStorage(pid: PyValue, storages: Map<string, StorageRef>): StorageRef {
  if (!Array.isArray(pid) || pid.length !== 5 || pid[0] !== 'storage') throw corrupt('storage id is malformed');
  const [, cls, key, location, numel] = pid;
  if (!(cls instanceof StorageClass)) throw corrupt('storage id without a storage class');
  if (typeof key !== 'string' || typeof location !== 'string' || typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) {
    throw corrupt('storage id is malformed');
  }
  const known = storages.get(key);
  if (known) return known;
  const ref: StorageRef = { kind: 'storage', key, dtype: cls.dtype, numel, location };
  storages.set(key, ref);
  return ref;
}

export async function openCheckpoint(path: string, options: OpenOptions = {}): Promise<Contents> {
  const { format, size } = await sniff(path);
  const allow = new Set(options.allowGlobals ?? []);
  const sources = new Map<StorageRef, ByteSource>();

  if (format === 'safetensors') {
    return withFileReader(path, (reader) => {
      const n = headerLength(reader.read(0, 8));
      const header = parseHeader(reader.read(8, n), n, size);
      const value = new Map<string, PyValue>();
      for (const entry of header.entries) {
        const storage: StorageRef = { kind: 'storage', key: entry.name, dtype: entry.dtype, numel: entry.nbytes / elementSize(entry.dtype), location: 'cpu' };
        sources.set(storage, { kind: 'file', path, offset: entry.offset, nbytes: entry.nbytes });
        const stride = contiguousStride(entry.shape);
        const ref: TensorRef = { kind: 'tensor', storage, dtype: entry.dtype, offset: 0, size: entry.shape, stride, requiresGrad: false, isParameter: false };
        value.set(entry.name, ref);
      }
      return { format, value, sourceOf: (s) => lookup(sources, s), permissive: false, metadata: header.metadata };
    });
  }

  if (format === 'zip') {
    const zip = await readTorchZip(path);
    const storages = new Map<string, StorageRef>();
    const env: PickleEnv = {
      resolveGlobal: makeResolver({ permissive: options.permissive ?? false, allow }),
      persistentLoad: (pid) => zipStorage(pid, storages),
    };
    const value = unpickle(zip.pickle, env).value;
    for (const [key, storage] of storages) {
      const record = zip.records.get(key);
      if (!record) throw corrupt(`storage '${key}' has no data/${key} record in the archive`);
      sources.set(storage, { kind: 'file', path, offset: record.offset, nbytes: record.nbytes });
    }
    return { format, value, sourceOf: (s) => lookup(sources, s), permissive: options.permissive ?? false };
  }

  if (format === 'legacy') {
    const policy: GlobalPolicy = { permissive: options.permissive ?? false, allow };
    const legacy = withFileReader(path, (reader) =>
      readLegacy(reader, (persistentLoad) => ({ resolveGlobal: makeResolver(policy), persistentLoad })));
    return { format, value: legacy.value, sourceOf: (s) => legacySource(legacy.sources, s), permissive: policy.permissive };
  }

  // A plain pickle (pickle.dump), such as an EDM network snapshot. Tensors inside carry their
  // storage as torch.storage._load_from_bytes(<a legacy torch.save>).
  if (size > MAX_PLAIN_PICKLE) throw new OnestepError(ErrorCode.CheckpointUnsupported, `plain pickles over ${MAX_PLAIN_PICKLE} bytes`);
  const bytes = new Uint8Array(await readFile(path));
  const edm = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, 1 << 20)).includes('torch_utils.persistence');
  const permissive = options.permissive ?? edm;
  let blobs = 0;
  const policy: GlobalPolicy = {
    permissive,
    allow,
    loadFromBytes: (blob) => {
      // Parsed synchronously from memory: a legacy file holding one storage.
      const nested = readLegacySync(blob, policy);
      const storage = nested.value;
      if (!isStorageRef(storage)) throw corrupt('_load_from_bytes does not hold a storage');
      const unique: StorageRef = { ...storage, key: `blob${blobs++}:${storage.key}` };
      const source = nested.sources.get(storage.key);
      if (!source) throw corrupt('_load_from_bytes storage has no data');
      sources.set(unique, source);
      return unique as unknown as PyValue;
    },
  };
  const value = unpickle(bytes, { resolveGlobal: makeResolver(policy) }).value;
  return { format, value, sourceOf: (s) => lookup(sources, s), permissive };
}

function readLegacySync(blob: Uint8Array, policy: GlobalPolicy) {
  return readLegacy(memoryReader(blob), (persistentLoad) => ({ resolveGlobal: makeResolver(policy), persistentLoad }));
}

function legacySource(sources: Map<string, ByteSource>, storage: StorageRef): ByteSource {
  const source = sources.get(storage.key);
  if (!source) throw corrupt(`storage '${storage.key}' has no data`);
  return source;
}

function lookup(sources: Map<StorageRef, ByteSource>, storage: StorageRef): ByteSource {
  const source = sources.get(storage);
  if (!source) throw corrupt(`storage '${storage.key}' has no data`);
  return source;
}

function elementSize(dtype: string): number {
  return { float32: 4, float16: 2, bfloat16: 2, float64: 8, int64: 8, int32: 4, int16: 2, int8: 1, uint8: 1, bool: 1 }[dtype] ?? 1;
}

export function contiguousStride(shape: readonly number[]): number[] {
  const stride = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    stride[i] = s;
    s *= Math.max(1, shape[i]!);
  }
  return stride;
}

/**
 * The legacy torch.save format (`_use_new_zipfile_serialization=False`, and the storages inside
 * plain pickles): five pickles in a row, then each storage as an int64 element count and raw
 * bytes, in the order of the last pickle's key list.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { DType } from '../dtype.js';
import { ErrorCode, OnestepError } from '../errors.js';
import { isStorageRef, StorageClass, type StorageRef } from './globals.js';
import { checkedDtype, ELEMENT_SIZE, type ByteSource } from './materialize.js';
import { corrupt, PickleTruncated, unpickle, type PickleEnv, type PyValue } from './pickle.js';

export const LEGACY_MAGIC = Uint8Array.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]);
const MAGIC_NUMBER = 0x1950a86a20f9469cfc6cn;

export function isLegacy(head: Uint8Array): boolean {
  return head.length >= LEGACY_MAGIC.length && LEGACY_MAGIC.every((b, i) => head[i] === b);
}

export interface LegacyContents {
  value: PyValue;
  sources: Map<string, ByteSource>;
}

/**
 * Random access to the bytes of a file or buffer. Synchronous: legacy storages nested in plain
 * pickles are parsed from inside a pickle callback. File reads here are small (headers, pickles,
 * 8-byte counts); storage bytes are read later, off the JS thread.
 */
export interface ByteReader {
  size: number;
  read(offset: number, length: number): Uint8Array;
  source(offset: number, nbytes: number): ByteSource;
}

export function memoryReader(bytes: Uint8Array): ByteReader {
  return {
    size: bytes.length,
    read: (offset, length) => bytes.subarray(offset, offset + length),
    source: (offset, nbytes) => ({ kind: 'memory', bytes: bytes.subarray(offset, offset + nbytes) }),
  };
}

export function withFileReader<T>(path: string, fn: (reader: ByteReader) => T): T {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    return fn({
      size,
      read: (offset, length) => {
        const n = Math.max(0, Math.min(length, size - offset));
        const buffer = new Uint8Array(n);
        let done = 0;
        while (done < n) {
          const got = readSync(fd, buffer, done, n - done, offset + done);
          if (got === 0) break;
          done += got;
        }
        return buffer.subarray(0, done);
      },
      source: (offset, nbytes) => ({ kind: 'file', path, offset, nbytes }),
    });
  } finally {
    closeSync(fd);
  }
}

function legacyStorage(pid: PyValue, storages: Map<string, StorageRef>): StorageRef {
  if (!Array.isArray(pid) || pid.length !== 6 || pid[0] !== 'storage') throw corrupt('legacy storage id is malformed');
  const [, cls, key, location, numel, view] = pid;
  if (!(cls instanceof StorageClass)) throw corrupt('legacy storage id without a storage class');
  if (typeof key !== 'string' || typeof location !== 'string' || typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) {
    throw corrupt('legacy storage id is malformed');
  }
  if (view !== null) throw new OnestepError(ErrorCode.CheckpointUnsupported, 'legacy storage views (view_metadata) are not supported yet');
  const known = storages.get(key);
  if (known) return known;
  const ref: StorageRef = { kind: 'storage', key, dtype: cls.dtype, numel, location };
  storages.set(key, ref);
  return ref;
}

/** Parses the pickles (reading more of the file until they fit) and locates every storage. */
export function readLegacy(reader: ByteReader, makeEnv: (persistentLoad: (pid: PyValue) => PyValue) => PickleEnv): LegacyContents {
  const storages = new Map<string, StorageRef>();
  const env = makeEnv((pid) => legacyStorage(pid, storages));
  for (let window = Math.min(reader.size, 1 << 20); ; window = Math.min(reader.size, window * 4)) {
    const bytes = reader.read(0, window);
    try {
      let pos = 0;
      const magic = unpickle(bytes, env, pos);
      if (magic.value !== MAGIC_NUMBER && magic.value !== Number(MAGIC_NUMBER)) throw corrupt('legacy file has a wrong magic number');
      const version = unpickle(bytes, env, magic.end);
      if (version.value !== 1001) throw new OnestepError(ErrorCode.CheckpointUnsupported, `legacy protocol version ${String(version.value)}`);
      const sysInfo = unpickle(bytes, env, version.end);
      if (sysInfo.value instanceof Map && sysInfo.value.get('little_endian') === false) {
        throw new OnestepError(ErrorCode.CheckpointUnsupported, 'big-endian legacy files');
      }
      const object = unpickle(bytes, env, sysInfo.end);
      const keys = unpickle(bytes, env, object.end);
      pos = keys.end;
      if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === 'string')) throw corrupt('legacy storage key list is malformed');
      const sources = new Map<string, ByteSource>();
      for (const key of keys.value as string[]) {
        const ref = storages.get(key);
        if (!ref) throw corrupt(`legacy storage '${key}' is listed but never used`);
        const head = reader.read(pos, 8);
        if (head.length < 8) throw corrupt('legacy file truncated in its storages');
        const count = new DataView(head.buffer, head.byteOffset, 8).getBigInt64(0, true);
        const dtype: DType = ref.dtype === 'untyped' ? 'uint8' : checkedDtype(ref.dtype);
        const nbytes = Number(count) * ELEMENT_SIZE[dtype];
        if (count < 0n || !Number.isSafeInteger(nbytes) || pos + 8 + nbytes > reader.size) {
          throw corrupt(`legacy storage '${key}' of ${count} elements runs past the end of the file`);
        }
        sources.set(key, reader.source(pos + 8, nbytes));
        pos += 8 + nbytes;
      }
      return { value: object.value, sources };
    } catch (error) {
      if (error instanceof PickleTruncated && window < reader.size) continue;
      throw error;
    }
  }
}

export { isStorageRef };

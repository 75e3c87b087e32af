/**
 * loadCheckpoint (the whole object graph) and loadStateDict (flat name → tensor), from torch.save
 * zip and legacy files, safetensors, EDM network pickles and training checkpoints.
 */
import { isDType, type DType } from '../dtype.js';
import { typeError, ErrorCode, OnestepError } from '../errors.js';
import { Tensor, type Device } from '../tensor.js';
import { openCheckpoint, type Contents, type Format } from './containers.js';
import { isStorageRef, isTensorRef, type TensorRef } from './globals.js';
import { StorageLoader } from './materialize.js';
import { PyGlobal, PyObject, type PyKey, type PyValue } from './pickle.js';

export interface LoadOptions {
  /** Where tensors go ('cpu' by default). */
  device?: Device;
  /** Cast every floating-point tensor to this dtype while loading. */
  dtype?: DType;
  /** Extra globals (`module.name`) the caller trusts; they load as inert PyObject values. */
  allowGlobals?: string[];
  /** Map the file and view tensor bytes in place instead of reading them (CPU only). */
  mmap?: boolean;
  /**
   * Unknown globals become inert PyObject placeholders (tensors stay strictly checked). On by
   * itself for EDM network snapshots; never implied for torch.save files.
   */
  permissive?: boolean;
}

/** A value from a checkpoint that onestep has no type for: its global's name, arguments and state. */
export { PyObject };

/** A state dict, with where in the file it came from. */
export class StateDict extends Map<string, Tensor> {
  constructor(
    entries: Iterable<[string, Tensor]>,
    readonly format: Format,
    readonly source: string,
    /** safetensors `__metadata__` strings (empty for other formats). */
    readonly metadata: ReadonlyMap<string, string> = new Map(),
  ) {
    super(entries);
  }
  /** Disposes every tensor. */
  dispose(): void {
    for (const t of this.values()) t.dispose();
  }
}

function checkOptions(path: unknown, options: LoadOptions | undefined): Required<Pick<LoadOptions, 'device' | 'mmap'>> & LoadOptions {
  if (typeof path !== 'string' || path.length === 0) throw typeError('checkpoint path must be a non-empty string');
  const o = options ?? {};
  if (o.dtype !== undefined && !isDType(o.dtype)) throw typeError(`dtype must be a dtype name, not ${String(o.dtype)}`);
  if (o.allowGlobals !== undefined && !(Array.isArray(o.allowGlobals) && o.allowGlobals.every((g) => typeof g === 'string'))) {
    throw typeError('allowGlobals must be an array of "module.name" strings');
  }
  if (o.device !== undefined && typeof o.device !== 'string') throw typeError('device must be a string');
  return { ...o, device: o.device ?? 'cpu', mmap: o.mmap ?? false };
}

async function materialize(ref: TensorRef, loader: StorageLoader, dtype: DType | undefined): Promise<Tensor> {
  const t = await loader.tensor(ref);
  if (dtype === undefined || t.dtype === dtype || !['float32', 'float16', 'bfloat16', 'float64'].includes(t.dtype)) return t;
  const cast = await t.to(dtype);
  t.dispose();
  return cast;
}

/** Runs `fn` with a loader, disposing every tensor made so far if anything fails. */
async function withLoader<T>(contents: Contents, options: ReturnType<typeof checkOptions>, fn: (load: (ref: TensorRef) => Promise<Tensor>) => Promise<T>): Promise<T> {
  const loader = new StorageLoader({ device: options.device, mmap: options.mmap }, contents.sourceOf);
  const made = new Map<TensorRef, Promise<Tensor>>();
  const load = (ref: TensorRef): Promise<Tensor> => {
    let pending = made.get(ref);
    if (!pending) {
      pending = materialize(ref, loader, options.dtype);
      made.set(ref, pending);
    }
    return pending;
  };
  try {
    return await fn(load);
  } catch (error) {
    for (const result of await Promise.allSettled(made.values())) if (result.status === 'fulfilled') result.value.dispose();
    throw error;
  } finally {
    await loader.release();
  }
}

/**
 * The whole object graph of a checkpoint: dicts → Map, lists and tuples → arrays, tensors →
 * Tensor (shared ones shared), numbers, bigints, strings, booleans, null, bytes → Uint8Array,
 * sets → Set, and — with allowGlobals or in permissive mode — PyObject for other objects.
 */
export async function loadCheckpoint(path: string, options?: LoadOptions): Promise<unknown> {
  const o = checkOptions(path, options);
  const contents = await openCheckpoint(path, { allowGlobals: o.allowGlobals, permissive: o.permissive });
  return withLoader(contents, o, async (load) => {
    const seen = new Map<object, unknown>();
    const convert = async (v: PyValue, depth: number): Promise<unknown> => {
      if (depth > 10_000) throw new OnestepError(ErrorCode.CheckpointCorrupt, 'checkpoint nesting is too deep');
      if (v === null || typeof v !== 'object' || v instanceof Uint8Array) return v;
      if (seen.has(v)) return seen.get(v);
      if (isTensorRef(v)) return load(v);
      if (isStorageRef(v)) {
        throw new OnestepError(ErrorCode.CheckpointUnsupported, 'a bare storage (not inside a tensor) in the object graph');
      }
      if (Array.isArray(v)) {
        const out: unknown[] = [];
        seen.set(v, out);
        for (const item of v) out.push(await convert(item, depth + 1));
        return out;
      }
      if (v instanceof Map) {
        const out = new Map<PyKey, unknown>();
        seen.set(v, out);
        for (const [k, item] of v) out.set(k, await convert(item, depth + 1));
        return out;
      }
      if (v instanceof Set) {
        const out = new Set<unknown>();
        seen.set(v, out);
        for (const item of v) out.add(await convert(item, depth + 1));
        return out;
      }
      if (v instanceof PyObject) {
        const out = new PyObject(v.module, v.name, []);
        seen.set(v, out);
        for (const a of v.args) out.args.push((await convert(a, depth + 1)) as PyValue);
        out.state = (await convert(v.state, depth + 1)) as PyValue;
        return out;
      }
      if (v instanceof PyGlobal) return new PyObject(v.module, v.name);
      return v;
    };
    return convert(contents.value, 0);
  });
}

/** Storage reads in flight at once (libuv's pool has 4 threads by default). */
const READ_CONCURRENCY = 4;

/** `fn` over `items` with at most `limit` promises pending; results in order. */
async function mapConcurrently<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: unknown;
  const worker = async () => {
    while (next < items.length && failure === undefined) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!);
      } catch (error) {
        failure ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== undefined) throw failure;
  return results;
}

/** Keys under which training checkpoints keep their weights, in the order tried. */
export const STATE_DICT_KEYS = ['state_dict', 'model', 'ema', 'net'] as const;

function isTensorMap(v: PyValue): v is Map<PyKey, PyValue> {
  if (!(v instanceof Map) || v.size === 0) return false;
  for (const [k, item] of v) if (typeof k !== 'string' || !isTensorRef(item)) return false;
  return true;
}

/** A torch.nn.Module pickled as data: its parameters and persistent buffers under dotted names. */
function moduleTensors(obj: PyValue, prefix: string, out: Map<string, TensorRef>, depth = 0): boolean {
  if (depth > 256 || !(obj instanceof PyObject) || !(obj.state instanceof Map)) return false;
  const state = obj.state;
  const parameters = state.get('_parameters');
  const buffers = state.get('_buffers');
  const modules = state.get('_modules');
  if (!(parameters instanceof Map) && !(modules instanceof Map)) return false;
  const nonPersistent = state.get('_non_persistent_buffers_set');
  const skip = nonPersistent instanceof Set ? nonPersistent : new Set();
  for (const [table, isBuffer] of [[parameters, false], [buffers, true]] as const) {
    if (!(table instanceof Map)) continue;
    for (const [name, t] of table) {
      if (typeof name !== 'string' || t === null) continue; // None buffers are not state
      if (isBuffer && skip.has(name)) continue;
      if (!isTensorRef(t)) throw new OnestepError(ErrorCode.CheckpointCorrupt, `module entry '${prefix}${name}' is not a tensor`);
      out.set(prefix + name, t);
    }
  }
  if (modules instanceof Map) {
    for (const [name, child] of modules) {
      if (typeof name === 'string' && child !== null) moduleTensors(child, `${prefix}${name}.`, out, depth + 1);
    }
  }
  return true;
}

/** Finds the state dict in a graph and says where it was. */
export function findStateDict(value: PyValue): { tensors: Map<string, TensorRef>; source: string } {
  if (isTensorMap(value)) return { tensors: value as Map<string, TensorRef>, source: 'the top-level dict' };
  const asModule = new Map<string, TensorRef>();
  if (moduleTensors(value, '', asModule)) return { tensors: asModule, source: 'the pickled module' };
  if (value instanceof Map) {
    for (const key of STATE_DICT_KEYS) {
      const inner = value.get(key);
      if (inner === undefined) continue;
      if (isTensorMap(inner)) return { tensors: inner as Map<string, TensorRef>, source: `the '${key}' entry` };
      const fromModule = new Map<string, TensorRef>();
      if (moduleTensors(inner, '', fromModule)) return { tensors: fromModule, source: `the '${key}' entry (a pickled module)` };
    }
  }
  const keys = value instanceof Map ? [...value.keys()].slice(0, 12).map(String).join(', ') : typeof value;
  throw new OnestepError(ErrorCode.CheckpointUnsupported,
    `no state dict found: the checkpoint is neither a dict of tensors nor holds one under ${STATE_DICT_KEYS.join(', ')} (top level: ${keys})`);
}

/**
 * Flat name → tensor. `source` on the result says where the state dict was found
 * (e.g. "the 'ema' entry (a pickled module)").
 */
export async function loadStateDict(path: string, options?: LoadOptions): Promise<StateDict> {
  const o = checkOptions(path, options);
  const contents = await openCheckpoint(path, { allowGlobals: o.allowGlobals, permissive: o.permissive });
  const { tensors, source } = findStateDict(contents.value);
  return withLoader(contents, o, async (load) => {
    // Several reads in flight: they run on libuv's worker threads, in parallel.
    const loaded = await mapConcurrently([...tensors.values()], READ_CONCURRENCY, load);
    return new StateDict([...tensors.keys()].map((name, i) => [name, loaded[i]!]), contents.format, source, contents.metadata);
  });
}


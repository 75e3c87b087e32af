/**
 * The globals a checkpoint may name, after `torch.load(weights_only=True)`: collections, torch
 * rebuild functions, dtypes and storage classes. Each is modelled by inert code that builds a
 * value; nothing from the file is ever run. In permissive mode (EDM snapshots, or `allowGlobals`)
 * other globals become PyObject placeholders that hold their arguments and state as data, and
 * tensor reconstruction stays exactly as strict.
 */
import type { DType } from '../dtype.js';
import { ErrorCode, OnestepError } from '../errors.js';
import { buildBehaviours, corrupt, PyGlobal, PyObject, type GlobalBehaviour, type PyKey, type PyValue } from './pickle.js';

/** A storage named by a persistent id: bytes to be read from the container. */
export interface StorageRef {
  readonly kind: 'storage';
  readonly key: string;
  /** Element dtype, or the name of one onestep cannot hold (float8…), or 'untyped' (bytes). */
  readonly dtype: DType | `unsupported:${string}` | 'untyped';
  /** Elements of `dtype` (bytes when untyped). */
  readonly numel: number;
  readonly location: string;
}

/** A tensor as the pickle describes it: a strided view of a storage, not yet loaded. */
export interface TensorRef {
  readonly kind: 'tensor';
  readonly storage: StorageRef;
  readonly dtype: DType | `unsupported:${string}`;
  readonly offset: number;
  readonly size: number[];
  readonly stride: number[];
  requiresGrad: boolean;
  isParameter: boolean;
}

export function isTensorRef(value: unknown): value is TensorRef {
  return typeof value === 'object' && value !== null && (value as TensorRef).kind === 'tensor';
}
export function isStorageRef(value: unknown): value is StorageRef {
  return typeof value === 'object' && value !== null && (value as StorageRef).kind === 'storage';
}

const STORAGE_DTYPES: Record<string, DType> = {
  FloatStorage: 'float32', DoubleStorage: 'float64', HalfStorage: 'float16', BFloat16Storage: 'bfloat16',
  LongStorage: 'int64', IntStorage: 'int32', ShortStorage: 'int16', CharStorage: 'int8',
  ByteStorage: 'uint8', BoolStorage: 'bool',
};
const UNSUPPORTED_STORAGES = ['ComplexFloatStorage', 'ComplexDoubleStorage', 'QInt8Storage', 'QUInt8Storage', 'QInt32Storage', 'QUInt4x2Storage', 'QUInt2x4Storage'];

const TORCH_DTYPES: Record<string, DType> = {
  float32: 'float32', float: 'float32', float64: 'float64', double: 'float64', float16: 'float16', half: 'float16',
  bfloat16: 'bfloat16', int64: 'int64', long: 'int64', int32: 'int32', int: 'int32', int16: 'int16', short: 'int16',
  int8: 'int8', uint8: 'uint8', bool: 'bool',
};
const UNSUPPORTED_DTYPES = ['float8_e4m3fn', 'float8_e5m2', 'float8_e4m3fnuz', 'float8_e5m2fnuz', 'float8_e8m0fnu', 'uint16', 'uint32', 'uint64',
  'complex64', 'complex128', 'complex32', 'cfloat', 'cdouble', 'chalf', 'qint8', 'quint8', 'qint32', 'quint4x2', 'bits8', 'bits16'];

/** A storage class global, as the persistent id names it. */
export class StorageClass {
  constructor(readonly name: string, readonly dtype: DType | `unsupported:${string}` | 'untyped') {}
}
/** A dtype global such as `torch.float8_e4m3fn`. */
export class DTypeValue {
  constructor(readonly dtype: DType | `unsupported:${string}`) {}
}

/** Modules never allowed, in any mode. */
const FORBIDDEN_MODULES = /^(os|sys|posix|nt|subprocess|shutil|socket|importlib|runpy|pty|ctypes|multiprocessing|pickle|marshal|io|code|webbrowser)(\.|$)/;
const FORBIDDEN_BUILTINS = new Set(['eval', 'exec', 'compile', 'open', 'getattr', 'setattr', 'delattr', '__import__', 'globals', 'locals', 'vars', 'input', 'breakpoint', 'apply', 'execfile']);

export interface GlobalPolicy {
  /** Unknown globals become PyObject placeholders instead of ERR_CHECKPOINT_UNSAFE. */
  permissive: boolean;
  /** Extra `module.name` globals the caller trusts (inert placeholders, even in strict mode). */
  allow: ReadonlySet<string>;
  /** Parses the bytes of `torch.storage._load_from_bytes` (EDM pickles): a legacy torch.save. */
  loadFromBytes?(bytes: Uint8Array): PyValue;
}

function unsafe(module: string, name: string, never = false): OnestepError {
  return new OnestepError(ErrorCode.CheckpointUnsafe, never
    ? `checkpoint refers to the global ${module}.${name}, which is never allowed: this file tries to run code`
    : `checkpoint refers to the global ${module}.${name}, which is not in the allowlist; pass allowGlobals: ['${module}.${name}'] only if you trust this file`);
}

function unsupported(what: string): OnestepError {
  return new OnestepError(ErrorCode.CheckpointUnsupported, `checkpoint uses ${what}, which onestep does not support yet`);
}

function integer(v: PyValue, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw corrupt(`tensor ${what} must be a non-negative integer`);
  return v;
}

function intList(v: PyValue, what: string): number[] {
  if (!Array.isArray(v)) throw corrupt(`tensor ${what} must be a tuple of integers`);
  if (v.length > 64) throw corrupt(`tensor ${what} has ${v.length} dimensions`);
  return v.map((x) => integer(x as PyValue, what));
}

const inertBuild: GlobalBehaviour = { build: (target) => target };

function rebuildTensor(args: PyValue[], dtypeArg?: PyValue): TensorRef {
  const [storage, offset, size, stride, requiresGrad] = args;
  if (!storage || typeof storage !== 'object' || !('kind' in storage) || (storage as StorageRef).kind !== 'storage') {
    throw corrupt('tensor rebuild without a storage');
  }
  const s = storage as StorageRef;
  let dtype = s.dtype;
  if (dtypeArg !== undefined) {
    if (!(dtypeArg instanceof DTypeValue)) throw corrupt('_rebuild_tensor_v3 needs a dtype');
    dtype = dtypeArg.dtype;
  }
  if (dtype === 'untyped') throw corrupt('a tensor on an untyped storage needs a dtype');
  const ref: TensorRef = {
    kind: 'tensor', storage: s, dtype, offset: integer(offset ?? null, 'offset'),
    size: intList(size ?? null, 'size'), stride: intList(stride ?? null, 'stride'),
    requiresGrad: requiresGrad === true, isParameter: false,
  };
  if (ref.size.length !== ref.stride.length) throw corrupt('tensor size and stride differ in length');
  buildBehaviours.set(ref, inertBuild);
  return ref;
}

function asParameter(args: PyValue[]): PyValue {
  const [data, requiresGrad] = args;
  if (!isTensorRef(data)) throw corrupt('_rebuild_parameter without a tensor');
  data.isParameter = true;
  data.requiresGrad = requiresGrad === true;
  return data;
}

/** Builds the resolver for a pickle; `persistent` supplies StorageRefs for BINPERSID. */
export function makeResolver(policy: GlobalPolicy): (module: string, name: string) => GlobalBehaviour {
  const known = new Map<string, GlobalBehaviour>([
    ['collections.OrderedDict', { call: (args) => mapFrom(args[0]) }],
    ['collections.Counter', { call: (args) => mapFrom(args[0]) }],
    ['builtins.dict', { call: (args) => mapFrom(args[0]) }],
    ['builtins.set', { call: (args) => new Set(Array.isArray(args[0]) ? args[0] : []) }],
    ['builtins.frozenset', { call: (args) => Object.freeze(new Set(Array.isArray(args[0]) ? args[0] : [])) }],
    ['builtins.bytearray', { call: (args) => bytesFrom(args[0] ?? new Uint8Array(0), args[1]) }],
    ['builtins.bytes', { call: (args) => bytesFrom(args[0] ?? new Uint8Array(0), args[1]) }],
    ['_codecs.encode', { call: (args) => bytesFrom(args[0] ?? '', args[1]) }],
    ['builtins.complex', { call: () => { throw unsupported('complex numbers'); } }],
    ['torch.Size', { call: (args) => (Array.isArray(args[0]) ? [...args[0]] : []) }],
    ['torch.device', { call: (args) => args.filter((a) => a !== null).join(':') }],
    ['torch.serialization._get_layout', { call: (args) => String(args[0]) }],
    ['torch._utils._rebuild_tensor', { call: (args) => rebuildTensor(args) }],
    ['torch._utils._rebuild_tensor_v2', { call: (args) => rebuildTensor(args) }],
    ['torch._utils._rebuild_tensor_v3', { call: (args) => rebuildTensor(args, args[6]) }],
    ['torch._utils._rebuild_parameter', { call: asParameter }],
    ['torch._utils._rebuild_parameter_with_state', { call: asParameter }],
    ['torch._tensor._rebuild_from_type_v2', {
      // (func, new_type, args, state): the func is itself a modelled rebuild global.
      call: (args) => {
        const [func, , inner] = args;
        if (!(func instanceof PyGlobal) || !func.behaviour.call) throw corrupt('_rebuild_from_type_v2 without a rebuild function');
        return func.behaviour.call(Array.isArray(inner) ? [...inner] : []);
      },
    }],
    ['torch.nn.parameter.Parameter', { call: (args) => asParameter([args[0] ?? null, args[1] ?? true]) }],
    ['torch.Tensor', {}],
    ['torch._utils._rebuild_sparse_tensor', { call: () => { throw unsupported('sparse tensors'); } }],
    ['torch._utils._rebuild_sparse_csr_tensor', { call: () => { throw unsupported('sparse tensors'); } }],
    ['torch._utils._rebuild_qtensor', { call: () => { throw unsupported('quantized tensors'); } }],
    ['torch._utils._rebuild_meta_tensor_no_storage', { call: () => { throw unsupported('meta tensors'); } }],
    ['torch._utils._rebuild_wrapper_subclass', { call: () => { throw unsupported('tensor subclasses'); } }],
    ['torch._utils._rebuild_nested_tensor', { call: () => { throw unsupported('nested tensors'); } }],
    ['torch._utils._rebuild_device_tensor_from_numpy', { call: () => { throw unsupported('numpy-backed tensors'); } }],
  ]);

  return (rawModule, name) => {
    // Protocol 2 writes Python 2 module names; pickle maps them back the same way.
    const module = rawModule === '__builtin__' ? 'builtins' : rawModule === 'copy_reg' ? 'copyreg' : rawModule;
    const qualified = `${module}.${name}`;
    if (FORBIDDEN_MODULES.test(module) || (module === 'builtins' && FORBIDDEN_BUILTINS.has(name))) {
      throw unsafe(module, name, true);
    }
    const modelled = known.get(qualified);
    if (modelled) return modelled;
    if (module === 'torch' || module === 'torch.storage') {
      if (name in STORAGE_DTYPES) return { value: new StorageClass(name, STORAGE_DTYPES[name]!) as unknown as PyValue };
      if (name === 'UntypedStorage' || name === 'TypedStorage') return { value: new StorageClass(name, 'untyped') as unknown as PyValue };
      if (UNSUPPORTED_STORAGES.includes(name)) return { value: new StorageClass(name, `unsupported:${name}`) as unknown as PyValue };
      if (name in TORCH_DTYPES) return { value: new DTypeValue(TORCH_DTYPES[name]!) as unknown as PyValue };
      if (UNSUPPORTED_DTYPES.includes(name)) return { value: new DTypeValue(`unsupported:torch.${name}`) as unknown as PyValue };
    }
    if (qualified === 'torch.storage._load_from_bytes' && policy.loadFromBytes) {
      const load = policy.loadFromBytes;
      return { call: (args) => load(args[0] instanceof Uint8Array ? args[0] : new Uint8Array(0)) };
    }
    if (policy.permissive || policy.allow.has(qualified)) return placeholder(module, name);
    throw unsafe(module, name);
  };
}

/**
 * An inert stand-in: calling it records the arguments, BUILD records the state. EDM's
 * persistence wrapper keeps the module's state inside its `meta` argument, so it is unwrapped.
 */
function placeholder(module: string, name: string): GlobalBehaviour {
  return {
    call: (args) => {
      const obj = new PyObject(module, name, args);
      if (module === 'torch_utils.persistence' && name === '_reconstruct_persistent_obj' && args[0] instanceof Map) {
        obj.state = args[0].get('state') ?? null;
      }
      return obj;
    },
  };
}

function mapFrom(arg: PyValue | undefined): Map<PyKey, PyValue> {
  const out = new Map<PyKey, PyValue>();
  if (arg instanceof Map) for (const [k, v] of arg) out.set(k, v);
  else if (Array.isArray(arg)) {
    for (const pair of arg) {
      if (!Array.isArray(pair) || pair.length !== 2) throw corrupt('dict built from a list that is not of pairs');
      out.set(pair[0] as PyKey, pair[1] as PyValue);
    }
  }
  return out;
}

function bytesFrom(data: PyValue, encoding: PyValue | undefined): Uint8Array {
  if (data instanceof Uint8Array) return data.slice();
  if (Array.isArray(data)) return Uint8Array.from(data.map((x) => Number(x) & 0xff));
  if (typeof data === 'string') {
    if (encoding !== undefined && encoding !== 'latin1' && encoding !== 'latin-1') throw unsupported(`the text encoding ${String(encoding)}`);
    const out = new Uint8Array(data.length);
    for (let i = 0; i < data.length; i++) {
      const c = data.charCodeAt(i);
      if (c > 255) throw corrupt('latin-1 bytes with a character above 255');
      out[i] = c;
    }
    return out;
  }
  throw corrupt('bytes built from an unsupported value');
}

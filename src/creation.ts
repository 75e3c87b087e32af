/** Tensor factories. Every one takes `{ dtype?, device?, requiresGrad? }`; the device defaults to 'cpu'. */
import { isDType, isFloatDType, type DType, type TensorData } from './dtype.js';
import { typeError, valueError } from './errors.js';
import { native } from './native.js';
import { describe, Tensor, type Device } from './tensor.js';

export interface TensorOptions<D extends DType = DType> {
  dtype?: D;
  device?: Device;
  /** Track gradients (floating-point dtypes only). */
  requiresGrad?: boolean;
}

type Nested<T> = T | Nested<T>[];

const TYPED_DTYPE = new Map<Function, DType>([
  [Float32Array, 'float32'], [Float64Array, 'float64'], [Int32Array, 'int32'], [BigInt64Array, 'int64'],
  [Int16Array, 'int16'], [Int8Array, 'int8'], [Uint8Array, 'uint8'], [Uint8ClampedArray, 'uint8'],
]);

function checkOptions(options: TensorOptions | undefined): { dtype: DType | null; device: string; requiresGrad: boolean } {
  if (options === undefined) return { dtype: null, device: 'cpu', requiresGrad: false };
  if (options === null || typeof options !== 'object') throw typeError(`options must be an object, not ${describe(options)}`);
  const { dtype, device = 'cpu', requiresGrad = false } = options;
  if (dtype !== undefined && !isDType(dtype)) {
    throw typeError(`dtype must be one of float32, float16, bfloat16, float64, int64, int32, int16, int8, uint8, bool; got ${JSON.stringify(dtype)}`);
  }
  if (typeof device !== 'string') throw typeError(`device must be a string such as 'cpu' or 'cuda:0', not ${describe(device)}`);
  if (typeof requiresGrad !== 'boolean') throw typeError('requiresGrad must be a boolean');
  return { dtype: dtype ?? null, device, requiresGrad };
}

export function checkShape(shape: unknown, what = 'shape'): number[] {
  if (!Array.isArray(shape)) throw typeError(`${what} must be an array of integers, not ${describe(shape)}`);
  shape.forEach((d, i) => {
    if (!Number.isSafeInteger(d) || (d as number) < 0) {
      throw valueError(`${what}[${i}] must be a non-negative integer; got ${String(d)}`);
    }
  });
  return shape as number[];
}

/** Flattens nested arrays of numbers or booleans, inferring the shape and rejecting ragged input. */
function flattenNested(data: Nested<number | boolean>[]): { values: (number | boolean)[]; shape: number[] } {
  const shape: number[] = [];
  for (let level: unknown = data; Array.isArray(level); level = level[0]) shape.push(level.length);
  const values: (number | boolean)[] = [];
  const walk = (node: unknown, depth: number): void => {
    if (depth === shape.length) {
      if (typeof node !== 'number' && typeof node !== 'boolean') {
        throw typeError(`tensor data must hold numbers or booleans; found ${describe(node)}`);
      }
      values.push(node);
      return;
    }
    if (!Array.isArray(node) || node.length !== shape[depth]) {
      throw valueError(`tensor data is ragged: expected an array of length ${shape[depth]} at depth ${depth}`);
    }
    for (const child of node) walk(child, depth + 1);
  };
  walk(data, 0);
  return { values, shape };
}

/**
 * A tensor from a typed array (its dtype by default) or a (nested) array of numbers (float32 by
 * default) or booleans (bool). Uint16Array carries float16/bfloat16 bits: pass that dtype.
 * The data is copied.
 */
export function tensor<D extends DType = 'float32'>(
  data: TensorData | Nested<number>[] | Nested<boolean>[],
  options?: TensorOptions<D> & { shape?: number[] },
): Tensor<D> {
  const { dtype, device, requiresGrad } = checkOptions(options);
  let bytes: ArrayBufferView;
  let shape: number[];
  if (ArrayBuffer.isView(data) && !(data instanceof DataView)) {
    bytes = data;
    shape = options?.shape !== undefined ? checkShape(options.shape) : [(data as TensorData).length];
    if (!(data instanceof Uint16Array) && !TYPED_DTYPE.has(data.constructor)) {
      throw typeError(`unsupported typed array ${data.constructor.name}: use Float32Array, Float64Array, Int32Array, BigInt64Array, Int16Array, Int8Array, Uint8Array, or Uint16Array for float16/bfloat16 bits`);
    }
    if (data instanceof Uint16Array && dtype !== 'float16' && dtype !== 'bfloat16') {
      throw typeError("a Uint16Array holds float16 or bfloat16 bits: pass { dtype: 'float16' } or { dtype: 'bfloat16' }");
    }
  } else if (Array.isArray(data)) {
    const flat = flattenNested(data);
    shape = options?.shape !== undefined ? checkShape(options.shape) : flat.shape;
    const booleans = flat.values.length > 0 && flat.values.every((v) => typeof v === 'boolean');
    if (!booleans && flat.values.some((v) => typeof v === 'boolean')) throw typeError('tensor data mixes numbers and booleans');
    const target = dtype ?? (booleans ? 'bool' : 'float32');
    bytes = booleans ? Uint8Array.from(flat.values as boolean[], Number)
      : target === 'float64' || !isFloatDType(target) ? Float64Array.from(flat.values as number[])
      : Float32Array.from(flat.values as number[]);
    return new Tensor(native().fromData(bytes, shape, target, device, requiresGrad));
  } else {
    throw typeError(`tensor data must be a typed array or an array of numbers, not ${describe(data)}`);
  }
  return new Tensor(native().fromData(bytes, shape, dtype, device, requiresGrad));
}

export function full<D extends DType = 'float32'>(shape: number[], value: number, options?: TensorOptions<D>): Tensor<D> {
  const { dtype, device, requiresGrad } = checkOptions(options);
  if (typeof value !== 'number') throw typeError(`fill value must be a number, not ${describe(value)}`);
  return new Tensor(native().full(checkShape(shape), value, dtype, device, requiresGrad));
}

export function zeros<D extends DType = 'float32'>(shape: number[], options?: TensorOptions<D>): Tensor<D> {
  return full(shape, 0, options);
}

export function ones<D extends DType = 'float32'>(shape: number[], options?: TensorOptions<D>): Tensor<D> {
  return full(shape, 1, options);
}

function random<D extends DType>(kind: 'randn' | 'rand', shape: number[], options?: TensorOptions<D>): Tensor<D> {
  const { dtype, device, requiresGrad } = checkOptions(options);
  const t = new Tensor<D>(native().random(kind, checkShape(shape), dtype, device));
  return requiresGrad ? t.requiresGrad_() : t;
}

/** Standard normal draws from the seeded generator of the device (see manualSeed). */
export function randn<D extends DType = 'float32'>(shape: number[], options?: TensorOptions<D>): Tensor<D> {
  return random('randn', shape, options);
}

/** Uniform draws in [0, 1). */
export function rand<D extends DType = 'float32'>(shape: number[], options?: TensorOptions<D>): Tensor<D> {
  return random('rand', shape, options);
}

/** Uniform integers in [low, high), int64 by default. */
export function randint<D extends DType = 'int64'>(low: number, high: number, shape: number[], options?: TensorOptions<D>): Tensor<D> {
  const { dtype, device, requiresGrad } = checkOptions(options);
  if (requiresGrad) throw valueError('randint makes integers, which cannot require grad');
  return new Tensor(native().randint(low, high, checkShape(shape), dtype, device));
}

/**
 * Values from `start` to `end` (exclusive) by `step`; `arange(n)` is 0..n-1. int64 when all
 * three are integers, float32 otherwise, unless a dtype is given.
 */
export function arange(end: number, options?: TensorOptions): Tensor;
export function arange(start: number, end: number, step?: number, options?: TensorOptions): Tensor;
export function arange(a: number, b?: number | TensorOptions, c?: number | TensorOptions, d?: TensorOptions): Tensor {
  const [start, end, step, options] = typeof b === 'number'
    ? [a, b, typeof c === 'number' ? c : 1, (typeof c === 'object' ? c : d)]
    : [0, a, 1, b];
  for (const [name, v] of [['start', start], ['end', end], ['step', step]] as const) {
    if (typeof v !== 'number') throw typeError(`arange ${name} must be a number, not ${describe(v)}`);
  }
  const { dtype, device } = checkOptions(options);
  return new Tensor(native().arange(start, end, step, dtype, device));
}

/** Joins tensors along an existing dimension. */
export function cat(tensors: Tensor[], dim = 0): Tensor {
  if (!Array.isArray(tensors)) throw typeError('cat needs an array of Tensors');
  return new Tensor(native().cat(tensors.map((t) => t.handle), dim));
}

/** Joins tensors along a new dimension. */
export function stack(tensors: Tensor[], dim = 0): Tensor {
  if (!Array.isArray(tensors)) throw typeError('stack needs an array of Tensors');
  return new Tensor(native().stack(tensors.map((t) => t.handle), dim));
}

/** Elementwise `condition ? x : y`. */
export function where(condition: Tensor, x: Tensor | number, y: Tensor | number): Tensor {
  const h = (v: Tensor | number) => (v instanceof Tensor ? v.handle : v);
  return new Tensor(native().where(condition.handle, h(x), h(y)));
}

export interface Conv2dOptions {
  stride?: number;
  padding?: number;
  dilation?: number;
  groups?: number;
}

/** 2-D convolution, as torch.nn.functional.conv2d: input [N, C, H, W], weight [O, C/groups, k, k]. */
export function conv2d(input: Tensor, weight: Tensor, bias?: Tensor | null, options: Conv2dOptions = {}): Tensor {
  const { stride = 1, padding = 0, dilation = 1, groups = 1 } = options;
  return new Tensor(native().conv2d(input.handle, weight.handle, bias ? bias.handle : null, stride, padding, dilation, groups));
}

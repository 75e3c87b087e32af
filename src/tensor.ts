/**
 * Tensor: a JS handle on a native libtorch tensor. Memory is released by `dispose()`, by the
 * `tidy` scope that created it, or, as a safety net, when the garbage collector finds the
 * Tensor unreachable. Shape, dtype and device never change after creation and are cached.
 */
import { inspect } from 'node:util';
import { hostArrayFor, isDType, type DType, type HostArrayOf } from './dtype.js';
import { ErrorCode, OnestepError, typeError } from './errors.js';
import { native } from './native.js';
import type { NativeHandle } from './native-types.js';
import { adoptIntoScope, makeTidy, type Disposable } from './scope.js';

/** 'cpu', 'cuda' or 'cuda:N'. */
export type Device = 'cpu' | 'cuda' | `cuda:${number}`;

/** Whether two device names mean the same device ('cuda' is 'cuda:0', as in libtorch's default). */
export function sameDevice(a: string, b: string): boolean {
  const canonical = (d: string) => (d === 'cuda' ? 'cuda:0' : d);
  return canonical(a) === canonical(b);
}

// The safety net: a Tensor dropped without dispose() frees its handle after collection. The
// registry holds the handle, so the handle outlives its Tensor until this runs.
const finalizer = new FinalizationRegistry<NativeHandle>((handle) => handle.dispose());

export type Scalar = number | boolean;
export type Operand = Tensor | Scalar;

export interface ReduceOptions {
  /** Dimension(s) to reduce; all when omitted. */
  dim?: number | number[];
  keepdim?: boolean;
}

export class Tensor<D extends DType = DType> implements Disposable {
  #handle: NativeHandle | null;
  readonly shape: readonly number[];
  readonly dtype: D;
  readonly device: Device;

  /** @internal Tensors come from factories (tensor, zeros, randn…) and operations. */
  constructor(handle: NativeHandle) {
    const [shape, dtype, device] = handle.describe();
    this.#handle = handle;
    this.shape = Object.freeze(shape);
    this.dtype = dtype as D;
    this.device = device as Device;
    finalizer.register(this, handle, this);
    adoptIntoScope(this);
  }

  /** @internal The native handle; throws once disposed. */
  get handle(): NativeHandle {
    if (this.#handle === null) {
      throw new OnestepError(ErrorCode.TensorDisposed,
        `this ${this.dtype} tensor of shape [${this.shape.join(', ')}] was disposed and can no longer be used`);
    }
    return this.#handle;
  }

  get isDisposed(): boolean {
    return this.#handle === null;
  }

  /** Releases this tensor's reference to its storage now. Safe to call twice. */
  dispose(): void {
    if (this.#handle === null) return;
    finalizer.unregister(this);
    this.#handle.dispose();
    this.#handle = null;
  }

  get rank(): number {
    return this.shape.length;
  }

  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  get requiresGrad(): boolean {
    return this.handle.requiresGrad();
  }

  /** The gradient accumulated by `backward()`, or null. A new Tensor each call: dispose it. */
  get grad(): Tensor<D> | null {
    const g = native().grad(this.handle);
    return g === null ? null : new Tensor(g);
  }

  /** Starts (or stops) recording operations on this leaf tensor for autograd. Returns this. */
  requiresGrad_(requiresGrad = true): this {
    native().setRequiresGrad(this.handle, requiresGrad);
    return this;
  }

  /** Back-propagates from this scalar into every leaf that requires grad, on a worker thread. */
  async backward(): Promise<void> {
    await native().backward(this.handle);
  }

  // ---- moving and converting -------------------------------------------------------------

  /** A copy on another device and/or with another dtype, made on a worker thread. */
  async to(target: Device | DType): Promise<Tensor> {
    const [device, dtype] = splitTarget(target);
    return new Tensor(await native().toAsync(this.handle, device, dtype));
  }

  /** `to()` on the calling thread: for small tensors, where a Promise costs more than the copy. */
  toSync(target: Device | DType): Tensor {
    const [device, dtype] = splitTarget(target);
    return new Tensor(native().to(this.handle, device, dtype));
  }

  /** A copy of the values in JavaScript memory (float16/bfloat16 widen to float32). */
  async toTypedArray(): Promise<HostArrayOf[D]> {
    const buffer = await native().toBuffer(this.handle, false);
    return hostArrayFor(this.dtype, buffer) as HostArrayOf[D];
  }

  /** The raw little-endian bytes of the values in this tensor's own dtype (a contiguous copy). */
  async toBytes(): Promise<Uint8Array> {
    return new Uint8Array(await native().toBuffer(this.handle, true));
  }

  /** The value of a one-element tensor. Synchronises with the device. */
  item(): number | boolean {
    return native().item(this.handle);
  }

  // ---- shape --------------------------------------------------------------------------------

  contiguous(): Tensor<D> { return this.#unary('contiguous') as Tensor<D>; }
  clone(): Tensor<D> { return this.#unary('clone') as Tensor<D>; }
  detach(): Tensor<D> { return this.#unary('detach') as Tensor<D>; }

  /** Same data, new shape (one dimension may be -1). A view when the layout allows. */
  reshape(...shape: number[] | [number[]]): Tensor<D> {
    const dims = (Array.isArray(shape[0]) ? shape[0] : shape) as number[];
    return new Tensor(native().reshape(this.handle, dims));
  }
  permute(...dims: number[]): Tensor<D> { return new Tensor(native().permute(this.handle, dims)); }
  transpose(dim0: number, dim1: number): Tensor<D> { return new Tensor(native().transpose(this.handle, dim0, dim1)); }
  squeeze(dim?: number): Tensor<D> { return new Tensor(native().squeeze(this.handle, dim ?? null)); }
  unsqueeze(dim: number): Tensor<D> { return new Tensor(native().unsqueeze(this.handle, dim)); }
  flatten(startDim = 0, endDim = -1): Tensor<D> { return new Tensor(native().flatten(this.handle, startDim, endDim)); }
  expand(...shape: number[]): Tensor<D> { return new Tensor(native().expand(this.handle, shape)); }
  /** Elements `start` (inclusive) to `end` (exclusive) along `dim`, a view. */
  slice(dim: number, start: number, end?: number, step = 1): Tensor<D> {
    return new Tensor(native().slice(this.handle, dim, start, end ?? Number.MAX_SAFE_INTEGER, step));
  }
  /** Index `index` along `dim`, dropping that dimension, a view. */
  select(dim: number, index: number): Tensor<D> { return new Tensor(native().select(this.handle, dim, index)); }
  indexSelect(dim: number, index: Tensor): Tensor<D> { return new Tensor(native().indexSelect(this.handle, dim, index.handle)); }

  // ---- elementwise --------------------------------------------------------------------------

  add(other: Operand): Tensor { return this.#binary('add', other); }
  sub(other: Operand): Tensor { return this.#binary('sub', other); }
  mul(other: Operand): Tensor { return this.#binary('mul', other); }
  div(other: Operand): Tensor { return this.#binary('div', other); }
  pow(other: Operand): Tensor { return this.#binary('pow', other); }
  remainder(other: Operand): Tensor { return this.#binary('remainder', other); }
  maximum(other: Operand): Tensor { return this.#binary('maximum', other); }
  minimum(other: Operand): Tensor { return this.#binary('minimum', other); }
  eq(other: Operand): Tensor<'bool'> { return this.#binary('eq', other) as Tensor<'bool'>; }
  ne(other: Operand): Tensor<'bool'> { return this.#binary('ne', other) as Tensor<'bool'>; }
  lt(other: Operand): Tensor<'bool'> { return this.#binary('lt', other) as Tensor<'bool'>; }
  le(other: Operand): Tensor<'bool'> { return this.#binary('le', other) as Tensor<'bool'>; }
  gt(other: Operand): Tensor<'bool'> { return this.#binary('gt', other) as Tensor<'bool'>; }
  ge(other: Operand): Tensor<'bool'> { return this.#binary('ge', other) as Tensor<'bool'>; }
  logicalAnd(other: Operand): Tensor<'bool'> { return this.#binary('logicalAnd', other) as Tensor<'bool'>; }
  logicalOr(other: Operand): Tensor<'bool'> { return this.#binary('logicalOr', other) as Tensor<'bool'>; }
  matmul(other: Tensor): Tensor { return this.#binary('matmul', other); }

  neg(): Tensor<D> { return this.#unary('neg') as Tensor<D>; }
  abs(): Tensor<D> { return this.#unary('abs') as Tensor<D>; }
  exp(): Tensor { return this.#unary('exp'); }
  log(): Tensor { return this.#unary('log'); }
  sqrt(): Tensor { return this.#unary('sqrt'); }
  rsqrt(): Tensor { return this.#unary('rsqrt'); }
  square(): Tensor<D> { return this.#unary('square') as Tensor<D>; }
  sin(): Tensor { return this.#unary('sin'); }
  cos(): Tensor { return this.#unary('cos'); }
  tanh(): Tensor { return this.#unary('tanh'); }
  sigmoid(): Tensor { return this.#unary('sigmoid'); }
  relu(): Tensor<D> { return this.#unary('relu') as Tensor<D>; }
  silu(): Tensor { return this.#unary('silu'); }
  softplus(): Tensor { return this.#unary('softplus'); }
  floor(): Tensor<D> { return this.#unary('floor') as Tensor<D>; }
  ceil(): Tensor<D> { return this.#unary('ceil') as Tensor<D>; }
  round(): Tensor<D> { return this.#unary('round') as Tensor<D>; }
  sign(): Tensor<D> { return this.#unary('sign') as Tensor<D>; }
  isnan(): Tensor<'bool'> { return this.#unary('isnan') as Tensor<'bool'>; }
  isfinite(): Tensor<'bool'> { return this.#unary('isfinite') as Tensor<'bool'>; }
  logicalNot(): Tensor<'bool'> { return this.#unary('logicalNot') as Tensor<'bool'>; }
  clamp(min: number | null, max?: number | null): Tensor<D> {
    return new Tensor(native().clamp(this.handle, min ?? null, max ?? null));
  }
  softmax(dim: number): Tensor { return new Tensor(native().softmax(this.handle, dim, false)); }
  logSoftmax(dim: number): Tensor { return new Tensor(native().softmax(this.handle, dim, true)); }

  // ---- reductions ---------------------------------------------------------------------------

  sum(options?: ReduceOptions): Tensor { return this.#reduce('sum', options); }
  mean(options?: ReduceOptions): Tensor { return this.#reduce('mean', options); }
  max(options?: ReduceOptions): Tensor<D> { return this.#reduce('max', options) as Tensor<D>; }
  min(options?: ReduceOptions): Tensor<D> { return this.#reduce('min', options) as Tensor<D>; }
  /** Sample standard deviation (Bessel-corrected), as torch.std. */
  std(options?: ReduceOptions): Tensor { return this.#reduce('std', options); }
  var(options?: ReduceOptions): Tensor { return this.#reduce('var', options); }
  norm(options?: ReduceOptions): Tensor { return this.#reduce('norm', options); }
  logsumexp(options?: ReduceOptions): Tensor { return this.#reduce('logsumexp', options); }
  any(options?: ReduceOptions): Tensor<'bool'> { return this.#reduce('any', options) as Tensor<'bool'>; }
  all(options?: ReduceOptions): Tensor<'bool'> { return this.#reduce('all', options) as Tensor<'bool'>; }
  argmax(options?: { dim?: number; keepdim?: boolean }): Tensor<'int64'> { return this.#reduce('argmax', options) as Tensor<'int64'>; }
  argmin(options?: { dim?: number; keepdim?: boolean }): Tensor<'int64'> { return this.#reduce('argmin', options) as Tensor<'int64'>; }

  // ---- display ------------------------------------------------------------------------------

  toString(): string {
    const state = this.isDisposed ? ', disposed' : '';
    return `Tensor(${this.dtype}, [${this.shape.join(', ')}], ${this.device}${state})`;
  }

  [inspect.custom](): string {
    return this.toString();
  }

  #unary(op: string): Tensor {
    return new Tensor(native().unary(op, this.handle));
  }

  #binary(op: string, other: Operand): Tensor {
    return new Tensor(native().binary(op, this.handle, operandHandle(other, op)));
  }

  #reduce(op: string, options: ReduceOptions | undefined): Tensor {
    return new Tensor(native().reduce(op, this.handle, options?.dim ?? null, options?.keepdim ?? false));
  }
}

export function isTensor(value: unknown): value is Tensor {
  return value instanceof Tensor;
}

export function operandHandle(value: Operand, op: string): NativeHandle | Scalar {
  if (value instanceof Tensor) return value.handle;
  if (typeof value === 'number' || typeof value === 'boolean') return value;
  throw typeError(`${op}: the operand must be a Tensor or a number, not ${describe(value)}`);
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return `a ${(value as object).constructor?.name ?? 'object'}`;
  return typeof value;
}

function splitTarget(target: Device | DType): [string | null, DType | null] {
  if (isDType(target)) return [null, target];
  if (typeof target === 'string') return [target, null];
  throw typeError(`to() needs a device ('cpu', 'cuda:0') or a dtype ('float32', …), not ${describe(target)}`);
}

/**
 * Runs `fn` and disposes every tensor it created except those it returns (a Tensor, or Tensors
 * inside returned arrays, Maps, Sets and plain objects). `fn` may be async.
 */
export const tidy = makeTidy(isTensor);

/** Disposes a tensor, or every tensor in an array, Map, Set or plain object. */
export function dispose(value: unknown): void {
  if (value instanceof Tensor) value.dispose();
  else if (Array.isArray(value) || value instanceof Set) for (const v of value) dispose(v);
  else if (value instanceof Map) for (const v of value.values()) dispose(v);
  else if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) dispose(v);
  }
}


/** Tensor element types, by their torch names. */
export const DTYPES = [
  'float32', 'float16', 'bfloat16', 'float64', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool',
] as const;
export type DType = (typeof DTYPES)[number];

export type FloatDType = 'float32' | 'float16' | 'bfloat16' | 'float64';

/** What `toTypedArray()` returns for each dtype (16-bit floats widen to Float32Array). */
export interface HostArrayOf {
  float32: Float32Array;
  float16: Float32Array;
  bfloat16: Float32Array;
  float64: Float64Array;
  int64: BigInt64Array;
  int32: Int32Array;
  int16: Int16Array;
  int8: Int8Array;
  uint8: Uint8Array;
  bool: Uint8Array;
}
export type HostArray = HostArrayOf[DType];

/** Typed arrays accepted as tensor data. Uint16Array carries float16 or bfloat16 bits. */
export type TensorData =
  | Float32Array | Float64Array | Int32Array | BigInt64Array | Int16Array | Int8Array
  | Uint8Array | Uint8ClampedArray | Uint16Array;

export function isDType(value: unknown): value is DType {
  return typeof value === 'string' && (DTYPES as readonly string[]).includes(value);
}

export function isFloatDType(dtype: DType): dtype is FloatDType {
  return dtype === 'float32' || dtype === 'float16' || dtype === 'bfloat16' || dtype === 'float64';
}

/** The JS array type that carries a dtype's values from the host, for `toTypedArray`. */
export function hostArrayFor(dtype: DType, buffer: ArrayBuffer): HostArray {
  switch (dtype) {
    case 'float32': case 'float16': case 'bfloat16': return new Float32Array(buffer);
    case 'float64': return new Float64Array(buffer);
    case 'int64': return new BigInt64Array(buffer);
    case 'int32': return new Int32Array(buffer);
    case 'int16': return new Int16Array(buffer);
    case 'int8': return new Int8Array(buffer);
    case 'uint8': case 'bool': return new Uint8Array(buffer);
  }
}

/**
 * Every error onestep raises carries a stable `code`. Errors from the native addon already have
 * one (native/src/errors.h); this module names them for TypeScript and builds the ones raised
 * on the JS side.
 */
export const ErrorCode = {
  /** An argument has the wrong type (a TypeError). */
  InvalidArgType: 'ERR_INVALID_ARG_TYPE',
  /** An argument has the right type but a value that cannot work (bad shape, unknown device). */
  InvalidArgValue: 'ERR_INVALID_ARG_VALUE',
  /** A tensor was used after `dispose()` (or after the `tidy` scope that owned it ended). */
  TensorDisposed: 'ERR_TENSOR_DISPOSED',
  /** libtorch rejected the operation (shape or device mismatch, dimension out of range…). */
  Torch: 'ERR_TORCH',
  /** Host or device memory ran out (CUDA out of memory included). */
  OutOfMemory: 'ERR_OUT_OF_MEMORY',
  /** A CUDA device was asked for where none exists or the addon was built without CUDA. */
  CudaUnavailable: 'ERR_CUDA_UNAVAILABLE',
  /** The native addon could not be found or loaded. */
  NativeLoad: 'ERR_NATIVE_LOAD',
  /** A checkpoint names a global that is not allowed (the message names it). */
  CheckpointUnsafe: 'ERR_CHECKPOINT_UNSAFE',
  /** A checkpoint is damaged: truncated, bad zip or pickle, offsets outside their storage. */
  CheckpointCorrupt: 'ERR_CHECKPOINT_CORRUPT',
  /** A checkpoint uses a real feature onestep does not support yet (the message names it). */
  CheckpointUnsupported: 'ERR_CHECKPOINT_UNSUPPORTED',
  /** loadInto: the state dict's names or shapes do not match the module's. */
  StateDictMismatch: 'ERR_STATE_DICT_MISMATCH',
  /** A dataset file is damaged or not what its name says. */
  DatasetCorrupt: 'ERR_DATASET_CORRUPT',
  /** A file could not be opened or read. */
  Io: 'ERR_IO',
  /** Distributed training: rendezvous failed or timed out, a peer process failed, or this build has no collective backend. */
  Distributed: 'ERR_DISTRIBUTED',
  /** An unexpected native failure. */
  Native: 'ERR_NATIVE',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** An Error with a `code`, as Node's own errors have. */
export class OnestepError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OnestepError';
    this.code = code;
  }
}

export function typeError(message: string): TypeError & { code: ErrorCode } {
  return Object.assign(new TypeError(message), { code: ErrorCode.InvalidArgType });
}

export function valueError(message: string): OnestepError {
  return new OnestepError(ErrorCode.InvalidArgValue, message);
}

/** The idx format of (Fashion-)MNIST: a big-endian header (magic, dimensions) and raw uint8 data. */
import { ErrorCode, OnestepError } from '../errors.js';

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

export function parseIdx(bytes: Uint8Array, what: string): IdxArray {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 8 || view.getUint16(0) !== 0 || view.getUint8(2) !== 0x08) {
    throw new OnestepError(ErrorCode.DatasetCorrupt, `${what} is not an idx file of unsigned bytes`);
  }
  const rank = view.getUint8(3);
  if (rank < 1 || rank > 4 || bytes.length < 4 + 4 * rank) throw new OnestepError(ErrorCode.DatasetCorrupt, `${what} has a malformed idx header`);
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  const count = dims.reduce((a, b) => a * b, 1);
  const start = 4 + 4 * rank;
  if (bytes.length - start !== count) {
    throw new OnestepError(ErrorCode.DatasetCorrupt, `${what} declares ${count} values but holds ${bytes.length - start}`);
  }
  return { dims, data: bytes.subarray(start) };
}

/**
 * The safetensors format: an 8-byte little-endian header length, a JSON header naming each
 * tensor's dtype, shape and byte range, then the data. Every field is checked: known dtypes,
 * ranges inside the data that match the shape and never overlap, no duplicate names.
 */
import type { DType } from '../dtype.js';
import { ErrorCode, OnestepError } from '../errors.js';
import { ELEMENT_SIZE } from './materialize.js';
import { corrupt } from './pickle.js';

export const SAFETENSORS_DTYPES: Record<string, DType> = {
  F32: 'float32', F16: 'float16', BF16: 'bfloat16', F64: 'float64', I64: 'int64', I32: 'int32', I16: 'int16', I8: 'int8', U8: 'uint8', BOOL: 'bool',
};
export const SAFETENSORS_CODES = Object.fromEntries(Object.entries(SAFETENSORS_DTYPES).map(([code, dtype]) => [dtype, code])) as Record<DType, string>;

const MAX_HEADER = 100 << 20;

export interface SafetensorsEntry {
  name: string;
  dtype: DType;
  shape: number[];
  /** Absolute byte offset in the file, and length. */
  offset: number;
  nbytes: number;
}

export interface SafetensorsHeader {
  entries: SafetensorsEntry[];
  metadata: Map<string, string>;
}

/** The length the header claims, from the first 8 bytes. */
export function headerLength(head: Uint8Array): number {
  if (head.length < 8) throw corrupt('safetensors file is shorter than its 8-byte header length');
  const n = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER)) throw corrupt(`safetensors header of ${n} bytes exceeds the ${MAX_HEADER}-byte limit`);
  return Number(n);
}

/** Top-level keys in order, duplicates included (JSON.parse would silently keep the last). */
function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (depth === 1 && expectKey) keys.push(JSON.parse(text.slice(i, j + 1)) as string);
      expectKey = false;
      i = j;
    } else if (c === '{' || c === '[') {
      depth++;
      expectKey = c === '{' && depth === 1;
    } else if (c === '}' || c === ']') {
      depth--;
    } else if (c === ',' && depth === 1) {
      expectKey = true;
    }
  }
  return keys;
}

export function parseHeader(json: Uint8Array, headerBytes: number, fileSize: number): SafetensorsHeader {
  let text: string;
  let parsed: unknown;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(json);
    parsed = JSON.parse(text);
  } catch (error) {
    throw corrupt(`safetensors header is not valid JSON: ${(error as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw corrupt('safetensors header is not a JSON object');
  const keys = topLevelKeys(text);
  if (new Set(keys).size !== keys.length) throw corrupt('safetensors header has duplicate tensor names');
  const dataStart = 8 + headerBytes;
  const dataSize = fileSize - dataStart;
  const metadata = new Map<string, string>();
  const entries: SafetensorsEntry[] = [];
  for (const name of keys) {
    const info = (parsed as Record<string, unknown>)[name];
    if (name === '__metadata__') {
      if (info === null || typeof info !== 'object') throw corrupt('safetensors __metadata__ is not an object');
      for (const [k, v] of Object.entries(info)) {
        if (typeof v !== 'string') throw corrupt(`safetensors metadata '${k}' is not a string`);
        metadata.set(k, v);
      }
      continue;
    }
    if (info === null || typeof info !== 'object') throw corrupt(`safetensors entry '${name}' is not an object`);
    const { dtype: code, shape, data_offsets: offsets } = info as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof code !== 'string') throw corrupt(`safetensors entry '${name}' has no dtype`);
    const dtype = SAFETENSORS_DTYPES[code];
    if (!dtype) {
      if (/^(F8_|U16|U32|U64|C64|F4|F6)/.test(code)) throw new OnestepError(ErrorCode.CheckpointUnsupported, `safetensors dtype ${code} (tensor '${name}') is not supported yet`);
      throw corrupt(`safetensors entry '${name}' has an unknown dtype '${code}'`);
    }
    if (!Array.isArray(shape) || shape.length > 64 || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw corrupt(`safetensors entry '${name}' has a malformed shape`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw corrupt(`safetensors entry '${name}' has malformed data_offsets`);
    }
    const [begin, end] = offsets as [number, number];
    const numel = (shape as number[]).reduce((a, b) => a * b, 1);
    if (end < begin || end > dataSize || end - begin !== numel * ELEMENT_SIZE[dtype]) {
      throw corrupt(`safetensors entry '${name}': data_offsets [${begin}, ${end}] do not match its shape and dtype or lie outside the data (${dataSize} bytes)`);
    }
    entries.push({ name, dtype, shape: shape as number[], offset: dataStart + begin, nbytes: end - begin });
  }
  const sorted = [...entries].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.offset < sorted[i - 1]!.offset + sorted[i - 1]!.nbytes) {
      throw corrupt(`safetensors entries '${sorted[i - 1]!.name}' and '${sorted[i]!.name}' overlap`);
    }
  }
  return { entries, metadata };
}

/** The header bytes for tensors laid out in order, padded with spaces to a multiple of 8. */
export function buildHeader(tensors: { name: string; dtype: DType; shape: readonly number[]; nbytes: number }[], metadata?: Record<string, string>): Uint8Array {
  // Written field by field: a tensor named '__proto__' must stay an ordinary key.
  const fields: string[] = [];
  if (metadata) fields.push(`"__metadata__":${JSON.stringify(metadata)}`);
  let offset = 0;
  for (const t of tensors) {
    fields.push(`${JSON.stringify(t.name)}:${JSON.stringify({ dtype: SAFETENSORS_CODES[t.dtype], shape: t.shape, data_offsets: [offset, offset + t.nbytes] })}`);
    offset += t.nbytes;
  }
  let text = `{${fields.join(',')}}`;
  text += ' '.repeat((8 - ((Buffer.byteLength(text) + 8) % 8)) % 8);
  return new TextEncoder().encode(text);
}

/**
 * saveStateDict: `.safetensors`, or `.pt`/`.pth` in the torch.save zip format that
 * `torch.load(path, weights_only=True)` reads (PyTorch 1.13 and 2.x). Each tensor is written as
 * a contiguous copy, one at a time (never the whole dict in host memory at once), into a
 * temporary file that is renamed into place: a crash never leaves a half-written checkpoint.
 */
import { open, rename, rm } from 'node:fs/promises';
import { basename } from 'node:path';
import { typeError, valueError } from '../errors.js';
import { Tensor } from '../tensor.js';
import { stateDictPickle } from './pickle-writer.js';
import { buildHeader } from './safetensors.js';
import { AlignedZipWriter } from './zip-writer.js';
import { ELEMENT_SIZE } from './materialize.js';

export interface SaveOptions {
  /** safetensors only: string metadata stored in the header. */
  metadata?: Record<string, string>;
}

function checkStateDict(stateDict: unknown): [string, Tensor][] {
  const entries: [string, Tensor][] = stateDict instanceof Map ? [...stateDict.entries()]
    : stateDict !== null && typeof stateDict === 'object' ? Object.entries(stateDict) : [];
  if (!(stateDict instanceof Map) && (stateDict === null || typeof stateDict !== 'object')) {
    throw typeError('saveStateDict needs a Map (or object) of name → Tensor');
  }
  for (const [name, t] of entries) {
    if (typeof name !== 'string' || name.length === 0) throw typeError('state dict names must be non-empty strings');
    if (!(t instanceof Tensor)) throw typeError(`state dict entry '${name}' is not a Tensor`);
    if (t.isDisposed) throw valueError(`state dict entry '${name}' was disposed`);
  }
  return entries;
}

async function atomically(path: string, write: (file: Awaited<ReturnType<typeof open>>) => Promise<void>): Promise<void> {
  const temporary = `${path}.tmp-${process.pid}-${Date.now()}`;
  const file = await open(temporary, 'w');
  try {
    await write(file);
    await file.sync();
    await file.close();
    await rename(temporary, path);
  } catch (error) {
    await file.close().catch(() => {});
    await rm(temporary, { force: true });
    throw error;
  }
}

export async function saveStateDict(stateDict: Map<string, Tensor> | Record<string, Tensor>, path: string, options: SaveOptions = {}): Promise<void> {
  if (typeof path !== 'string' || path.length === 0) throw typeError('path must be a non-empty string');
  const entries = checkStateDict(stateDict);
  if (path.endsWith('.safetensors')) {
    const header = buildHeader(entries.map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape, nbytes: t.numel * ELEMENT_SIZE[t.dtype] })), options.metadata);
    await atomically(path, async (file) => {
      const length = Buffer.alloc(8);
      length.writeBigUInt64LE(BigInt(header.length));
      await file.write(length, 0, 8, 0);
      await file.write(header, 0, header.length, 8);
      let offset = 8 + header.length;
      for (const [, t] of entries) {
        const bytes = await t.toBytes();
        await file.write(bytes, 0, bytes.length, offset);
        offset += bytes.length;
      }
    });
    return;
  }
  if (path.endsWith('.pt') || path.endsWith('.pth') || path.endsWith('.bin')) {
    if (options.metadata) throw valueError('metadata is stored in .safetensors files only');
    // PyTorch names the archive folder after the file; any name reads back.
    const folder = basename(path).replace(/\.[^.]*$/, '').replace(/[^A-Za-z0-9_.-]/g, '_') || 'archive';
    await atomically(path, async (file) => {
      const zip = new AlignedZipWriter(file);
      const tensors = entries.map(([name, t], i) => ({ name, key: String(i), dtype: t.dtype, shape: t.shape }));
      await zip.add(`${folder}/data.pkl`, stateDictPickle(tensors));
      await zip.add(`${folder}/byteorder`, new TextEncoder().encode('little'));
      for (const [i, [, t]] of entries.entries()) await zip.add(`${folder}/data/${i}`, await t.toBytes());
      await zip.add(`${folder}/version`, new TextEncoder().encode('3\n'));
      await zip.finish();
    });
    return;
  }
  throw valueError(`saveStateDict writes .safetensors or .pt/.pth files; got '${path}'`);
}

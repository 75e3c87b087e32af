/**
 * Training checkpoints shared by the trainers: one safetensors file holding every network's
 * weights and the trainer's native state under prefixes (`net.`, `ema.`, `trainer.`, …) with the
 * run's metadata as JSON. saveStateDict writes it atomically (temporary file, then rename).
 */
import { ErrorCode, OnestepError } from '../errors.js';
import type { NativeHandle } from '../native-types.js';
import { Tensor, type Device } from '../tensor.js';
import { loadStateDict } from '../checkpoint/load.js';
import type { WithStateDict } from '../checkpoint/load-into.js';
import { saveStateDict } from '../checkpoint/save.js';

export type CheckpointPart = WithStateDict | [string, NativeHandle][];

export async function saveTrainingCheckpoint(path: string, parts: Record<string, CheckpointPart>, meta: { format: string } & Record<string, unknown>): Promise<void> {
  const tensors = new Map<string, Tensor>();
  const owned: Tensor[] = [];
  try {
    for (const [prefix, part] of Object.entries(parts)) {
      const entries: [string, Tensor][] = Array.isArray(part) ? part.map(([name, handle]) => [name, new Tensor(handle)]) : [...part.stateDict()];
      for (const [name, t] of entries) {
        owned.push(t);
        tensors.set(`${prefix}.${name}`, t);
      }
    }
    await saveStateDict(tensors, path, { metadata: { onestep: JSON.stringify(meta) } });
  } finally {
    for (const t of owned) t.dispose();
  }
}

export interface LoadedCheckpoint<Meta> {
  meta: Meta;
  /** The tensors under `prefix.`, with the prefix removed. */
  part(prefix: string): Map<string, Tensor>;
  dispose(): void;
}

export async function loadTrainingCheckpoint<Meta extends { format: string }>(path: string, format: string, what: string, device: Device): Promise<LoadedCheckpoint<Meta>> {
  const sd = await loadStateDict(path, { device });
  let meta: Meta | undefined;
  try {
    const raw = sd.metadata.get('onestep');
    meta = raw ? JSON.parse(raw) as Meta : undefined;
  } catch {
    meta = undefined;
  }
  if (!meta || meta.format !== format) {
    sd.dispose();
    throw new OnestepError(ErrorCode.CheckpointUnsupported, `${path} is not a ${what} checkpoint written by onestep (expected format ${format})`);
  }
  return {
    meta,
    part: (prefix) => new Map([...sd].filter(([k]) => k.startsWith(`${prefix}.`)).map(([k, v]) => [k.slice(prefix.length + 1), v] as [string, Tensor])),
    dispose: () => sd.dispose(),
  };
}

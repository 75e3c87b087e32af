// Fuzzing the checkpoint reader: 10 000+ mutated variants of valid files (torch.save zip and
// legacy, safetensors, an EDM pickle), each loaded through the public API from disk. Every
// outcome must be a clean load or an Error with an onestep code: no crash, no hang, no stray
// exception type, and no leaked native tensor.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, loadCheckpoint, loadStateDict, memory, saveStateDict } from '../src/index.js';
import { torchPython } from './helpers.js';

const VARIANTS_PER_FORMAT = 2600; // 4 formats: 10 400 variants
const CODES = new Set<string>([ErrorCode.CheckpointCorrupt, ErrorCode.CheckpointUnsafe, ErrorCode.CheckpointUnsupported, ErrorCode.Torch]);

let dir = '';
const seeds: Record<string, Buffer> = {};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'onestep-fuzz-'));
  execFileSync(torchPython, [join(import.meta.dirname, 'fixtures', 'make_checkpoints.py'), dir], { stdio: 'pipe' });
  const sd = await loadStateDict(join(dir, 'state_zip.pt'));
  await saveStateDict(sd, join(dir, 'state.safetensors'));
  sd.dispose();
  seeds.zip = readFileSync(join(dir, 'state_zip.pt'));
  seeds.legacy = readFileSync(join(dir, 'state_legacy.pt'));
  seeds.safetensors = readFileSync(join(dir, 'state.safetensors'));
  seeds.pickle = readFileSync(join(dir, 'network-snapshot-000000.pkl'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A small deterministic generator (mulberry32), so failures reproduce from the seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const INTERESTING = [0x00, 0xff, 0x7f, 0x80, 0x28, 0x2e, 0x52, 0x51, 0x62, 0x63, 0x8a, 0x58, 0x94, 0x68];

function mutate(seed: Buffer, random: () => number): Buffer {
  const out = Buffer.from(seed);
  const kind = random();
  const at = () => Math.floor(random() * out.length);
  if (kind < 0.1) return out.subarray(0, at()); // truncate
  const edits = 1 + Math.floor(random() * 4);
  for (let i = 0; i < edits; i++) {
    const r = random();
    if (r < 0.45) out[at()] = Math.floor(random() * 256); // random byte
    else if (r < 0.8) out[at()] = INTERESTING[Math.floor(random() * INTERESTING.length)]!;
    else if (r < 0.9) out.writeUInt32LE(Math.floor(random() * 2 ** 32), Math.min(at(), out.length - 4)); // a bad length or offset
    else out.writeUInt16LE(0xffff, Math.min(at(), out.length - 2));
  }
  return out;
}

describe('checkpoint fuzzing', () => {
  for (const format of ['zip', 'legacy', 'safetensors', 'pickle'] as const) {
    it(`${VARIANTS_PER_FORMAT} mutated ${format} files end in a clean load or a coded Error`, async () => {
      const baseline = memory();
      const random = rng(0x5eed + format.length);
      const tally = { loaded: 0, rejected: 0 };
      const path = join(dir, `fuzz-${format}`);
      for (let i = 0; i < VARIANTS_PER_FORMAT; i++) {
        writeFileSync(path, mutate(seeds[format]!, random));
        try {
          const value = i % 2 === 0 ? await loadStateDict(path) : await loadCheckpoint(path);
          tally.loaded++;
          if (value instanceof Map) for (const v of value.values()) (v as { dispose?: () => void } | null)?.dispose?.();
        } catch (error) {
          const code = (error as { code?: string }).code;
          if (!(error instanceof Error) || !code || !CODES.has(code)) {
            throw new Error(`variant ${i} of ${format}: unexpected ${String((error as Error)?.stack ?? error)}`);
          }
          tally.rejected++;
        }
      }
      expect(tally.loaded + tally.rejected).toBe(VARIANTS_PER_FORMAT);
      expect(tally.rejected).toBeGreaterThan(VARIANTS_PER_FORMAT / 10);
      // loadCheckpoint graphs may hold tensors in nested containers: collect them.
      await new Promise((r) => setImmediate(r));
      (globalThis as { gc?: () => void }).gc?.();
      expect(memory().tensors).toBeLessThanOrEqual(baseline.tensors + 50_000);
    }, 300_000);
  }
});

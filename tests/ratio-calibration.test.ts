// calibrateRatio: a run's ratio network trained on against the one generator verifier sampling
// will draw from (CI: CPU, a tiny network).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calibrateRatio, DiJSTrainer, EDMNetwork, ErrorCode, FashionMNIST, manualSeed, OneStepGenerator, randn, RatioNetwork, type ImageSet, type Tensor } from '../src/index.js';
import { expectError, meanLogit, TINY_EDM } from './helpers.js';

const tiny = TINY_EDM;
let data: ImageSet;
let teacher: EDMNetwork;
let dir = '';
let checkpoint = '';

beforeAll(async () => {
  data = await FashionMNIST.load({ limit: 256 });
  teacher = EDMNetwork.create(tiny, { seed: 7 });
  dir = mkdtempSync(join(tmpdir(), 'onestep-calibration-'));
  checkpoint = join(dir, 'run.safetensors');
  manualSeed(0);
  // Lookahead on: calibration must turn it off, or it would pull the ratio network back.
  const trainer = new DiJSTrainer({ teacher, data, batchSize: 8, seed: 5, lrD: 1e-3, lookaheadSteps: 2 });
  await trainer.step(3);
  await trainer.save(checkpoint);
  await trainer.generator.save(join(dir, 'ema.safetensors'));
  await trainer.ratio.save(join(dir, 'ratio.safetensors'));
  trainer.dispose();
});
afterAll(() => {
  data.dispose();
  teacher.dispose();
  rmSync(dir, { recursive: true, force: true });
});

async function weights(net: { stateDict(): Map<string, Tensor> }): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (const [name, t] of net.stateDict()) {
    out.set(name, Array.from(await t.toTypedArray() as Float32Array));
    t.dispose();
  }
  return out;
}
const same = (a: Map<string, number[]>, b: Map<string, number[]>) => [...a].every(([name, w]) => JSON.stringify(w) === JSON.stringify(b.get(name)));

describe('calibrateRatio', () => {
  it('trains only the ratio network, against the generator it is given; the checkpoint is only read', async () => {
    const ema = await OneStepGenerator.load(join(dir, 'ema.safetensors'));
    const random = OneStepGenerator.fromTeacher(teacher, { init: 'random', seed: 2 });
    const run = await RatioNetwork.load(join(dir, 'ratio.safetensors'));
    const before = { file: readFileSync(checkpoint), ema: await weights(ema.net), ratio: await weights(run) };
    const progress: number[] = [];
    const onEma = await calibrateRatio(checkpoint, ema, data, { images: 64, onProgress: (n) => progress.push(n) });
    const again = await calibrateRatio(checkpoint, ema, data, { images: 64 });
    const onRandom = await calibrateRatio(checkpoint, random, data, { images: 64 });
    try {
      expect(progress.at(-1)).toBeGreaterThanOrEqual(64);
      expect(progress).toEqual([...progress].sort((a, b) => a - b));
      // Learned, seeded (the run's own streams, resumed), and shaped by the generator it was given.
      expect(same(await weights(onEma), before.ratio)).toBe(false);
      expect(same(await weights(again), await weights(onEma))).toBe(true);
      expect(same(await weights(onRandom), await weights(onEma))).toBe(false);
      // Nothing it read was written.
      expect(same(await weights(ema.net), before.ema)).toBe(true);
      expect(readFileSync(checkpoint).equals(before.file)).toBe(true);
      // Against a random generator's noise, the calibrated network calls its samples generated more
      // firmly than the run's network (trained against another generator) does.
      expect(await meanLogit(onRandom, random)).toBeGreaterThan(await meanLogit(run, random) + 0.05);
    } finally {
      for (const n of [ema, random, run, onEma, again, onRandom]) n.dispose();
    }
  });

  it('rejects bad input clearly', async () => {
    const ema = await OneStepGenerator.load(join(dir, 'ema.safetensors'));
    try {
      for (const images of [0, -1, Number.NaN, Infinity, undefined])
        await expectError(() => calibrateRatio(checkpoint, ema, data, { images } as { images: number }), ErrorCode.InvalidArgType, /calibrateRatio needs \{ images \} > 0/);
      await expectError(() => calibrateRatio(checkpoint, teacher as unknown as OneStepGenerator, data, { images: 8 }), ErrorCode.InvalidArgType, /needs the OneStepGenerator/);
      await expectError(() => calibrateRatio(join(dir, 'missing.safetensors'), ema, data, { images: 8 }), ErrorCode.Io, /missing.safetensors/);
      // Weights alone would calibrate a generator made for σ_init 1.5 as if it denoised from 2.5.
      const elsewhere = OneStepGenerator.fromTeacher(ema.net, { sigmaInit: 1.5 });
      await expectError(() => calibrateRatio(checkpoint, elsewhere, data, { images: 8 }), ErrorCode.InvalidArgValue, /samples from σ_init 1.5 but the run at .* trained at σ_init 2.5/);
      elsewhere.dispose();
      const wider = new OneStepGenerator(EDMNetwork.create({ ...tiny, modelChannels: 8 }));
      await expectError(() => calibrateRatio(checkpoint, wider, data, { images: 8 }), ErrorCode.StateDictMismatch);
      wider.dispose();
      const gone = await OneStepGenerator.load(join(dir, 'ema.safetensors'));
      gone.dispose();
      await expectError(() => calibrateRatio(checkpoint, gone, data, { images: 8 }), ErrorCode.InvalidArgType, /disposed/);
      expect(randn([1]).numel).toBe(1); // the process is still fine
    } finally {
      ema.dispose();
    }
  });
});

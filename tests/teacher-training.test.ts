// The fused teacher step on a tiny network and a slice of Fashion-MNIST (CI: CPU).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { EDMNetwork, ErrorCode, FashionMNIST, manualSeed, memory, TeacherTrainer, type ImageSet } from '../src/index.js';
import { expectError, forceGc, maxWeightDifference, TINY_EDM } from './helpers.js';

const tiny = TINY_EDM;
let data: ImageSet;
let dir = '';
beforeAll(async () => {
  data = await FashionMNIST.load({ limit: 1024 });
  dir = mkdtempSync(join(tmpdir(), 'onestep-teacher-'));
});
afterAll(() => {
  data.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('Fashion-MNIST', () => {
  it('loads padded 32×32 images in [−1, 1] with labels 0–9', async () => {
    const test = await FashionMNIST.load({ split: 'test' });
    expect(test.images.shape).toEqual([10_000, 1, 32, 32]);
    expect(test.labels.shape).toEqual([10_000]);
    expect(test.images.min().item()).toBe(-1);
    expect(test.images.max().item()).toBe(1);
    // The 2-pixel border is background.
    expect(test.images.slice(2, 0, 2).max().item()).toBe(-1);
    const counts = await test.labels.toTypedArray();
    expect(new Set(Array.from(counts as BigInt64Array, Number))).toEqual(new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
    test.dispose();
  });

  it('says what is missing', async () => {
    await expectError(() => FashionMNIST.load({ dir: join(dir, 'nowhere') }), ErrorCode.Io, /dataset-fashion-mnist/);
    await expectError(() => FashionMNIST.load({ split: 'val' as 'test' }), ErrorCode.InvalidArgType, /split/);
    for (const offset of [-10_001, 1.5, 10_000]) await expectError(() => FashionMNIST.load({ split: 'test', offset }), ErrorCode.InvalidArgType, /offset must be an integer from -10000 to 9999/);
  });

  it('starts at an offset: the images and labels of a whole load, from there on', async () => {
    const whole = await FashionMNIST.load({ split: 'test', limit: 30 });
    const part = await FashionMNIST.load({ split: 'test', offset: 20, limit: 10 });
    expect(part.images.shape).toEqual([10, 1, 32, 32]); // the limit counts after the offset
    const tail = await FashionMNIST.load({ split: 'test', offset: 9_990, limit: 100 });
    expect(tail.labels.shape).toEqual([10]); // … and ends with the split
    const fromEnd = await FashionMNIST.load({ split: 'test', offset: -10 }); // negative: from the end
    expect(fromEnd.images.sub(tail.images).abs().max().item()).toBe(0);
    fromEnd.dispose();
    expect(part.images.sub(whole.images.slice(0, 20, 30)).abs().max().item()).toBe(0);
    expect(Array.from(await part.labels.toTypedArray() as BigInt64Array)).toEqual(Array.from(await whole.labels.slice(0, 20, 30).toTypedArray() as BigInt64Array));
    for (const set of [whole, part, tail]) set.dispose();
  });
});

describe('teacher training', () => {
  it('lowers the EDM loss, warms the learning rate up, and leaks nothing', async () => {
    await forceGc(); // temporaries of earlier tests must not be collected during this one
    const baseline = memory();
    manualSeed(0);
    const trainer = TeacherTrainer.create({ net: tiny, data, seed: 1, batchSize: 32, lr: 1e-3, warmupImages: 640 });
    const first = await trainer.step(4);
    expect(first.lr).toBeCloseTo(1e-3 * 128 / 640, 12);
    let last = first;
    for (let i = 0; i < 4; i++) last = await trainer.step(4);
    expect(last.imagesSeen).toBe(32 * 20);
    expect(last.lr).toBe(1e-3);
    expect(last.loss).toBeLessThan(first.loss * 0.8);
    trainer.dispose();
    expect(memory()).toEqual(baseline);
  });

  it('decays the learning rate as 1/√t after lrDecayImages (EDM2), and rejects a negative one', async () => {
    const trainer = TeacherTrainer.create({ net: tiny, data, seed: 1, batchSize: 32, lr: 1e-3, warmupImages: 32, lrDecayImages: 64 });
    expect((await trainer.step(2)).lr).toBe(1e-3); // 64 images: decay not started yet
    expect((await trainer.step(2)).lr).toBeCloseTo(1e-3 * Math.sqrt(64 / 128), 15);
    expect((await trainer.step(12)).lr).toBeCloseTo(1e-3 * Math.sqrt(64 / 512), 15);
    trainer.dispose();
    expect(() => TeacherTrainer.create({ net: tiny, data, lrDecayImages: -1 })).toThrow(/lrDecayImages/);
  });

  it('resumes exactly from a checkpoint: the same losses, bit for bit', async () => {
    manualSeed(0);
    const trainer = TeacherTrainer.create({ net: tiny, data, seed: 2, batchSize: 16 });
    await trainer.step(3);
    await trainer.save(join(dir, 'run.safetensors'));
    const continued = [(await trainer.step(2)).loss, (await trainer.step(2)).loss];
    const resumed = await TeacherTrainer.resume(join(dir, 'run.safetensors'), data);
    expect(resumed.imagesSeen).toBe(48);
    expect([(await resumed.step(2)).loss, (await resumed.step(2)).loss]).toEqual(continued);
    trainer.dispose();
    resumed.dispose();
    // Another data set: refused by name (the saved data order indexes 1 024 images).
    const fewer = await FashionMNIST.load({ limit: 100 });
    await expectError(() => TeacherTrainer.resume(join(dir, 'run.safetensors'), fewer), ErrorCode.InvalidArgValue, /drew its batches from 1024 images; the data set given has 100/);
    fewer.dispose();
  });

  it('keeps extra EMAs beside the main one, updated in the step and carried through save and resume', async () => {
    manualSeed(0);
    const plain = TeacherTrainer.create({ net: tiny, data, seed: 3, batchSize: 16, lr: 1e-3, warmupImages: 16, emaRampupRatio: 0, emaHalfLifeImages: 64 });
    const plainLoss = (await plain.step(3)).loss;
    plain.dispose();
    manualSeed(0);
    // The main EMA's half-life (the same arithmetic) and one far below a batch (it follows the net).
    const trainer = TeacherTrainer.create({ net: tiny, data, seed: 3, batchSize: 16, lr: 1e-3, warmupImages: 16, emaRampupRatio: 0, emaHalfLifeImages: 64, extraEmaHalfLives: [64, 1e-9] });
    expect((await trainer.step(3)).loss).toBe(plainLoss); // the extra EMAs do not change the run
    expect(maxWeightDifference(trainer.ema, trainer.net)).toBeGreaterThan(1e-5);
    expect(maxWeightDifference(trainer.extraEmas[0]!, trainer.ema)).toBe(0);
    expect(maxWeightDifference(trainer.extraEmas[1]!, trainer.net)).toBe(0);
    await trainer.save(join(dir, 'extra-ema.safetensors'));
    await trainer.step(2);
    const resumed = await TeacherTrainer.resume(join(dir, 'extra-ema.safetensors'), data);
    expect(resumed.options.extraEmaHalfLives).toEqual([64, 1e-9]);
    await resumed.step(2);
    expect(maxWeightDifference(resumed.extraEmas[0]!, trainer.extraEmas[0]!)).toBe(0);
    expect(maxWeightDifference(resumed.extraEmas[1]!, trainer.net)).toBe(0);
    trainer.dispose();
    resumed.dispose();
    await expectError(() => TeacherTrainer.create({ net: tiny, data, extraEmaHalfLives: [-5] }), ErrorCode.InvalidArgValue, /positive, finite/);
    // What a failed construction built is freed at once, not left to a GC (networks' weights are
    // not in memory()'s tensor count: the disposals are counted instead).
    const disposals = vi.spyOn(EDMNetwork.prototype, 'dispose');
    try {
      await expectError(() => TeacherTrainer.create({ net: tiny, data, batchSize: 5000, extraEmaHalfLives: [1e5] }), ErrorCode.InvalidArgValue, /batchSize/);
      expect(disposals).toHaveBeenCalledTimes(3); // the network, its EMA, the extra EMA
    } finally {
      disposals.mockRestore();
    }
  }, 60_000);

  it('trains under bf16 autocast with losses close to float32 ones', async () => {
    const losses: number[] = [];
    for (const bf16 of [false, true]) {
      manualSeed(5);
      const trainer = TeacherTrainer.create({ net: tiny, data, seed: 5, batchSize: 16, bf16 });
      losses.push((await trainer.step(2)).loss);
      trainer.dispose();
    }
    expect(Number.isFinite(losses[1])).toBe(true);
    expect(Math.abs(losses[1]! - losses[0]!) / losses[0]!).toBeLessThan(0.05);
  });

  it('rejects bad settings clearly', async () => {
    await expectError(() => TeacherTrainer.create({ net: tiny, data, batchSize: 5000 }), ErrorCode.InvalidArgValue, /batchSize/);
    await expectError(() => TeacherTrainer.create({ net: tiny, data: {} as ImageSet }), ErrorCode.InvalidArgType, /needs \{ data \}/);
    await expectError(() => TeacherTrainer.resume(join(dir, 'nope.safetensors'), data), ErrorCode.Io);
  });
});

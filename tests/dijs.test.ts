// The ratio network, the one-step generator and the fused DiJS step on a tiny network and a slice
// of Fashion-MNIST (CI: CPU).
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  Classifier, DeadRatioWatch, DiJSTrainer, EDMNetwork, ErrorCode, FashionMNIST, loadInto, loadStateDict, manualSeed, memory, oneHotLabels, OneStepGenerator, randn, RatioNetwork, ratioOverfit, saveStateDict, tensor, trainSession, TeacherTrainer, translateImages, cutoutImages, flipImages,
  type DiJSOptions, type DiJSStats, type EDMConfig, type ImageSet, type Precision, type Tensor,
} from '../src/index.js';
import { expectAdaptiveP, expectError, forceGc, maxWeightDifference, TINY_EDM } from './helpers.js';

// With dropout: the generator and the ratio network must each turn it off (or keep it) as documented.
const tiny: EDMConfig = { ...TINY_EDM, dropout: 0.1 };
let data: ImageSet;
let teacher: EDMNetwork;
let dir = '';

beforeAll(async () => {
  data = await FashionMNIST.load({ limit: 512 });
  teacher = EDMNetwork.create(tiny, { seed: 7 });
  // A teacher whose decoder output is not ~0 (EDM's init scales the last conv by 1e-5). Seeded: the
  // global stream's state here depends on which test files ran before in this worker.
  manualSeed(7);
  loadInto(teacher, new Map([['model.dec.32x32_aux_conv.weight', randn([1, 16, 3, 3]).mul(0.05)]]), { strict: false });
  dir = mkdtempSync(join(tmpdir(), 'onestep-dijs-'));
});
afterAll(() => {
  data.dispose();
  teacher.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const labelsOf = (n: number) => tensor(Array.from({ length: n }, (_, i) => Array.from({ length: 10 }, (_, c) => (c === i % 10 ? 1 : 0))));
async function equal(a: Tensor, b: Tensor): Promise<boolean> {
  return a.sub(b).abs().max().item() === 0;
}
async function weights(net: { stateDict(): Map<string, Tensor> }): Promise<Map<string, Float32Array>> {
  const sd = net.stateDict();
  const out = new Map<string, Float32Array>();
  for (const [name, t] of sd) out.set(name, (await t.toTypedArray()).slice() as Float32Array);
  for (const t of sd.values()) t.dispose();
  return out;
}
/** Whether two weight maps hold bit-identical values (for `names`, default all of a's). A boolean,
 * not toEqual on the maps: a failing comparison would print every weight. */
function same(a: Map<string, Float32Array>, b: Map<string, Float32Array>, names = [...a.keys()]): boolean {
  return names.every((name) => a.get(name)!.length === b.get(name)?.length && a.get(name)!.every((v, i) => v === b.get(name)![i]));
}
/** Two seeded calls (1 and 2 iterations) of a new trainer on 8 images: their stats, and whether the generator moved. */
async function twoSeededSteps(options: DiJSOptions): Promise<{ stats: DiJSStats[]; moved: boolean }> {
  manualSeed(5);
  const trainer = new DiJSTrainer({ teacher, data, batchSize: 8, seed: 5, ...options });
  const before = await weights(trainer.onlineGenerator.net);
  const stats = [await trainer.step(1), await trainer.step(2)];
  const after = await weights(trainer.onlineGenerator.net);
  trainer.dispose();
  return { stats, moved: [...before].some(([name, v]) => v.some((value, i) => value !== after.get(name)![i])) };
}

describe('RatioNetwork', () => {
  it('is the teacher\'s mapping network and encoder (copied) plus a head; no decoder', async () => {
    const ratio = RatioNetwork.fromTeacher(teacher);
    const own = ratio.stateDict();
    const names = [...own.keys()];
    expect(names.some((n) => n.startsWith('model.dec.'))).toBe(false);
    expect(names).toContain('head_norm.weight');
    expect(names).toContain('head_out.weight');
    const t = teacher.stateDict();
    for (const name of names.filter((n) => n.startsWith('model.'))) expect(await equal(own.get(name)!, t.get(name)!), name).toBe(true);
    for (const x of [...own.values(), ...t.values()]) x.dispose();
    const d = await ratio.logit(randn([6, 1, 32, 32]), 0.5, { classLabels: labelsOf(6) });
    expect(d.shape).toEqual([6]);
    ratio.dispose();
  });

  it('has 2.09 M parameters for fmnist32 (the method: about 2.1 M)', () => {
    const big = EDMNetwork.create('fmnist32', { seed: 0 });
    const ratio = RatioNetwork.fromTeacher(big);
    expect(ratio.parameterCount).toBe(2_086_465);
    ratio.dispose();
    big.dispose();
  });

  it('rejects bad input clearly', async () => {
    const ratio = RatioNetwork.fromTeacher(teacher, { head: { hidden: 32 } });
    await expectError(() => ratio.logit(randn([2, 1, 32, 32]), 0.5), ErrorCode.InvalidArgType, /class-conditional/);
    await expectError(() => ratio.logit(randn([2, 32, 32]), 0.5, { classLabels: labelsOf(2) }), ErrorCode.InvalidArgValue, /\[N, C, H, W\]/);
    await expectError(() => ratio.logit(randn([2, 1, 32, 32]), randn([3]), { classLabels: labelsOf(2) }), ErrorCode.InvalidArgValue, /sigma/);
    await expectError(() => RatioNetwork.fromTeacher(teacher, { head: { hidden: -1 } }), ErrorCode.InvalidArgType, /hidden/);
    ratio.dispose();
    await expectError(() => ratio.logit(randn([2, 1, 32, 32]), 0.5, { classLabels: labelsOf(2) }), ErrorCode.InvalidArgType, /disposed/);
  });

  it('takes a dropout rate for its encoder (0 from a teacher unless asked), kept by save and load', async () => {
    expect(RatioNetwork.fromTeacher(teacher).config.dropout).toBe(0);
    const ratio = RatioNetwork.fromTeacher(teacher, { dropout: 0.2 });
    expect(ratio.config.dropout).toBe(0.2);
    await ratio.save(join(dir, 'ratio-dropout.safetensors'));
    const back = await RatioNetwork.load(join(dir, 'ratio-dropout.safetensors'));
    expect(back.config.dropout).toBe(0.2);
    ratio.dispose();
    back.dispose();
    await expectError(() => RatioNetwork.fromTeacher(teacher, { dropout: 1 }), ErrorCode.InvalidArgValue, /dropout must be in \[0, 1\)/);
  });

  it('saves and loads its weights, config and head', async () => {
    const ratio = RatioNetwork.fromTeacher(teacher, { head: { hidden: 8 }, seed: 3 });
    await ratio.save(join(dir, 'ratio.safetensors'));
    const back = await RatioNetwork.load(join(dir, 'ratio.safetensors'));
    expect(back.head).toEqual({ hidden: 8, pool: 'features' });
    const x = randn([3, 1, 32, 32]);
    expect(await equal(await ratio.logit(x, 1, { classLabels: labelsOf(3) }), await back.logit(x, 1, { classLabels: labelsOf(3) }))).toBe(true);
    ratio.dispose();
    back.dispose();
  });
});

describe('ratioOverfit', () => {
  it('compares the mean logit on noised training and test images, with paired noise drawn from its own seed', async () => {
    const ratio = await RatioNetwork.fromTeacher(teacher);
    const test = await FashionMNIST.load({ split: 'test', limit: 40 });
    const sigma = { pMean: -1.2, pStd: 1.2 };
    try {
      const first = await ratioOverfit(ratio, data, test, { n: 24, sigma, batch: 10 });
      expect(Number.isFinite(first.train) && Number.isFinite(first.test)).toBe(true);
      expect(first.train).not.toBe(first.test);
      // The same seed gives the same figures, whatever the global random stream did meanwhile and
      // whatever the batch (up to float32 summation order).
      randn([100]).dispose();
      expect(await ratioOverfit(ratio, data, test, { n: 24, sigma, batch: 10 })).toEqual(first);
      const rebatched = await ratioOverfit(ratio, data, test, { n: 24, sigma, batch: 7 });
      expect(rebatched.train).toBeCloseTo(first.train, 6);
      expect(rebatched.test).toBeCloseTo(first.test, 6);
      expect(await ratioOverfit(ratio, data, test, { n: 24, sigma, seed: 1 })).not.toEqual(first);
      // The same images on both sides: the same logits, exactly (the noise is paired).
      const same = await ratioOverfit(ratio, test, test, { n: 24, sigma });
      expect(same.train).toBe(same.test);
      await expectError(() => ratioOverfit(ratio, data, test, { n: 41, sigma }), ErrorCode.InvalidArgType, /n must be from 1 to the size of both sets/);
    } finally {
      ratio.dispose();
      test.dispose();
    }
  });
});

describe('OneStepGenerator', () => {
  it('is g(z, c) = D(σ_init·z; σ_init, c) with the teacher\'s weights', async () => {
    const gen = OneStepGenerator.fromTeacher(teacher, { sigmaInit: 2.5 });
    manualSeed(11);
    const z = randn([4, 1, 32, 32]);
    manualSeed(11);
    const x = await gen.sample({ n: 4, classLabels: [3, 1, 4, 1] });
    const want = await teacher.denoise(z.mul(2.5), 2.5, { classLabels: tensor([3, 1, 4, 1].map((c) => Array.from({ length: 10 }, (_, k) => (k === c ? 1 : 0)))) });
    expect(x.sub(want).abs().max().item()).toBeLessThan(1e-5);
    gen.dispose();
  });

  it('repeats with a seed, on any device the same latents', async () => {
    const gen = OneStepGenerator.fromTeacher(teacher);
    const a = await gen.sample({ n: 5, seed: 42 });
    const b = await gen.sample({ n: 5, seed: 42 });
    const c = await gen.sample({ n: 5, seed: 43 });
    expect(await equal(a, b)).toBe(true);
    expect(await equal(a, c)).toBe(false);
    gen.dispose();
  });

  it('samples in chunks (bounded memory) without changing the images', async () => {
    const gen = OneStepGenerator.fromTeacher(teacher);
    const many = await gen.sample({ n: 1030, seed: 8 });
    const few = await gen.sample({ n: 16, seed: 8 });
    expect(many.shape).toEqual([1030, 1, 32, 32]);
    expect(many.slice(0, 0, 16).sub(few).abs().max().item()).toBeLessThan(1e-6);
    expect(many.isfinite().all().item()).toBe(true);
    gen.dispose();
  });

  it('random init is the ablation: different weights from the teacher', async () => {
    const gen = OneStepGenerator.fromTeacher(teacher, { init: 'random', seed: 1 });
    const t = teacher.stateDict(), g = gen.net.stateDict();
    expect(await equal(t.get('model.enc.32x32_conv.weight')!, g.get('model.enc.32x32_conv.weight')!)).toBe(false);
    for (const x of [...t.values(), ...g.values()]) x.dispose();
    gen.dispose();
    await expectError(() => OneStepGenerator.fromTeacher(teacher, { init: 'zeros' as 'random' }), ErrorCode.InvalidArgType, /'teacher' or 'random'/);
  });

  it('verifier sampling keeps one of each group\'s k candidates', async () => {
    const gen = OneStepGenerator.fromTeacher(teacher);
    const ratio = RatioNetwork.fromTeacher(teacher, { seed: 2 });
    const k = 3, n = 4;
    const picked = await gen.sample({ n, seed: 9, candidates: k, ratio, classLabels: [0, 1, 2, 3] });
    // The same seed draws the same n·k latents first: the candidates themselves.
    const candidates = await gen.sample({ n: n * k, seed: 9, classLabels: [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3] });
    for (let i = 0; i < n; i++) {
      const distances = [0, 1, 2].map((j) => picked.select(0, i).sub(candidates.select(0, i * k + j)).abs().max().item() as number);
      expect(Math.min(...distances)).toBeLessThan(1e-6);
    }
    await expectError(() => gen.sample({ n: 2, candidates: 4 }), ErrorCode.InvalidArgType, /needs \{ ratio \}/);
    gen.dispose();
    ratio.dispose();
  });

  it('verifier sampling at temperature 0 keeps each group\'s arg-min of d; 1 is the default; others refused', async () => {
    const gen = OneStepGenerator.fromTeacher(teacher);
    const ratio = RatioNetwork.fromTeacher(teacher, { seed: 2 });
    const k = 4, n = 8, sigmaVerify = 1e-4;  // scored almost without noise, so d can be recomputed here
    const classes = Array.from({ length: n }, (_, i) => i % 10);
    const sample = (extra: object) => gen.sample({ n, seed: 9, candidates: k, ratio, classLabels: classes, sigmaVerify, ...extra });
    const candidates = await gen.sample({ n: n * k, seed: 9, classLabels: classes.flatMap((c) => Array(k).fill(c)) });
    const d = await (await ratio.logit(candidates, sigmaVerify, { classLabels: oneHotLabels(n * k, 10, classes.flatMap((c) => Array(k).fill(c)), 'cpu') })).toTypedArray();
    const argMin = await sample({ verifierTemperature: 0 });
    let checked = 0;
    for (let i = 0; i < n; i++) {
      const group = Array.from(d.slice(i * k, (i + 1) * k) as Float32Array);
      const sorted = [...group].sort((a, b) => a - b);
      if (sorted[1]! - sorted[0]! < 1e-3) continue;  // a near-tie the verifier's tiny noise may flip
      checked++;
      expect(argMin.select(0, i).sub(candidates.select(0, i * k + group.indexOf(sorted[0]!))).abs().max().item(), `group ${i}`).toBeLessThan(1e-6);
    }
    expect(checked).toBeGreaterThan(n / 2);
    expect(await equal(await sample({ verifierTemperature: 1 }), await sample({}))).toBe(true);
    for (const verifierTemperature of [-1, Number.NaN, Infinity, '1'])
      await expectError(() => sample({ verifierTemperature }), ErrorCode.InvalidArgValue, /verifierTemperature must be a finite number ≥ 0/);
    gen.dispose();
    ratio.dispose();
  });

  it('saves with EDM names and loads back; says what a plain network file lacks', async () => {
    const gen = OneStepGenerator.fromTeacher(teacher, { sigmaInit: 1.5 });
    await gen.save(join(dir, 'gen.safetensors'));
    const back = await OneStepGenerator.load(join(dir, 'gen.safetensors'));
    expect(back.sigmaInit).toBe(1.5);
    expect(back.config).toEqual({ ...tiny, dropout: 0 });
    expect(await equal(await gen.sample({ n: 2, seed: 1 }), await back.sample({ n: 2, seed: 1 }))).toBe(true);
    const names = [...back.net.stateDict().keys()];
    expect(names).toContain('model.enc.32x32_conv.weight');
    back.dispose();
    // A teacher export has no σ_init.
    const sd = teacher.stateDict();
    await (await import('../src/index.js')).saveStateDict(sd, join(dir, 'plain.safetensors'));
    await expectError(() => OneStepGenerator.load(join(dir, 'plain.safetensors')), ErrorCode.CheckpointUnsupported, /sigmaInit/);
    const asGen = await OneStepGenerator.load(join(dir, 'plain.safetensors'), { sigmaInit: 2.5 });
    asGen.dispose();
    await expectError(() => gen.sample({ n: 0 }), ErrorCode.InvalidArgType, /positive integer/);
    await expectError(() => gen.sample({ n: 2, classLabels: [0, 10] }), ErrorCode.InvalidArgType, /not in 0\.\.9/);
    gen.dispose();
  });
});

describe('the fused DiJS step', () => {
  it('moves the generator and the ratio network, never the teacher; finite statistics', async () => {
    const before = await weights(teacher);
    manualSeed(0);
    const trainer = new DiJSTrainer({ teacher, data, batchSize: 8, lrG: 1e-3, lrD: 1e-3, seed: 1 });
    const g0 = await weights(trainer.onlineGenerator.net), d0 = await weights(trainer.ratio), e0 = await weights(trainer.generator.net);
    const stats = await trainer.step(2);
    for (const v of Object.values(stats)) expect(Number.isFinite(v)).toBe(true);
    expect(stats.imagesSeen).toBe(16);
    expect(stats.lossRatio).toBeGreaterThan(0);
    expect(stats.ratioAccuracyReal).toBeGreaterThanOrEqual(0);
    expect(stats.ratioAccuracyReal).toBeLessThanOrEqual(1);
    const moved = (a: Map<string, Float32Array>, b: Map<string, Float32Array>, name: string) => a.get(name)!.some((v, i) => v !== b.get(name)![i]);
    const g1 = await weights(trainer.onlineGenerator.net), d1 = await weights(trainer.ratio), e1 = await weights(trainer.generator.net);
    expect(moved(g0, g1, 'model.enc.32x32_conv.weight')).toBe(true);
    expect(moved(g0, g1, 'model.dec.32x32_aux_conv.weight')).toBe(true);
    expect(moved(d0, d1, 'model.enc.32x32_conv.weight')).toBe(true);
    expect(moved(d0, d1, 'head_out.weight')).toBe(true);
    expect(moved(e0, e1, 'model.enc.32x32_conv.weight')).toBe(true);
    // The EMA trails the online weights.
    expect(moved(g1, e1, 'model.enc.32x32_conv.weight')).toBe(true);
    const after = await weights(teacher);
    for (const [name, v] of before) expect(after.get(name)!.every((x, i) => x === v[i]), name).toBe(true);
    trainer.dispose();
  });

  it('repeats exactly with the same seeds', async () => {
    const run = async () => {
      manualSeed(3);
      const trainer = new DiJSTrainer({ teacher, data, batchSize: 8, seed: 4 });
      const out = [await trainer.step(1), await trainer.step(2)];
      trainer.dispose();
      return out;
    };
    expect(await run()).toEqual(await run());
  });

  it('trains with every divergence, several ratio steps and clipping', async () => {
    for (const divergence of ['js', 'kl', 'fkl', 'hellinger'] as const) {
      manualSeed(1);
      const trainer = new DiJSTrainer({ teacher, data, batchSize: 8, divergence, ratioSteps: 2, clipG: 0.01, clipD: 0.01, weightPower: 1 });
      const stats = await trainer.step(1);
      expect(Number.isFinite(stats.lossGenerator), divergence).toBe(true);
      expect(stats.imagesSeen).toBe(8);
      trainer.dispose();
    }
  });

  it('decays both learning rates as 1/√t after lrDecayImages (EDM2)', async () => {
    // Two runs, the same draws; the third ratio update meets identical inputs and weights in both,
    // so with Adam's β1 = 0 its step differs only by the learning rate: √(8 / 16) of the plain one.
    const ratioStep = async (lrDecayImages: number) => {
      manualSeed(7);
      const trainer = new DiJSTrainer({ teacher, data, batchSize: 8, seed: 7, lrDecayImages });
      await trainer.step(2);
      const before = (await weights(trainer.ratio)).get('head_out.weight')!;
      await trainer.step(1);
      const after = (await weights(trainer.ratio)).get('head_out.weight')!;
      trainer.dispose();
      return Math.hypot(...after.map((v, i) => v - before[i]!));
    };
    expect(await ratioStep(8) / await ratioStep(0)).toBeCloseTo(Math.SQRT1_2, 3);
    await expectError(() => new DiJSTrainer({ teacher, data, lrDecayImages: -1 }), ErrorCode.InvalidArgValue, /lrDecayImages/);
  });

  it('warms the generator\'s learning rate up linearly over lrGWarmupImages, from 0 (EDM\'s rule)', async () => {
    // Generator step sizes of the first two iterations. The first has lr 0 under any warm-up, so two
    // warm-ups meet identical weights and draws in the second, where (β1 = 0) the step differs only
    // by the rate: 8/16 of lrG against 8/32.
    const generatorSteps = async (lrGWarmupImages: number) => {
      manualSeed(5);
      const trainer = new DiJSTrainer({ teacher, data, batchSize: 8, seed: 5, lrGWarmupImages });
      const sizes: number[] = [];
      for (let i = 0; i < 2; i++) {
        const before = (await weights(trainer.onlineGenerator.net)).get('model.dec.32x32_aux_conv.weight')!;
        await trainer.step(1);
        const after = (await weights(trainer.onlineGenerator.net)).get('model.dec.32x32_aux_conv.weight')!;
        sizes.push(Math.hypot(...after.map((v, j) => v - before[j]!)));
      }
      trainer.dispose();
      return sizes;
    };
    const [plainFirst] = await generatorSteps(0);
    const [first16, second16] = await generatorSteps(16);
    const [first32, second32] = await generatorSteps(32);
    expect(plainFirst).toBeGreaterThan(0);
    expect([first16, first32]).toEqual([0, 0]);
    expect(second16! / second32!).toBeCloseTo(2, 3);
    await expectError(() => new DiJSTrainer({ teacher, data, lrGWarmupImages: -1 }), ErrorCode.InvalidArgValue, /lrGWarmupImages must be a finite, non-negative number/);
    await expectError(() => new DiJSTrainer({ teacher, data, lrGWarmupImages: Infinity }), ErrorCode.InvalidArgValue, /lrGWarmupImages/);
  });

  it('draws each loss\'s σ from its own log-normal, and rejects a spread that is negative or not finite', async () => {
    // Same seed and draws: only the σ distribution differs, so the losses it feeds must differ.
    const firstStats = async (options: Pick<DiJSOptions, 'ratioSigma' | 'generatorSigma'>) => {
      manualSeed(3);
      const trainer = new DiJSTrainer({ teacher, data, batchSize: 8, seed: 3, ...options });
      const stats = await trainer.step(1);
      expect(trainer.options.ratioSigma).toEqual(options.ratioSigma ?? { pMean: -1.2, pStd: 1.2 });
      trainer.dispose();
      return stats;
    };
    const plain = await firstStats({});
    const again = await firstStats({ ratioSigma: { pMean: -1.2, pStd: 1.2 } });
    const ratioShifted = await firstStats({ ratioSigma: { pMean: 1, pStd: 0.5 } });
    const generatorShifted = await firstStats({ generatorSigma: { pMean: 1, pStd: 0.5 } });
    expect(again.lossRatio).toBe(plain.lossRatio);
    expect(ratioShifted.lossRatio).not.toBeCloseTo(plain.lossRatio, 6);
    expect(generatorShifted.lossRatio).toBe(plain.lossRatio); // the ratio step comes first
    expect(generatorShifted.lossGenerator).not.toBeCloseTo(plain.lossGenerator, 6);
    for (const bad of [{ pMean: 0, pStd: -1 }, { pMean: Number.NaN, pStd: 1 }, { pMean: 0, pStd: Number.POSITIVE_INFINITY }]) {
      await expectError(() => new DiJSTrainer({ teacher, data, ratioSigma: bad }), ErrorCode.InvalidArgValue, /ratioSigma must have a finite pMean/);
      await expectError(() => new DiJSTrainer({ teacher, data, generatorSigma: bad }), ErrorCode.InvalidArgValue, /generatorSigma/);
    }
    await expectError(() => new DiJSTrainer({ teacher, data, ratioSigma: { pMean: 0 } as never }), ErrorCode.InvalidArgType, /ratioSigma must be \{ pMean, pStd \}/);
  });

  it('runs in bf16 and under bf16 autocast with statistics close to float32 ones', async () => {
    const stats: Partial<Record<Precision, DiJSStats>> = {};
    for (const precision of ['fp32', 'bf16', 'bf16-autocast'] as const) {
      manualSeed(6);
      const trainer = new DiJSTrainer({ teacher, data, batchSize: 16, seed: 6, precision });
      expect(trainer.options.precision).toBe(precision);
      stats[precision] = await trainer.step(1);
      trainer.dispose();
    }
    // bf16 keeps 8 bits of mantissa: the logits of one step agree to a few hundredths.
    for (const precision of ['bf16', 'bf16-autocast'] as const) {
      for (const key of ['lossRatio', 'lossGenerator', 'logitReal', 'logitFake'] as const) {
        expect(Number.isFinite(stats[precision]![key])).toBe(true);
        expect(Math.abs(stats[precision]![key] - stats.fp32![key])).toBeLessThan(0.05);
      }
    }
  });

  it('takes bf16: true as the older spelling of bf16 autocast, and rejects unknown or conflicting precisions', () => {
    const trainer = new DiJSTrainer({ teacher, data, batchSize: 4, bf16: true });
    expect(trainer.options.precision).toBe('bf16-autocast');
    trainer.dispose();
    expect(() => new DiJSTrainer({ teacher, data, batchSize: 4, precision: 'fp16' as Precision })).toThrow(/precision must be one of fp32, bf16, bf16-autocast/);
    expect(() => new DiJSTrainer({ teacher, data, batchSize: 4, bf16: true, precision: 'bf16' })).toThrow(/bf16: true means precision 'bf16-autocast'/);
  });

  it('refuses CUDA graphs off a CUDA device with ERR_CUDA_UNAVAILABLE', () => {
    let error: unknown;
    try {
      new DiJSTrainer({ teacher, data, batchSize: 4, cudaGraph: true });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(Error);
    expect((error as { code?: string }).code).toBe(ErrorCode.CudaUnavailable);
    expect((error as Error).message).toMatch(/cudaGraph needs a CUDA device \(this trainer is on cpu\)/);
    expect(() => new DiJSTrainer({ teacher, data, batchSize: 4, cudaGraph: 'yes' as unknown as boolean })).toThrow(/cudaGraph must be a boolean/);
  });

  it('resumes exactly from a checkpoint: the same statistics, bit for bit', async () => {
    manualSeed(0);
    const trainer = new DiJSTrainer({ teacher, data, batchSize: 16, divergence: 'kl', seed: 5 });
    await trainer.step(3);
    await trainer.save(join(dir, 'dijs.safetensors'));
    const continued = [await trainer.step(2), await trainer.step(2)];
    const resumed = await DiJSTrainer.resume(join(dir, 'dijs.safetensors'), data);
    expect(resumed.imagesSeen).toBe(48);
    expect(resumed.options.divergence).toBe('kl');
    expect([await resumed.step(2), await resumed.step(2)]).toEqual(continued);
    trainer.dispose();
    resumed.dispose();
    // Another data set: refused by name, not an indexing error in a later step.
    const fewer = await FashionMNIST.load({ limit: 64 });
    await expectError(() => DiJSTrainer.resume(join(dir, 'dijs.safetensors'), fewer), ErrorCode.InvalidArgValue,
      /this checkpoint's run drew its batches from 512 images; the data set given has 64: resume with the run's data set/);
    fewer.dispose();
    // A teacher checkpoint is not a DiJS one.
    const t = TeacherTrainer.create({ net: tiny, data, batchSize: 8 });
    await t.save(join(dir, 'teacher.safetensors'));
    t.dispose();
    await expectError(() => DiJSTrainer.resume(join(dir, 'teacher.safetensors'), data), ErrorCode.CheckpointUnsupported, /not a DiJS training checkpoint/);
    writeFileSync(join(dir, 'broken.safetensors'), readFileSync(join(dir, 'dijs.safetensors')).subarray(0, 1000));
    await expectError(() => DiJSTrainer.resume(join(dir, 'broken.safetensors'), data), ErrorCode.CheckpointCorrupt);
  });

  it('resumes with changed settings (change): the same weights and position, the new options in effect and saved', async () => {
    manualSeed(0);
    const trainer = new DiJSTrainer({ teacher, data, batchSize: 8, seed: 5, divergence: 'fkl' });
    await trainer.step(2);
    await trainer.save(join(dir, 'branch.safetensors'));
    const saved = await weights(trainer.ratio);
    trainer.dispose();
    const branch = await DiJSTrainer.resume(join(dir, 'branch.safetensors'), data, { change: { lrD: 0, ratioDropout: 0.2, divergence: 'js' } });
    expect(branch.imagesSeen).toBe(16);
    expect(branch.options).toMatchObject({ lrD: 0, ratioDropout: 0.2, divergence: 'js', lrG: 5e-5, batchSize: 8 });
    expect(branch.ratio.config.dropout).toBe(0.2);
    await branch.step(2);
    // lrD 0: the ratio network keeps the saved weights through the branch's updates.
    const after = await weights(branch.ratio);
    for (const [name, w] of saved) expect(after.get(name), name).toEqual(w);
    await branch.save(join(dir, 'branch2.safetensors'));
    branch.dispose();
    const again = await DiJSTrainer.resume(join(dir, 'branch2.safetensors'), data);
    expect(again.options).toMatchObject({ lrD: 0, ratioDropout: 0.2, divergence: 'js' });
    again.dispose();

    const resume = (change: unknown, path = 'branch.safetensors') => DiJSTrainer.resume(join(dir, path), data, { change: change as DiJSOptions });
    await expectError(() => resume({ extraEmaHalfLives: [1000] }), ErrorCode.InvalidArgType, /extraEmaHalfLives cannot change when a run resumes .*these can: lrG, lrD/);
    await expectError(() => resume({ sigmaInit: 1 }), ErrorCode.InvalidArgType, /sigmaInit cannot change/);
    await expectError(() => resume('fast'), ErrorCode.InvalidArgType, /change must be an object/);
    await expectError(() => resume({ lrD: -1 }), ErrorCode.InvalidArgValue, /lrD/);
    await expectError(() => resume({ ratioDropout: 0.1, r1Gamma: 0.1 }), ErrorCode.InvalidArgValue, /cannot be combined/);
    const adaptive = new DiJSTrainer({ teacher, data, batchSize: 8, augmentShift: 2, augmentTarget: 0.2 });
    await adaptive.save(join(dir, 'adaptive.safetensors'));
    adaptive.dispose();
    await expectError(() => resume({ augmentProbability: 0.5 }, 'adaptive.safetensors'), ErrorCode.InvalidArgType, /checkpoint carries the adapted p/);
  });

  it('resets the ratio network on resume (resetRatio): the teacher\'s encoder and fresh optimiser state, the generators and position kept', async () => {
    // A branch that restarts only the ratio network: a late stall is then the ratio network's
    // learned state if the branch improves faster than its parent (bench/NOTES.md, twenty-third session).
    manualSeed(0);
    const trainer = new DiJSTrainer({ teacher, data, batchSize: 8, seed: 5, divergence: 'fkl', lookaheadSteps: 2 });
    await trainer.step(3);
    await trainer.save(join(dir, 'before-reset.safetensors'));
    const trained = await weights(trainer.ratio), generator = await weights(trainer.onlineGenerator.net), ema = await weights(trainer.generator.net);
    trainer.dispose();
    const teacherWeights = await weights(teacher);

    const reset = async () => {
      manualSeed(3);
      return DiJSTrainer.resume(join(dir, 'before-reset.safetensors'), data, { resetRatio: teacher });
    };
    const branch = await reset();
    expect(branch.imagesSeen).toBe(24);
    const fresh = await weights(branch.ratio);
    const encoder = [...fresh.keys()].filter((name) => name.startsWith('model.')), head = [...fresh.keys()].filter((name) => !name.startsWith('model.'));
    expect(encoder.length).toBeGreaterThan(10);
    expect(head.length).toBeGreaterThan(1);
    expect(same(fresh, teacherWeights, encoder)).toBe(true);  // the mapping network and encoder: the teacher's again
    expect(same(fresh, trained, encoder)).toBe(false);        // (which three updates had moved)
    expect(same(fresh, trained, head)).toBe(false);           // a new head
    expect(same(await weights(branch.onlineGenerator.net), generator)).toBe(true);
    expect(same(await weights(branch.generator.net), ema)).toBe(true);
    // Adam's moments and step count restart (the checkpoint's were those of three ratio updates).
    await branch.save(join(dir, 'reset.safetensors'));
    const saved = await loadStateDict(join(dir, 'reset.safetensors'));
    const meta = JSON.parse(saved.metadata.get('onestep')!) as { stepsD: number; stepsG: number };
    expect(meta).toMatchObject({ stepsD: 0, stepsG: 3 });
    const moments = [...saved].filter(([name]) => name.includes('adamD.'));
    expect(moments.length).toBe(2);
    for (const [name, t] of moments) expect((await t.toTypedArray()).every((v) => v === 0), name).toBe(true);
    saved.dispose();
    // The branch trains the fresh ratio network, and a seeded reset repeats it.
    const stats = await branch.step(2);
    expect(Number.isFinite(stats.lossRatio) && Number.isFinite(stats.lossGenerator)).toBe(true);
    expect(same(await weights(branch.ratio), fresh)).toBe(false);
    const again = await reset();
    expect(await again.step(2)).toEqual(stats);
    branch.dispose();
    again.dispose();

    const resume = (resetRatio: unknown) => DiJSTrainer.resume(join(dir, 'before-reset.safetensors'), data, { resetRatio: resetRatio as EDMNetwork });
    await expectError(() => resume('models/fmnist32-teacher.safetensors'), ErrorCode.InvalidArgType, /resetRatio needs the teacher EDMNetwork/);
    const other = EDMNetwork.create({ ...tiny, modelChannels: 32 });
    await expectError(() => resume(other), ErrorCode.InvalidArgValue, /resetRatio's teacher has another network shape than this run's .*"modelChannels":32.*pass the teacher the run started from/);
    other.dispose();
    const disposed = EDMNetwork.create(tiny);
    disposed.dispose();
    await expectError(() => resume(disposed), ErrorCode.InvalidArgType, /disposed/);
  });

  it('restarts the schedules with the ratio network: lr D from its opening rate, lr G\'s warm-up from the restart', async () => {
    // Restarted at the run's decayed rate, a ratio network on a GPU never left chance and the
    // generator drifted meanwhile (bench/NOTES.md, twenty-fourth session): the restart now brings
    // the opening rates back, and a warm-up can hold the generator until the new network learns.
    const lrD = 1e-3, lrG = 2e-4;
    manualSeed(0);
    const trainer = new DiJSTrainer({ teacher, data, batchSize: 8, seed: 5, divergence: 'fkl', lrG, lrD, lrDecayImages: 8 });
    const before = await trainer.step(4);  // 32 images: lr D is decayed to lrD·√(8/32) = lrD / 2 by now
    // The statistics report the last iteration's rates: it began at 24 images, so both read lr·√(8/24).
    expect(before.lrD).toBeCloseTo(lrD * Math.sqrt(8 / 24), 12);
    expect(before.lrG).toBeCloseTo(lrG * Math.sqrt(8 / 24), 12);
    await trainer.save(join(dir, 'schedules.safetensors'));
    const generator = await weights(trainer.onlineGenerator.net);
    trainer.dispose();
    const savedStart = async (path: string) => {
      const saved = await loadStateDict(path);
      try {
        return (JSON.parse(saved.metadata.get('onestep')!) as { options: { ratioStartImages: number } }).options.ratioStartImages;
      } finally {
        saved.dispose();
      }
    };
    expect(await savedStart(join(dir, 'schedules.safetensors'))).toBe(0);

    const branch = await DiJSTrainer.resume(join(dir, 'schedules.safetensors'), data, { resetRatio: teacher, change: { lrGWarmupImages: 1e6 } });
    const fresh = await weights(branch.ratio);
    const first = await branch.step(1);
    // The statistics say so: lr D is back at its opening rate, lr G's warm-up at 0.
    expect(first.lrD).toBe(lrD);
    expect(first.lrG).toBe(0);
    // Adam's first step with β1 0 moves each weight by lr·g/|g|: the largest move is the rate itself.
    let largest = 0;
    for (const [name, after] of await weights(branch.ratio)) after.forEach((v, i) => { largest = Math.max(largest, Math.abs(v - fresh.get(name)![i]!)); });
    expect(largest).toBeGreaterThan(0.99 * lrD);
    expect(largest).toBeLessThan(1.0001 * lrD);
    // The generator's warm-up starts again at 0: its first step after the restart leaves it where it was.
    const online = await weights(branch.onlineGenerator.net);
    expect(same(online, generator)).toBe(true);
    // The warm-up counts from the restart, the generator's own decay from the run's start: the
    // second step (8 images into the warm-up, at 40 seen) reads lr G·(8/1e6)·√(8/40).
    expect((await branch.step(1)).lrG).toBeCloseTo(lrG * (8 / 1e6) * Math.sqrt(8 / 40), 15);
    await branch.save(join(dir, 'schedules-reset.safetensors'));
    branch.dispose();
    expect(await savedStart(join(dir, 'schedules-reset.safetensors'))).toBe(32);
    // A later resume keeps the restart's origin; a plain one of the first checkpoint does not move it.
    const later = await DiJSTrainer.resume(join(dir, 'schedules-reset.safetensors'), data);
    expect(later.options.ratioStartImages).toBe(32);
    later.dispose();
    const plain = await DiJSTrainer.resume(join(dir, 'schedules.safetensors'), data);
    expect(plain.options.ratioStartImages).toBe(0);
    plain.dispose();
    await expectError(() => new DiJSTrainer({ teacher, data, ratioStartImages: -1 }), ErrorCode.InvalidArgValue, /ratioStartImages must be a finite, non-negative number/);
    await expectError(() => new DiJSTrainer({ teacher, data, ratioStartImages: NaN }), ErrorCode.InvalidArgValue, /ratioStartImages/);
  });

  it('branches to another number of ratio updates per generator update: the ratio network\'s step count follows the new setting', async () => {
    // Two ratio updates started fastest on a GPU (bench/NOTES.md, nineteenth session); a run may
    // want them early only, so a branch must change the count, not just record it.
    const counts = async (path: string) => {
      const saved = await loadStateDict(path);
      const meta = JSON.parse(saved.metadata.get('onestep')!) as { stepsG: number; stepsD: number; imagesSeen: number; options: DiJSOptions };
      saved.dispose();
      return { stepsG: meta.stepsG, stepsD: meta.stepsD, imagesSeen: meta.imagesSeen, ratioSteps: meta.options.ratioSteps };
    };
    manualSeed(0);
    const two = new DiJSTrainer({ teacher, data, batchSize: 8, seed: 6, ratioSteps: 2 });
    await two.step(2);
    await two.save(join(dir, 'ratio-steps-2.safetensors'));
    two.dispose();
    expect(await counts(join(dir, 'ratio-steps-2.safetensors'))).toEqual({ stepsG: 2, stepsD: 4, imagesSeen: 16, ratioSteps: 2 });
    const one = await DiJSTrainer.resume(join(dir, 'ratio-steps-2.safetensors'), data, { change: { ratioSteps: 1 } });
    expect(one.options.ratioSteps).toBe(1);
    const stats = await one.step(3);
    expect(Number.isFinite(stats.lossRatio) && Number.isFinite(stats.lossGenerator)).toBe(true);
    await one.save(join(dir, 'ratio-steps-1.safetensors'));
    one.dispose();
    expect(await counts(join(dir, 'ratio-steps-1.safetensors'))).toEqual({ stepsG: 5, stepsD: 7, imagesSeen: 40, ratioSteps: 1 });
    const three = await DiJSTrainer.resume(join(dir, 'ratio-steps-1.safetensors'), data, { change: { ratioSteps: 3 } });
    await three.step(1);
    await three.save(join(dir, 'ratio-steps-3.safetensors'));
    three.dispose();
    expect(await counts(join(dir, 'ratio-steps-3.safetensors'))).toEqual({ stepsG: 6, stepsD: 10, imagesSeen: 48, ratioSteps: 3 });
    await expectError(() => DiJSTrainer.resume(join(dir, 'ratio-steps-1.safetensors'), data, { change: { ratioSteps: 0 } }), ErrorCode.InvalidArgType, /ratioSteps must be a positive integer/);
  });

  it('ramps every EMA\'s half-life up with the images seen (emaRampupRatio, EDM\'s rule), the extra ones too', async () => {
    // A half-life far above the run stays at the teacher's weights; capped at 1e-12 × the images
    // seen (far below a batch) it follows the online generator.
    const run = async (emaRampupRatio: number) => {
      manualSeed(0);
      const trainer = new DiJSTrainer({ teacher, data, batchSize: 8, seed: 2, emaHalfLifeImages: 1e15, extraEmaHalfLives: [1e15], emaRampupRatio });
      await trainer.step(3);
      const gaps = [maxWeightDifference(trainer.generator.net, trainer.onlineGenerator.net), maxWeightDifference(trainer.extraEmaGenerators[0]!.net, trainer.onlineGenerator.net)];
      trainer.dispose();
      return gaps;
    };
    for (const gap of await run(0)) expect(gap).toBeGreaterThan(1e-4);
    expect(await run(1e-12)).toEqual([0, 0]);
    for (const emaRampupRatio of [-1, Number.NaN, Infinity])
      await expectError(() => new DiJSTrainer({ teacher, data, emaRampupRatio }), ErrorCode.InvalidArgValue, /emaRampupRatio must be a finite number ≥ 0/);
  });

  it('keeps extra EMA generators beside the main one, updated in the step and carried through save and resume', async () => {
    manualSeed(0);
    const without = new DiJSTrainer({ teacher, data, batchSize: 8, seed: 2, emaHalfLifeImages: 50 });
    const plainStats = await without.step(3);
    without.dispose();
    manualSeed(0);
    // Half-lives: the main one's (so the same arithmetic), one far below a batch (it follows the
    // online generator) and one far above any run (it stays at the teacher's weights).
    const trainer = new DiJSTrainer({ teacher, data, batchSize: 8, seed: 2, emaHalfLifeImages: 50, extraEmaHalfLives: [50, 1e-9, 1e15] });
    expect(trainer.extraEmaGenerators).toHaveLength(3);
    expect(await trainer.step(3)).toEqual(plainStats); // the extra EMAs do not change the run
    const [same, follower, still] = trainer.extraEmaGenerators.map((g) => g.net);
    expect(maxWeightDifference(trainer.generator.net, trainer.onlineGenerator.net)).toBeGreaterThan(1e-4); // the main EMA lags
    expect(maxWeightDifference(same!, trainer.generator.net)).toBe(0);
    expect(maxWeightDifference(follower!, trainer.onlineGenerator.net)).toBe(0);
    // Each batch moves it 5.5e-15 of the way: below float32's resolution of the weights but not of tiny ones.
    expect(maxWeightDifference(still!, teacher)).toBeLessThan(1e-12);
    await trainer.save(join(dir, 'extra-ema.safetensors'));
    // The random stream is global and the checkpoint restores it: continue the original first.
    await trainer.step(2);
    const resumed = await DiJSTrainer.resume(join(dir, 'extra-ema.safetensors'), data);
    expect(resumed.options.extraEmaHalfLives).toEqual([50, 1e-9, 1e15]);
    await resumed.step(2);
    expect(maxWeightDifference(resumed.extraEmaGenerators[0]!.net, trainer.extraEmaGenerators[0]!.net)).toBe(0);
    expect(maxWeightDifference(resumed.extraEmaGenerators[1]!.net, trainer.onlineGenerator.net)).toBe(0);
    trainer.dispose();
    resumed.dispose();
    // A checkpoint that names an extra EMA but lacks its weights is refused, not half-loaded.
    const saved = await loadStateDict(join(dir, 'extra-ema.safetensors'));
    const kept = new Map([...saved].filter(([k]) => !k.startsWith('extraEma1.')));
    await saveStateDict(kept, join(dir, 'extra-ema-cut.safetensors'), { metadata: Object.fromEntries(saved.metadata) });
    saved.dispose();
    // What a failed resume or construction built is freed at once, not left to a GC (networks'
    // weights are not in memory()'s tensor count: the disposals are counted instead).
    const generatorDisposals = vi.spyOn(OneStepGenerator.prototype, 'dispose');
    const ratioDisposals = vi.spyOn(RatioNetwork.prototype, 'dispose');
    try {
      const error = await expectError(() => DiJSTrainer.resume(join(dir, 'extra-ema-cut.safetensors'), data), ErrorCode.StateDictMismatch);
      expect(error.message).toMatch(/missing/);
      expect([generatorDisposals.mock.calls.length, ratioDisposals.mock.calls.length]).toEqual([5, 1]); // online, EMA, 3 extra EMAs; ratio
      await expectError(() => new DiJSTrainer({ teacher, data, batchSize: 5000, extraEmaHalfLives: [1e5] }), ErrorCode.InvalidArgValue, /batchSize/);
      expect([generatorDisposals.mock.calls.length, ratioDisposals.mock.calls.length]).toEqual([8, 2]);
    } finally {
      generatorDisposals.mockRestore();
      ratioDisposals.mockRestore();
    }
    await expectError(() => new DiJSTrainer({ teacher, data, extraEmaHalfLives: [0] }), ErrorCode.InvalidArgValue, /positive, finite/);
    await expectError(() => new DiJSTrainer({ teacher, data, extraEmaHalfLives: [Number.NaN] }), ErrorCode.InvalidArgValue, /positive, finite/);
    await expectError(() => new DiJSTrainer({ teacher, data, extraEmaHalfLives: new Array(9).fill(1e5) }), ErrorCode.InvalidArgValue, /at most 8/);
    await expectError(() => new DiJSTrainer({ teacher, data, extraEmaHalfLives: 1e5 as never }), ErrorCode.InvalidArgType, /array of half-lives/);
  }, 60_000);

  it('run() trains to the target with calls queued ahead, and frees everything on dispose', async () => {
    await forceGc(); // temporaries of earlier tests must not be collected during this one
    const baseline = memory();
    manualSeed(0);
    const trainer = new DiJSTrainer({ teacher, data, batchSize: 8 });
    const seen: number[] = [];
    for await (const stats of trainer.run({ images: 80, iterationsPerCall: 2 })) seen.push(stats.imagesSeen);
    expect(seen).toEqual([16, 32, 48, 64, 80]);
    expect(trainer.imagesSeen).toBe(80);
    trainer.dispose();
    expect(memory()).toEqual(baseline);
    await expectError(() => trainer.step(1), ErrorCode.InvalidArgType, /disposed/);
  });

  it('run() stops when stopWhen says so, after the calls already queued', async () => {
    manualSeed(0);
    const trainer = new DiJSTrainer({ teacher, data, batchSize: 8 });
    let queued = 0;
    const seen: number[] = [];
    for await (const stats of trainer.run({ images: 8000, iterationsPerCall: 1, stopWhen: () => ++queued >= 2 })) seen.push(stats.imagesSeen);
    // The 2nd call carries the vote; the 3rd was queued when the 1st came back; nothing after.
    expect(seen).toEqual([8, 16, 24]);
    trainer.dispose();
  });

  it('runs calls made together in the order they were made', async () => {
    // libuv gives queued jobs to any free worker thread; the trainer must still take them in order.
    manualSeed(0);
    const trainer = new DiJSTrainer({ teacher, data, batchSize: 8 });
    const results = await Promise.all(Array.from({ length: 6 }, () => trainer.step(1)));
    expect(results.map((r) => r.imagesSeen)).toEqual([8, 16, 24, 32, 40, 48]);
    trainer.dispose();
  });

  it('gradient penalties: the step estimates E‖∇x d‖² at noised real images as ratioOverfit does', async () => {
    const test = await FashionMNIST.load({ split: 'test', limit: 256 });
    try {
      // Rates 0: nothing moves, so the step's estimate (16 × 16 images) and ratioOverfit's (256
      // images, its own draws) are two samples of the same expectation.
      manualSeed(2);
      const still = new DiJSTrainer({ teacher, data, batchSize: 16, seed: 2, lrG: 0, lrD: 0, r1Gamma: 1, r2Gamma: 1 });
      const inStep = await still.step(16);
      const direct = (await ratioOverfit(still.ratio, data, test, { n: 256, sigma: { pMean: -1.2, pStd: 1.2 } })).inputGradSq;
      still.dispose();
      expect(inStep.ratioInputGradSqReal).toBeGreaterThan(0);
      expect(inStep.ratioInputGradSqFake).toBeGreaterThan(0);
      expect(inStep.ratioInputGradSqReal / direct).toBeGreaterThan(0.6);
      expect(inStep.ratioInputGradSqReal / direct).toBeLessThan(1.6);

      await expectError(() => new DiJSTrainer({ teacher, data, r1Gamma: -1 }), ErrorCode.InvalidArgValue, /r1Gamma must be a finite number ≥ 0/);
      await expectError(() => new DiJSTrainer({ teacher, data, r2Gamma: Infinity }), ErrorCode.InvalidArgValue, /r2Gamma/);
      await expectError(() => new DiJSTrainer({ teacher, data, penaltyStep: 0 }), ErrorCode.InvalidArgValue, /penaltyStep must be a finite number > 0/);
      await expectError(() => new DiJSTrainer({ teacher, data, r1Gamma: '1' as unknown as number }), ErrorCode.InvalidArgType, /r1Gamma must be a number/);
      await expectError(() => ratioOverfit(teacher as unknown as RatioNetwork, data, test, { n: 8, sigma: { pMean: 0, pStd: 1 }, step: -1 }), ErrorCode.InvalidArgValue, /step must be a finite number > 0/);
    } finally {
      test.dispose();
    }
  });

  it('gradient penalties: R1, and R1 with R2, flatten the ratio network; the plain run\'s draws are unchanged', async () => {
    const test = await FashionMNIST.load({ split: 'test', limit: 128 });
    try {
      // The penalties' directions are drawn after everything else: the first ratio update sees the
      // plain run's batch, so its logistic loss is the plain run's. A small GAN's steepness swings
      // from step to step: compare means over four points.
      const train = async (penalties: DiJSOptions) => {
        manualSeed(4);
        const trainer = new DiJSTrainer({ teacher, data, batchSize: 8, seed: 4, lrD: 1e-3, ...penalties });
        const first = await trainer.step(1);
        let steepness = 0;
        for (let i = 0; i < 4; i++) {
          await trainer.step(5);
          steepness += (await ratioOverfit(trainer.ratio, data, test, { n: 128, sigma: { pMean: -1.2, pStd: 1.2 } })).inputGradSq / 4;
        }
        trainer.dispose();
        return { first, steepness };
      };
      const plain = await train({}), r1 = await train({ r1Gamma: 1000 }), both = await train({ r1Gamma: 1000, r2Gamma: 1000 });
      expect(plain.first.ratioInputGradSqReal).toBe(0);
      expect(plain.first.ratioInputGradSqFake).toBe(0);
      expect(r1.first.ratioInputGradSqFake).toBe(0);
      for (const run of [r1, both]) {
        expect(run.first.lossRatio).toBeCloseTo(plain.first.lossRatio, 5);
        expect(run.steepness).toBeLessThan(plain.steepness / 2);
      }
    } finally {
      test.dispose();
    }
  });

  it('translates real and generated images before the ratio network sees them (augmentShift), differentiably', async () => {
    // The op: image 0 moved 1 row down and 2 columns left, -1 moving in; image 1 not moved.
    const x = tensor(Array.from({ length: 40 }, (_, i) => i), { shape: [2, 1, 4, 5] });
    const moved = await translateImages(x, tensor([[1, -2], [0, 0]], { dtype: 'int64' })).toTypedArray();
    const at = (n: number, i: number, j: number) => (i >= 0 && i < 4 && j >= 0 && j < 5 ? n * 20 + i * 5 + j : -1);
    expect([...moved]).toEqual([0, 1].flatMap((n) => [0, 1, 2, 3].flatMap((i) => [0, 1, 2, 3, 4].map((j) => (n === 0 ? at(0, i - 1, j + 2) : at(1, i, j))))));
    await expectError(() => translateImages(x, tensor([[1, 0], [0, 0]])), ErrorCode.InvalidArgValue, /int64 \[N, 2\]/);
    await expectError(() => translateImages(x, tensor([[1, 0]], { dtype: 'int64' })), ErrorCode.InvalidArgValue, /one row per image/);
    await expectError(() => translateImages(x, tensor([[4, 0], [0, 0]], { dtype: 'int64' })), ErrorCode.InvalidArgValue, /smaller than the image/);
    await expectError(() => translateImages(randn([4, 5]), tensor([[0, 0]], { dtype: 'int64' })), ErrorCode.InvalidArgValue, /\[N, C, H, W\]/);

    // In the step: never translating (p = 0) is the plain step (the shifts are drawn last).
    const plain = await twoSeededSteps({}), never = await twoSeededSteps({ augmentShift: 2, augmentProbability: 0 }), always = await twoSeededSteps({ augmentShift: 2 });
    expect(never.stats[0]).toEqual(plain.stats[0]);
    expect(always.stats[0]!.lossRatio).not.toBe(plain.stats[0]!.lossRatio);
    // The generator still learns through the translation, and a seed repeats the run.
    expect(always.moved).toBe(true);
    for (const v of Object.values(always.stats[1]!)) expect(Number.isFinite(v)).toBe(true);
    expect((await twoSeededSteps({ augmentShift: 2 })).stats).toEqual(always.stats);

    await expectError(() => new DiJSTrainer({ teacher, data, augmentShift: 9 }), ErrorCode.InvalidArgType, /augmentShift must be a whole number of pixels from 0 to 8/);
    await expectError(() => new DiJSTrainer({ teacher, data, augmentShift: 1.5 }), ErrorCode.InvalidArgType, /augmentShift/);
    await expectError(() => new DiJSTrainer({ teacher, data, augmentShift: 2, augmentProbability: 2 }), ErrorCode.InvalidArgValue, /augmentProbability must be between 0 and 1/);
  });

  it('cuts a square out of real and generated images before the ratio network sees them (augmentCutout), differentiably', async () => {
    // The op: a 2 × 3 square at (1, 2) of image 0, and one reaching past the corner of image 1.
    const x = randn([2, 1, 4, 5]).requiresGrad_();
    const cut = cutoutImages(x, tensor([[1, 2], [-1, 3]], { dtype: 'int64' }), 2);
    const inSquare = (n: number, i: number, j: number) => (n === 0 ? i >= 1 && i < 3 && j >= 2 && j < 4 : i < 1 && j >= 3);
    const [before, after] = [await x.toTypedArray(), await cut.toTypedArray()];
    for (let k = 0; k < 40; k++) {
      const [n, i, j] = [Math.floor(k / 20), Math.floor((k % 20) / 5), k % 5];
      expect(after[k], `image ${n} (${i}, ${j})`).toBe(inSquare(n, i, j) ? -1 : before[k]);
    }
    await cut.sum().backward();
    const grad = await x.grad!.toTypedArray();
    for (let k = 0; k < 40; k++) expect(grad[k]).toBe(inSquare(Math.floor(k / 20), Math.floor((k % 20) / 5), k % 5) ? 0 : 1);
    // A corner off the image cuts nothing.
    expect(await equal(cutoutImages(x, tensor([[-2, -2], [4, 0]], { dtype: 'int64' }), 2), x)).toBe(true);
    await expectError(() => cutoutImages(x, tensor([[1, 0], [0, 0]]), 2), ErrorCode.InvalidArgValue, /int64 \[N, 2\]/);
    await expectError(() => cutoutImages(x, tensor([[1, 0]], { dtype: 'int64' }), 2), ErrorCode.InvalidArgValue, /one row per image/);
    await expectError(() => cutoutImages(x, tensor([[1, 0], [0, 0]], { dtype: 'int64' }), 5), ErrorCode.InvalidArgValue, /size must be from 1/);
    await expectError(() => cutoutImages(x, tensor([[1, 0], [0, 0]], { dtype: 'int64' }), 1.5), ErrorCode.InvalidArgType, /whole number/);

    // In the step: cutouts drawn after every other draw, so p = 0 is the plain step; p = 1 is not.
    const first = async (options: DiJSOptions) => (await twoSeededSteps(options)).stats;
    const plain = await first({ augmentShift: 2, augmentProbability: 0 }), never = await first({ augmentShift: 2, augmentProbability: 0, augmentCutout: 16 });
    const always = await first({ augmentCutout: 16 });
    expect(never[0]).toEqual(plain[0]);  // the first iteration (the cutouts' draws move the stream after it)
    expect(always[0]!.lossRatio).not.toBe(plain[0]!.lossRatio);
    for (const v of Object.values(always[1]!)) expect(Number.isFinite(v)).toBe(true);
    expect(await first({ augmentCutout: 16 })).toEqual(always);
    // ADA's p may drive the cutouts alone.
    const adaptive = new DiJSTrainer({ teacher, data, batchSize: 8, augmentCutout: 8, augmentTarget: 0.2 });
    expect((await adaptive.step(1)).augmentProbability).toBeGreaterThanOrEqual(0);
    adaptive.dispose();
    await expectError(() => new DiJSTrainer({ teacher, data, augmentCutout: 32 }), ErrorCode.InvalidArgValue, /augmentCutout must be smaller than the images \(32 pixels\)/);
    await expectError(() => new DiJSTrainer({ teacher, data, augmentCutout: 2.5 }), ErrorCode.InvalidArgType, /augmentCutout must be a whole number/);
  });

  it('mirrors real and generated images before the ratio network sees them (augmentFlip), differentiably; changeable on resume', async () => {
    // The op: image 0 mirrored left to right, image 1 kept; the gradient flows back to the same pixels.
    const x = tensor(Array.from({ length: 40 }, (_, i) => i), { shape: [2, 1, 4, 5] }).requiresGrad_();
    const flipped = flipImages(x, tensor([true, false]));
    expect([...(await flipped.toTypedArray())]).toEqual([0, 1].flatMap((n) => [0, 1, 2, 3].flatMap((i) => [0, 1, 2, 3, 4].map((j) => n * 20 + i * 5 + (n === 0 ? 4 - j : j)))));
    // d/dx of Σ w·flip(x) is flip(w) where mirrored, w elsewhere (w = k², so no two pixels alike).
    await flipped.mul(tensor(Array.from({ length: 40 }, (_, k) => k * k), { shape: [2, 1, 4, 5] })).sum().backward();
    expect([...(await x.grad!.toTypedArray())]).toEqual([0, 1].flatMap((n) => [0, 1, 2, 3].flatMap((i) => [0, 1, 2, 3, 4].map((j) => (n * 20 + i * 5 + (n === 0 ? 4 - j : j)) ** 2))));
    await expectError(() => flipImages(x, tensor([1, 0])), ErrorCode.InvalidArgValue, /flips must be a bool \[N\] tensor/);
    await expectError(() => flipImages(x, tensor([true])), ErrorCode.InvalidArgValue, /one entry per image/);
    await expectError(() => flipImages(randn([4, 5]), tensor([true])), ErrorCode.InvalidArgValue, /\[N, C, H, W\]/);
    await expectError(() => flipImages(x, [true, false] as unknown as Tensor), ErrorCode.InvalidArgType, /flipImages needs two Tensors/);

    // In the step: flips are drawn after every other draw, so p 0 is the plain step; p 0.4 is not,
    // the generator still learns through the flip, and a seed repeats the run.
    const first = (options: DiJSOptions) => twoSeededSteps({ augmentShift: 2, augmentProbability: 0.5, ...options });
    const plain = await first({}), never = await first({ augmentFlip: 0 }), flips = await first({ augmentFlip: 0.4 });
    expect(never.stats).toEqual(plain.stats);
    expect(flips.stats[0]!.lossRatio).not.toBe(plain.stats[0]!.lossRatio);
    expect(flips.moved).toBe(true);
    for (const v of Object.values(flips.stats[1]!)) expect(Number.isFinite(v)).toBe(true);
    expect((await first({ augmentFlip: 0.4 })).stats).toEqual(flips.stats);

    // A branch may turn flips on; the checkpoint keeps the setting.
    manualSeed(5);
    const trunk = new DiJSTrainer({ teacher, data, batchSize: 8, seed: 5 });
    await trunk.step(1);
    await trunk.save(join(dir, 'before-flips.safetensors'));
    trunk.dispose();
    const branch = await DiJSTrainer.resume(join(dir, 'before-flips.safetensors'), data, { change: { augmentFlip: 0.25 } });
    expect(branch.options.augmentFlip).toBe(0.25);
    await branch.step(1);
    await branch.save(join(dir, 'flips.safetensors'));
    branch.dispose();
    const resumed = await DiJSTrainer.resume(join(dir, 'flips.safetensors'), data);
    expect(resumed.options.augmentFlip).toBe(0.25);
    resumed.dispose();

    for (const augmentFlip of [0.5, 1, -0.1, Number.NaN])
      await expectError(() => new DiJSTrainer({ teacher, data, augmentFlip }), ErrorCode.InvalidArgValue, /augmentFlip must be in \[0, 0.5\) \(0: off\)/);
    await expectError(() => new DiJSTrainer({ teacher, data, augmentFlip: '0.2' as unknown as number }), ErrorCode.InvalidArgType, /augmentFlip must be a number/);
  });

  it('adapts the translations\' probability as ADA does (augmentTarget), on the device, carried through save and resume', async () => {
    // p moves by one iteration's images / augmentSpeedImages (8 / 80 = 0.1) towards the target for
    // r = E[sign(−d)] on the real images: up while r is above it, down while below, within [0, 1].
    // r is the step's own 2·ratioAccuracyReal − 1 (batch 8: multiples of 0.25, never the target).
    const options: DiJSOptions = { batchSize: 8, augmentShift: 2, augmentTarget: 0.3, augmentProbability: 0.5, augmentSpeedImages: 80 };
    manualSeed(5);
    const trainer = new DiJSTrainer({ teacher, data, seed: 5, ...options });
    const seen = await expectAdaptiveP(trainer, { p: 0.5, target: 0.3, step: 0.1, iterations: 6 });
    expect(new Set(seen.map((v) => v.toFixed(3))).size).toBeGreaterThan(1);
    // A call reports its iterations' mean p; a checkpoint carries the current p on.
    await trainer.save(join(dir, 'adaptive.safetensors'));
    const continued = [await trainer.step(2), await trainer.step(1)];
    const resumed = await DiJSTrainer.resume(join(dir, 'adaptive.safetensors'), data);
    expect(resumed.options.augmentTarget).toBe(0.3);
    expect([await resumed.step(2), await resumed.step(1)]).toEqual(continued);
    trainer.dispose();
    resumed.dispose();
    // Adaptive p starts from 0 unless told otherwise; a fixed p is reported as it is.
    const fromZero = new DiJSTrainer({ teacher, data, batchSize: 8, augmentShift: 2, augmentTarget: 0.3 });
    expect(fromZero.options.augmentProbability).toBe(0);
    expect([0, 0.1]).toContainEqual(Number((await fromZero.step(1)).augmentProbability.toFixed(6)));
    fromZero.dispose();
    const fixed = new DiJSTrainer({ teacher, data, batchSize: 8, augmentShift: 2, augmentProbability: 0.25 });
    expect((await fixed.step(2)).augmentProbability).toBe(0.25);
    fixed.dispose();

    await expectError(() => new DiJSTrainer({ teacher, data, augmentTarget: 0.6 }), ErrorCode.InvalidArgValue, /augmentTarget adapts the augmentations' probability: set augmentShift or augmentCutout too/);
    for (const augmentTarget of [1, -0.1, Number.NaN])
      await expectError(() => new DiJSTrainer({ teacher, data, augmentShift: 2, augmentTarget }), ErrorCode.InvalidArgValue, /augmentTarget must be in \[0, 1\)/);
    for (const augmentSpeedImages of [0, Number.POSITIVE_INFINITY])
      await expectError(() => new DiJSTrainer({ teacher, data, augmentShift: 2, augmentTarget: 0.6, augmentSpeedImages }), ErrorCode.InvalidArgValue, /augmentSpeedImages must be a finite, positive number/);
  });

  it('keeps the adapted p under augmentMaxProbability, and carries the bound through resume', async () => {
    // p starts at the bound and moves by 0.1 per iteration; a target just above 0 (r of 8 images
    // comes in steps of 0.25) sends it up whenever the ratio network calls most real images real,
    // and there it must stop at 0.45 (this seed's run falls to 0.05, then climbs back and holds).
    const options: DiJSOptions = { batchSize: 8, augmentShift: 2, augmentTarget: 0.01, augmentProbability: 0.45, augmentSpeedImages: 80, augmentMaxProbability: 0.45 };
    manualSeed(6);
    const trainer = new DiJSTrainer({ teacher, data, seed: 6, ...options });
    const seen = await expectAdaptiveP(trainer, { p: 0.45, target: 0.01, step: 0.1, max: 0.45, iterations: 12 });
    expect(Math.max(...seen)).toBeLessThanOrEqual(0.45 + 1e-6);
    expect(seen.some((v) => Math.abs(v - 0.45) < 1e-6)).toBe(true);  // the bound was reached
    await trainer.save(join(dir, 'capped.safetensors'));
    const continued = await trainer.step(2);
    // resume restores the global random state the checkpoint carries: it steps after the original.
    const resumed = await DiJSTrainer.resume(join(dir, 'capped.safetensors'), data);
    expect(resumed.options.augmentMaxProbability).toBe(0.45);
    expect(await resumed.step(2)).toEqual(continued);
    trainer.dispose();
    resumed.dispose();

    for (const augmentMaxProbability of [0, 1.5, Number.NaN])
      await expectError(() => new DiJSTrainer({ teacher, data, augmentShift: 2, augmentTarget: 0.2, augmentMaxProbability }), ErrorCode.InvalidArgValue, /augmentMaxProbability must be in \(0, 1\]/);
    await expectError(() => new DiJSTrainer({ teacher, data, augmentShift: 2, augmentMaxProbability: 0.5 }), ErrorCode.InvalidArgValue, /augmentMaxProbability bounds the adapted p: set augmentTarget too/);
    await expectError(() => new DiJSTrainer({ teacher, data, augmentShift: 2, augmentTarget: 0.2, augmentProbability: 0.7, augmentMaxProbability: 0.5 }), ErrorCode.InvalidArgValue, /must not exceed augmentMaxProbability/);
  });

  it('drops out in the ratio network\'s encoder (ratioDropout) inside the step only; seeded, carried through resume', async () => {
    const run = async (ratioDropout: number) => {
      manualSeed(8);
      const trainer = new DiJSTrainer({ teacher, data, batchSize: 8, seed: 8, ratioDropout });
      return { trainer, stats: [await trainer.step(2), await trainer.step(2)] };
    };
    const plain = await run(0), dropped = await run(0.3), again = await run(0.3);
    expect(plain.trainer.ratio.config.dropout).toBe(0);  // not the tiny teacher's 0.1
    expect(dropped.trainer.ratio.config.dropout).toBe(0.3);
    expect(dropped.stats).toEqual(again.stats);  // seeded runs repeat
    // The same draws otherwise, so any difference is the dropout's (the first ratio update's loss already).
    expect(dropped.stats[0]!.lossRatio).not.toBe(plain.stats[0]!.lossRatio);
    // Measured between steps, the ratio network does not drop out: the same logits twice.
    const x = randn([4, 1, 32, 32]);
    expect(await equal(await dropped.trainer.ratio.logit(x, 0.5, { classLabels: labelsOf(4) }), await dropped.trainer.ratio.logit(x, 0.5, { classLabels: labelsOf(4) }))).toBe(true);
    await dropped.trainer.save(join(dir, 'dropout.safetensors'));
    const continued = await dropped.trainer.step(2);
    const resumed = await DiJSTrainer.resume(join(dir, 'dropout.safetensors'), data);
    expect(resumed.options.ratioDropout).toBe(0.3);
    expect(resumed.ratio.config.dropout).toBe(0.3);
    expect(await resumed.step(2)).toEqual(continued);
    for (const t of [plain.trainer, dropped.trainer, again.trainer, resumed]) t.dispose();

    for (const ratioDropout of [1, -0.1, Number.NaN])
      await expectError(() => new DiJSTrainer({ teacher, data, ratioDropout }), ErrorCode.InvalidArgValue, /ratioDropout must be in \[0, 1\)/);
    await expectError(() => new DiJSTrainer({ teacher, data, ratioDropout: '0.1' as unknown as number }), ErrorCode.InvalidArgType, /ratioDropout must be a number/);
    await expectError(() => new DiJSTrainer({ teacher, data, ratioDropout: 0.1, r1Gamma: 0.01 }), ErrorCode.InvalidArgValue, /cannot be combined with r1Gamma or r2Gamma/);
  });

  it('pulls both networks back every lookaheadSteps iterations (Lookahead-minmax) to slow + α·(fast − slow); checkpointed, branchable', async () => {
    type Weights = Map<string, Float32Array>;
    const both = async (t: DiJSTrainer) => ({ g: await weights(t.onlineGenerator.net), d: await weights(t.ratio) });
    // Largest |actual − (from + α·(to − from))| over every weight of both networks.
    const offLerp = (actual: { g: Weights; d: Weights }, from: { g: Weights; d: Weights }, to: { g: Weights; d: Weights }, alpha: number) => {
      let max = 0;
      for (const key of ['g', 'd'] as const)
        for (const [name, a] of actual[key]) {
          const f = from[key].get(name)!, t = to[key].get(name)!;
          for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - (f[i]! + alpha * (t[i]! - f[i]!))));
        }
      return max;
    };
    const make = (options: DiJSOptions) => {
      manualSeed(9);
      return new DiJSTrainer({ teacher, data, batchSize: 8, seed: 9, divergence: 'fkl', ...options });
    };
    // A plain run: its weights at the start, after 3 iterations (saved there) and after a 4th. Each
    // run draws from the global stream, so they run one after the other from the same seed.
    const plain = make({});
    const start = await both(plain);
    const plainStats = await plain.step(3);
    const moved = await both(plain);
    await plain.save(join(dir, 'plain.safetensors'));
    await plain.step(1);
    const fourth = await both(plain);
    plain.dispose();

    const ahead = make({ lookaheadSteps: 3, lookaheadAlpha: 0.25 });
    expect(await ahead.step(3)).toEqual(plainStats);  // the same iterations; the pull-back ends the third
    const pulled = await both(ahead);
    expect(offLerp(pulled, start, moved, 0.25)).toBeLessThan(1e-6);
    expect(offLerp(pulled, start, moved, 1)).toBeGreaterThan(1e-4);  // not the plain run's weights

    // The slow weights travel with the checkpoint: saved between two pull-backs, the run resumes exactly.
    await ahead.step(1);
    await ahead.save(join(dir, 'lookahead.safetensors'));
    const continued = await ahead.step(2);  // its second pull-back ends this call
    const resumed = await DiJSTrainer.resume(join(dir, 'lookahead.safetensors'), data);
    expect(resumed.options).toMatchObject({ lookaheadSteps: 3, lookaheadAlpha: 0.25 });
    expect(await resumed.step(2)).toEqual(continued);
    expect(maxWeightDifference(resumed.onlineGenerator.net, ahead.onlineGenerator.net)).toBe(0);
    expect(maxWeightDifference(resumed.ratio, ahead.ratio)).toBe(0);
    resumed.dispose();
    // Turned off in a branch, the saved slow weights are left behind: the same iterations, no pull-back.
    const off = await DiJSTrainer.resume(join(dir, 'lookahead.safetensors'), data, { change: { lookaheadSteps: 0 } });
    expect(await off.step(2)).toEqual(continued);
    expect(maxWeightDifference(off.onlineGenerator.net, ahead.onlineGenerator.net)).toBeGreaterThan(1e-4);
    off.dispose();
    ahead.dispose();

    // Turned on in a branch of the plain run, the slow weights start from the checkpoint's.
    const branch = await DiJSTrainer.resume(join(dir, 'plain.safetensors'), data, { change: { lookaheadSteps: 2 } });
    await branch.step(1);  // the 4th iteration: a pull-back at every 2nd
    expect(offLerp(await both(branch), moved, fourth, 0.5)).toBeLessThan(1e-6);
    branch.dispose();

    for (const lookaheadSteps of [-1, 1.5, Number.NaN])
      await expectError(() => new DiJSTrainer({ teacher, data, lookaheadSteps }), ErrorCode.InvalidArgType, /lookaheadSteps must be a whole number of iterations/);
    for (const lookaheadAlpha of [0, 1.5, Number.NaN])
      await expectError(() => new DiJSTrainer({ teacher, data, lookaheadSteps: 5, lookaheadAlpha }), ErrorCode.InvalidArgValue, /lookaheadAlpha must be in \(0, 1\]/);
  });

  it('rejects bad settings clearly', async () => {
    await expectError(() => new DiJSTrainer({ teacher, data, divergence: 'wasserstein' as 'js' }), ErrorCode.InvalidArgType, /divergence must be one of/);
    await expectError(() => new DiJSTrainer({ teacher, data, batchSize: 4096 }), ErrorCode.InvalidArgValue, /batchSize/);
    await expectError(() => new DiJSTrainer({ teacher, data, lrG: -1 }), ErrorCode.InvalidArgValue, /lrG/);
    await expectError(() => new DiJSTrainer({ teacher, data, sigmaInit: 0 }), ErrorCode.InvalidArgType, /sigmaInit/);
    await expectError(() => new DiJSTrainer({ teacher: {} as EDMNetwork, data }), ErrorCode.InvalidArgType, /teacher/);
    await expectError(() => new DiJSTrainer({ teacher, data: { ...data, labeled: false } }), ErrorCode.InvalidArgType, /no labels/);
    const odd = { ...data, images: randn([16, 1, 28, 28]), labels: data.labels.slice(0, 0, 16) };
    await expectError(() => new DiJSTrainer({ teacher, data: odd, batchSize: 8 }), ErrorCode.InvalidArgValue, /\[N, 1, 32, 32\]/);
  });
});

describe('a short training session', () => {
  it('stops cleanly at its time budget', async () => {
    manualSeed(0);
    const trainer = new DiJSTrainer({ teacher, data, batchSize: 8 });
    const out = join(dir, 'budget');
    const result = await trainSession(trainer, { images: 1e9, out, iterationsPerCall: 1, evalEvery: -1, maxSeconds: 0, progress: false });
    expect(result.imagesSeen).toBeLessThanOrEqual(24); // the call read plus the two queued ahead
    expect(result.evaluations).toHaveLength(0);
    expect(readFileSync(join(out, 'log.jsonl'), 'utf8')).toMatch(/time budget of 0 s reached/);
    expect(existsSync(join(out, 'checkpoint.safetensors'))).toBe(true);
    expect(existsSync(join(out, 'generator.safetensors')) && existsSync(join(out, 'ratio.safetensors'))).toBe(true);
    // A target already reached (a resumed run given its own length again) is a bad value, said as such.
    await expectError(() => trainSession(trainer, { images: trainer.imagesSeen, out, progress: false }), ErrorCode.InvalidArgValue, /nothing to train: \d+ images already seen, target \d+/);
    trainer.dispose();
  });

  it('writes the log, a grid, the curves, a checkpoint and a yardstick evaluation', async () => {
    manualSeed(0);
    const trainer = new DiJSTrainer({ teacher, data, batchSize: 8 });
    const out = join(dir, 'session');
    const result = await trainSession(trainer, { images: 48, out, iterationsPerCall: 2, evalSamples: 200, progress: false });
    expect(result.imagesSeen).toBe(48);
    expect(result.evaluations).toHaveLength(1);
    expect(result.evaluations[0]!.fid).toBeGreaterThan(0);
    expect(result.evaluations[0]!.histogram.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    for (const file of ['log.jsonl', 'grid-000000.png', 'losses.svg', 'fid.svg', 'checkpoint.safetensors']) expect(existsSync(join(out, file)), file).toBe(true);
    const log = readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(log.filter((r) => 'lossRatio' in r)).toHaveLength(3);
    expect(log.at(-1).fid).toBe(result.evaluations[0]!.fid);
    expect(readFileSync(join(out, 'losses.svg'), 'utf8')).toMatch(/<svg[\s\S]*polyline[\s\S]*lossRatio/);
    trainer.dispose();
  });

  it('warns once through onWarning, the log and the result when its ratio watch fires; none with ratioWatch false', async () => {
    manualSeed(0);
    const trainer = new DiJSTrainer({ teacher, data, batchSize: 8 });
    const out = join(dir, 'session-watch');
    const heard: string[] = [];
    // A floor every mean logit is under: each call counts as quiet, so the watch fires after 16 images.
    const ratioWatch = new DeadRatioWatch({ window: 16, logitFloor: 1e9 });
    const result = await trainSession(trainer, { images: 48, out, iterationsPerCall: 1, evalEvery: -1, progress: false, ratioWatch, onWarning: (m) => heard.push(m) });
    expect(heard).toHaveLength(1);
    expect(heard[0]).toMatch(/ratio network has sat at chance since 0 kimg/);
    expect(result.warnings).toEqual(heard);
    const log = readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(log.filter((r) => 'warning' in r).map((r) => r.warning)).toEqual(heard);
    const quiet = await trainSession(trainer, { images: 64, out, iterationsPerCall: 1, evalEvery: -1, progress: false, ratioWatch: false, onWarning: (m) => heard.push(m) });
    expect(quiet.warnings).toEqual([]);
    expect(heard).toHaveLength(1);
    await expectError(() => trainSession(trainer, { images: 72, out, progress: false, ratioWatch: {} as DeadRatioWatch }), ErrorCode.InvalidArgType, /ratioWatch must be a DeadRatioWatch or false/);
    trainer.dispose();
  });

  it('measures every extra EMA generator at each evaluation, on the same latents and yardstick', async () => {
    manualSeed(0);
    const trainer = new DiJSTrainer({ teacher, data, batchSize: 8, extraEmaHalfLives: [1000, 2000] });
    const out = join(dir, 'session-extra-emas');
    const result = await trainSession(trainer, { images: 32, out, iterationsPerCall: 2, evalSamples: 100, progress: false });
    const [evaluation] = result.evaluations;
    expect(evaluation!.extraEmas!.map((e) => e.halfLifeKimg)).toEqual([1, 2]);
    for (const e of evaluation!.extraEmas!) expect(e.fid > 0 && e.precision >= 0 && e.recall >= 0).toBe(true);
    const row = readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).find((r) => 'fid' in r);
    expect(row.extraEmas).toEqual(evaluation!.extraEmas);
    trainer.dispose();
  });

  it('keeps the best EMA generator, chosen on training images, and carries the best on across a resume', async () => {
    manualSeed(0);
    const trainer = new DiJSTrainer({ teacher, data, batchSize: 8 });
    const out = join(dir, 'session-best');
    const saves = vi.spyOn(OneStepGenerator.prototype, 'save');
    try {
      await expectError(() => trainSession(trainer, { images: 16, out, evalEvery: -1, keepBest: true, progress: false }), ErrorCode.InvalidArgType, /keepBest needs evaluations/);
      const result = await trainSession(trainer, { images: 48, out, iterationsPerCall: 2, evalEvery: 16, evalSamples: 100, keepBest: true, progress: false });
      const rows = () => readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').filter((l) => l.endsWith('}')).map((l) => JSON.parse(l)).filter((r) => 'fid' in r);
      const measured = rows();
      expect(measured.length).toBe(result.evaluations.length);
      expect(measured.length).toBeGreaterThanOrEqual(3);
      for (const row of measured) {
        expect(row.selectionFid).toBeGreaterThan(0);
        expect(Number.isFinite(row.ratioLogitTrainImages) && Number.isFinite(row.ratioLogitTestImages)).toBe(true);
      }
      // The first evaluation is the best so far; each later best beats every earlier evaluation.
      expect(measured[0].best).toBe(true);
      for (let i = 1; i < measured.length; i++) {
        const earlier = Math.min(...measured.slice(0, i).map((r) => r.selectionFid));
        expect(measured[i].best).toBe(measured[i].selectionFid < earlier);
      }
      const bests = measured.filter((r) => r.best);
      expect(result.best).toEqual({ kimg: bests.at(-1).kimg, selectionFid: bests.at(-1).selectionFid, path: join(out, 'best-generator.safetensors') });
      // One save per best, plus generator.safetensors at the end; the snapshot loads as a generator.
      expect(saves.mock.calls.filter(([path]) => path === result.best!.path)).toHaveLength(bests.length);
      const snapshot = await OneStepGenerator.load(result.best!.path);
      expect((await snapshot.sample({ n: 2, seed: 1 })).shape).toEqual([2, 1, 32, 32]);
      snapshot.dispose();

      // Resumed (images already seen), a session starts from the best the log records: here one no
      // evaluation can beat, so nothing more is saved.
      // (A line cut short by a crash, and one without figures, are passed over.)
      appendFileSync(join(out, 'log.jsonl'), `${JSON.stringify({ kimg: 0.04, fid: 9, selectionFid: 1e-9, best: true })}\n{"kimg":0.04,"best":true,"selecti\n{"kimg":0.04,"best":true}\n`);
      saves.mockClear();
      const resumed = await trainSession(trainer, { images: 64, out, iterationsPerCall: 2, evalEvery: 0, evalSamples: 100, keepBest: true, progress: false });
      expect(resumed.best).toEqual({ kimg: 0.04, selectionFid: 1e-9, path: result.best!.path });
      expect(saves.mock.calls.filter(([path]) => path === result.best!.path)).toHaveLength(0);
      expect(rows().at(-1).best).toBe(false);
    } finally {
      saves.mockRestore();
      trainer.dispose();
    }
  });

  it('chooses the best snapshot among every EMA generator, and carries an extra EMA\'s best across a resume', async () => {
    manualSeed(0);
    // An extra EMA with a half-life below a batch follows the online weights; a long one barely moves.
    const trainer = new DiJSTrainer({ teacher, data, batchSize: 8, extraEmaHalfLives: [1e-9, 4e6] });
    const out = join(dir, 'session-best-emas');
    const saves = vi.spyOn(OneStepGenerator.prototype, 'save');
    try {
      const result = await trainSession(trainer, { images: 48, out, iterationsPerCall: 2, evalEvery: 16, evalSamples: 100, keepBest: true, progress: false });
      const rows = () => readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').filter((l) => l.endsWith('}')).map((l) => JSON.parse(l)).filter((r) => 'fid' in r);
      // Candidates in the order they were judged: each evaluation's main EMA, then its extra EMAs.
      const candidates = rows().flatMap((r) => [{ kimg: r.kimg, selectionFid: r.selectionFid, best: r.best },
        ...r.extraEmas.map((e: { halfLifeKimg: number; selectionFid: number; best: boolean }) => ({ kimg: r.kimg, selectionFid: e.selectionFid, best: e.best, halfLifeKimg: e.halfLifeKimg }))]);
      expect(candidates.length).toBeGreaterThanOrEqual(9);
      for (const [i, c] of candidates.entries()) {
        expect(c.selectionFid).toBeGreaterThan(0);
        expect(c.best).toBe(i === 0 || c.selectionFid < Math.min(...candidates.slice(0, i).map((e) => e.selectionFid)));
      }
      // Here the follower (the online weights) beats the main EMA at the first evaluation: an extra EMA is kept.
      expect(candidates.some((c) => c.best && c.halfLifeKimg !== undefined)).toBe(true);
      const last = candidates.filter((c) => c.best).at(-1)!;
      expect(result.best).toEqual({ kimg: last.kimg, selectionFid: last.selectionFid, ...(last.halfLifeKimg !== undefined && { halfLifeKimg: last.halfLifeKimg }), path: join(out, 'best-generator.safetensors') });
      expect(saves.mock.calls.filter(([path]) => path === result.best!.path)).toHaveLength(candidates.filter((c) => c.best).length);

      // A log whose best is an extra EMA's entry: a resumed session carries it on, half-life and all.
      appendFileSync(join(out, 'log.jsonl'), `${JSON.stringify({ kimg: 0.04, fid: 9, selectionFid: 5, best: false, extraEmas: [{ halfLifeKimg: 4000, fid: 8, selectionFid: 1e-9, best: true }] })}\n`);
      saves.mockClear();
      const resumed = await trainSession(trainer, { images: 64, out, iterationsPerCall: 2, evalEvery: 0, evalSamples: 100, keepBest: true, progress: false });
      expect(resumed.best).toEqual({ kimg: 0.04, selectionFid: 1e-9, halfLifeKimg: 4000, path: result.best!.path });
      expect(saves.mock.calls.filter(([path]) => path === result.best!.path)).toHaveLength(0);
    } finally {
      saves.mockRestore();
      trainer.dispose();
    }
  });

  it('refuses a disposed teacher and keeps nothing it built for it', async () => {
    const gone = EDMNetwork.create(tiny, { seed: 1 });
    gone.dispose();
    const networks = vi.spyOn(EDMNetwork.prototype, 'dispose');
    const ratios = vi.spyOn(RatioNetwork.prototype, 'dispose');
    try {
      await expectError(() => OneStepGenerator.fromTeacher(gone), ErrorCode.InvalidArgType, /EDMNetwork was disposed/);
      expect(networks).toHaveBeenCalledTimes(1);
      await expectError(() => RatioNetwork.fromTeacher(gone), ErrorCode.InvalidArgType, /EDMNetwork was disposed/);
      expect(ratios).toHaveBeenCalledTimes(1);
      await expectError(() => new DiJSTrainer({ teacher: gone, data }), ErrorCode.InvalidArgType, /EDMNetwork was disposed/);
      expect(networks).toHaveBeenCalledTimes(2);
    } finally {
      networks.mockRestore();
      ratios.mockRestore();
    }
  });

  it('releases the yardstick it loaded when the run fails', async () => {
    manualSeed(0);
    const trainer = new DiJSTrainer({ teacher, data, batchSize: 8 });
    const classifiers = vi.spyOn(Classifier.prototype, 'dispose');
    try {
      // An evaluation after the first call loads the classifier; the callback then fails.
      const run = trainSession(trainer, { images: 48, out: join(dir, 'session-fails'), iterationsPerCall: 2, evalEvery: 16, evalSamples: 100, progress: false,
        onStats: (stats) => { if (stats.imagesSeen >= 32) throw new Error('the callback failed'); } });
      await expect(run).rejects.toThrow(/the callback failed/);
      expect(classifiers).toHaveBeenCalledTimes(1);
    } finally {
      classifiers.mockRestore();
      await trainer.settled();
      trainer.dispose();
    }
  });
});

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
/** Shared helpers for the test suites. */
import { expect } from 'vitest';
import { cuda, oneHotLabels, type DiJSTrainer, type EDMConfig, type OneStepGenerator, type RatioNetwork, type Tensor } from '../src/index.js';

/** A two-level EDM network small enough for a CPU test (0.19 M parameters; fmnist32's shapes). */
export const TINY_EDM: EDMConfig = {
  imgResolution: 32, inChannels: 1, outChannels: 1, labelDim: 10, augmentDim: 0, modelChannels: 16,
  channelMult: [1, 2], numBlocks: 1, attnResolutions: [16], dropout: 0, channelMultEmb: 4,
};

/** `npm run test:gpu` sets this: CUDA cases then must run, not skip. */
export const gpuRequired = process.env.ONESTEP_TEST_GPU === '1';
export const hasCuda = (() => {
  const available = cuda.isAvailable();
  if (gpuRequired && !available) throw new Error('ONESTEP_TEST_GPU=1 but CUDA is not available to the addon');
  return available;
})();

/** Asserts that `fn` throws (or rejects with) an Error carrying `code` and a message matching `message`. */
export async function expectError(fn: () => unknown, code: string, message?: RegExp): Promise<Error> {
  let caught: unknown;
  try {
    await fn();
  } catch (error) {
    caught = error;
  }
  expect(caught, 'expected an error').toBeInstanceOf(Error);
  expect((caught as { code?: string }).code).toBe(code);
  if (message) expect((caught as Error).message).toMatch(message);
  return caught as Error;
}

export async function forceGc(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run the tests with --expose-gc (tests/vitest.config.ts does)');
  // FinalizationRegistry callbacks run in later turns of the event loop, after a collection.
  for (let i = 0; i < 10; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** A tensor's values as a plain array (bigint for int64), for assertions. */
export async function values(t: { toTypedArray(): Promise<ArrayLike<number | bigint>> }): Promise<(number | bigint)[]> {
  return Array.from(await t.toTypedArray());
}

/**
 * A Python interpreter with PyTorch, for fixtures written by real torch: ONESTEP_PYTHON, else
 * `python3` on PATH (the GPU machine's PyTorch 2.11), else Debian's /usr/bin/python3
 * (python3-torch 1.13; PATH may point at another Python without torch).
 */
export const torchPython: string = (() => {
  const candidates = [process.env.ONESTEP_PYTHON, 'python3', '/usr/bin/python3'].filter((c): c is string => !!c);
  for (const candidate of candidates) {
    const probe = spawnSync(candidate, ['-c', 'import torch'], { stdio: 'ignore' });
    if (probe.status === 0) return candidate;
  }
  throw new Error(`no Python with PyTorch among ${candidates.join(', ')}: apt-get install python3-torch`);
})();

/**
 * The shared fixtures (golden vectors from EDM's code): ONESTEP_SHARED, else ../shared beside the
 * checkout (CI and the developers' machines). GPU runs carry a copy and point ONESTEP_SHARED at it.
 */
export const sharedFixtures: string = join(process.env.ONESTEP_SHARED ?? join(import.meta.dirname, '..', '..', 'shared'), 'fixtures');

/**
 * The largest elementwise difference between two networks' weights, compared by name (only the
 * names both have). A number, not a deep comparison: a failure's diff of whole weight maps would be
 * unreadably large.
 */
export function maxWeightDifference(a: { stateDict(): Map<string, Tensor> }, b: { stateDict(): Map<string, Tensor> }): number {
  const x = a.stateDict(), y = b.stateDict();
  try {
    let max = 0;
    for (const [name, t] of x) {
      const u = y.get(name);
      if (u) max = Math.max(max, t.sub(u).abs().max().item() as number);
    }
    return max;
  } finally {
    for (const t of [...x.values(), ...y.values()]) t.dispose();
  }
}

/**
 * Steps `trainer` one iteration per call, `iterations` times, checking ADA's rule for the
 * translations' p at each: p moves by ±`step` (images per iteration / augmentSpeedImages) as the
 * iteration's r = 2·ratioAccuracyReal − 1 is above or below `target`, within [0, `max`]; `p` is the
 * p before the first. Returns the p of each iteration.
 */
export async function expectAdaptiveP(trainer: DiJSTrainer, rule: { p: number; target: number; step: number; max?: number; iterations: number }): Promise<number[]> {
  let p = rule.p;
  const seen: number[] = [];
  for (let i = 0; i < rule.iterations; i++) {
    const s = await trainer.step(1);
    p = Math.min(rule.max ?? 1, Math.max(0, p + Math.sign(2 * s.ratioAccuracyReal - 1 - rule.target) * rule.step));
    expect(s.augmentProbability, `iteration ${i}`).toBeCloseTo(p, 5);
    seen.push(s.augmentProbability);
  }
  return seen;
}

/** The ratio network's mean logit on `generator`'s samples at σ 0.05 (positive: "generated"). */
export async function meanLogit(ratio: RatioNetwork, generator: OneStepGenerator): Promise<number> {
  const labels = oneHotLabels(64, 10, undefined, generator.device);
  const images = await generator.sample({ n: 64, classLabels: labels, seed: 3 });
  const d = await ratio.logit(images, 0.05, { classLabels: labels });
  const mean = Number(d.mean().item());
  for (const t of [labels, images, d]) t.dispose();
  return mean;
}

// DeadRatioWatch: the warning for a ratio network whose mean logits sit at 0 (the failure seen on a
// GPU in bench/NOTES.md's sixth and seventh sessions), from the statistics a run reports.
import { describe, expect, it } from 'vitest';
import { DeadRatioWatch, type DiJSStats } from '../src/index.js';

// A quiet network as logged on the GPU: loss 2·ln 2, logits ~1e-4, the generator's gradient tiny.
const stats = (imagesSeen: number, over: Partial<DiJSStats> = {}): DiJSStats => ({
  lossRatio: 1.386, lossGenerator: -0.347, ratioAccuracyReal: 0.5, ratioAccuracyFake: 0.5,
  logitReal: 0.0002, logitFake: -0.0003, gradNormGenerator: 0.002, gradNormRatio: 0.005, ratioInputGradSqReal: 0, ratioInputGradSqFake: 0,
  augmentProbability: 0, imagesSeen, iterations: 10, stopVote: 0, lrG: 5e-5, lrD: 1e-4, ...over,
});
/** Observes calls of 2 560 images from `from` to `to` and returns the warnings raised. */
const feed = (watch: DeadRatioWatch, from: number, to: number, over: Partial<DiJSStats> = {}) => {
  const warnings: { at: number; message: string }[] = [];
  for (let seen = from; seen <= to; seen += 2560) {
    const message = watch.observe(stats(seen, over));
    if (message) warnings.push({ at: seen, message });
  }
  return warnings;
};

describe('DeadRatioWatch', () => {
  it('warns once, after the logits have sat near 0 for the window', () => {
    const watch = new DeadRatioWatch();
    expect(watch.window).toBe(200_000);
    const warnings = feed(watch, 400_000, 1_200_000);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.at).toBeGreaterThanOrEqual(600_000);
    expect(warnings[0]!.at).toBeLessThan(600_000 + 2560);
    expect(warnings[0]!.message).toMatch(/ratio network has sat at chance since 400 kimg/);
    expect(warnings[0]!.message).toMatch(/lower lrG/);
  });

  it('looks at the logits, not the gradient: a quiet network warns whatever its gradient norm', () => {
    // The seventh session's dead run had gradient norms 0.001–0.004, above the old 1e-3 floor.
    expect(feed(new DeadRatioWatch(), 0, 400_000, { gradNormGenerator: 0.004 })).toHaveLength(1);
  });

  it('stays quiet for a working ratio network, whose mean logits sit apart', () => {
    // Just outside the floor, and a working network's typical values.
    expect(feed(new DeadRatioWatch(), 0, 2_000_000, { logitReal: -0.013, logitFake: 0.011 })).toEqual([]);
    expect(feed(new DeadRatioWatch(), 0, 2_000_000, { logitReal: -0.2, logitFake: 0.17 })).toEqual([]);
    // One class near 0 is not enough.
    expect(feed(new DeadRatioWatch(), 0, 2_000_000, { logitFake: 0.05 })).toEqual([]);
  });

  it('stays quiet through a dip shorter than the window (working runs dipped for at most 69 k images)', () => {
    const watch = new DeadRatioWatch();
    expect(feed(watch, 0, 70_000)).toEqual([]);
    expect(feed(watch, 72_560, 400_000, { logitReal: -0.1, logitFake: 0.08 })).toEqual([]);
  });

  it('starts counting again when the logits move apart', () => {
    const watch = new DeadRatioWatch({ window: 100_000 });
    expect(feed(watch, 0, 90_000)).toEqual([]);
    expect(feed(watch, 92_560, 92_560, { logitReal: -0.05, logitFake: 0.05 })).toEqual([]); // one live call
    const warnings = feed(watch, 95_120, 300_000);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.at).toBeGreaterThanOrEqual(195_120);
  });

  it('rejects thresholds that are not positive numbers', () => {
    expect(() => new DeadRatioWatch({ window: 0 })).toThrow(/window must be a positive number, got 0/);
    expect(() => new DeadRatioWatch({ logitFloor: Number.NaN })).toThrow(/logitFloor must be a positive number/);
    expect(() => new DeadRatioWatch({ logitFloor: -1 })).toThrow(TypeError);
  });
});

// DeadRatioWatch: the warning for a ratio network whose logits sit at 0 while the generator's
// gradient vanishes (the failure seen on a GPU in bench/NOTES.md's sixth session), from the
// statistics a run reports.
import { describe, expect, it } from 'vitest';
import { DeadRatioWatch, type DiJSStats } from '../src/index.js';

const stats = (imagesSeen: number, over: Partial<DiJSStats> = {}): DiJSStats => ({
  lossRatio: 1.386, lossGenerator: -0.347, ratioAccuracyReal: 0.5, ratioAccuracyFake: 0.5,
  logitReal: 0.0002, logitFake: -0.0003, gradNormGenerator: 0.0002, gradNormRatio: 0.002,
  imagesSeen, iterations: 10, stopVote: 0, ...over,
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
  it('warns once, after the signs have held for the window', () => {
    const watch = new DeadRatioWatch({ window: 100_000 });
    const warnings = feed(watch, 400_000, 800_000);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.at).toBeGreaterThanOrEqual(500_000);
    expect(warnings[0]!.at).toBeLessThan(500_000 + 2560);
    expect(warnings[0]!.message).toMatch(/ratio network looks dead since 400 kimg/);
    expect(warnings[0]!.message).toMatch(/lower lrD/);
  });

  it('stays quiet for a healthy run: logits near 0 but gradients alive, or logits apart', () => {
    // The start of a run and a healthy run near chance (last session's at 0.5 M: |d| ~ 0.002, gradient 0.03).
    expect(feed(new DeadRatioWatch(), 0, 1_000_000, { gradNormGenerator: 0.03 })).toEqual([]);
    // A winning ratio network: logits apart, whatever the gradient.
    expect(feed(new DeadRatioWatch(), 0, 1_000_000, { logitReal: -0.2, logitFake: 0.17 })).toEqual([]);
  });

  it('starts counting again when the signs break', () => {
    const watch = new DeadRatioWatch({ window: 100_000 });
    expect(feed(watch, 0, 90_000)).toEqual([]);
    expect(feed(watch, 92_560, 92_560, { gradNormGenerator: 0.5 })).toEqual([]); // one live call
    const warnings = feed(watch, 95_120, 300_000);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.at).toBeGreaterThanOrEqual(195_120);
  });

  it('rejects thresholds that are not positive numbers', () => {
    expect(() => new DeadRatioWatch({ window: 0 })).toThrow(/window must be a positive number, got 0/);
    expect(() => new DeadRatioWatch({ gradientFloor: Number.NaN })).toThrow(/gradientFloor must be a positive number/);
    expect(() => new DeadRatioWatch({ logitFloor: -1 })).toThrow(TypeError);
  });
});

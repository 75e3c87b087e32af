/**
 * Watches a DiJS run's statistics for a dead ratio network: its mean logits stuck at 0 for real
 * and generated images alike while the generator's gradient vanishes. Seen on a GPU (bench/NOTES.md,
 * sixth session): the losses look calm (the ratio loss sits at 2·ln 2), but with β1 = 0 Adam turns
 * the vanishing gradients into full-size steps, so the generator random-walks and its FID climbs;
 * the ratio network rarely revives. trainSession warns once; a custom loop can call observe itself.
 */
import { typeError } from '../errors.js';
import type { DiJSStats } from './trainer.js';

export interface DeadRatioWatchOptions {
  /** Images over which the signs must hold before the warning (default 100 k). */
  window?: number;
  /** The generator's gradient norm below which it counts as vanished (default 1e-3). */
  gradientFloor?: number;
  /** |mean logit| below which real and generated count as undistinguished (default 1e-3). */
  logitFloor?: number;
}

export class DeadRatioWatch {
  readonly window: number;
  readonly gradientFloor: number;
  readonly logitFloor: number;
  private since: number | undefined;
  private warned = false;

  constructor(options: DeadRatioWatchOptions = {}) {
    this.window = options.window ?? 100_000;
    this.gradientFloor = options.gradientFloor ?? 1e-3;
    this.logitFloor = options.logitFloor ?? 1e-3;
    for (const [name, value] of [['window', this.window], ['gradientFloor', this.gradientFloor], ['logitFloor', this.logitFloor]] as const) {
      if (!(Number.isFinite(value) && value > 0)) throw typeError(`DeadRatioWatch: ${name} must be a positive number, got ${value}`);
    }
  }

  /** Feeds one call's statistics; returns the warning the first time the signs have held for `window` images. */
  observe(stats: DiJSStats): string | undefined {
    const dead = Math.abs(stats.logitReal) < this.logitFloor && Math.abs(stats.logitFake) < this.logitFloor
      && stats.gradNormGenerator < this.gradientFloor;
    if (!dead) {
      this.since = undefined;
      return undefined;
    }
    this.since ??= stats.imagesSeen;
    if (this.warned || stats.imagesSeen - this.since < this.window) return undefined;
    this.warned = true;
    return `the ratio network looks dead since ${(this.since / 1000).toFixed(0)} kimg: its mean logits are 0 for real and generated ` +
      `images (|d| < ${this.logitFloor}) and the generator's gradient norm is below ${this.gradientFloor}, so the generator is ` +
      'taking steps of noise. Restart from an earlier checkpoint with a lower lrD (or lrG).';
  }
}

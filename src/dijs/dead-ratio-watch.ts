/**
 * Watches a DiJS run's statistics for a ratio network that has gone quiet: its mean logits stuck
 * near 0 for real and generated images alike, so the generator gets almost no signal. Seen on a
 * GPU (bench/NOTES.md, sixth and seventh sessions): the losses look calm (the ratio loss sits at
 * 2·ln 2); every run with lrG 1e-4 and no warm-up went quiet after ~0.2 M images and revived after
 * 0.6–1.7 M images or never; with lrG 5e-5 only a run with lrD 6e-4 did, and (nineteenth session) one
 * with 16-pixel cutouts, quiet from 0.2 M to 1.5 M images; (twenty-fourth session) a ratio network
 * restarted at 8.8 M images (resume's resetRatio) stayed quiet for the 2.2 M images measured while
 * the generator drifted: its gradients were 20–100× smaller, and Adam's second moment (β2 0.99)
 * forgets the old scale by 0.99 a step, so its steps were back to full rate after ~650 iterations
 * (2·ln 24 / 0.01; 0.65 M images at batch 1 024), which fits the EMAs' FID rising from ~1 M
 * images after the restart (an explanation, not measured directly). The generator's gradient norm did
 * not tell a network that would revive from one that would not (both sat at 0.000–0.004), so the
 * watch looks at the logits only. trainSession warns once; a custom loop can call observe itself.
 */
import { typeError } from '../errors.js';
import type { DiJSStats } from './trainer.js';

export interface DeadRatioWatchOptions {
  /** Images over which the logits must stay near 0 before the warning (default 200 k). */
  window?: number;
  /** |mean logit| below which real and generated count as undistinguished (default 0.01). In the
   *  runs measured, a working ratio network's mean logits dipped inside ±0.01 for at most 69 k
   *  images at a time; the quiet ones stayed inside for 0.2 M to 5.4 M at a stretch. */
  logitFloor?: number;
}

export class DeadRatioWatch {
  readonly window: number;
  readonly logitFloor: number;
  private since: number | undefined;
  private warned = false;

  constructor(options: DeadRatioWatchOptions = {}) {
    this.window = options.window ?? 200_000;
    this.logitFloor = options.logitFloor ?? 0.01;
    for (const [name, value] of [['window', this.window], ['logitFloor', this.logitFloor]] as const) {
      if (!(Number.isFinite(value) && value > 0)) throw typeError(`DeadRatioWatch: ${name} must be a positive number, got ${value}`);
    }
  }

  /** Feeds one call's statistics; returns the warning the first time the logits have stayed near 0 for `window` images. */
  observe(stats: DiJSStats): string | undefined {
    const quiet = Math.abs(stats.logitReal) < this.logitFloor && Math.abs(stats.logitFake) < this.logitFloor;
    if (!quiet) {
      this.since = undefined;
      return undefined;
    }
    this.since ??= stats.imagesSeen;
    if (this.warned || stats.imagesSeen - this.since < this.window) return undefined;
    this.warned = true;
    return `the ratio network has sat at chance since ${(this.since / 1000).toFixed(0)} kimg: its mean logits are within ` +
      `±${this.logitFloor} for real and generated images, so the generator gets almost no signal. Such networks have revived ` +
      'after 0.6–1.7 M images or never; lower lrG or lrD and restart (lrG 5e-5 with lrD 1e-4–2e-4 went quiet only once, ' +
      'with 16-pixel cutouts: make such augmentations milder), or watch whether it revives. Meanwhile the generator ' +
      'drifts: Adam scales its tiny gradients back up to full-rate steps (a ratio network restarted at 8.8 M images ' +
      'never revived in 2.2 M, and the 1 000 k EMA\'s FID rose from 3.6 to 4.6).';
  }
}

/**
 * The best EMA generator of a run, kept on disk (trainSession's keepBest). DiJS's FID does not fall
 * steadily: from the shipped teacher it swung between 3.70 and 6.16 from one evaluation to the next
 * past ~2.5 M images, and the last weights were among the worst (bench/NOTES.md, ninth session). So
 * at each evaluation the session also asks this class, and the generator is saved whenever it is
 * the best so far. Every EMA generator of the run is a candidate (the main one and each extra
 * EMA): past ~3 M images the 500 k- and 1 000 k-image EMAs beat the 100 k one in every run of the
 * eleventh and twelfth sessions.
 *
 * "Best" is judged by FID against *training* images (the last N of the split), never against the
 * test images the yardstick reports: the yardstick figure of the chosen snapshot is then not a
 * figure chosen on the test set.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { ImageSet } from '../data/fashion-mnist.js';
import type { Classifier } from '../eval/classifier.js';
import { evaluate } from '../eval/metrics.js';
import type { Tensor } from '../tensor.js';

export interface BestRecord {
  kimg: number;
  /** FID against the selection images (training images). */
  selectionFid: number;
  /** Which extra EMA generator (its half-life in kimg) the snapshot is; absent: the main EMA. */
  halfLifeKimg?: number;
}

export class BestSnapshot {
  private best: BestRecord | undefined;

  /**
   * Judges by FID against `selection` (training images; the caller's, not freed here). A resumed run
   * (`resumedAtKimg` > 0) carries on from the best its log.jsonl records up to that point, if the
   * snapshot file is still there.
   */
  constructor(readonly path: string, private readonly selection: ImageSet, options: { logPath: string; resumedAtKimg: number }) {
    this.best = options.resumedAtKimg > 0 && existsSync(path) ? bestInLog(options.logPath, options.resumedAtKimg) : undefined;
  }

  get record(): BestRecord | undefined {
    return this.best;
  }

  /**
   * Measures `images` (an evaluation's samples from one EMA generator: the main one, or the extra
   * EMA of `halfLifeKimg`) against the selection set; saves through `save` if best so far.
   */
  async consider(images: Tensor, kimg: number, classifier: Classifier, save: (path: string) => Promise<void>, halfLifeKimg?: number): Promise<{ selectionFid: number; best: boolean }> {
    const { fid: selectionFid } = await evaluate(images, { n: this.selection.images.shape[0], classifier, reference: this.selection });
    const best = this.best === undefined || selectionFid < this.best.selectionFid;
    if (best) {
      await save(this.path);
      this.best = { kimg, selectionFid, ...(halfLifeKimg !== undefined && { halfLifeKimg }) };
    }
    return { selectionFid, best };
  }
}

/**
 * The last snapshot the log marks best at or before `kimg` (later rows belong to a run that was not
 * kept): an evaluation row's own mark (the main EMA) or one of its `extraEmas` entries'.
 */
function bestInLog(logPath: string, kimg: number): BestRecord | undefined {
  if (!existsSync(logPath)) return undefined;
  let best: BestRecord | undefined;
  const offer = (candidate: BestRecord) => {
    if (candidate.kimg <= kimg && (best === undefined || candidate.selectionFid < best.selectionFid)) best = candidate;
  };
  for (const line of readFileSync(logPath, 'utf8').split('\n')) {
    if (!line.includes('"best":true')) continue;
    let row: { kimg?: unknown; selectionFid?: unknown; best?: unknown; extraEmas?: unknown };
    try {
      row = JSON.parse(line) as typeof row;
    } catch {
      continue; // a line cut short by a crash while it was written
    }
    if (typeof row.kimg !== 'number') continue;
    if (row.best === true && typeof row.selectionFid === 'number') offer({ kimg: row.kimg, selectionFid: row.selectionFid });
    for (const e of Array.isArray(row.extraEmas) ? row.extraEmas as { best?: unknown; selectionFid?: unknown; halfLifeKimg?: unknown }[] : []) {
      if (e?.best === true && typeof e.selectionFid === 'number' && typeof e.halfLifeKimg === 'number') offer({ kimg: row.kimg, selectionFid: e.selectionFid, halfLifeKimg: e.halfLifeKimg });
    }
  }
  return best;
}

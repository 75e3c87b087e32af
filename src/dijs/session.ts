/**
 * A whole DiJS training session around DiJSTrainer.run: progress bar (kimg, img/s, losses, ETA),
 * JSONL metrics, sample grids, periodic FID on the yardstick, atomic checkpoints, and the loss and
 * FID curves as SVG at the end. What examples/train-dijs.ts and ablation-init.ts run.
 */
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import { typeError, valueError } from '../errors.js';
import type { ImageSet } from '../data/fashion-mnist.js';
import { FashionMNIST } from '../data/fashion-mnist.js';
import { Classifier } from '../eval/classifier.js';
import { evaluate, makeImages, type Evaluation } from '../eval/metrics.js';
import type { Device, Tensor } from '../tensor.js';
import { saveCurves } from '../image/curves.js';
import { saveImageGrid } from '../image/grid.js';
import { BestSnapshot, type BestRecord } from './best-snapshot.js';
import { DeadRatioWatch } from './dead-ratio-watch.js';
import { ratioOverfit } from './ratio-overfit.js';
import type { DiJSStats, DiJSTrainer } from './trainer.js';
import type { OneStepGenerator } from './generator.js';

export interface SessionOptions {
  /** Train until this many images have been seen in total (a resumed run counts its past). */
  images: number;
  /** Output folder: log.jsonl, grid-*.png, checkpoint.safetensors, generator.safetensors, ratio.safetensors, losses.svg, fid.svg. */
  out: string;
  iterationsPerCall?: number;
  /** Every this many images: a grid of EMA samples (0: only at the end). */
  gridEvery?: number;
  /** Every this many images: FID etc. of the EMA generator on the yardstick (0: only at the end; -1: never). */
  evalEvery?: number;
  /** Samples per evaluation (and test images compared with). */
  evalSamples?: number;
  /** Every this many images: a checkpoint (0: only at the end). */
  checkpointEvery?: number;
  progress?: boolean;
  /** Stop early (cleanly: checkpoint, grid and evaluation still happen) after this many seconds. */
  maxSeconds?: number;
  /** Called after every call's statistics, e.g. to write samples at chosen points. */
  onStats?: (stats: DiJSStats) => Promise<void> | void;
  /** A label for the progress bar and the log. */
  name?: string;
  /** Where warnings about the run go (a quiet ratio network: DeadRatioWatch); default console.warn. They are logged too. */
  onWarning?: (message: string) => void;
  /** The check for a ratio network sitting at chance: `new DeadRatioWatch()` (its defaults) unless given; false: none. */
  ratioWatch?: DeadRatioWatch | false;
  /**
   * Keep the best EMA generator as best-generator.safetensors: at each evaluation the samples of
   * every EMA generator (the main one and each extra EMA) are also measured against the last
   * `evalSamples` training images, and a generator is saved when its FID there is the lowest so far
   * (BestSnapshot). Needs evaluations (evalEvery ≥ 0).
   */
  keepBest?: boolean;
}

/** One extra EMA generator's figures at an evaluation (trainer.extraEmaGenerators). */
export interface ExtraEmaEvaluation {
  halfLifeKimg: number;
  fid: number;
  /** FID's mean term (Evaluation.fidMean). */
  fidMean: number;
  precision: number;
  recall: number;
  /** With keepBest: its FID against the selection (training) images, and whether it became the best snapshot. */
  selectionFid?: number;
  best?: boolean;
}

export interface SessionResult {
  imagesSeen: number;
  seconds: number;
  imagesPerSecond: number;
  last: DiJSStats;
  /** Each evaluation of the main EMA generator, with the extra EMAs' figures when the trainer keeps any. */
  evaluations: (Evaluation & { kimg: number; extraEmas?: ExtraEmaEvaluation[] })[];
  /** Warnings raised during the run (also in the log and passed to onWarning). */
  warnings: string[];
  /**
   * With keepBest: the snapshot in best-generator.safetensors (its yardstick figures are in the log's
   * row of that kimg: the row's own, or with `halfLifeKimg` that extra EMA's entry).
   */
  best?: BestRecord & { path: string };
}

export async function trainSession(trainer: DiJSTrainer, options: SessionOptions): Promise<SessionResult> {
  const { images, out } = options ?? ({} as SessionOptions);
  if (!(images > 0) || typeof out !== 'string') throw typeError('trainSession needs { images, out }');
  // Before anything is loaded or written: a resumed run given a length it has already reached.
  if (images <= trainer.imagesSeen) throw valueError(`nothing to train: ${trainer.imagesSeen} images already seen, target ${images}`);
  const name = options.name ?? `dijs-${trainer.options.divergence}`;
  const gridEvery = options.gridEvery ?? 0, evalEvery = options.evalEvery ?? 0, checkpointEvery = options.checkpointEvery ?? 0;
  const evalSamples = options.evalSamples ?? 10_000;
  // In a process group, rank 0 reports and writes; the others only train.
  const lead = (trainer.processGroup?.rank ?? 0) === 0;
  if (lead) mkdirSync(out, { recursive: true });
  const logPath = join(out, 'log.jsonl');
  const startImages = trainer.imagesSeen;
  const log = (record: object) => lead && appendFileSync(logPath, `${JSON.stringify({ name, time: new Date().toISOString(), ...record })}\n`);

  if (options.keepBest && evalEvery < 0) throw typeError('trainSession: keepBest needs evaluations (evalEvery ≥ 0)');
  // The yardstick (classifier, test images) and the split's last `evalSamples` training images: the
  // best snapshot is chosen on those, and the ratio network's overfitting is measured with both sets.
  let yardstick: { classifier: Classifier; reference: ImageSet; training: ImageSet } | undefined;
  let best: BestSnapshot | undefined;
  const evaluations: SessionResult['evaluations'] = [];
  const measure = async (): Promise<void> => {
    if (!lead) return;
    await trainer.settled();
    yardstick ??= await loadYardstick(trainer.generator.device, evalSamples);
    if (options.keepBest) best ??= new BestSnapshot(join(out, 'best-generator.safetensors'), yardstick.training, { logPath, resumedAtKimg: startImages / 1000 });
    const images = await sampleInChunks(trainer.generator, evalSamples);
    try {
      const { classifier, reference, training } = yardstick;
      const result = await evaluate(images, { n: evalSamples, classifier, reference });
      const kimg = trainer.imagesSeen / 1000;
      const chosen = best && await best.consider(images, kimg, classifier, (path) => trainer.generator.save(path));
      const overfit = await ratioOverfit(trainer.ratio, training, reference, { n: Math.min(2000, evalSamples), sigma: trainer.options.ratioSigma, step: trainer.options.penaltyStep });
      // The extra EMAs on the same yardstick: their length is the cheapest lever on a swinging FID.
      const extraEmas: ExtraEmaEvaluation[] = [];
      for (const [i, generator] of trainer.extraEmaGenerators.entries()) {
        const extra = await sampleInChunks(generator, evalSamples);
        try {
          const { fid, fidMean, precision, recall } = await evaluate(extra, { n: evalSamples, classifier, reference });
          const halfLifeKimg = trainer.options.extraEmaHalfLives[i]! / 1000;
          const chosenExtra = best && await best.consider(extra, kimg, classifier, (path) => generator.save(path), halfLifeKimg);
          extraEmas.push({ halfLifeKimg, fid, fidMean, precision, recall, ...chosenExtra });
        } finally {
          extra.dispose();
        }
      }
      evaluations.push({ ...result, kimg, ...(extraEmas.length > 0 && { extraEmas }) });
      log({ kimg, fid: result.fid, fidMean: result.fidMean, precision: result.precision, recall: result.recall, histogram: result.histogram, samples: result.n, ...chosen,
        ratioLogitTrainImages: overfit.train, ratioLogitTestImages: overfit.test, ratioInputGradSqTrainImages: overfit.inputGradSq, ...(extraEmas.length > 0 && { extraEmas }) });
    } finally {
      images.dispose();
    }
  };
  const grid = async (): Promise<void> => {
    if (!lead) return;
    await trainer.settled();
    const samples = await trainer.generator.sample({ n: 100, seed: 0 });
    await saveImageGrid(samples, join(out, `grid-${String(Math.round(trainer.imagesSeen / 1000)).padStart(6, '0')}.png`), { columns: 10 });
    samples.dispose();
  };

  const bar = options.progress === false || !lead ? undefined : new cliProgress.SingleBar({
    format: `${name} |{bar}| {kimg}/{total} kimg | {rate} img/s | D {lossD} G {lossG} | acc {acc}{aug} | ETA {eta_formatted}`, hideCursor: true,
  }, cliProgress.Presets.shades_classic);
  bar?.start(Math.round(images / 1000), Math.round(trainer.imagesSeen / 1000), { kimg: (trainer.imagesSeen / 1000).toFixed(1), total: images / 1000, rate: '-', lossD: '-', lossG: '-', acc: '-', aug: '' });
  // The yardstick and the progress bar are released however the run ends (an error included).
  let seconds = 0, last: DiJSStats | undefined;
  if (options.ratioWatch !== undefined && options.ratioWatch !== false && !(options.ratioWatch instanceof DeadRatioWatch))
    throw typeError('trainSession: ratioWatch must be a DeadRatioWatch or false');
  const watch = options.ratioWatch === undefined ? new DeadRatioWatch() : options.ratioWatch || undefined;
  const warnings: string[] = [];
  const warn = options.onWarning ?? ((message: string) => console.warn(`\nwarning: ${message}`));
  try {
    const next = (every: number) => (every > 0 ? trainer.imagesSeen + every : Infinity);
    let nextGrid = next(gridEvery), nextEval = next(evalEvery), nextCheckpoint = next(checkpointEvery);
    const started = performance.now();
    let stopped = false;
    // img/s over a window of at least 2 s: calls finish in bursts when calls are queued ahead.
    let windowStart = performance.now(), windowImages = trainer.imagesSeen, rate = 0;
    const overTime = () => options.maxSeconds !== undefined && (performance.now() - started) / 1000 > options.maxSeconds;
    for await (const stats of trainer.run({ images, iterationsPerCall: options.iterationsPerCall, stopWhen: overTime })) {
      const now = performance.now();
      if (now - windowStart >= 2000 || rate === 0) {
        rate = (stats.imagesSeen - windowImages) / ((now - windowStart) / 1000);
        [windowStart, windowImages] = [now, stats.imagesSeen];
      }
      last = stats;
      log({ kimg: stats.imagesSeen / 1000, imgPerSec: rate, ...stats });
      bar?.update(Math.round(stats.imagesSeen / 1000), {
        kimg: (stats.imagesSeen / 1000).toFixed(1), rate: rate.toFixed(0), lossD: stats.lossRatio.toFixed(3), lossG: stats.lossGenerator.toFixed(3),
        acc: ((stats.ratioAccuracyReal + stats.ratioAccuracyFake) / 2).toFixed(2),
        // The adaptive translations' probability, where there is one to watch.
        aug: trainer.options.augmentTarget > 0 ? ` | p ${stats.augmentProbability.toFixed(2)}` : '',
      });
      if (stats.imagesSeen >= nextGrid) { await grid(); nextGrid += gridEvery; }
      if (stats.imagesSeen >= nextEval) { await measure(); nextEval += evalEvery; }
      if (stats.imagesSeen >= nextCheckpoint) { await trainer.save(join(out, 'checkpoint.safetensors')); nextCheckpoint += checkpointEvery; }
      const warning = lead ? watch?.observe(stats) : undefined;
      if (warning) {
        warnings.push(warning);
        log({ kimg: stats.imagesSeen / 1000, warning });
        warn(warning);
      }
      await options.onStats?.(stats);
      stopped ||= stats.stopVote > 0;
    }
    // A time budget ends the run at the same call on every process of a group (run's stopWhen).
    if (stopped) log({ kimg: trainer.imagesSeen / 1000, stopped: `time budget of ${options.maxSeconds} s reached` });
    await trainer.settled();
    bar?.stop();
    seconds = (performance.now() - started) / 1000;
    await trainer.save(join(out, 'checkpoint.safetensors'));
    // The EMA generator and the ratio network on their own, for examples/sample.ts (verifier too).
    if (lead) {
      await trainer.generator.save(join(out, 'generator.safetensors'));
      await trainer.ratio.save(join(out, 'ratio.safetensors'));
    }
    await grid();
    if (evalEvery >= 0 && evaluations.at(-1)?.kimg !== trainer.imagesSeen / 1000) await measure();
  } finally {
    bar?.stop();
    yardstick?.reference.dispose();
    yardstick?.training.dispose();
    yardstick?.classifier.dispose();
  }
  if (lead) writeCurves(logPath, out);
  const kept = best?.record && { ...best.record, path: best.path };
  return { imagesSeen: trainer.imagesSeen, seconds, imagesPerSecond: (trainer.imagesSeen - startImages) / seconds,
    last: last!, /* at least one call ran: the target was checked above */ evaluations, warnings, ...(kept && { best: kept }) };
}

/** The classifier, the test images and the training split's last `n` images, on `device`; all freed if one fails to load. */
async function loadYardstick(device: Device, n: number): Promise<{ classifier: Classifier; reference: ImageSet; training: ImageSet }> {
  const classifier = await Classifier.load(undefined, { device });
  const loaded: ImageSet[] = [];
  try {
    loaded.push(await FashionMNIST.load({ split: 'test', device }));
    loaded.push(await FashionMNIST.load({ split: 'train', offset: -Math.min(n, 10_000), device }));
    return { classifier, reference: loaded[0]!, training: loaded[1]! };
  } catch (error) {
    for (const set of loaded) set.dispose();
    classifier.dispose();
    throw error;
  }
}

/** `n` samples, 1 000 per call with seeds from 1 000 000 (the same latents at every evaluation, for every EMA). */
function sampleInChunks(generator: OneStepGenerator, n: number): Promise<Tensor> {
  let seed = 1_000_000;
  return makeImages((count) => generator.sample({ n: count, seed: seed++ }), n, 1000);
}

/** losses.svg and fid.svg from a log.jsonl (all runs in it, by name). */
export function writeCurves(logPath: string, out: string): void {
  const rows = readFileSync(logPath, 'utf8').trim().split('\n').flatMap((line) => {
    try {
      return [JSON.parse(line) as Record<string, number | string>];
    } catch {
      return []; // a line cut short by a crash while it was written: the run resumed past it
    }
  });
  const names = [...new Set(rows.map((r) => r.name as string))];
  const series = (key: string, filter: (r: Record<string, unknown>) => boolean) => names.map((n) => ({
    name: names.length > 1 ? `${n} ${key}` : key,
    points: rows.filter((r) => r.name === n && filter(r)).map((r) => [r.kimg as number, r[key] as number] as const),
  }));
  const isStep = (r: Record<string, unknown>) => typeof r.lossRatio === 'number';
  saveCurves(join(out, 'losses.svg'), { title: 'DiJS losses', xLabel: 'kimg', series: [...series('lossRatio', isStep), ...series('lossGenerator', isStep)] });
  const fids = series('fid', (r) => typeof r.fid === 'number');
  if (fids.some((s) => s.points.length)) saveCurves(join(out, 'fid.svg'), { title: 'FID of the EMA generator (yardstick)', xLabel: 'kimg', yLabel: 'FID', series: fids, logY: true });
}

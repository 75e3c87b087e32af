/**
 * Teacher training with EDM's recipe: the fused native step (EDM loss, backward, Adam with
 * learning-rate warm-up, EMA of the weights) runs many iterations per call on a worker thread.
 * Checkpoints are one safetensors file — weights, EMA, optimizer moments, data order and
 * generator state — written atomically, from which training resumes exactly.
 */
import type { ImageSet } from '../data/fashion-mnist.js';
import { typeError } from '../errors.js';
import { native } from '../native.js';
import type { NativeHandle } from '../native-types.js';
import type { Device } from '../tensor.js';
import { copyWeights, fillModule } from '../checkpoint/load-into.js';
import { disposeOnThrow } from '../scope.js';
import { loadTrainingCheckpoint, saveTrainingCheckpoint } from '../train/checkpoint.js';
import { checkExtraEmaHalfLives } from '../train/extra-emas.js';
import { resolvePrecision, type Precision } from '../train/precision.js';
import type { EDMConfig, PresetName } from './config.js';
import { EDMNetwork } from './network.js';
import { ProcessGroup } from '../distributed/process-group.js';

export interface TeacherTrainingOptions {
  batchSize?: number;
  /** Adam learning rate after warm-up. */
  lr?: number;
  beta1?: number;
  beta2?: number;
  /** Linear learning-rate warm-up, in images. */
  warmupImages?: number;
  /**
   * EDM2's inverse square-root decay: after this many images the learning rate falls as
   * lr·√(lrDecayImages / imagesSeen). 0 (the default, EDM's recipe) keeps it constant.
   */
  lrDecayImages?: number;
  /** EMA half-life in images (EDM: 500 k), reached gradually with `emaRampupRatio`. */
  emaHalfLifeImages?: number;
  emaRampupRatio?: number;
  /**
   * More EMA networks, one per half-life (images; the ramp-up applies to them too), updated in the
   * same step (`trainer.extraEmas`, saved and resumed with the run): one run shows several EMA
   * lengths. [] by default; at most 8.
   */
  extraEmaHalfLives?: number[];
  /** ln σ ~ N(pMean, pStd²). */
  pMean?: number;
  pStd?: number;
  /** 'fp32' (default), 'bf16' or 'bf16-autocast': see src/train/precision.ts. */
  precision?: Precision;
  /** Same as precision: 'bf16-autocast' (kept for older scripts). */
  bf16?: boolean;
}

export interface TeacherStepStats {
  /** Mean EDM loss over the iterations of this call. */
  loss: number;
  imagesSeen: number;
  lr: number;
  /** The share of the group's processes that asked to stop after this call (`step(k, { stop })`). */
  stopVote: number;
}

interface NativeTrainer {
  step(iterations: number, stopVote: number): Promise<TeacherStepStats>;
  state(): { tensors: [string, NativeHandle][]; imagesSeen: number; steps: number; position: number };
  restore(tensors: [string, NativeHandle][], imagesSeen: number, steps: number, position: number): void;
  dispose(): void;
}

const FORMAT = 'onestep-teacher-checkpoint/1';

/** A network of `net`'s shape holding its weights (an EMA's start); `seed` as for EDMNetwork.create. */
function copyOf(net: EDMNetwork, seed?: number): EDMNetwork {
  return disposeOnThrow(EDMNetwork.create({ ...net.config }, { device: net.device, seed }), (copy) => {
    copyWeights(net, copy);
    return copy;
  });
}

export class TeacherTrainer {
  readonly #native: NativeTrainer;
  #imagesSeen = 0;

  /** One more EMA network per `extraEmaHalfLives` entry, in that order. */
  readonly extraEmas: readonly EDMNetwork[];

  private constructor(readonly net: EDMNetwork, readonly ema: EDMNetwork, readonly data: ImageSet, readonly options: Required<TeacherTrainingOptions>,
    readonly processGroup?: ProcessGroup) {
    // Copies of the network; a fixed seed for their (overwritten) initialisation keeps them off
    // the global random stream, so a run draws the same numbers with or without them.
    const extras: EDMNetwork[] = [];
    try {
      for (const _ of options.extraEmaHalfLives) extras.push(copyOf(net, 0));
      this.extraEmas = Object.freeze(extras);
      const moduleOf = (n: EDMNetwork) => n.nativeHandle.moduleRef();
      const Ctor = native().TeacherTrainer as unknown as new (...args: unknown[]) => NativeTrainer;
      this.#native = new Ctor(moduleOf(net), moduleOf(ema), data.images.handle, net.config.labelDim > 0 ? data.labels.handle : null, net.config.labelDim, {
        ...options, processGroup: processGroup?.nativeHandle ?? null,
        extraEmas: this.extraEmas.map((e, i) => ({ module: moduleOf(e), halfLifeImages: options.extraEmaHalfLives[i] })),
      });
    } catch (error) {
      for (const e of extras) e.dispose(); // (create frees the rest)
      throw error;
    }
  }

  /**
   * A new training run: a network from a preset or config (or given), its EMA a copy of it.
   * `processGroup`: data parallel, batchSize images per process (see DiJSTrainer); rank 0 saves.
   */
  static create(args: { net: EDMNetwork | PresetName | EDMConfig; data: ImageSet; seed?: number; device?: Device; processGroup?: ProcessGroup } & TeacherTrainingOptions): TeacherTrainer {
    if (args?.processGroup !== undefined && !(args.processGroup instanceof ProcessGroup)) throw typeError('processGroup must come from ProcessGroup.init()');
    if (!args?.data?.images) throw typeError('TeacherTrainer.create needs { data } from FashionMNIST.load or ImageDataset.load');
    const device = args.device ?? (args.net instanceof EDMNetwork ? args.net.device : args.data.images.device);
    const options: Required<TeacherTrainingOptions> = {
      batchSize: args.batchSize ?? 256, lr: args.lr ?? 5e-4, beta1: args.beta1 ?? 0.9, beta2: args.beta2 ?? 0.999,
      warmupImages: args.warmupImages ?? 256_000, lrDecayImages: args.lrDecayImages ?? 0, emaHalfLifeImages: args.emaHalfLifeImages ?? 500_000,
      emaRampupRatio: args.emaRampupRatio ?? 0.05, extraEmaHalfLives: checkExtraEmaHalfLives(args.extraEmaHalfLives ?? []), pMean: args.pMean ?? -1.2, pStd: args.pStd ?? 1.2,
      bf16: args.bf16 ?? false, precision: resolvePrecision(args),
    };
    const given = args.net instanceof EDMNetwork;
    const net = given ? args.net as EDMNetwork : EDMNetwork.create(args.net as PresetName | EDMConfig, { seed: args.seed, device });
    let ema: EDMNetwork | undefined;
    try {
      if (net.config.labelDim > 0 && args.data.labeled === false) {
        throw typeError('this network is class-conditional but the data set has no labels (dataset.json): use labelDim 0');
      }
      ema = copyOf(net);
      return new TeacherTrainer(net, ema, args.data, options, args.processGroup);
    } catch (error) {
      // A failed construction frees what it built (a network it was given stays the caller's).
      ema?.dispose();
      if (!given) net.dispose();
      throw error;
    }
  }

  get imagesSeen(): number {
    return this.#imagesSeen;
  }

  /**
   * `iterations` training iterations in one native call (one host synchronisation). `stop`: this
   * process would like to stop after this call (a time budget); in a process group the votes come
   * back as `stopVote` > 0 on every process at once, so all stop at the same call.
   */
  async step(iterations = 1, options: { stop?: boolean } = {}): Promise<TeacherStepStats> {
    const stats = await this.#native.step(iterations, options.stop ? 1 : 0);
    this.#imagesSeen = stats.imagesSeen;
    return stats;
  }

  /** Writes a resumable checkpoint atomically (temporary file, then rename); in a process group, rank 0 writes. */
  async save(path: string): Promise<void> {
    if (this.processGroup && this.processGroup.rank !== 0) return;
    const state = this.#native.state();
    const meta = { format: FORMAT, config: this.net.config, options: this.options, imagesSeen: state.imagesSeen, steps: state.steps, position: state.position };
    const extraEmas = Object.fromEntries(this.extraEmas.map((e, i) => [`extraEma${i}`, e]));
    await saveTrainingCheckpoint(path, { net: this.net, ema: this.ema, ...extraEmas, trainer: state.tensors }, meta);
  }

  /** Continues a run from a checkpoint written by `save`, exactly where it stopped. */
  static async resume(path: string, data: ImageSet, options: { device?: Device; processGroup?: ProcessGroup; batchSize?: number } = {}): Promise<TeacherTrainer> {
    type Meta = { format: string; config: EDMConfig; options: Required<TeacherTrainingOptions>; imagesSeen: number; steps: number; position: number };
    const ckpt = await loadTrainingCheckpoint<Meta>(path, FORMAT, 'teacher training', options.device ?? data.images.device);
    try {
      const { meta } = ckpt;
      const net = EDMNetwork.create(meta.config, { device: options.device ?? data.images.device });
      let trainer: TeacherTrainer;
      try {
        fillModule(net, ckpt.part('net'));
        trainer = TeacherTrainer.create({
          net, data, ...meta.options, batchSize: options.batchSize ?? meta.options.batchSize, processGroup: options.processGroup,
        });
      } catch (error) {
        net.dispose(); // given to create, so not freed there
        throw error;
      }
      // A file that does not fit frees what was built for it.
      disposeOnThrow(trainer, (t) => {
        fillModule(t.ema, ckpt.part('ema'));
        t.extraEmas.forEach((e, i) => fillModule(e, ckpt.part(`extraEma${i}`)));
        t.#native.restore([...ckpt.part('trainer')].map(([k, v]) => [k, v.handle]), meta.imagesSeen, meta.steps, meta.position);
      });
      trainer.#imagesSeen = meta.imagesSeen;
      return trainer;
    } finally {
      ckpt.dispose();
    }
  }

  dispose(): void {
    this.#native.dispose();
    this.net.dispose();
    this.ema.dispose();
    for (const e of this.extraEmas) e.dispose();
  }
}

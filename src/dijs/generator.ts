/**
 * OneStepGenerator: g(z, c) = D(σ_init·z; σ_init, c) — the teacher's preconditioned UNet used as
 * a one-step map from noise to images, initialised from the teacher's weights (or at random, the
 * paper's ablation). Saved as safetensors with EDM's key names, so EDM tools read it as a network.
 */
import { ErrorCode, OnestepError, typeError, valueError } from '../errors.js';
import { native } from '../native.js';
import { Tensor, type Device } from '../tensor.js';
import { copyWeights } from '../checkpoint/load-into.js';
import { disposeOnThrow } from '../scope.js';
import { loadStateDict } from '../checkpoint/load.js';
import { saveStateDict } from '../checkpoint/save.js';
import type { EDMConfig } from '../edm/config.js';
import { EDMNetwork } from '../edm/network.js';
import { oneHotLabels } from './class-labels.js';
import type { RatioNetwork } from './ratio-network.js';

export type GeneratorInit = 'teacher' | 'random';

export interface GeneratorSampleOptions {
  n: number;
  /** Class indices (n of them) or one-hot rows [n, classes]; default balanced, i mod classes. */
  classLabels?: readonly number[] | Tensor;
  /** Latents from a CPU generator with this seed: the same images on every device. */
  seed?: number;
  /** Verifier sampling: draw this many candidates per sample and keep one, weighted by exp(−d/T). */
  candidates?: number;
  /** The ratio network that scores candidates (required when candidates > 1). */
  ratio?: RatioNetwork;
  /** Noise level at which candidates are scored. */
  sigmaVerify?: number;
  /**
   * T of the verifier's weights exp(−d/T): 1 (default) is importance resampling by p/q; larger
   * flattens the weights towards plain sampling; 0 keeps each group's arg-min of d.
   */
  verifierTemperature?: number;
  /** 'bf16': the network computes in bf16 (about twice as fast on GPUs; images agree with
   *  float32 to ~1e-2, under 8-bit quantisation's 2/255). Default 'fp32'. */
  precision?: 'fp32' | 'bf16';
}

const FORMAT = 'onestep-generator/1';
export const DEFAULT_SIGMA_INIT = 2.5;
export const DEFAULT_SIGMA_VERIFY = 0.2;

export class OneStepGenerator {
  #disposed = false;

  /** `net` is owned by the generator from now on. */
  constructor(readonly net: EDMNetwork, readonly sigmaInit = DEFAULT_SIGMA_INIT) {
    if (!(net instanceof EDMNetwork)) throw typeError('OneStepGenerator needs an EDMNetwork');
    if (!(sigmaInit > 0) || !Number.isFinite(sigmaInit)) throw typeError(`sigmaInit must be a positive number, not ${sigmaInit}`);
  }

  /** A copy of the teacher's weights (init 'teacher') or EDM's random init ('random'), dropout off. */
  static fromTeacher(teacher: EDMNetwork, options: { sigmaInit?: number; init?: GeneratorInit; seed?: number; device?: Device } = {}): OneStepGenerator {
    if (!(teacher instanceof EDMNetwork)) throw typeError('OneStepGenerator.fromTeacher needs an EDMNetwork');
    const init = options.init ?? 'teacher';
    if (init !== 'teacher' && init !== 'random') throw typeError(`init must be 'teacher' or 'random', not ${JSON.stringify(init)}`);
    const net = EDMNetwork.create({ ...teacher.config, dropout: 0 }, { seed: options.seed, device: options.device ?? teacher.device });
    return disposeOnThrow(net, () => {
      if (init === 'teacher') copyWeights(teacher, net);
      return new OneStepGenerator(net, options.sigmaInit ?? DEFAULT_SIGMA_INIT);
    });
  }

  get config(): Readonly<EDMConfig> {
    return this.net.config;
  }

  get device(): Device {
    return this.net.device;
  }

  /** Images [n, C, H, W] in about [−1, 1], one network evaluation each (k with verifier sampling). */
  async sample(options: GeneratorSampleOptions): Promise<Tensor> {
    if (this.#disposed) throw typeError('this OneStepGenerator was disposed');
    const { n, seed, candidates = 1, ratio, sigmaVerify = DEFAULT_SIGMA_VERIFY, verifierTemperature = 1 } = options ?? ({} as GeneratorSampleOptions);
    if (!Number.isInteger(n) || n < 1) throw typeError(`n must be a positive integer, not ${n}`);
    if (seed !== undefined && (!Number.isInteger(seed) || seed < 0)) throw typeError('seed must be a non-negative integer');
    if (!Number.isInteger(candidates) || candidates < 1) throw typeError('candidates must be a positive integer');
    if (candidates > 1 && !ratio) throw typeError('verifier sampling (candidates > 1) needs { ratio }: the trained RatioNetwork');
    if (typeof verifierTemperature !== 'number' || !(verifierTemperature >= 0) || !Number.isFinite(verifierTemperature))
      throw valueError(`verifierTemperature must be a finite number ≥ 0 (0: the arg-min of d), not ${String(verifierTemperature)}`);
    const precision = options.precision ?? 'fp32';
    if (precision !== 'fp32' && precision !== 'bf16') throw typeError(`precision must be 'fp32' or 'bf16', not ${String(precision)}`);
    const { labelDim, inChannels, imgResolution } = this.config;
    const labels = labelDim > 0 ? oneHotLabels(n, labelDim, options.classLabels, this.device) : undefined;
    try {
      const handle = await native().generatorSample(
        this.net.nativeHandle.moduleRef(), candidates > 1 ? ratio!.nativeHandle.moduleRef() : null,
        n, labels?.handle ?? null, this.sigmaInit, seed ?? null, candidates, sigmaVerify, this.device, [inChannels, imgResolution, imgResolution],
        precision === 'bf16', verifierTemperature);
      return new Tensor(handle);
    } finally {
      labels?.dispose();
    }
  }

  /** Safetensors with EDM's key names (`model.…`); σ_init and the config in the metadata. */
  async save(path: string, options: { dtype?: 'float32' | 'float16' | 'bfloat16' } = {}): Promise<void> {
    const sd = this.net.stateDict();
    const cast = options.dtype && options.dtype !== 'float32' ? new Map([...sd].map(([k, t]) => [k, t.toSync(options.dtype!)] as [string, Tensor])) : sd;
    try {
      await saveStateDict(cast, path, { metadata: { onestep: JSON.stringify({ format: FORMAT, sigmaInit: this.sigmaInit, config: this.config }) } });
    } finally {
      for (const t of sd.values()) t.dispose();
      if (cast !== sd) for (const t of cast.values()) t.dispose();
    }
  }

  /** A generator saved by `save` (or any EDM network file, with `sigmaInit` given). */
  static async load(path: string, options: { device?: Device; sigmaInit?: number } = {}): Promise<OneStepGenerator> {
    const device = options.device ?? 'cpu';
    const sd = await loadStateDict(path, { device });
    let meta: { format?: string; sigmaInit?: number; config?: EDMConfig } = {};
    try {
      meta = JSON.parse(sd.metadata.get('onestep') ?? '{}');
    } catch {
      sd.dispose();
      throw new OnestepError(ErrorCode.CheckpointCorrupt, `${path}: the onestep metadata is not valid JSON`);
    }
    const sigmaInit = options.sigmaInit ?? (meta.format === FORMAT ? meta.sigmaInit : undefined);
    if (sigmaInit === undefined) {
      sd.dispose();
      throw new OnestepError(ErrorCode.CheckpointUnsupported, `${path} is not a generator saved by onestep: pass { sigmaInit } to use it as one`);
    }
    try {
      return new OneStepGenerator(await EDMNetwork.load(sd, { config: meta.config, device }), sigmaInit);
    } finally {
      sd.dispose();
    }
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.net.dispose();
  }
}

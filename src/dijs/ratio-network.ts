/**
 * RatioNetwork: the class-ratio classifier d(x_σ, σ, c) ≈ log q_σ(x)/p_σ(x). Its trunk is the
 * teacher's mapping network and encoder (weights copied, decoder dropped) on c_in·x_σ with
 * c_noise, EDM's names under `model.`; a small head (GroupNorm → SiLU → mean pool → Linear, or
 * the mean of per-position scores with `head.pool: 'logits'`) gives one logit. Positive logits
 * say "generated", negative "data". With `dropout` > 0 the encoder's blocks drop activations as
 * EDM's do, but only inside a DiJSTrainer's step: `logit` always runs without it.
 */
import { ErrorCode, OnestepError, typeError, valueError } from '../errors.js';
import { native } from '../native.js';
import type { NativeHandle } from '../native-types.js';
import { full } from '../creation.js';
import { Tensor, type Device } from '../tensor.js';
import { copyWeights, countParameters, fillModule } from '../checkpoint/load-into.js';
import { loadStateDict } from '../checkpoint/load.js';
import { saveStateDict } from '../checkpoint/save.js';
import { disposeOnThrow } from '../scope.js';
import { resolveConfig, type EDMConfig } from '../edm/config.js';
import type { EDMNetwork } from '../edm/network.js';

/** Where the head may average over the encoder's last feature map (the one list the checks read). */
export const RATIO_HEAD_POOLS = ['features', 'logits'] as const;
export type RatioHeadPool = (typeof RATIO_HEAD_POOLS)[number];

export interface RatioHeadOptions {
  /** Width of an extra hidden layer before the logit (0: GroupNorm → SiLU → pool → Linear). */
  hidden?: number;
  /**
   * 'features' (default): pool the features, then one score per image. 'logits': score every
   * position with the head's layers and average the scores (a patch classifier). The same
   * weights either way, and the same logit without a hidden layer.
   */
  pool?: RatioHeadPool;
}

export interface RatioNetworkOptions {
  head?: RatioHeadOptions;
  /** Dropout in the encoder's blocks during training steps, in [0, 1). */
  dropout?: number;
  seed?: number;
  device?: Device;
}

/** A dropout rate in [0, 1), or an error that names it. */
export function checkDropout(rate: unknown, name = 'dropout'): number {
  if (typeof rate !== 'number') throw typeError(`${name} must be a number in [0, 1), not ${JSON.stringify(rate)}`);
  if (!(rate >= 0 && rate < 1)) throw valueError(`${name} must be in [0, 1), not ${rate}`);
  return rate;
}

interface NativeRatio {
  stateDict(): [string, NativeHandle][];
  logit(x: NativeHandle, sigma: NativeHandle, classLabels: NativeHandle | null): Promise<NativeHandle>;
  moduleRef(): unknown;
  dispose(): void;
}

const FORMAT = 'onestep-ratio-network/1';

export class RatioNetwork {
  readonly #native: NativeRatio;
  #disposed = false;

  private constructor(readonly config: Readonly<EDMConfig>, readonly head: Readonly<Required<RatioHeadOptions>>, readonly device: Device, seed?: number) {
    const Ctor = native().RatioNetworkHandle as unknown as new (config: EDMConfig, hidden: number, pool: RatioHeadPool, seed: number | null, device: string) => NativeRatio;
    this.#native = new Ctor({ ...config }, head.hidden, head.pool, seed ?? null, device);
  }

  /**
   * A ratio network with fresh weights (EDM's init) for a teacher `config`. `dropout` (default:
   * the config's) is the encoder blocks' rate during training steps.
   */
  static create(config: EDMConfig, options: RatioNetworkOptions = {}): RatioNetwork {
    const hidden = options.head?.hidden ?? 0;
    if (!Number.isInteger(hidden) || hidden < 0) throw typeError('head.hidden must be a non-negative integer');
    const pool = options.head?.pool ?? 'features';
    if (!RATIO_HEAD_POOLS.includes(pool)) throw valueError(`head.pool must be ${RATIO_HEAD_POOLS.map((p) => `'${p}'`).join(' or ')}, not ${JSON.stringify(pool)}`);
    const resolved = resolveConfig(config);
    const dropout = checkDropout(options.dropout ?? resolved.dropout);
    return new RatioNetwork(Object.freeze({ ...resolved, dropout }), Object.freeze({ hidden, pool }), options.device ?? 'cpu', options.seed);
  }

  /**
   * The teacher's mapping network and encoder (copied) with a fresh head. `dropout` defaults to 0,
   * whatever rate the teacher trained with (the reference recipe trains the ratio network without).
   */
  static fromTeacher(teacher: EDMNetwork, options: RatioNetworkOptions = {}): RatioNetwork {
    if (!teacher || typeof (teacher as EDMNetwork).stateDict !== 'function') throw typeError('RatioNetwork.fromTeacher needs an EDMNetwork');
    const ratio = RatioNetwork.create(teacher.config, { ...options, dropout: options.dropout ?? 0, device: options.device ?? teacher.device });
    return disposeOnThrow(ratio, () => {
      copyWeights(teacher, ratio, { strict: false, filter: (name) => name.startsWith('model.map_') || name.startsWith('model.enc.') });
      return ratio;
    });
  }

  /** @internal */
  get nativeHandle(): NativeRatio {
    if (this.#disposed) throw typeError('this RatioNetwork was disposed');
    return this.#native;
  }

  stateDict(): Map<string, Tensor> {
    return new Map(this.nativeHandle.stateDict().map(([name, handle]) => [name, new Tensor(handle)]));
  }

  get parameterCount(): number {
    return countParameters(this);
  }

  /** d(x, σ, c): one logit per image; `sigma` a number or a [N] tensor. */
  async logit(x: Tensor, sigma: number | Tensor, options: { classLabels?: Tensor } = {}): Promise<Tensor> {
    if (!(x instanceof Tensor)) throw typeError('logit needs an image Tensor [N, C, H, W]');
    if (this.config.labelDim > 0 && !options.classLabels) throw typeError(`this ratio network is class-conditional: pass { classLabels } [N, ${this.config.labelDim}]`);
    const s = typeof sigma === 'number' ? full([1], sigma, { device: x.device }) : sigma;
    try {
      return new Tensor(await this.nativeHandle.logit(x.handle, s.handle, options.classLabels?.handle ?? null));
    } finally {
      if (typeof sigma === 'number') s.dispose();
    }
  }

  /** Weights as safetensors with the config and head in the metadata. */
  async save(path: string): Promise<void> {
    const sd = this.stateDict();
    try {
      await saveStateDict(sd, path, { metadata: { onestep: JSON.stringify({ format: FORMAT, config: this.config, head: this.head }) } });
    } finally {
      for (const t of sd.values()) t.dispose();
    }
  }

  static async load(path: string, options: { device?: Device } = {}): Promise<RatioNetwork> {
    const sd = await loadStateDict(path, { device: options.device ?? 'cpu' });
    try {
      const meta = JSON.parse(sd.metadata.get('onestep') ?? '{}') as { format?: string; config?: EDMConfig; head?: RatioHeadOptions };
      if (meta.format !== FORMAT || !meta.config) throw new OnestepError(ErrorCode.CheckpointUnsupported, `${path} is not a ratio network saved by onestep`);
      const ratio = RatioNetwork.create(meta.config, { head: meta.head, device: options.device });
      return disposeOnThrow(ratio, () => {
        fillModule(ratio, sd);
        return ratio;
      });
    } finally {
      sd.dispose();
    }
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#native.dispose();
  }
}

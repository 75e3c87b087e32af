/**
 * EDMNetwork: EDM's preconditioned SongUNet in libtorch, with EDM's parameter names, so EDM
 * checkpoints load strictly. `denoise` is D(x; σ, c) = c_skip·x + c_out·F(c_in·x; ln σ / 4, c).
 */
import { typeError } from '../errors.js';
import { native } from '../native.js';
import { Tensor, type Device } from '../tensor.js';
import { loadStateDict, type LoadOptions } from '../checkpoint/load.js';
import { countParameters, loadInto } from '../checkpoint/load-into.js';
import { inferConfig, resolveConfig, type EDMConfig, type PresetName } from './config.js';

interface NativeNetwork {
  stateDict(): [string, import('../native-types.js').NativeHandle][];
  denoise(x: unknown, sigma: unknown, classLabels: unknown, augmentLabels: unknown): Promise<import('../native-types.js').NativeHandle>;
  forwardRaw(x: unknown, noiseLabels: unknown, classLabels: unknown, augmentLabels: unknown): Promise<import('../native-types.js').NativeHandle>;
  sample(latents: unknown, classLabels: unknown, steps: number, sigmaMin: number, sigmaMax: number, rho: number): Promise<import('../native-types.js').NativeHandle>;
  moduleRef(): unknown;
  setTraining(training: boolean): void;
  dispose(): void;
}

export interface DenoiseOptions {
  /** One-hot (or soft) class labels [N, labelDim]; required for class-conditional networks. */
  classLabels?: Tensor;
  /** EDM augmentation labels [N, augmentDim]. */
  augmentLabels?: Tensor;
}

export class EDMNetwork {
  readonly #native: NativeNetwork;
  readonly config: Readonly<EDMConfig>;
  readonly device: Device;
  /** What could not be read from a checkpoint when the config was inferred. */
  readonly notes: readonly string[];
  #disposed = false;

  private constructor(config: EDMConfig, seed: number | undefined, device: Device, notes: string[] = []) {
    const Ctor = native().EDMNetworkHandle as unknown as new (config: EDMConfig, seed: number | null, device: string) => NativeNetwork;
    this.#native = new Ctor(config, seed ?? null, device);
    this.config = Object.freeze({ ...config });
    this.device = device;
    this.notes = notes;
  }

  /** A freshly initialised network (EDM's init), reproducible with `seed`. */
  static create(presetOrConfig: PresetName | (Partial<EDMConfig> & Pick<EDMConfig, 'imgResolution'>), options: { seed?: number; device?: Device } = {}): EDMNetwork {
    return new EDMNetwork(resolveConfig(presetOrConfig), options.seed, options.device ?? 'cpu');
  }

  /**
   * A network with the weights of a checkpoint (any file loadStateDict reads, or a state dict).
   * Without `config`, the config is inferred from names and shapes (see `notes`).
   */
  static async load(source: string | Map<string, Tensor>, options: { config?: PresetName | Partial<EDMConfig> & Pick<EDMConfig, 'imgResolution'>; device?: Device } & Omit<LoadOptions, 'device'> = {}): Promise<EDMNetwork> {
    const stateDict = typeof source === 'string' ? await loadStateDict(source, { ...options, device: options.device ?? 'cpu' }) : source;
    if (!(stateDict instanceof Map)) throw typeError('EDMNetwork.load needs a path or a Map of name → Tensor');
    try {
      const inferred = options.config ? { config: resolveConfig(options.config), notes: [] } : inferConfig(stateDict);
      const net = new EDMNetwork(inferred.config, 0, options.device ?? 'cpu', inferred.notes);
      const prefixed = [...stateDict.keys()].some((k) => k.startsWith('model.'))
        ? stateDict : new Map([...stateDict].map(([k, v]) => [`model.${k}`, v] as [string, Tensor]));
      const own = net.stateDict();
      try {
        loadInto(own, prefixed, { strict: true });
      } catch (error) {
        net.dispose(); // weights that do not fit: nothing is kept
        throw error;
      } finally {
        for (const t of own.values()) t.dispose();
      }
      return net;
    } finally {
      if (typeof source === 'string') for (const t of stateDict.values()) t.dispose();
    }
  }

  /** @internal The native handle, for native trainers. */
  get nativeHandle(): NativeNetwork {
    return this.#handle;
  }

  get #handle(): NativeNetwork {
    if (this.#disposed) throw typeError('this EDMNetwork was disposed');
    return this.#native;
  }

  /** Name → tensor, in EDM's order; the tensors alias the live weights (dispose the Map's tensors when done). */
  stateDict(): Map<string, Tensor> {
    return new Map(this.#handle.stateDict().map(([name, handle]) => [name, new Tensor(handle)]));
  }

  get parameterCount(): number {
    return countParameters(this);
  }

  /** D(x; σ, c) on a worker thread. `sigma` is a number or a [N] tensor. */
  async denoise(x: Tensor, sigma: number | Tensor, options: DenoiseOptions = {}): Promise<Tensor> {
    const s = typeof sigma === 'number' ? null : sigma;
    const sigmaTensor = s ?? (await import('../creation.js')).full([], sigma as number, { device: x.device });
    try {
      return new Tensor(await this.#handle.denoise(x.handle, sigmaTensor.handle, options.classLabels?.handle ?? null, options.augmentLabels?.handle ?? null));
    } finally {
      if (!s) sigmaTensor.dispose();
    }
  }

  /** @internal The raw UNet F(x; noise labels) without preconditioning (golden tests). */
  async forwardRaw(x: Tensor, noiseLabels: Tensor, options: DenoiseOptions = {}): Promise<Tensor> {
    return new Tensor(await this.#handle.forwardRaw(x.handle, noiseLabels.handle, options.classLabels?.handle ?? null, options.augmentLabels?.handle ?? null));
  }

  /** @internal Used by edmSample. */
  async heun(latents: Tensor, classLabels: Tensor | undefined, steps: number, sigmaMin: number, sigmaMax: number, rho: number): Promise<Tensor> {
    return new Tensor(await this.#handle.sample(latents.handle, classLabels?.handle ?? null, steps, sigmaMin, sigmaMax, rho));
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#native.dispose();
  }
}

/**
 * The yardstick classifier for Fashion-MNIST: trained in the project, shipped as
 * models/fmnist-classifier.safetensors; its 256-wide penultimate features define FID, precision
 * and recall (no Inception network can be downloaded here).
 */
import { join } from 'node:path';
import type { ImageSet } from '../data/fashion-mnist.js';
import { typeError } from '../errors.js';
import { native, packageRoot } from '../native.js';
import type { NativeHandle } from '../native-types.js';
import { Tensor, tidy, type Device } from '../tensor.js';
import { loadStateDict } from '../checkpoint/load.js';
import { loadInto } from '../checkpoint/load-into.js';
import { saveStateDict } from '../checkpoint/save.js';

export const DEFAULT_CLASSIFIER_PATH = join(packageRoot, 'models', 'fmnist-classifier.safetensors');

interface NativeClassifier {
  train(images: NativeHandle, labels: NativeHandle, steps: number, batch: number, lr: number, augment: boolean): Promise<{ loss: number; accuracy: number }>;
  logits(images: NativeHandle): Promise<NativeHandle>;
  features(images: NativeHandle): Promise<NativeHandle>;
  stateDict(): [string, NativeHandle][];
  dispose(): void;
}

export class Classifier {
  readonly #native: NativeClassifier;
  private constructor(readonly device: Device, seed?: number) {
    const Ctor = native().ClassifierHandle as unknown as new (channels: number, classes: number, seed: number | null, device: string) => NativeClassifier;
    this.#native = new Ctor(1, 10, seed ?? null, device);
  }

  static create(options: { seed?: number; device?: Device } = {}): Classifier {
    return new Classifier(options.device ?? 'cpu', options.seed);
  }

  /** The shipped classifier (or another file written by `save`). */
  static async load(path = DEFAULT_CLASSIFIER_PATH, options: { device?: Device } = {}): Promise<Classifier> {
    const weights = await loadStateDict(path, { device: options.device ?? 'cpu' });
    const classifier = new Classifier(options.device ?? 'cpu');
    const own = classifier.stateDict();
    try {
      loadInto(own, weights);
    } catch (error) {
      classifier.dispose(); // weights that do not fit: nothing is kept
      throw error;
    } finally {
      for (const t of [...own.values(), ...weights.values()]) t.dispose();
    }
    return classifier;
  }

  /** `steps` Adam steps on random batches (flips and small shifts when `augment`), in one native call. */
  async train(data: ImageSet, options: { steps: number; batchSize?: number; lr?: number; augment?: boolean }): Promise<{ loss: number; accuracy: number }> {
    if (!data?.images) throw typeError('train needs an ImageSet');
    return this.#native.train(data.images.handle, data.labels.handle, options.steps, options.batchSize ?? 256, options.lr ?? 1e-3, options.augment ?? true);
  }

  async logits(images: Tensor): Promise<Tensor> {
    return new Tensor(await this.#native.logits(images.handle));
  }

  /** Penultimate-layer features [N, 256]. */
  async features(images: Tensor): Promise<Tensor> {
    return new Tensor(await this.#native.features(images.handle));
  }

  /** Predicted classes [N] (int64). */
  async predict(images: Tensor): Promise<Tensor> {
    const logits = await this.logits(images);
    const classes = logits.argmax({ dim: 1 });
    logits.dispose();
    return classes;
  }

  async accuracy(data: ImageSet): Promise<number> {
    const predicted = await this.predict(data.images);
    const accuracy = tidy(() => predicted.eq(data.labels).toSync('float64').mean().item() as number);
    predicted.dispose();
    return accuracy;
  }

  stateDict(): Map<string, Tensor> {
    return new Map(this.#native.stateDict().map(([name, handle]) => [name, new Tensor(handle)]));
  }

  async save(path: string): Promise<void> {
    const sd = this.stateDict();
    try {
      await saveStateDict(sd, path);
    } finally {
      for (const t of sd.values()) t.dispose();
    }
  }

  /** Frees the weights now (GPU memory too); using the classifier afterwards is an error. */
  dispose(): void {
    this.#native.dispose();
  }
}

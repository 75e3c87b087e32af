/**
 * Sample quality against Fashion-MNIST's test set (generated images clamped and quantised to
 * 8 bits first, as saved images are), on the yardstick classifier's features: FID
 * (float64, symmetric matrix square root), precision and recall (k nearest neighbours), and the
 * class histogram of the samples.
 */
import { FashionMNIST, type ImageSet } from '../data/fashion-mnist.js';
import { typeError, valueError } from '../errors.js';
import { native } from '../native.js';
import { cat } from '../creation.js';
import { sameDevice, Tensor, tidy } from '../tensor.js';
import { Classifier } from './classifier.js';

export async function fid(a: Tensor, b: Tensor): Promise<number> {
  return native().fid(a.handle, b.handle);
}

/**
 * FID's first term, ‖μ_a − μ_b‖² (float64): the part of the FID a shift of the average features makes
 * (a brightness or contrast drift, a class-mix change); the rest is the covariance term.
 */
export async function fidMeanTerm(a: Tensor, b: Tensor): Promise<number> {
  if (a.shape.length !== 2 || b.shape.length !== 2 || a.shape[1] !== b.shape[1]) throw valueError(`fidMeanTerm needs features [N, D] and [M, D] of the same D, not [${a.shape}] and [${b.shape}]`);
  return tidy(() => a.toSync('float64').mean({ dim: 0 }).sub(b.toSync('float64').mean({ dim: 0 })).square().sum().item() as number);
}

export async function precisionRecall(real: Tensor, fake: Tensor, k = 3): Promise<{ precision: number; recall: number }> {
  return native().precisionRecall(real.handle, fake.handle, k);
}

export interface Evaluation {
  n: number;
  fid: number;
  /** FID's mean term ‖μ_fake − μ_real‖² (fidMeanTerm); fid − fidMean is the covariance term. */
  fidMean: number;
  precision: number;
  recall: number;
  /** Fraction of samples the classifier puts in each class. */
  histogram: number[];
}

/** Images [N, 1, 32, 32] in [−1, 1], or a function that makes `count` of them. */
export type ImageSource = Tensor | ((count: number) => Promise<Tensor>);

/** `n` images from `make`, `batch` per call, in one tensor (the parts are freed, also when a call fails). */
export async function makeImages(make: (count: number) => Promise<Tensor>, n: number, batch = 1000): Promise<Tensor> {
  const parts: Tensor[] = [];
  try {
    for (let done = 0; done < n; done += batch) parts.push(await make(Math.min(batch, n - done)));
    return cat(parts);
  } finally {
    for (const part of parts) part.dispose();
  }
}

export async function evaluate(source: ImageSource, options: { n?: number; classifier?: Classifier; reference?: ImageSet; k?: number; batch?: number } = {}): Promise<Evaluation> {
  if (!(source instanceof Tensor) && typeof source !== 'function') throw typeError('evaluate needs images or a function that makes them');
  const n = options.n ?? 10_000;
  let classifier = options.classifier;
  let reference: ImageSet | undefined;
  // Every tensor made here is freed here, also when making the images fails half-way.
  const made: Tensor[] = [];
  const keep = (t: Tensor): Tensor => (made.push(t), t);
  try {
    const images = keep(source instanceof Tensor ? source.slice(0, 0, n) : await makeImages(source, n, options.batch));
    // The yardstick loads where the images are (a GPU generator's samples are measured on that GPU);
    // a classifier passed in stays where it is, and the images go to it.
    classifier ??= await Classifier.load(undefined, { device: images.device });
    reference = options.reference ?? await FashionMNIST.load({ split: 'test', device: classifier.device });
    const device = classifier.device;
    const onClassifier = async (t: Tensor) => (sameDevice(t.device, device) ? t : keep(await t.to(device)));
    const onDevice = await onClassifier(images);
    // As EDM's generate.py writes PNGs: clamp and quantise to 8 bits before measuring, so that
    // out-of-range pixels count as saturated ones rather than as features no image can have.
    const quantised = keep(tidy(() => onDevice.add(1).mul(127.5).round().clamp(0, 255).div(127.5).sub(1)));
    const fake = keep(await classifier.features(quantised));
    const real = keep(await classifier.features(await onClassifier(keep(reference.images.slice(0, 0, n)))));
    const predicted = keep(await classifier.predict(quantised));
    const counts = (await predicted.toTypedArray()) as BigInt64Array;
    const histogram = new Array<number>(10).fill(0);
    for (const c of counts) histogram[Number(c)]! += 1 / counts.length;
    return { n: quantised.shape[0]!, fid: await fid(real, fake), fidMean: await fidMeanTerm(fake, real), ...(await precisionRecall(real, fake, options.k ?? 3)), histogram };
  } finally {
    for (const t of made) t.dispose();
    // What was loaded here is freed here; what the caller passed stays the caller's.
    if (!options.reference) reference?.dispose();
    if (!options.classifier) classifier?.dispose();
  }
}

/**
 * Sample quality against Fashion-MNIST's test set (generated images clamped and quantised to
 * 8 bits first, as saved images are), on the yardstick classifier's features: FID
 * (float64, symmetric matrix square root), precision and recall (k nearest neighbours), and the
 * class histogram of the samples.
 */
import { FashionMNIST, type ImageSet } from '../data/fashion-mnist.js';
import { typeError } from '../errors.js';
import { native } from '../native.js';
import { cat } from '../creation.js';
import { Tensor, tidy } from '../tensor.js';
import { Classifier } from './classifier.js';

export async function fid(a: Tensor, b: Tensor): Promise<number> {
  return native().fid(a.handle, b.handle);
}

export async function precisionRecall(real: Tensor, fake: Tensor, k = 3): Promise<{ precision: number; recall: number }> {
  return native().precisionRecall(real.handle, fake.handle, k);
}

export interface Evaluation {
  n: number;
  fid: number;
  precision: number;
  recall: number;
  /** Fraction of samples the classifier puts in each class. */
  histogram: number[];
}

/** Images [N, 1, 32, 32] in [−1, 1], or a function that makes `count` of them. */
export type ImageSource = Tensor | ((count: number) => Promise<Tensor>);

export async function evaluate(source: ImageSource, options: { n?: number; classifier?: Classifier; reference?: ImageSet; k?: number; batch?: number } = {}): Promise<Evaluation> {
  const n = options.n ?? 10_000;
  const classifier = options.classifier ?? await Classifier.load();
  const reference = options.reference ?? await FashionMNIST.load({ split: 'test', device: classifier.device });
  let images: Tensor;
  if (source instanceof Tensor) {
    images = source.slice(0, 0, n);
  } else if (typeof source === 'function') {
    const batch = options.batch ?? 1000;
    const parts: Tensor[] = [];
    for (let done = 0; done < n; done += batch) parts.push(await source(Math.min(batch, n - done)));
    images = cat(parts);
    for (const p of parts) p.dispose();
  } else {
    throw typeError('evaluate needs images or a function that makes them');
  }
  try {
    // As EDM's generate.py writes PNGs: clamp and quantise to 8 bits before measuring, so that
    // out-of-range pixels count as saturated ones rather than as features no image can have.
    const quantised = tidy(() => images.add(1).mul(127.5).round().clamp(0, 255).div(127.5).sub(1));
    images.dispose();
    images = quantised;
    const fake = await classifier.features(images);
    const real = await classifier.features(reference.images.slice(0, 0, n));
    const predicted = await classifier.predict(images);
    const counts = (await predicted.toTypedArray()) as BigInt64Array;
    const histogram = new Array<number>(10).fill(0);
    for (const c of counts) histogram[Number(c)]! += 1 / counts.length;
    const result = { n: images.shape[0]!, fid: await fid(real, fake), ...(await precisionRecall(real, fake, options.k ?? 3)), histogram };
    for (const t of [fake, real, predicted]) t.dispose();
    return result;
  } finally {
    images.dispose();
    // What was loaded here is freed here; what the caller passed stays the caller's.
    if (!options.reference) reference.dispose();
    if (!options.classifier) classifier.dispose();
  }
}

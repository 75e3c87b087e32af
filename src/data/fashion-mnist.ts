/**
 * Fashion-MNIST from the idx `.gz` files of Debian's dataset-fashion-mnist (or
 * FASHION_MNIST_DIR): images padded 28→32 and scaled to [−1, 1], labels 0–9, the whole split
 * on one device so that training never waits for JavaScript.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ErrorCode, OnestepError, typeError } from '../errors.js';
import { tensor } from '../creation.js';
import { tidy, type Device, type Tensor } from '../tensor.js';
import { parseIdx } from './idx.js';

export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'] as const;
export const DEFAULT_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

export interface ImageSet {
  /** [N, C, H, W] float32 in [−1, 1]. */
  images: Tensor;
  /** [N] int64 class indices. */
  labels: Tensor;
  classes: readonly string[];
  /** False for a data set without labels (its `labels` are zeros). */
  labeled?: boolean;
  dispose(): void;
}

const PAD = 2;

function readGz(dir: string, name: string): Uint8Array {
  const path = join(dir, name);
  if (!existsSync(path)) {
    throw new OnestepError(ErrorCode.Io, `Fashion-MNIST file ${path} is missing: apt-get install dataset-fashion-mnist, or set FASHION_MNIST_DIR`);
  }
  try {
    return new Uint8Array(gunzipSync(readFileSync(path)));
  } catch (error) {
    throw new OnestepError(ErrorCode.DatasetCorrupt, `${path} is not a readable gzip file: ${(error as Error).message}`);
  }
}

export const FashionMNIST = {
  /** `offset` skips that many images first (negative: starts that many from the end); `limit` caps how many are kept after it. */
  async load(options: { split?: 'train' | 'test'; dir?: string; device?: Device; limit?: number; offset?: number } = {}): Promise<ImageSet> {
    const split = options.split ?? 'train';
    if (split !== 'train' && split !== 'test') throw typeError(`split must be 'train' or 'test', not ${String(split)}`);
    const dir = options.dir ?? process.env.FASHION_MNIST_DIR ?? DEFAULT_FASHION_MNIST_DIR;
    const stem = split === 'train' ? 'train' : 't10k';
    const images = parseIdx(readGz(dir, `${stem}-images-idx3-ubyte.gz`), `${stem}-images`);
    const labels = parseIdx(readGz(dir, `${stem}-labels-idx1-ubyte.gz`), `${stem}-labels`);
    const [count, rows, cols] = images.dims;
    if (images.dims.length !== 3 || rows !== 28 || cols !== 28) throw new OnestepError(ErrorCode.DatasetCorrupt, `${stem}-images are not 28×28 images`);
    if (labels.dims.length !== 1 || labels.dims[0] !== count) throw new OnestepError(ErrorCode.DatasetCorrupt, `${stem}-labels do not match the images in number`);
    if (labels.data.some((l) => l > 9)) throw new OnestepError(ErrorCode.DatasetCorrupt, `${stem}-labels hold a class above 9`);
    const requested = options.offset ?? 0;
    if (!Number.isInteger(requested) || requested < -count! || requested >= count!) throw typeError(`offset must be an integer from ${-count!} to ${count! - 1} (the ${stem} split has ${count} images), not ${String(requested)}`);
    const offset = requested < 0 ? count! + requested : requested;
    const n = Math.min(count! - offset, options.limit ?? count!);
    // Pad 28 → 32 with background (0) here, as bytes; scale on the device.
    const size = 28 + 2 * PAD;
    const padded = new Uint8Array(n * size * size);
    for (let i = 0; i < n; i++) {
      for (let r = 0; r < 28; r++) {
        padded.set(images.data.subarray(((offset + i) * 28 + r) * 28, ((offset + i) * 28 + r + 1) * 28), (i * size + r + PAD) * size + PAD);
      }
    }
    const device = options.device ?? 'cpu';
    const raw = tensor(padded, { shape: [n, 1, size, size] });
    const onDevice = await raw.to(device);
    raw.dispose();
    const scaled = tidy(() => onDevice.toSync('float32').div(127.5).sub(1));
    onDevice.dispose();
    const labelTensor = tensor(labels.data.subarray(offset, offset + n), { dtype: 'int64', device });
    return {
      images: scaled,
      labels: labelTensor,
      classes: FASHION_MNIST_CLASSES,
      dispose() { scaled.dispose(); labelTensor.dispose(); },
    };
  },
};

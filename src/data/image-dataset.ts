/**
 * Users' own images in EDM's dataset format: a folder or a zip of PNG files, with an optional
 * `dataset.json` of `{ "labels": [[relative path, class], …] }`. Any resolution, 1 or 3 channels
 * (grey or RGB; alpha is dropped); all images the same size. PNGs are decoded by pngjs, zips read
 * by yauzl; the whole set ends up as one tensor on the chosen device, scaled to [−1, 1].
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { PNG } from 'pngjs';
import yauzl from 'yauzl';
import { ErrorCode, OnestepError, typeError } from '../errors.js';
import { tensor, zeros } from '../creation.js';
import { tidy, type Device } from '../tensor.js';
import type { ImageSet } from './fashion-mnist.js';

const MAX_FILES = 10_000_000;
const MAX_FILE_BYTES = 64 << 20;

function corrupt(message: string): OnestepError {
  return new OnestepError(ErrorCode.DatasetCorrupt, message);
}

function listFolder(root: string): Map<string, () => Uint8Array> {
  const files = new Map<string, () => Uint8Array>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) {
        if (files.size >= MAX_FILES) throw corrupt(`${root} holds more than ${MAX_FILES} files`);
        files.set(relative(root, path).split(sep).join('/'), () => new Uint8Array(readFileSync(path)));
      }
    }
  };
  walk(root);
  return files;
}

async function listZip(path: string): Promise<Map<string, () => Uint8Array>> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.open(path, { lazyEntries: true, autoClose: false }, (error, file) => (error ? reject(corrupt(`${path} is not a readable zip: ${error.message}`)) : resolve(file))));
  const files = new Map<string, () => Uint8Array>();
  try {
    await new Promise<void>((resolve, reject) => {
      zip.on('entry', (entry: yauzl.Entry) => {
        if (entry.fileName.endsWith('/')) { zip.readEntry(); return; }
        if (entry.uncompressedSize > MAX_FILE_BYTES) { reject(corrupt(`${entry.fileName} in ${path} is over ${MAX_FILE_BYTES} bytes`)); return; }
        zip.openReadStream(entry, (error, stream) => {
          if (error) { reject(corrupt(`${entry.fileName} in ${path}: ${error.message}`)); return; }
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('error', (e: Error) => reject(corrupt(`${entry.fileName} in ${path}: ${e.message}`)));
          stream.on('end', () => {
            const bytes = new Uint8Array(Buffer.concat(chunks));
            files.set(entry.fileName, () => bytes);
            zip.readEntry();
          });
        });
      });
      zip.on('end', () => resolve());
      zip.on('error', (error: Error) => reject(corrupt(`${path}: ${error.message}`)));
      zip.readEntry();
    });
  } finally {
    zip.close();
  }
  return files;
}

function parseLabels(json: Uint8Array | undefined): Map<string, number> | null {
  if (!json) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(json));
  } catch (error) {
    throw corrupt(`dataset.json is not valid JSON: ${(error as Error).message}`);
  }
  const list = (parsed as { labels?: unknown })?.labels;
  if (list === null || list === undefined) return null;
  if (!Array.isArray(list)) throw corrupt('dataset.json "labels" must be a list of [path, class] pairs');
  const labels = new Map<string, number>();
  for (const item of list) {
    if (!Array.isArray(item) || typeof item[0] !== 'string' || !Number.isSafeInteger(item[1]) || item[1] < 0) {
      throw corrupt('dataset.json "labels" must be a list of [path, class] pairs with non-negative integer classes');
    }
    labels.set(item[0].replace(/\\/g, '/'), item[1]);
  }
  return labels;
}

export const ImageDataset = {
  async load(path: string, options: { device?: Device } = {}): Promise<ImageSet & { labeled: boolean; labelDim: number }> {
    if (typeof path !== 'string') throw typeError('ImageDataset.load needs a path to a folder or a zip');
    let stat;
    try {
      stat = statSync(path);
    } catch {
      throw new OnestepError(ErrorCode.Io, `dataset ${path} does not exist`);
    }
    const files = stat.isDirectory() ? listFolder(path) : await listZip(path);
    const names = [...files.keys()].filter((n) => n.toLowerCase().endsWith('.png')).sort();
    if (names.length === 0) throw corrupt(`${path} holds no PNG images`);
    const labels = parseLabels(files.get('dataset.json')?.());
    let width = 0, height = 0, channels = 0;
    let pixels: Uint8Array | undefined;
    const classes = new Int32Array(names.length);
    names.forEach((name, i) => {
      let png: PNG;
      try {
        png = PNG.sync.read(Buffer.from(files.get(name)!()));
      } catch (error) {
        throw corrupt(`${name} in ${path} is not a readable PNG: ${(error as Error).message}`);
      }
      const grey = (png as unknown as { colorType: number }).colorType === 0 || (png as unknown as { colorType: number }).colorType === 4;
      if (i === 0) {
        [width, height, channels] = [png.width, png.height, grey ? 1 : 3];
        pixels = new Uint8Array(names.length * channels * width * height);
      } else if (png.width !== width || png.height !== height || (grey ? 1 : 3) !== channels) {
        throw corrupt(`${name} is ${png.width}×${png.height}×${grey ? 1 : 3}, but the first image is ${width}×${height}×${channels}: all images must match`);
      }
      for (let c = 0; c < channels; c++) {
        const plane = (i * channels + c) * width * height;
        for (let p = 0; p < width * height; p++) pixels![plane + p] = png.data[p * 4 + c]!;
      }
      if (labels) {
        const label = labels.get(name);
        if (label === undefined) throw corrupt(`dataset.json has no label for ${name}`);
        classes[i] = label;
      }
    });
    const device = options.device ?? 'cpu';
    const raw = tensor(pixels!, { shape: [names.length, channels, height, width] });
    const images = tidy(() => raw.toSync('float32').div(127.5).sub(1));
    raw.dispose();
    const onDevice = device === 'cpu' ? images : await images.to(device);
    if (onDevice !== images) images.dispose();
    const labelTensor = labels ? tensor(classes, { dtype: 'int64', device }) : zeros([names.length], { dtype: 'int64', device });
    const labelDim = labels ? Math.max(...classes) + 1 : 0;
    return {
      images: onDevice, labels: labelTensor, labeled: labels !== null, labelDim,
      classes: Array.from({ length: labelDim }, (_, i) => String(i)),
      dispose() { onDevice.dispose(); labelTensor.dispose(); },
    };
  },
};

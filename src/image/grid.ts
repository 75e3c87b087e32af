/** Image grids as PNG files (pngjs encodes): [N, C, H, W] tensors in [−1, 1], 1 or 3 channels. */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { PNG } from 'pngjs';
import { typeError } from '../errors.js';
import { tidy, type Tensor } from '../tensor.js';

/** Writes `images` as one PNG grid (`columns` wide, default √N), atomically. */
export async function saveImageGrid(images: Tensor, path: string, options: { columns?: number } = {}): Promise<void> {
  if (images.rank !== 4 || (images.shape[1] !== 1 && images.shape[1] !== 3)) throw typeError('saveImageGrid needs [N, 1 or 3, H, W] images');
  const [n, c, h, w] = images.shape as [number, number, number, number];
  const columns = options.columns ?? Math.ceil(Math.sqrt(n));
  const rows = Math.ceil(n / columns);
  // Quantise on the device; only bytes cross to JavaScript.
  const bytes = tidy(() => images.add(1).mul(127.5).clamp(0, 255).round().toSync('uint8'));
  const pixels = (await bytes.toTypedArray()) as Uint8Array;
  bytes.dispose();
  const png = new PNG({ width: columns * w, height: rows * h });
  png.data.fill(0);
  for (let i = 0; i < n; i++) {
    const x0 = (i % columns) * w;
    const y0 = Math.floor(i / columns) * h;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const out = ((y0 + y) * columns * w + x0 + x) * 4;
        for (let k = 0; k < 3; k++) png.data[out + k] = pixels[((i * c + (c === 1 ? 0 : k)) * h + y) * w + x]!;
        png.data[out + 3] = 255;
      }
    }
  }
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.tmp-${process.pid}`;
  writeFileSync(temporary, PNG.sync.write(png));
  renameSync(temporary, path);
}

/**
 * Generated images as files: quantised to 8 bits (as PNGs would be) in a safetensors file, so
 * that samples made on one machine can be measured on another, bit for bit.
 */
import { typeError } from '../errors.js';
import { loadStateDict } from '../checkpoint/load.js';
import { saveStateDict } from '../checkpoint/save.js';
import { tidy, type Device, type Tensor } from '../tensor.js';

/** Saves images [N, C, H, W] in [−1, 1] as uint8 under the name `images`. */
export async function saveSamples(images: Tensor, path: string, metadata: Record<string, string> = {}): Promise<void> {
  if (images.rank !== 4) throw typeError('saveSamples needs images [N, C, H, W]');
  const bytes = tidy(() => images.add(1).mul(127.5).round().clamp(0, 255).toSync('uint8').toSync('cpu'));
  try {
    await saveStateDict(new Map([['images', bytes]]), path, { metadata });
  } finally {
    bytes.dispose();
  }
}

/** Images saved by saveSamples, back in [−1, 1] as float32. */
export async function loadSamples(path: string, options: { device?: Device } = {}): Promise<{ images: Tensor; metadata: Map<string, string> }> {
  const sd = await loadStateDict(path, { device: options.device ?? 'cpu' });
  try {
    const bytes = sd.get('images');
    if (!bytes || bytes.dtype !== 'uint8' || bytes.rank !== 4) throw typeError(`${path} holds no uint8 'images' [N, C, H, W] (write it with saveSamples)`);
    return { images: tidy(() => bytes.toSync('float32').div(127.5).sub(1)), metadata: new Map(sd.metadata) };
  } finally {
    sd.dispose();
  }
}

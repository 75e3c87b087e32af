// EDM's dataset format: a folder or a zip of PNGs with dataset.json labels.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, ImageDataset } from '../src/index.js';
import { AlignedZipWriter } from '../src/checkpoint/zip-writer.js';
import { expectError } from './helpers.js';

let dir = '';
function png(width: number, height: number, rgb: [number, number, number], grey = false): Buffer {
  const image = new PNG({ width, height, colorType: grey ? 0 : 2, inputColorType: 6 } as never);
  for (let p = 0; p < width * height; p++) image.data.set([...rgb, 255], p * 4);
  return PNG.sync.write(image, { colorType: grey ? 0 : 2 } as never);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'onestep-images-'));
  mkdirSync(join(dir, 'folder', '00000'), { recursive: true });
  const colours: [number, number, number][] = [[255, 0, 0], [0, 255, 0], [0, 0, 255]];
  colours.forEach((c, i) => writeFileSync(join(dir, 'folder', '00000', `img${i}.png`), png(6, 4, c)));
  writeFileSync(join(dir, 'folder', 'dataset.json'), JSON.stringify({ labels: [['00000/img0.png', 2], ['00000/img1.png', 0], ['00000/img2.png', 1]] }));
  const file = await open(join(dir, 'grey.zip'), 'w');
  const zip = new AlignedZipWriter(file);
  await zip.add('a.png', png(4, 4, [0, 0, 0], true));
  await zip.add('b.png', png(4, 4, [255, 255, 255], true));
  await zip.finish();
  await file.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ImageDataset', () => {
  it('loads a folder of RGB PNGs with labels, in path order, scaled to [−1, 1]', async () => {
    const set = await ImageDataset.load(join(dir, 'folder'));
    expect(set.images.shape).toEqual([3, 3, 4, 6]);
    expect(Array.from(await set.labels.toTypedArray() as BigInt64Array, Number)).toEqual([2, 0, 1]);
    expect(set.labeled).toBe(true);
    expect(set.labelDim).toBe(3);
    // img0 is red: channel 0 at +1, the others at −1.
    expect(set.images.select(0, 0).select(0, 0).mean().item()).toBe(1);
    expect(set.images.select(0, 0).select(0, 1).mean().item()).toBe(-1);
    set.dispose();
  });

  it('loads a zip of grey PNGs without labels', async () => {
    const set = await ImageDataset.load(join(dir, 'grey.zip'));
    expect(set.images.shape).toEqual([2, 1, 4, 4]);
    expect(set.labeled).toBe(false);
    expect(set.images.min().item()).toBe(-1);
    expect(set.images.max().item()).toBe(1);
    set.dispose();
  });

  it('rejects mixed sizes, broken PNGs, missing labels and missing paths clearly', async () => {
    mkdirSync(join(dir, 'mixed'));
    writeFileSync(join(dir, 'mixed', 'a.png'), png(4, 4, [1, 2, 3]));
    writeFileSync(join(dir, 'mixed', 'b.png'), png(5, 4, [1, 2, 3]));
    await expectError(() => ImageDataset.load(join(dir, 'mixed')), ErrorCode.DatasetCorrupt, /all images must match/);
    mkdirSync(join(dir, 'broken'));
    writeFileSync(join(dir, 'broken', 'a.png'), 'not a png');
    await expectError(() => ImageDataset.load(join(dir, 'broken')), ErrorCode.DatasetCorrupt, /not a readable PNG/);
    mkdirSync(join(dir, 'unlabelled'));
    writeFileSync(join(dir, 'unlabelled', 'a.png'), png(4, 4, [1, 2, 3]));
    writeFileSync(join(dir, 'unlabelled', 'dataset.json'), JSON.stringify({ labels: [['other.png', 1]] }));
    await expectError(() => ImageDataset.load(join(dir, 'unlabelled')), ErrorCode.DatasetCorrupt, /no label for a\.png/);
    await expectError(() => ImageDataset.load(join(dir, 'nowhere')), ErrorCode.Io, /does not exist/);
    mkdirSync(join(dir, 'empty'));
    await expectError(() => ImageDataset.load(join(dir, 'empty')), ErrorCode.DatasetCorrupt, /no PNG/);
  });
});

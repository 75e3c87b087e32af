// The ratio network's head: where it averages over the encoder's last feature map ('features':
// pool, then score the image; 'logits': score every position, then average — a patch classifier).
// CI: CPU, tiny networks.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DiJSTrainer, EDMNetwork, ErrorCode, FashionMNIST, manualSeed, randn, RatioNetwork, saveStateDict, type EDMConfig, type RatioHeadOptions } from '../src/index.js';
import { expectError, TINY_EDM } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'onestep-ratio-head-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Both pools on the same weights (one seed), on the same noisy images: the largest difference of their logits. */
async function poolDifference(config: EDMConfig, hidden: number): Promise<number> {
  const make = (pool: RatioHeadOptions['pool']) => RatioNetwork.create(config, { head: { hidden, pool }, seed: 5 });
  const [features, logits] = [make('features'), make('logits')];
  manualSeed(1);
  const x = randn([4, 1, config.imgResolution, config.imgResolution]);
  const classLabels = randn([4, 10]).softmax(1);
  try {
    const [a, b] = [await features.logit(x, 0.7, { classLabels }), await logits.logit(x, 0.7, { classLabels })];
    return a.sub(b).abs().max().item() as number;
  } finally {
    for (const t of [features, logits]) t.dispose();
  }
}

describe('RatioNetwork head pooling', () => {
  it('averages per-position scores: equal to pooling features where the head is linear or the map is 1×1, different where neither', async () => {
    // A linear head commutes with the mean over positions (the encoder's last map is 16×16 here).
    expect(await poolDifference(TINY_EDM, 0)).toBeLessThan(1e-5);
    // With a hidden layer (SiLU between), scoring each position differs from scoring the mean...
    expect(await poolDifference(TINY_EDM, 16)).toBeGreaterThan(1e-4);
    // ...except on a 1×1 map (4 → 2 → 1 pixels), where the layers see the same vector either way.
    const oneByOne: EDMConfig = { ...TINY_EDM, imgResolution: 4, channelMult: [1, 2, 2], attnResolutions: [] };
    expect(await poolDifference(oneByOne, 16)).toBeLessThan(1e-5);
  });

  it('keeps the pool through save and load, and reads files saved before it existed as pooling features', async () => {
    const ratio = RatioNetwork.create(TINY_EDM, { head: { hidden: 8, pool: 'logits' }, seed: 2 });
    await ratio.save(join(dir, 'patch.safetensors'));
    const back = await RatioNetwork.load(join(dir, 'patch.safetensors'));
    expect(back.head).toEqual({ hidden: 8, pool: 'logits' });
    const sd = ratio.stateDict();
    await saveStateDict(sd, join(dir, 'old.safetensors'), { metadata: { onestep: JSON.stringify({ format: 'onestep-ratio-network/1', config: ratio.config, head: { hidden: 8 } }) } });
    const old = await RatioNetwork.load(join(dir, 'old.safetensors'));
    expect(old.head).toEqual({ hidden: 8, pool: 'features' });
    const x = randn([2, 1, 32, 32]), classLabels = randn([2, 10]).softmax(1);
    const [a, b] = [await ratio.logit(x, 0.5, { classLabels }), await back.logit(x, 0.5, { classLabels })];
    expect(a.sub(b).abs().max().item()).toBe(0);
    for (const t of [ratio, back, old, ...sd.values()] as { dispose(): void }[]) t.dispose();
  });

  it('trains as a patch classifier in the fused step, and a resumed run keeps it', async () => {
    const data = await FashionMNIST.load({ limit: 64 });
    const teacher = EDMNetwork.create(TINY_EDM, { seed: 3 });
    const path = join(dir, 'run.safetensors');
    const trainer = new DiJSTrainer({ teacher, data, batchSize: 8, seed: 1, ratioHead: { hidden: 8, pool: 'logits' } });
    try {
      const stats = await trainer.step(2);
      expect(Number.isFinite(stats.lossRatio) && Number.isFinite(stats.lossGenerator)).toBe(true);
      await trainer.save(path);
      const resumed = await DiJSTrainer.resume(path, data);
      expect(resumed.ratio.head).toEqual({ hidden: 8, pool: 'logits' });
      resumed.dispose();
    } finally {
      for (const t of [trainer, teacher, data]) t.dispose();
    }
  });

  it('refuses a pool it does not know', async () => {
    for (const pool of ['max', '', 3])
      await expectError(() => RatioNetwork.create(TINY_EDM, { head: { pool } as unknown as RatioHeadOptions }), ErrorCode.InvalidArgValue, /head.pool must be 'features' or 'logits'/);
  });
});


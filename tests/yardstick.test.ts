// The yardstick (classifier, FID, precision/recall) and the shipped models, on the CPU.
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import {
  Classifier, EDMNetwork, ErrorCode, evaluate, FashionMNIST, fid, fidMeanTerm, manualSeed, memory, OneStepGenerator, precisionRecall, randn, tensor,
} from '../src/index.js';
import { packageRoot } from '../src/native.js';
import { expectError, forceGc } from './helpers.js';

describe('FID and precision/recall', () => {
  it('match closed forms on Gaussian features', async () => {
    manualSeed(0);
    // N(0, I) against N(0.5·1, I) in 8 dimensions: FID = ‖Δμ‖² = 8 · 0.25 = 2.
    const a = randn([20_000, 8], { dtype: 'float64' });
    const b = randn([20_000, 8], { dtype: 'float64' }).add(0.5);
    expect(await fid(a, b)).toBeCloseTo(2, 1);
    expect(await fidMeanTerm(a, b)).toBeCloseTo(2, 1);  // all of it the mean term
    // N(0, I) against N(0, 4I): FID = tr(I + 4I − 2·2I) = 8.
    const c = randn([20_000, 8], { dtype: 'float64' }).mul(2);
    expect(await fid(a, c)).toBeCloseTo(8, 0);
    expect(await fidMeanTerm(a, c)).toBeLessThan(0.01);  // none of it
    // The same distribution: near zero; identical sets: zero to rounding.
    expect(await fid(a, a)).toBeLessThan(1e-8);
    const same = await precisionRecall(a.slice(0, 0, 2000), randn([2000, 8], { dtype: 'float64' }), 3);
    expect(same.precision).toBeGreaterThan(0.8);
    expect(same.recall).toBeGreaterThan(0.8);
    const far = await precisionRecall(a.slice(0, 0, 2000), randn([2000, 8]).add(10), 3);
    expect(far).toEqual({ precision: 0, recall: 0 });
  });

  it('rejects mismatched feature sets', async () => {
    await expectError(() => fid(randn([10, 4]), randn([10, 5])), ErrorCode.InvalidArgValue, /same D/);
    await expectError(() => fidMeanTerm(randn([10, 4]), randn([10, 5])), ErrorCode.InvalidArgValue, /same D/);
    await expectError(() => fidMeanTerm(randn([10]), randn([10])), ErrorCode.InvalidArgValue, /features \[N, D\]/);
    await expectError(() => precisionRecall(randn([5, 4]), randn([5, 4]), 5), ErrorCode.InvalidArgValue, /k must/);
  });
});

describe('shipped models', () => {
  it('the classifier reaches ≥ 92 % on the Fashion-MNIST test set', async () => {
    const classifier = await Classifier.load();
    const test = await FashionMNIST.load({ split: 'test' });
    expect(await classifier.accuracy(test)).toBeGreaterThanOrEqual(0.92);
    // Real images score at the floor: a small FID against other real images, balanced classes.
    const train = await FashionMNIST.load({ split: 'train', limit: 2000 });
    const result = await evaluate(train.images, { n: 2000, classifier, reference: test });
    expect(result.fid).toBeLessThan(10);
    expect(result.fidMean).toBeGreaterThan(0);
    expect(result.fidMean).toBeLessThan(result.fid);
    for (const share of result.histogram) expect(share).toBeGreaterThan(0.05);
    test.dispose();
    train.dispose();
  }, 120_000);

  it('the teacher loads strictly as fmnist32 and denoises a noisy test image', async () => {
    const teacher = await EDMNetwork.load(join(packageRoot, 'models', 'fmnist32-teacher.safetensors'));
    expect(teacher.config).toMatchObject({ imgResolution: 32, inChannels: 1, labelDim: 10, modelChannels: 64, channelMult: [1, 2, 2], numBlocks: 2, attnResolutions: [16] });
    expect(teacher.parameterCount).toBe(6_988_289);
    const test = await FashionMNIST.load({ split: 'test', limit: 8 });
    const labels = tensor(Array.from({ length: 8 }, () => new Array(10).fill(0)));
    const oneHot = test.labels.unsqueeze(1).eq(tensor([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]], { dtype: 'int64' })).toSync('float32');
    const noisy = test.images.add(randn([8, 1, 32, 32]).mul(0.5));
    const denoised = await teacher.denoise(noisy, 0.5, { classLabels: oneHot });
    // Denoising must bring the image closer to the clean one than the noisy input was.
    const before = noisy.sub(test.images).square().mean().item() as number;
    const after = denoised.sub(test.images).square().mean().item() as number;
    expect(after).toBeLessThan(before / 3);
    labels.dispose();
    teacher.dispose();
  });

  it('says what is missing when the classifier file is', async () => {
    await expectError(() => Classifier.load('/nonexistent/classifier.safetensors'), ErrorCode.Io);
  });

  it('evaluate frees every tensor it makes, also when the images fail half-way', async () => {
    const classifier = await Classifier.load();
    const reference = await FashionMNIST.load({ split: 'test', limit: 40 });
    await forceGc();
    const before = memory();
    const result = await evaluate(reference.images, { n: 20, classifier, reference });
    expect(result.n).toBe(20);
    expect(memory()).toEqual(before);
    let calls = 0;
    const failing = async (count: number) => {
      if (++calls === 2) throw new Error('the generator failed');
      return randn([count, 1, 32, 32]);
    };
    await expect(evaluate(failing, { n: 20, batch: 10, classifier, reference })).rejects.toThrow(/the generator failed/);
    expect(memory()).toEqual(before);
    await expectError(() => evaluate('images' as never, { classifier, reference }), ErrorCode.InvalidArgType, /evaluate needs images/);
    // Without a classifier, evaluate loads its own where the images are, and frees it.
    let drawn = 0;
    const inOrder = async (count: number) => reference.images.slice(0, drawn, (drawn += count));
    const own = await evaluate(inOrder, { n: 20, batch: 10, reference });
    expect(own.fid).toBeCloseTo(result.fid, 6);
    calls = 0;
    await expect(evaluate(failing, { n: 20, batch: 10, reference })).rejects.toThrow(/the generator failed/);
    expect(memory()).toEqual(before);
    reference.dispose();
    classifier.dispose();
  });

  it('frees a classifier on dispose, after which it says so', async () => {
    const classifier = await Classifier.load();
    const images = randn([2, 1, 32, 32]);
    (await classifier.features(images)).dispose();
    classifier.dispose();
    await expectError(() => classifier.features(images), ErrorCode.TensorDisposed, /classifier was disposed/);
    expect(() => classifier.stateDict()).toThrow(/classifier was disposed/);
    classifier.dispose(); // twice is harmless
    images.dispose();
  });

  it('frees what it built when the weights in a file do not fit', async () => {
    // The classifier's file as a teacher, the teacher's as a classifier or a generator: refused,
    // and nothing kept (networks are counted by their disposals, tensors by memory()).
    const classifierFile = join(packageRoot, 'models', 'fmnist-classifier.safetensors');
    const teacherFile = join(packageRoot, 'models', 'fmnist32-teacher.safetensors');
    const networks = vi.spyOn(EDMNetwork.prototype, 'dispose');
    const classifiers = vi.spyOn(Classifier.prototype, 'dispose');
    try {
      await forceGc();
      const before = memory();
      await expectError(() => EDMNetwork.load(classifierFile, { config: 'fmnist32' }), ErrorCode.StateDictMismatch);
      expect(networks).toHaveBeenCalledTimes(1);
      await expectError(() => Classifier.load(teacherFile), ErrorCode.StateDictMismatch);
      expect(classifiers).toHaveBeenCalledTimes(1);
      await expectError(() => OneStepGenerator.load(classifierFile, { sigmaInit: 2.5 }), ErrorCode.CheckpointUnsupported);
      expect(memory()).toEqual(before);
    } finally {
      networks.mockRestore();
      classifiers.mockRestore();
    }
  });
});

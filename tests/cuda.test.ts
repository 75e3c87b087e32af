// CUDA cases: run by `npm run test:gpu` on a GPU machine (which then fails if CUDA is missing);
// skipped where the addon has no CUDA device, as in CI.
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { calibrateRatio, Classifier, conv2d, cuda, DiJSTrainer, EDMNetwork, ErrorCode, evaluate, launch, manualSeed, memory, ones, OneStepGenerator, ProcessGroup, rand, randint, randn, tensor, tidy, zeros, type DiJSStats, type Tensor } from '../src/index.js';
import { native } from '../src/native.js';
import { expectAdaptiveP, expectError, hasCuda, meanLogit, TINY_EDM, values } from './helpers.js';

function maxRelativeError(got: Float32Array | Float64Array, want: Float32Array | Float64Array): number {
  let err = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    err = Math.max(err, Math.abs(got[i]! - want[i]!));
    scale = Math.max(scale, Math.abs(want[i]!));
  }
  return err / scale;
}

/**
 * The graph-replayed step's statistics against the eager step's, call by call, as numpy's allclose
 * with rtol = atol = `tolerance`: within tolerance × max(1, |eager|) (a rounding's size grows with
 * the value's, so a bf16 logit of 1.5 may differ by more than one of 0.1).
 */
function expectStatsClose(graph: DiJSStats[], eager: DiJSStats[], tolerance: number, label: string): void {
  expect(graph).toHaveLength(eager.length);
  for (const [i, s] of graph.entries()) {
    for (const key of ['lossRatio', 'lossGenerator', 'logitReal', 'logitFake', 'gradNormGenerator'] as const) {
      const want = eager[i]![key];
      expect(Math.abs(s[key] - want), `${label} ${key}, call ${i}: graph ${s[key]}, eager ${want}`).toBeLessThan(tolerance * Math.max(1, Math.abs(want)));
    }
  }
}

/** A tiny teacher and `n` random labelled images on the GPU (the test pack carries no Fashion-MNIST). */
function tinyOnGpu(n: number) {
  const teacher = EDMNetwork.create(TINY_EDM, { seed: 1, device: 'cuda' });
  const images = randn([n, 1, 32, 32], { device: 'cuda' }).clamp(-1, 1);
  const labels = randint(0, 10, [n], { device: 'cuda' });
  return { teacher, images, labels, data: { images, labels, classes: [], dispose() {} } };
}

describe.runIf(hasCuda)('CUDA', () => {
  it('creates tensors on the device and reports it', () => {
    expect(cuda.deviceCount()).toBeGreaterThan(0);
    const t = zeros([2, 3], { device: 'cuda' });
    expect(t.device).toBe('cuda:0');
    expect(ones([1], { device: 'cuda:0' }).device).toBe('cuda:0');
  });

  it('selects the current device as torch.cuda.set_device, and refuses one that is not there', async () => {
    cuda.setDevice(0);
    expect(cuda.currentDevice()).toBe(0);
    await expectError(() => cuda.setDevice(cuda.deviceCount()), ErrorCode.CudaUnavailable, /no CUDA device/);
  });

  it('copies host → device → host without changing values, for every dtype', async () => {
    const cases = [
      tensor(new Float32Array([1.5, -2, 3e-8])),
      tensor(new Float64Array([Math.PI, -1e300])),
      tensor(new BigInt64Array([2n ** 60n, -5n])),
      tensor(new Int32Array([7, -8])),
      tensor(new Uint8Array([0, 255])),
      tensor([true, false, true]),
      tensor(new Uint16Array([0x3c00, 0xc000]), { dtype: 'float16' }),
      tensor(new Uint16Array([0x3f80, 0x4049]), { dtype: 'bfloat16' }),
    ];
    for (const host of cases) {
      const device = await host.to('cuda');
      expect(device.device).toBe('cuda:0');
      expect(device.dtype).toBe(host.dtype);
      const back = await device.to('cpu');
      expect(await values(back)).toEqual(await values(host));
      expect(await values(device)).toEqual(await values(host));
    }
  });

  it('multiplies matrices on the device like the CPU does', async () => {
    manualSeed(0);
    const a = randn([256, 128], { dtype: 'float64' });
    const b = randn([128, 64], { dtype: 'float64' });
    const want = a.matmul(b);
    const got = (await a.to('cuda')).matmul(await b.to('cuda'));
    expect(got.device).toBe('cuda:0');
    // float64 on both: only summation order differs.
    expect(maxRelativeError(await got.toTypedArray() as Float64Array, await want.toTypedArray() as Float64Array)).toBeLessThan(1e-12);
    const a32 = await (await a.to('float32')).to('cuda');
    const b32 = await (await b.to('float32')).to('cuda');
    // float32 matmul; TF32 tensor cores, if enabled, give ~1e-3.
    expect(maxRelativeError(await a32.matmul(b32).toTypedArray() as Float32Array, await want.toTypedArray() as Float32Array)).toBeLessThan(5e-3);
  });

  it('runs a conv forward and backward on the device matching the CPU', async () => {
    manualSeed(1);
    const x = randn([4, 3, 16, 16], { dtype: 'float64' });
    const w = randn([8, 3, 3, 3], { dtype: 'float64', requiresGrad: true });
    const y = conv2d(x, w, null, { padding: 1 });
    await y.square().sum().backward();
    const wantY = await y.detach().toTypedArray() as Float64Array;
    const wantGrad = await w.grad!.toTypedArray() as Float64Array;

    const xd = await x.to('cuda');
    const wLeaf = (await w.detach().to('cuda')).requiresGrad_();
    const yd = conv2d(xd, wLeaf, null, { padding: 1 });
    await yd.square().sum().backward();
    const gotY = await yd.detach().toTypedArray() as Float64Array;
    const gotGrad = await wLeaf.grad!.toTypedArray() as Float64Array;
    expect(wLeaf.grad!.device).toBe('cuda:0');
    expect(maxRelativeError(Float32Array.from(gotY), Float32Array.from(wantY))).toBeLessThan(1e-9);
    expect(maxRelativeError(Float32Array.from(gotGrad), Float32Array.from(wantGrad))).toBeLessThan(1e-9);
  });

  it('rejects mixing devices with libtorch\'s message', async () => {
    await expectError(() => ones([2]).add(ones([2], { device: 'cuda' })), ErrorCode.Torch, /same device/);
  });

  it('turns CUDA out-of-memory into an Error and keeps working', async () => {
    expect(cuda.memoryInfo().total).toBeGreaterThan(1e9);
    // 4 TiB: far beyond any card; the caching allocator fails at once (no managed memory).
    await expectError(() => zeros([2 ** 40], { device: 'cuda' }), ErrorCode.OutOfMemory, /out of memory/i);
    await expectError(() => tidy(async () => (await ones([2 ** 20]).to('cuda')).expand(2 ** 20, 2 ** 20).contiguous()), ErrorCode.OutOfMemory);
    expect(ones([4], { device: 'cuda' }).sum().item()).toBe(4);
  });

  it('gives device memory back: 1000 CUDA tensors disposed leave memory() and the allocator where they were', async () => {
    cuda.synchronize();
    const baseline = memory();
    const before = cuda.memoryInfo();
    const held: Tensor[] = [];
    for (let i = 0; i < 1000; i++) {
      held.push(randn([1 << 18], { device: 'cuda' })); // 1 MiB each
      tidy(() => { held[i]!.mul(2); });
    }
    cuda.synchronize();
    expect(cuda.memoryInfo().allocated - before.allocated).toBeGreaterThanOrEqual(1000 * (1 << 20));
    expect(memory().bytes - baseline.bytes).toBe(1000 * (1 << 20));
    for (const t of held) t.dispose();
    cuda.synchronize();
    expect(memory()).toEqual(baseline);
    expect(cuda.memoryInfo().allocated).toBe(before.allocated);
    // The caching allocator keeps freed blocks for reuse until emptyCache hands them back.
    expect(cuda.memoryInfo().reserved).toBeGreaterThanOrEqual(before.allocated + 1000 * (1 << 20));
    cuda.emptyCache();
    expect(cuda.memoryInfo().reserved).toBeLessThanOrEqual(before.reserved);
  });

  it('draws reproducible random numbers on the device', async () => {
    manualSeed(7);
    const a = await randn([8], { device: 'cuda' }).toTypedArray();
    manualSeed(7);
    expect(await randn([8], { device: 'cuda' }).toTypedArray()).toEqual(a);
  });

  it('runs async jobs on a worker with the caller\'s CUDA device and stream', async () => {
    const result = await native().busy(50);
    expect(result.gradEnabled).toBe(true);
    result.tensor.dispose();
    const moved = await randn([1024], { device: 'cuda' }).to('cpu');
    expect(moved.device).toBe('cpu');
  });

  it('runs the fused DiJS step on the device: statistics through pinned memory, seeded samples as on the CPU', async () => {
    const { teacher, data } = tinyOnGpu(64);
    manualSeed(0);
    const trainer = new DiJSTrainer({ teacher, data, batchSize: 16 });
    const seen: number[] = [];
    for await (const stats of trainer.run({ images: 160, iterationsPerCall: 2 })) {
      expect(Number.isFinite(stats.lossRatio) && Number.isFinite(stats.lossGenerator)).toBe(true);
      seen.push(stats.imagesSeen);
    }
    expect(seen).toEqual([32, 64, 96, 128, 160]);
    const onGpu = await trainer.generator.sample({ n: 4, seed: 3 });
    expect(onGpu.device).toBe('cuda:0');
    const cpuGen = OneStepGenerator.fromTeacher(trainer.generator.net, { device: 'cpu' });
    const onCpu = await cpuGen.sample({ n: 4, seed: 3 });
    expect((await onGpu.to('cpu')).sub(onCpu).abs().max().item()).toBeLessThan(1e-3);
    const verified = await trainer.generator.sample({ n: 4, seed: 3, candidates: 4, ratio: trainer.ratio });
    expect(verified.shape).toEqual([4, 1, 32, 32]);
    cpuGen.dispose();
    trainer.dispose();
    teacher.dispose();
  });

  it('replays the DiJS step from a CUDA graph with the eager step\'s results, also in bf16', async () => {
    const { teacher, images, labels, data } = tinyOnGpu(256);
    for (const precision of ['fp32', 'bf16'] as const) {
      const run = async (cudaGraph: boolean) => {
        manualSeed(4);
        // An extra EMA with a half-life below a batch follows the online weights: it shows the
        // extra EMAs' updates inside the graph. The generator's warm-up (over the first 4
        // iterations, eager and captured ones) shows that its changing rate reaches the replays.
        // Both gradient penalties, the translations, the cutouts and the flips: their draws are made outside the graph and copied in.
        // Lookahead every 2 iterations: its pull-backs run between replays, on the weights the graph reads in place.
        // Two ratio updates per generator update (each with its own draws and Adam factors) and w(σ) = σ.
        // The translations at a fixed p 0.5. Adapted p is checked on its own below: its rule turns on
        // the sign of each real logit, and a logit near 0 may take the other sign in the two runs
        // (an adaptive p here failed on an H200 by 3.4e-4 in float32).
        const trainer = new DiJSTrainer({ teacher, data, batchSize: 16, seed: 4, precision, cudaGraph, extraEmaHalfLives: [1e-9], lrGWarmupImages: 64, r1Gamma: 0.1, r2Gamma: 0.1, augmentShift: 2, augmentProbability: 0.5, augmentCutout: 8, augmentFlip: 0.3, lookaheadSteps: 2, ratioSteps: 2, weightPower: 1 });
        // 3 eager iterations, the capture and 5 replays; then a call that only replays.
        const stats = [await trainer.step(9), await trainer.step(4)];
        const samples = await trainer.onlineGenerator.sample({ n: 8, seed: 2 });
        const follower = await trainer.extraEmaGenerators[0]!.sample({ n: 8, seed: 2 });
        trainer.dispose();
        return { stats, samples, follower };
      };
      const eager = await run(false);
      const graph = await run(true);
      // float32: 3e-4. Two runs differ in their last bits (atomics' order in the backward kernels,
      // the likely source), and Adam with β1 0 can turn those into step-sized moves over 13 iterations: 1.26e-4
      // in logitFake on an H100 (twenty-second session; under 1e-4 on H200s). Passed at 3e-4 on H200s
      // (twenty-third session); not yet rerun on an H100.
      // bf16: 2e-2 of max(1, |value|). bf16 keeps 8 significant bits (a rounding step of 2^-7 ≈ 0.008
      // between 1 and 2), and the runs' different roundings compound over 13 iterations: logitFake
      // 1.484 against 1.509 after the second call (0.0245, about 3 steps) on an H200 failed the
      // earlier flat 2e-2 (twenty-fourth session); passed at it in earlier sessions. The relative
      // bound (0.030 there) has not run on a GPU yet. A broken replay (a stale buffer, a draw not
      // copied in) moves these by their own size, far above either bound.
      expectStatsClose(graph.stats, eager.stats, precision === 'fp32' ? 3e-4 : 2e-2, precision);
      for (const [i, s] of graph.stats.entries()) {
        expect(s.ratioInputGradSqReal).toBeGreaterThan(0);
        expect(s.ratioInputGradSqFake).toBeGreaterThan(0);
        if (precision === 'fp32') expect(Math.abs(s.ratioInputGradSqReal / eager.stats[i]!.ratioInputGradSqReal - 1)).toBeLessThan(1e-2);
      }
      expect(graph.samples.sub(eager.samples).abs().max().item()).toBeLessThan(precision === 'fp32' ? 1e-4 : 5e-2);
      expect(graph.follower.sub(graph.samples).abs().max().item()).toBe(0);
    }
    // ADA's p, moved inside the graph and read by the draws outside it: every replayed iteration
    // follows the rule from its own real-image accuracy (16 / 320 = 0.05 per iteration).
    const adaptive = new DiJSTrainer({ teacher, data, batchSize: 16, seed: 4, cudaGraph: true, augmentShift: 2, augmentTarget: 0.2, augmentProbability: 0.5, augmentSpeedImages: 320 });
    await adaptive.step(4);  // 3 eager iterations, then the capture
    await expectAdaptiveP(adaptive, { p: (await adaptive.step(1)).augmentProbability, target: 0.2, step: 0.05, iterations: 8 });
    adaptive.dispose();
    // Dropout in the ratio network draws its masks inside the graph: the replays must run, repeat
    // with the seed, differ from the run without dropout, and leave the ratio network measured without it.
    const dropped = async (ratioDropout: number) => {
      manualSeed(4);
      const trainer = new DiJSTrainer({ teacher, data, batchSize: 16, seed: 4, cudaGraph: true, ratioDropout });
      const stats = [await trainer.step(9), await trainer.step(4)];
      const x = images.slice(0, 0, 4);
      const classLabels = tensor(Array.from({ length: 4 }, (_, i) => Array.from({ length: 10 }, (_, c) => (c === i ? 1 : 0))), { device: 'cuda' });
      const logits = [await trainer.ratio.logit(x, 0.5, { classLabels }), await trainer.ratio.logit(x, 0.5, { classLabels })];
      expect(logits[0]!.sub(logits[1]!).abs().max().item(), 'ratio.logit after a dropout step').toBe(0);
      trainer.dispose();
      return stats;
    };
    const withDropout = await dropped(0.1);
    for (const s of withDropout) for (const v of Object.values(s)) expect(Number.isFinite(v)).toBe(true);
    // Not bit for bit: the backward's atomic adds make GPU runs differ slightly (H200, fourteenth
    // session: ≤ 2.5e-7 in the losses after 13 iterations); dropout itself moves lossRatio by 5e-3 and 7e-2
    // at these two calls (CPU, eager, this configuration).
    expectStatsClose(await dropped(0.1), withDropout, 1e-4, 'seeded graph runs with dropout');
    expect(Math.abs((await dropped(0))[1]!.lossRatio - withDropout[1]!.lossRatio), 'dropout changes the step').toBeGreaterThan(1e-3);
    teacher.dispose();
  });

  // Two GPUs (the GPU machine's multi-GPU kinds): the data-parallel step's all-reduces inside the graph.
  it.runIf(cuda.deviceCount() >= 2 && ProcessGroup.backends().includes('nccl'))('replays the data-parallel step over NCCL from a CUDA graph with the eager step\'s results (2 GPUs)', async () => {
    const out = join(tmpdir(), `onestep-nccl-graph-${process.pid}.json`);
    const lines: string[] = [];
    const collect = new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } });
    try {
      await launch({ nproc: 2, script: join(import.meta.dirname, 'fixtures', 'dist-dijs-graph.ts'), masterPort: 29_400 + (process.pid % 500), env: { OUT: out }, stdout: collect, stderr: collect });
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${lines.join('')}`);
    }
    type Run = { stats: DiJSStats[]; samples: number[] };
    const { eager, graph } = JSON.parse(readFileSync(out, 'utf8')) as { eager: Run; graph: Run };
    rmSync(out, { force: true });
    expectStatsClose(graph.stats, eager.stats, 1e-4, 'nccl');
    expect(graph.stats.map((s) => s.imagesSeen)).toEqual([144, 208]);
    expect(eager.stats.map((s) => s.imagesSeen)).toEqual([144, 208]);  // 16 images per iteration: 8 on each GPU
    expect(Math.max(...graph.samples.map((v, i) => Math.abs(v - eager.samples[i]!)))).toBeLessThan(1e-4);
  }, 180_000);

  it('fuses GroupNorm + shift + SiLU into one kernel each way, within rounding of a float64 reference', () => {
    expect(cuda.fusedKernelsBuilt()).toBe(true);
    // Tolerances: relative to each output's largest value; float32 ≈ 1e-6 expected, bf16/fp16
    // one rounding of the output (2⁻⁸ / 2⁻¹¹) plus float32 accumulation.
    const tolerance = { float32: 1e-4, bfloat16: 1.6e-2, float16: 4e-3 } as const;
    // Register-cached kernels with 8, 4, 2 and 1 vectors per thread (warp or per-thread channel
    // sums), then the loop kernels: channels not a multiple of 4 elements, and a group too large.
    const cases: [number[], number][] = [
      [[4, 64, 32, 32], 16], [[2, 256, 16, 16], 32], [[3, 128, 16, 16], 32], [[2, 256, 8, 8], 32], [[1, 512, 4, 4], 32],
      [[2, 12, 5, 7], 3], [[1, 64, 64, 64], 16],
    ];
    const rows: string[] = [];
    for (const dtype of ['float32', 'bfloat16', 'float16'] as const) {
      for (const [shape, groups] of cases) {
        for (const [shift, silu] of [[true, true], [false, true], [false, false]] as const) {
          const e = native().checkGroupNormAct('cuda', dtype, shape, groups, shift, silu, 7);
          rows.push(`${dtype} ${shape.join('x')}/${groups} shift=${shift} silu=${silu}: ${JSON.stringify(e)}`);
          expect(e.fused).toBe(true);
          for (const key of ['y', 'dx', 'dweight', 'dbias', ...(shift ? ['dshift'] as const : [])] as const) {
            expect(e[key], rows.at(-1)).toBeLessThan(tolerance[dtype]);
          }
        }
      }
    }
    console.log(rows.filter((_, i) => i % 3 === 0).join('\n'));
  });

  it('trains the same with the fused kernels as with libtorch\'s ops', async () => {
    const { teacher, images, labels, data } = tinyOnGpu(256);
    try {
      for (const precision of ['fp32', 'bf16'] as const) {
        const run = async (fused: boolean) => {
          cuda.setFusedKernels(fused);
          manualSeed(4);
          const trainer = new DiJSTrainer({ teacher, data, batchSize: 16, seed: 4, precision, cudaGraph: true });
          const stats = await trainer.step(9);
          const samples = await trainer.onlineGenerator.sample({ n: 8, seed: 2 });
          trainer.dispose();
          return { stats, samples };
        };
        const plain = await run(false);
        const fused = await run(true);
        for (const key of ['lossRatio', 'lossGenerator', 'logitReal', 'logitFake', 'gradNormGenerator'] as const) {
          expect(Math.abs(fused.stats[key] - plain.stats[key]), `${precision} ${key}`).toBeLessThan(precision === 'fp32' ? 1e-3 : 5e-2);
        }
        expect(fused.samples.sub(plain.samples).abs().max().item()).toBeLessThan(precision === 'fp32' ? 1e-3 : 1e-1);
      }
    } finally {
      cuda.setFusedKernels(true); // the default, whatever failed above
      teacher.dispose();
    }
  });

  it('measures CUDA samples with the yardstick: evaluate loads it on their device; a CPU classifier refuses them by name', async () => {
    // The bug this guards: evaluate() loaded its classifier on the CPU whatever the images' device,
    // and failed with libtorch's "Input type (CUDAFloatType) and weight type (CPUFloatType)".
    // Random images as both sides (the test pack carries no Fashion-MNIST), the reference on the CPU.
    manualSeed(0);
    const images = rand([200, 1, 32, 32]).mul(2).sub(1);
    const reference = { images: rand([200, 1, 32, 32]).mul(1.6).sub(0.8), labels: zeros([200], { dtype: 'int64' }), classes: [], dispose() {} };
    const onGpu = await images.to('cuda');
    const onCpu = await evaluate(images, { n: 200, reference });
    expect(onCpu.fid).toBeGreaterThan(1);  // two different sets: a comparison that can fail
    let drawn = 0;
    const fromGpu = async (count: number) => onGpu.slice(0, drawn, (drawn += count));
    const measured = await evaluate(fromGpu, { n: 200, batch: 100, reference });
    // The same images through the classifier on the GPU: float32 convolutions differ in rounding only.
    expect(Math.abs(measured.fid - onCpu.fid)).toBeLessThan(1e-3 * onCpu.fid);
    const cpuClassifier = await Classifier.load();
    // A classifier passed in stays on its device; the images go to it.
    const moved = await evaluate(onGpu, { n: 200, classifier: cpuClassifier, reference });
    expect(Math.abs(moved.fid - onCpu.fid)).toBeLessThan(1e-6 * onCpu.fid);
    await expectError(() => cpuClassifier.features(onGpu), ErrorCode.InvalidArgValue, /images are on cuda:0 but the classifier is on cpu/);
    cpuClassifier.dispose();
    onGpu.dispose();
    images.dispose();
    reference.images.dispose();
    reference.labels.dispose();
  });

  it('calibrates a ratio network from a bf16 graph-replayed run: the generator it is given reaches the replays', async () => {
    manualSeed(4);
    const { teacher, images, labels, data } = tinyOnGpu(256);
    const path = join(tmpdir(), `onestep-calibrate-${process.pid}.safetensors`);
    // A fast generator rate and a short EMA, so that the run's generator samples far from the
    // initialisation's within 9 iterations: two generators any calibrated network tells apart. (Two
    // initialisations would not do: EDM's init scales the output layer by 1e-5, so both sample
    // ≈ c_skip·σ_init·z.)
    const trainer = new DiJSTrainer({ teacher, data, batchSize: 16, seed: 4, precision: 'bf16', cudaGraph: true, lookaheadSteps: 2, lrG: 1e-2, emaHalfLifeImages: 16 });
    const initial = OneStepGenerator.fromTeacher(teacher, { device: 'cuda' });
    try {
      await trainer.step(9);
      await trainer.save(path);
      const trained = trainer.generator;
      const calibrate = (generator: OneStepGenerator) => calibrateRatio(path, generator, data, { images: 160, lrD: 1e-3 });
      const onTrained = await calibrate(trained), again = await calibrate(trained), onInitial = await calibrate(initial);
      expect(onTrained.device).toBe('cuda:0');
      // Shaped by the generator it was given: each calibrated network calls its own generator's samples
      // generated more firmly than the other network does. Summed over both generators, as one side
      // alone can flip: on the CPU in float32 the sum read 8.9 here, 8.3 and 5.0 with other data (one side −0.6).
      // Logits, not weights: two seeded calibrations' weights were 0.28 apart on an H200 at lr 1e-2,
      // GPU rounding (atomics, bf16) that Adam (β1 = 0) turns into ±lr steps where a gradient is ~0.
      // [mean logit on the initial generator's samples, on the trained one's]
      const says = async (ratio: typeof onTrained): Promise<[number, number]> => [await meanLogit(ratio, initial), await meanLogit(ratio, trained)];
      const [initialNet, trainedNet, repeatNet] = [await says(onInitial), await says(onTrained), await says(again)];
      const advantage = (initialNet[0] - trainedNet[0]) + (trainedNet[1] - initialNet[1]);
      expect(advantage).toBeGreaterThan(1);
      // Seeded: the same calibration twice lands far closer than the two generators' networks do.
      expect(Math.abs(repeatNet[0] - trainedNet[0]) + Math.abs(repeatNet[1] - trainedNet[1])).toBeLessThan(advantage / 4);
      const samples = await trained.sample({ n: 8, seed: 1, candidates: 4, ratio: onTrained, sigmaVerify: 0.05 });
      expect(samples.shape).toEqual([8, 1, 32, 32]);
      for (const t of [onTrained, again, onInitial, samples]) t.dispose();
    } finally {
      for (const t of [trainer, initial, teacher, images, labels]) t.dispose();
      rmSync(path, { force: true });
    }
  });

  it('samples in bf16 close to float32, and writes a kernel trace', async () => {
    const teacher = EDMNetwork.create('fmnist32', { seed: 1, device: 'cuda' });
    const gen = OneStepGenerator.fromTeacher(teacher);
    const [a, b] = [await gen.sample({ n: 64, seed: 1 }), await gen.sample({ n: 64, seed: 1, precision: 'bf16' })];
    expect(b.sub(a).abs().max().item()).toBeLessThan(5e-2);
    const path = join(tmpdir(), `onestep-trace-${process.pid}.json`);
    cuda.startProfiler();
    (await gen.sample({ n: 16 })).dispose();
    cuda.stopProfiler(path);
    const trace = JSON.parse(readFileSync(path, 'utf8')) as { traceEvents: { cat?: string }[] };
    expect(trace.traceEvents.some((e) => e.cat === 'kernel')).toBe(true);
    rmSync(path);
    gen.dispose();
    teacher.dispose();
  });
});

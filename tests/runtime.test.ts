// Process-wide runtime settings.
import { afterAll, describe, expect, it } from 'vitest';
import { cuda, ErrorCode } from '../src/index.js';
import { native } from '../src/native.js';
import { expectError } from './helpers.js';

describe('TF32 settings', () => {
  const initial = cuda.allowTF32();
  afterAll(() => cuda.setAllowTF32(initial));

  it('start as PyTorch\'s defaults and change one flag at a time', () => {
    expect(initial).toEqual({ matmul: false, cudnn: true });
    cuda.setAllowTF32({ matmul: true });
    expect(cuda.allowTF32()).toEqual({ matmul: true, cudnn: true });
    cuda.setAllowTF32({ cudnn: false });
    expect(cuda.allowTF32()).toEqual({ matmul: true, cudnn: false });
  });

  it('rejects what is not a boolean', async () => {
    await expectError(() => cuda.setAllowTF32({ matmul: 'yes' as unknown as boolean }), ErrorCode.InvalidArgValue, /matmul\?: boolean/);
  });
});

describe('cuDNN autotuning', () => {
  afterAll(() => cuda.setCudnnBenchmark(false));

  it('starts off, as PyTorch, and turns on and off', () => {
    expect(cuda.cudnnBenchmark()).toBe(false);
    cuda.setCudnnBenchmark(true);
    expect(cuda.cudnnBenchmark()).toBe(true);
    cuda.setCudnnBenchmark(false);
    expect(cuda.cudnnBenchmark()).toBe(false);
  });

  it('rejects what is not a boolean', async () => {
    await expectError(() => cuda.setCudnnBenchmark(1 as unknown as boolean), ErrorCode.InvalidArgValue, /boolean/);
  });
});

describe.skipIf(cuda.isAvailable())('CUDA device selection without CUDA', () => {
  it('says there is no such device', async () => {
    await expectError(() => cuda.setDevice(0), ErrorCode.CudaUnavailable, /no CUDA device 0 \(this process sees 0\)/);
    await expectError(() => cuda.currentDevice(), ErrorCode.CudaUnavailable, /no CUDA device/);
    await expectError(() => cuda.setDevice(0.5), ErrorCode.InvalidArgValue, /device index/);
  });
});

describe.skipIf(cuda.isAvailable())('the device profiler without CUDA', () => {
  it('says what it needs', async () => {
    await expectError(() => cuda.startProfiler(), ErrorCode.CudaUnavailable, /needs a CUDA build of onestep on libtorch 2 or later/);
    await expectError(() => cuda.stopProfiler(''), ErrorCode.InvalidArgValue, /needs the path/);
  });
});

describe('onestep\'s fused kernels switch', () => {
  it('is on by default, toggles, and refuses a non-boolean', async () => {
    expect(cuda.fusedKernels()).toBe(true);
    cuda.setFusedKernels(false);
    expect(cuda.fusedKernels()).toBe(false);
    cuda.setFusedKernels(true);
    expect(cuda.fusedKernels()).toBe(true);
    await expectError(() => cuda.setFusedKernels(1 as unknown as boolean), ErrorCode.InvalidArgValue, /takes a boolean/);
  });

  it.skipIf(cuda.isAvailable())('has no kernels to run without CUDA: GroupNorm + SiLU runs on libtorch\'s ops, matching float64', () => {
    expect(cuda.fusedKernelsBuilt()).toBe(false);
    for (const [shift, silu] of [[true, true], [false, false]] as const) {
      const errors = native().checkGroupNormAct('cpu', 'float32', [3, 16, 6, 5], 4, shift, silu, 1);
      expect(errors.fused).toBe(false);
      for (const key of ['y', 'dx', 'dweight', 'dbias', ...(shift ? ['dshift'] as const : [])] as const) expect(errors[key]).toBeLessThan(1e-5);
      expect(errors.dshift === undefined).toBe(!shift);
    }
  });
});

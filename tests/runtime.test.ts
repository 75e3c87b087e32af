// Process-wide runtime settings.
import { afterAll, describe, expect, it } from 'vitest';
import { cuda, ErrorCode } from '../src/index.js';
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

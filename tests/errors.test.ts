import { describe, expect, it } from 'vitest';
import { arange, cuda, ErrorCode, manualSeed, ones, setNumThreads, tensor, tidy, zeros, type Tensor } from '../src/index.js';
import { native } from '../src/native.js';
import { expectError, values } from './helpers.js';

describe('errors a user can cause', () => {
  it('turns libtorch shape mismatches into Errors carrying libtorch\'s message', async () => {
    const e = await expectError(() => ones([2, 3]).matmul(ones([2, 3])), ErrorCode.Torch, /shapes cannot be multiplied \(2x3 and 2x3\)/);
    expect(e.message).not.toMatch(/Exception raised from|frame #/); // no C++ backtrace
    await expectError(() => ones([2]).add(ones([3])), ErrorCode.Torch, /size of tensor a \(2\) must match/);
  });

  it('reports out-of-range dimensions clearly', async () => {
    await expectError(() => ones([2, 3]).select(5, 0), ErrorCode.Torch, /Dimension out of range/);
    await expectError(() => ones([2, 3]).sum({ dim: 2 }), ErrorCode.Torch, /Dimension out of range/);
    await expectError(() => ones([2, 3]).select(0, 7), ErrorCode.Torch, /out of range/);
    await expectError(() => ones([2, 3]).reshape(4, 2), ErrorCode.Torch, /shape '\[4, 2\]' is invalid for input of size 6/);
  });

  it('rejects wrong argument types with TypeErrors', async () => {
    const a = ones([2]);
    const e = await expectError(() => a.add('1' as unknown as number), ErrorCode.InvalidArgType, /operand must be a Tensor or a number/);
    expect(e).toBeInstanceOf(TypeError);
    await expectError(() => tensor('abc' as unknown as number[]), ErrorCode.InvalidArgType, /typed array or an array of numbers/);
    await expectError(() => tensor([1, 'x' as unknown as number]), ErrorCode.InvalidArgType, /numbers or booleans/);
    await expectError(() => tensor([1, true] as unknown as number[]), ErrorCode.InvalidArgType, /mixes numbers and booleans/);
    await expectError(() => tensor(new Uint32Array(2) as unknown as Float32Array), ErrorCode.InvalidArgType, /unsupported typed array Uint32Array/);
    await expectError(() => zeros([2], { dtype: 'float8' as 'float32' }), ErrorCode.InvalidArgType, /dtype must be one of/);
    await expectError(() => zeros([2], { device: 3 as unknown as 'cpu' }), ErrorCode.InvalidArgType, /device must be a string/);
    await expectError(() => zeros('2' as unknown as number[]), ErrorCode.InvalidArgType, /shape must be an array/);
    await expectError(() => a.to(42 as unknown as 'cpu'), ErrorCode.InvalidArgType, /needs a device/);
    await expectError(() => tidy(5 as unknown as () => void), ErrorCode.InvalidArgType);
  });

  it('rejects bad values', async () => {
    await expectError(() => zeros([2, -1]), ErrorCode.InvalidArgValue, /shape\[1\] must be a non-negative integer/);
    await expectError(() => zeros([2.5]), ErrorCode.InvalidArgValue, /shape\[0\]/);
    await expectError(() => tensor(new Float32Array(5), { shape: [2, 3] }), ErrorCode.InvalidArgValue, /needs 6 elements, but data has 5/);
    await expectError(() => tensor([[1, 2], [3]]), ErrorCode.InvalidArgValue, /ragged/);
    await expectError(() => tensor(new Uint16Array(2)), ErrorCode.InvalidArgType, /float16 or bfloat16 bits/);
    await expectError(() => ones([2], { dtype: 'int32', requiresGrad: true }), ErrorCode.InvalidArgValue, /floating-point dtype/);
    await expectError(() => zeros([2], { device: 'gpu' as 'cpu' }), ErrorCode.InvalidArgValue, /'gpu' is not a device/);
    await expectError(() => zeros([2], { device: 'cuda:x' as 'cpu' }), ErrorCode.InvalidArgValue);
    await expectError(() => ones([3]).item(), ErrorCode.InvalidArgValue, /one element/);
    await expectError(() => manualSeed(-1), ErrorCode.InvalidArgValue);
    await expectError(() => setNumThreads(0), ErrorCode.InvalidArgValue);
    await expectError(() => arange(0, 1, 0), ErrorCode.InvalidArgValue, /non-zero step/);
    await expectError(() => ones([1]).backward(), ErrorCode.InvalidArgValue, /requires grad/);
  });

  it('names CUDA as unavailable on a CPU build or when no device exists', async () => {
    if (cuda.isAvailable()) {
      await expectError(() => zeros([1], { device: `cuda:${cuda.deviceCount()}` }), ErrorCode.InvalidArgValue, /does not exist/);
    } else {
      await expectError(() => zeros([1], { device: 'cuda' }), ErrorCode.CudaUnavailable, /CUDA is not available/);
      await expectError(() => ones([1]).to('cuda:0'), ErrorCode.CudaUnavailable);
    }
  });

  it('refuses disposed tensors, sync and async, without crashing', async () => {
    const t: Tensor = ones([2, 2]);
    const view = t.reshape(4);
    t.dispose();
    expect(t.isDisposed).toBe(true);
    t.dispose(); // twice is fine
    await expectError(() => t.add(1), ErrorCode.TensorDisposed, /disposed/);
    await expectError(() => view.add(t), ErrorCode.TensorDisposed, /disposed/);
    await expectError(() => t.toTypedArray(), ErrorCode.TensorDisposed);
    await expectError(() => t.to('float64'), ErrorCode.TensorDisposed);
    await expectError(() => t.item(), ErrorCode.TensorDisposed);
    // The shape stays readable for messages; the view is unaffected.
    expect(t.shape).toEqual([2, 2]);
    expect(await values(view)).toEqual([1, 1, 1, 1]);
  });

  it('turns an impossible host allocation into an out-of-memory Error, and keeps working', async () => {
    await expectError(() => zeros([2 ** 50]), ErrorCode.OutOfMemory, /alloc/i);
    expect(ones([2]).sum().item()).toBe(2);
  });

  it('guards the native layer itself against hostile calls', async () => {
    const binding = native();
    const ctor = binding.TensorHandle as unknown as new () => unknown;
    await expectError(() => new ctor(), ErrorCode.InvalidArgType, /not by `new`/);
    await expectError(() => binding.unary('neg', {} as never), ErrorCode.InvalidArgType, /must be a Tensor/);
    await expectError(() => binding.unary('no-such-op', ones([1]).handle), ErrorCode.InvalidArgValue, /unknown unary operation/);
    await expectError(() => binding.fromData(new Float32Array(1), [1], null, 'cpu', 'yes' as never), ErrorCode.InvalidArgType);
    await expectError(() => binding.fromData(new Float32Array(1), new Array(65).fill(1), null, 'cpu', false), ErrorCode.InvalidArgValue, /at most 64/);
    await expectError(() => binding.reshape(ones([1]).handle, [NaN]), ErrorCode.InvalidArgValue);
    await expectError(() => binding.busy(-5), ErrorCode.InvalidArgValue);
  });
});

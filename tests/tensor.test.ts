import { describe, expect, it } from 'vitest';
import {
  arange, cat, conv2d, full, manualSeed, ones, rand, randint, randn, stack, tensor, where, zeros,
  type DType, type Tensor,
} from '../src/index.js';
import { expectError, values } from './helpers.js';

describe('tensor creation', () => {
  it('takes each supported typed array with its own dtype', async () => {
    const cases: [ArrayLike<number | bigint> & ArrayBufferView, DType][] = [
      [new Float32Array([1.5, -2]), 'float32'],
      [new Float64Array([1.5, -2]), 'float64'],
      [new Int32Array([7, -8]), 'int32'],
      [new BigInt64Array([7n, -(2n ** 40n)]), 'int64'],
      [new Int16Array([7, -8]), 'int16'],
      [new Int8Array([7, -8]), 'int8'],
      [new Uint8Array([7, 255]), 'uint8'],
    ];
    for (const [data, dtype] of cases) {
      const t = tensor(data as Float32Array);
      expect(t.dtype).toBe(dtype);
      expect(t.shape).toEqual([2]);
      expect(t.device).toBe('cpu');
      expect(await values(t)).toEqual(Array.from(data as ArrayLike<number>));
    }
  });

  it('reads float16 and bfloat16 from Uint16Array bits and returns float32 values', async () => {
    // 1.0, -2.0, 0.5 and the smallest float16 subnormal.
    const f16 = tensor(new Uint16Array([0x3c00, 0xc000, 0x3800, 0x0001]), { dtype: 'float16' });
    expect(f16.dtype).toBe('float16');
    const host = await f16.toTypedArray();
    expect(host).toBeInstanceOf(Float32Array);
    expect(Array.from(host)).toEqual([1, -2, 0.5, 2 ** -24]);
    const bf16 = tensor(new Uint16Array([0x3f80, 0xc000, 0x4049]), { dtype: 'bfloat16' });
    expect(await values(bf16)).toEqual([1, -2, 3.140625]);
  });

  it('casts while creating and rounds to the target dtype', async () => {
    const t = tensor(new Float32Array([1.7, -1.7]), { dtype: 'int32' });
    expect(await values(t)).toEqual([1, -1]);
    const h = tensor([1 / 3], { dtype: 'float16' });
    expect((await h.toTypedArray())[0]).toBeCloseTo(0.33325195, 7); // nearest float16
  });

  it('infers shapes from nested arrays, defaults to float32, bool for booleans', async () => {
    const t = tensor([[1, 2, 3], [4, 5, 6]]);
    expect(t.shape).toEqual([2, 3]);
    expect(t.dtype).toBe('float32');
    const b = tensor([[true, false], [false, true]]);
    expect(b.dtype).toBe('bool');
    expect(await values(b)).toEqual([1, 0, 0, 1]);
    const i64 = tensor([2 ** 40, -3], { dtype: 'int64' });
    expect(await values(i64)).toEqual([2n ** 40n, -3n]);
  });

  it('takes an explicit shape for flat data', () => {
    const t = tensor(new Float32Array(24), { shape: [2, 3, 4] });
    expect(t.shape).toEqual([2, 3, 4]);
    expect(t.rank).toBe(3);
    expect(t.numel).toBe(24);
    expect(tensor(new Float32Array(0), { shape: [0, 5] }).shape).toEqual([0, 5]);
  });

  it('copies the data: later writes to the array do not reach the tensor', async () => {
    const data = new Float32Array([1, 2]);
    const t = tensor(data);
    data[0] = 99;
    expect(await values(t)).toEqual([1, 2]);
  });

  it('honours a typed array view offset', async () => {
    const whole = new Float32Array([0, 1, 2, 3, 4]);
    const t = tensor(whole.subarray(2, 4));
    expect(await values(t)).toEqual([2, 3]);
  });

  it('makes constants, ranges and random draws', async () => {
    expect(await values(zeros([2, 2]))).toEqual([0, 0, 0, 0]);
    expect(await values(ones([3], { dtype: 'int32' }))).toEqual([1, 1, 1]);
    expect(await values(full([2], 2.5, { dtype: 'float64' }))).toEqual([2.5, 2.5]);
    expect(arange(4).dtype).toBe('int64');
    expect(await values(arange(4))).toEqual([0n, 1n, 2n, 3n]);
    expect(await values(arange(0, 1, 0.25))).toEqual([0, 0.25, 0.5, 0.75]);
    expect(await values(arange(1, 7, 2, { dtype: 'float32' }))).toEqual([1, 3, 5]);
    const r = rand([1000]);
    const v = await r.toTypedArray();
    expect(Math.min(...v)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...v)).toBeLessThan(1);
    const ints = await randint(3, 6, [500]).toTypedArray();
    expect(new Set(Array.from(ints, Number))).toEqual(new Set([3, 4, 5]));
  });

  it('randn draws a standard normal', async () => {
    manualSeed(1);
    const x = randn([20000], { dtype: 'float64' });
    expect(x.mean().item() as number).toBeCloseTo(0, 1);
    expect(x.std().item() as number).toBeCloseTo(1, 1);
  });

  it('random draws can require grad', () => {
    expect(randn([2], { requiresGrad: true }).requiresGrad).toBe(true);
    expect(rand([2], { requiresGrad: true }).requiresGrad).toBe(true);
    expect(randn([2]).requiresGrad).toBe(false);
  });

  it('manualSeed makes random draws reproducible', async () => {
    manualSeed(42);
    const a = await randn([16]).toTypedArray();
    const b = await randn([16]).toTypedArray();
    manualSeed(42);
    expect(await randn([16]).toTypedArray()).toEqual(a);
    expect(await randn([16]).toTypedArray()).toEqual(b);
    expect(a).not.toEqual(b);
  });
});

describe('tensor operations', () => {
  const x = () => tensor([[1, -2, 3], [-4, 5, -6]]);

  it('does elementwise arithmetic with tensors and scalars, broadcasting', async () => {
    const a = x();
    expect(await values(a.add(1))).toEqual([2, -1, 4, -3, 6, -5]);
    expect(await values(a.mul(a))).toEqual([1, 4, 9, 16, 25, 36]);
    expect(await values(a.sub(tensor([1, 2, 3])))).toEqual([0, -4, 0, -5, 3, -9]);
    expect(await values(a.div(2))).toEqual([0.5, -1, 1.5, -2, 2.5, -3]);
    expect(await values(a.abs().pow(2))).toEqual([1, 4, 9, 16, 25, 36]);
    expect(await values(a.neg().relu())).toEqual([0, 2, 0, 4, 0, 6]);
    expect(await values(a.maximum(0))).toEqual([1, 0, 3, 0, 5, 0]);
    expect(await values(a.clamp(-1, 2))).toEqual([1, -1, 2, -1, 2, -1]);
  });

  it('keeps integer tensors integral with integral scalars, like torch', () => {
    const i = tensor([1, 2], { dtype: 'int32' });
    expect(i.add(1).dtype).toBe('int32');
    expect(i.add(0.5).dtype).toBe('float32');
    expect(i.gt(1).dtype).toBe('bool');
  });

  it('computes transcendental functions to float32 precision', async () => {
    const v = tensor([0.5, 1, 2]);
    const cases: [string, (t: typeof v) => Promise<Float32Array>, (z: number) => number][] = [
      ['exp', async (t) => (await t.exp().toTypedArray()) as Float32Array, Math.exp],
      ['log', async (t) => (await t.log().toTypedArray()) as Float32Array, Math.log],
      ['sqrt', async (t) => (await t.sqrt().toTypedArray()) as Float32Array, Math.sqrt],
      ['tanh', async (t) => (await t.tanh().toTypedArray()) as Float32Array, Math.tanh],
      ['sigmoid', async (t) => (await t.sigmoid().toTypedArray()) as Float32Array, (z) => 1 / (1 + Math.exp(-z))],
      ['silu', async (t) => (await t.silu().toTypedArray()) as Float32Array, (z) => z / (1 + Math.exp(-z))],
      ['softplus', async (t) => (await t.softplus().toTypedArray()) as Float32Array, (z) => Math.log1p(Math.exp(z))],
    ];
    for (const [, op, reference] of cases) {
      const got = await op(v);
      [0.5, 1, 2].forEach((z, k) => expect(got[k]).toBeCloseTo(reference(z), 6));
    }
  });

  it('reduces over all or chosen dimensions', async () => {
    const a = x();
    expect(a.sum().item()).toBe(-3);
    expect(await values(a.sum({ dim: 0 }))).toEqual([-3, 3, -3]);
    expect(a.sum({ dim: 1, keepdim: true }).shape).toEqual([2, 1]);
    expect(a.mean().item()).toBe(-0.5);
    expect(a.max().item()).toBe(5);
    expect(a.min().item()).toBe(-6);
    expect(await values(a.max({ dim: 1 }))).toEqual([3, 5]);
    expect(await values(a.argmax({ dim: 1 }))).toEqual([2n, 1n]);
    expect(a.argmin().item()).toBe(5);
    expect(a.abs().sum({ dim: [0, 1] }).item()).toBe(21);
    expect(tensor([1, 2, 3, 4]).var().item()).toBeCloseTo(5 / 3, 6);
    expect(tensor([3, 4]).norm().item()).toBeCloseTo(5, 6);
    expect(tensor([0, 0]).logsumexp().item()).toBeCloseTo(Math.LN2, 6);
    expect(tensor([true, false]).any().item()).toBe(true);
    expect(tensor([true, false]).all().item()).toBe(false);
  });

  it('reshapes, permutes and slices as views that share storage', async () => {
    const a = arange(6, { dtype: 'float32' });
    const m = a.reshape(2, 3);
    expect(m.shape).toEqual([2, 3]);
    expect(a.reshape([3, -1]).shape).toEqual([3, 2]);
    const t = m.transpose(0, 1);
    expect(t.shape).toEqual([3, 2]);
    expect(await values(t)).toEqual([0, 3, 1, 4, 2, 5]);
    expect(await values(t.contiguous())).toEqual([0, 3, 1, 4, 2, 5]);
    expect(await values(m.permute(1, 0).flatten())).toEqual([0, 3, 1, 4, 2, 5]);
    expect(await values(m.slice(1, 1))).toEqual([1, 2, 4, 5]);
    expect(await values(m.select(0, 1))).toEqual([3, 4, 5]);
    expect(m.unsqueeze(0).shape).toEqual([1, 2, 3]);
    expect(m.unsqueeze(0).squeeze().shape).toEqual([2, 3]);
    expect(tensor([1, 2]).reshape(2, 1).expand(2, 3).shape).toEqual([2, 3]);
    expect(await values(m.indexSelect(1, tensor([2, 0], { dtype: 'int64' })))).toEqual([2, 0, 5, 3]);
  });

  it('concatenates, stacks, selects with where, and multiplies matrices', async () => {
    const a = tensor([[1, 2]]);
    const b = tensor([[3, 4]]);
    expect(cat([a, b]).shape).toEqual([2, 2]);
    expect(stack([a, b], 1).shape).toEqual([1, 2, 2]);
    expect(await values(where(tensor([true, false]), tensor([1, 2]), 0))).toEqual([1, 0]);
    const m = tensor([[1, 2], [3, 4]]);
    expect(await values(m.matmul(m))).toEqual([7, 10, 15, 22]);
    expect(tensor([1, 2, 3]).softmax(0).sum().item()).toBeCloseTo(1, 6);
  });

  it('converts dtypes synchronously and asynchronously', async () => {
    const a = tensor([1.25, 2.5]);
    const d = await a.to('float64');
    expect(d.dtype).toBe('float64');
    expect(await values(d)).toEqual([1.25, 2.5]);
    expect(a.toSync('float16').dtype).toBe('float16');
    expect((await a.to('cpu')).device).toBe('cpu');
  });

  it('computes a conv2d forward and backward pass matching a hand computation', async () => {
    // A 1×1×3×3 input of ones and a 2×2 kernel of ones: every output is 4; d(sum)/d(weight) = 4.
    const input = ones([1, 1, 3, 3]);
    const weight = ones([1, 1, 2, 2], { requiresGrad: true });
    const out = conv2d(input, weight);
    expect(out.shape).toEqual([1, 1, 2, 2]);
    expect(await values(out)).toEqual([4, 4, 4, 4]);
    expect(weight.grad).toBeNull();
    await out.sum().backward();
    expect(await values(weight.grad!)).toEqual([4, 4, 4, 4]);
    expect(conv2d(ones([2, 3, 8, 8]), ones([4, 3, 3, 3]), zeros([4]), { padding: 1, stride: 2 }).shape).toEqual([2, 4, 4, 4]);
  });

  it('trains a line by gradient descent with autograd', async () => {
    const x = arange(0, 1, 0.125);
    const y = x.mul(3).sub(2);
    let w: Tensor = zeros([1]).requiresGrad_();
    let b: Tensor = zeros([1]).requiresGrad_();
    for (let step = 0; step < 300; step++) {
      const loss = x.mul(w).add(b).sub(y).square().mean();
      await loss.backward();
      w = w.sub(w.grad!.mul(0.5)).detach().requiresGrad_();
      b = b.sub(b.grad!.mul(0.5)).detach().requiresGrad_();
    }
    expect(w.item()).toBeCloseTo(3, 3);
    expect(b.item()).toBeCloseTo(-2, 3);
    await expectError(() => ones([1], { dtype: 'int32' }).requiresGrad_(), 'ERR_TORCH', /floating point/);
  });

  it('describes itself for console output', () => {
    const t = zeros([2, 3], { dtype: 'float16' });
    expect(String(t)).toBe('Tensor(float16, [2, 3], cpu)');
    t.dispose();
    expect(String(t)).toBe('Tensor(float16, [2, 3], cpu, disposed)');
  });
});

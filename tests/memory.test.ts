import { describe, expect, it } from 'vitest';
import { dispose, keep, memory, ones, randn, sharesStorage, tensor, tidy, zeros, type Tensor } from '../src/index.js';
import { forceGc, values } from './helpers.js';

describe('native memory', () => {
  it('returns to its baseline after 10 000 tensors are created and disposed', () => {
    const baseline = memory();
    for (let i = 0; i < 10_000; i++) {
      const t = randn([64]);
      const m = t.mul(2);
      const u = m.add(1);
      t.dispose();
      m.dispose();
      u.dispose();
    }
    expect(memory()).toEqual(baseline);
  });

  it('returns to its baseline after 10 000 tensors made inside tidy scopes', () => {
    const baseline = memory();
    for (let i = 0; i < 100; i++) {
      tidy(() => {
        for (let j = 0; j < 100; j++) ones([32]).mul(3).sum();
      });
    }
    expect(memory()).toEqual(baseline);
  });

  it('frees 10 000 tensors that were dropped without dispose once the GC runs', async () => {
    await forceGc();
    const baseline = memory();
    for (let i = 0; i < 10_000; i++) zeros([256]);
    expect(memory().tensors).toBeGreaterThanOrEqual(baseline.tensors + 10_000 - 100); // a GC may already have run
    await forceGc();
    expect(memory()).toEqual(baseline);
  });

  it('counts bytes of shared storage once and never frees storage another tensor shares', async () => {
    const baseline = memory();
    const base = tensor(new Float32Array([1, 2, 3, 4, 5, 6]), { shape: [2, 3] });
    expect(memory().bytes - baseline.bytes).toBe(24);
    const view = base.transpose(0, 1);
    const slice = base.slice(1, 1);
    expect(sharesStorage(base, view)).toBe(true);
    expect(memory().tensors - baseline.tensors).toBe(3);
    expect(memory().bytes - baseline.bytes).toBe(24); // three handles, one storage
    base.dispose();
    expect(memory().bytes - baseline.bytes).toBe(24); // still held by the views
    expect(await values(view)).toEqual([1, 4, 2, 5, 3, 6]);
    expect(await values(slice)).toEqual([2, 3, 5, 6]);
    view.dispose();
    slice.dispose();
    expect(memory()).toEqual(baseline);
  });

  it('tidy keeps what it returns, in arrays and objects too, and disposes the rest', () => {
    const baseline = memory();
    let inner: Tensor | undefined;
    const out = tidy(() => {
      inner = ones([4]);
      const a = inner.mul(2);
      const b = inner.add(1);
      return { a, list: [b], n: 3 };
    });
    expect(inner!.isDisposed).toBe(true);
    expect(out.a.isDisposed).toBe(false);
    expect(out.list[0]!.isDisposed).toBe(false);
    expect(memory().tensors - baseline.tensors).toBe(2);
    dispose(out);
    expect(memory()).toEqual(baseline);
  });

  it('nested tidy hands returned tensors to the enclosing scope; keep() exempts a tensor', () => {
    const baseline = memory();
    let kept: Tensor | undefined;
    let fromInner: Tensor | undefined;
    tidy(() => {
      fromInner = tidy(() => ones([2]).mul(5));
      expect(fromInner.isDisposed).toBe(false);
      kept = keep(ones([3]));
    });
    expect(fromInner!.isDisposed).toBe(true); // owned by the outer scope, which disposed it
    expect(kept!.isDisposed).toBe(false);
    kept!.dispose();
    expect(memory()).toEqual(baseline);
  });

  it('tidy disposes its tensors when the function throws', () => {
    const baseline = memory();
    expect(() => tidy(() => {
      ones([8]);
      throw new Error('boom');
    })).toThrow('boom');
    expect(memory()).toEqual(baseline);
  });

  it('async tidy follows its own async context, even when scopes interleave', async () => {
    const baseline = memory();
    const track: Tensor[] = [];
    const job = (k: number) => tidy(async () => {
      const a = ones([k]);
      track.push(a);
      await new Promise((r) => setTimeout(r, 5));
      const b = await a.to('float64'); // created after an await: still this scope's
      track.push(b);
      await new Promise((r) => setTimeout(r, 5));
      return b.sum();
    });
    const [s1, s2] = await Promise.all([job(2), job(3)]);
    expect(s1.item()).toBe(2);
    expect(s2.item()).toBe(3);
    expect(track.every((t) => t.isDisposed)).toBe(true);
    s1.dispose();
    s2.dispose();
    expect(memory()).toEqual(baseline);
  });

  it('async tidy disposes on rejection', async () => {
    const baseline = memory();
    await expect(tidy(async () => {
      ones([4]);
      await Promise.resolve();
      throw new Error('later');
    })).rejects.toThrow('later');
    expect(memory()).toEqual(baseline);
  });

  it('toTypedArray hands JavaScript an independent copy', async () => {
    const t = tensor([1, 2, 3]);
    const host = await t.toTypedArray();
    host[0] = 100;
    expect(await values(t)).toEqual([1, 2, 3]);
  });
});

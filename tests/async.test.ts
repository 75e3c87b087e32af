import { describe, expect, it } from 'vitest';
import { getNumThreads, isGradEnabled, noGrad, ones, randn } from '../src/index.js';
import { native } from '../src/native.js';

describe('async native work', () => {
  it('keeps the event loop ticking during a 2-second native job', async () => {
    let ticks = 0;
    let worstGap = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      worstGap = Math.max(worstGap, now - last);
      last = now;
      ticks++;
    }, 10);
    const started = performance.now();
    const result = await native().busy(2000);
    const elapsed = performance.now() - started;
    clearInterval(timer);
    result.tensor.dispose();
    expect(elapsed).toBeGreaterThanOrEqual(2000);
    expect(result.iterations).toBeGreaterThan(10); // it really computed
    // ~200 ticks at 10 ms on an idle machine; a frozen loop gives 0–1 and one gap as long as the
    // job. Relative bounds leave room for other test files loading the two cores of CI.
    expect(ticks).toBeGreaterThan(20);
    expect(worstGap).toBeLessThan(elapsed / 2);
  });

  it('runs the job with the caller\'s grad mode and intra-op thread count', async () => {
    expect(isGradEnabled()).toBe(true);
    const withGrad = await native().busy(1);
    expect(withGrad.gradEnabled).toBe(true);
    expect(withGrad.tensor.requiresGrad()).toBe(true);
    expect(withGrad.threads).toBe(getNumThreads());
    // The job captures the mode when queued, so a no-grad section covers the whole job.
    const pending = noGrad(() => native().busy(1));
    expect(isGradEnabled()).toBe(true);
    const withoutGrad = await pending;
    expect(withoutGrad.gradEnabled).toBe(false);
    expect(withoutGrad.tensor.requiresGrad()).toBe(false);
    withGrad.tensor.dispose();
    withoutGrad.tensor.dispose();
  });

  it('runs several jobs at once and settles each', async () => {
    const xs = Array.from({ length: 8 }, (_, i) => ones([1000]).mul(i));
    const moved = await Promise.all(xs.map((x) => x.to('float64')));
    const sums = moved.map((m) => m.sum().item());
    expect(sums).toEqual(xs.map((_, i) => 1000 * i));
  });

  it('rejects, rather than throws, when async work fails', async () => {
    const t = randn([2]);
    t.dispose();
    const pending = t.toTypedArray();
    expect(pending).toBeInstanceOf(Promise);
    await expect(pending).rejects.toMatchObject({ code: 'ERR_TENSOR_DISPOSED' });
  });

  it('keeps its input alive while a job runs even if JavaScript disposes it', async () => {
    const t = randn([1 << 16]);
    const expected = t.sum().item() as number;
    const pending = t.to('float64');
    t.dispose();
    const moved = await pending;
    expect(moved.sum().item() as number).toBeCloseTo(expected, 1);
  });
});

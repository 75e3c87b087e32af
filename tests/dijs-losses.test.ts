// The DiJS loss family against closed forms (CI: CPU, float64).
import { describe, expect, it } from 'vitest';
import { DIVERGENCES, divergenceLoss, ErrorCode, randn, ratioLoss, tensor, tidy, type Divergence, type Tensor } from '../src/index.js';
import { expectError } from './helpers.js';

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const softplus = (x: number) => Math.log1p(Math.exp(x));
// f′(e^d) surrogates and their derivatives in d (the weight on ∇x d), from the method's table.
const closedForm: Record<Divergence, { value: (d: number) => number; slope: (d: number) => number }> = {
  kl: { value: (d) => d, slope: () => 1 },
  js: { value: (d) => 0.5 * Math.log(sigmoid(d)), slope: (d) => 0.5 * sigmoid(-d) },
  fkl: { value: (d) => -Math.exp(-d), slope: (d) => Math.exp(-d) },
  hellinger: { value: (d) => -Math.exp(-d / 2), slope: (d) => 0.5 * Math.exp(-d / 2) },
};
const logits = [-6, -2.5, -0.3, 0, 0.7, 3, 8];

async function gradOf(x: Tensor, loss: Tensor): Promise<Float64Array> {
  await loss.backward();
  return (await x.grad!.toTypedArray()) as Float64Array;
}

describe('divergence surrogates', () => {
  for (const divergence of DIVERGENCES) {
    it(`${divergence}: values and gradients match the closed form (float64, 1e-12)`, async () => {
      const d = tensor(new Float64Array(logits)).requiresGrad_();
      const surrogate = divergenceLoss(divergence, d);
      const got = (await surrogate.toTypedArray()) as Float64Array;
      const grad = await gradOf(d, surrogate.sum());
      logits.forEach((v, i) => {
        expect(got[i]).toBeCloseTo(closedForm[divergence].value(v), 12);
        expect(grad[i]).toBeCloseTo(closedForm[divergence].slope(v), 12);
      });
    });
  }

  it('a known logit field d(x) = w·x gives ∇x = ½σ(−d)·w / N for DiJS', async () => {
    const n = 5, w = [0.5, -1, 2];
    const x = randn([n, 3], { dtype: 'float64' }).requiresGrad_();
    const weights = tensor(new Float64Array(w));
    const d = x.mul(weights).sum({ dim: 1 });
    const grad = await gradOf(x, divergenceLoss('js', d).mean());
    const dv = (await d.toTypedArray()) as Float64Array;
    for (let i = 0; i < n; i++) for (let j = 0; j < 3; j++) expect(grad[i * 3 + j]).toBeCloseTo((0.5 * sigmoid(-dv[i]!) * w[j]!) / n, 12);
    // KL's weight is 1 everywhere: the gradient is w / N whatever the samples.
    const x2 = x.detach().requiresGrad_();
    const grad2 = await gradOf(x2, divergenceLoss('kl', x2.mul(weights).sum({ dim: 1 })).mean());
    for (let i = 0; i < n; i++) for (let j = 0; j < 3; j++) expect(grad2[i * 3 + j]).toBeCloseTo(w[j]! / n, 12);
  });

  it('is stable for large logits (no overflow to NaN)', async () => {
    const d = tensor(new Float64Array([-800, 800]));
    const js = (await divergenceLoss('js', d).toTypedArray()) as Float64Array;
    expect(js[0]).toBeCloseTo(-400, 9);
    expect(js[1]).toBeCloseTo(0, 9);
  });

  it('rejects unknown divergences and non-tensors', async () => {
    await expectError(() => divergenceLoss('jsd' as Divergence, tensor([0])), ErrorCode.InvalidArgType, /'js', 'kl', 'fkl', 'hellinger'/);
    await expectError(() => divergenceLoss('js', [0] as unknown as Tensor), ErrorCode.InvalidArgType, /Tensor/);
    await expectError(() => divergenceLoss('js', tensor([1, 2], { dtype: 'int64' })), ErrorCode.InvalidArgType, /floating-point/);
  });
});

describe('ratio loss', () => {
  it('is 2·ln 2 at d = 0 and has the logistic gradients', async () => {
    const fake = tensor(new Float64Array([0.4, -1.2, 2])).requiresGrad_();
    const real = tensor(new Float64Array([-0.5, 0.3])).requiresGrad_();
    expect(ratioLoss(tidy(() => fake.mul(0)), tidy(() => real.mul(0))).item()).toBeCloseTo(2 * Math.LN2, 12);
    const loss = ratioLoss(fake, real);
    const f = [0.4, -1.2, 2], r = [-0.5, 0.3];
    expect(loss.item()).toBeCloseTo(f.reduce((s, v) => s + softplus(-v), 0) / 3 + r.reduce((s, v) => s + softplus(v), 0) / 2, 12);
    await loss.backward();
    const gf = (await fake.grad!.toTypedArray()) as unknown as Float64Array;
    const gr = (await real.grad!.toTypedArray()) as unknown as Float64Array;
    f.forEach((v, i) => expect(gf[i]).toBeCloseTo(-sigmoid(-v) / 3, 12));
    r.forEach((v, i) => expect(gr[i]).toBeCloseTo(sigmoid(v) / 2, 12));
  });

  it('is minimised by the log density ratio: two Gaussians, a fitted linear logit finds log q/p', async () => {
    // q = N(1, 1) (fake), p = N(0, 1) (real): log q/p = x − ½. Fit d = a·x + b by gradient descent.
    let a = 0, b = 0;
    const fakeX = randn([4000], { dtype: 'float64' }).add(1);
    const realX = randn([4000], { dtype: 'float64' });
    for (let step = 0; step < 300; step++) {
      const at = tensor(new Float64Array([a])).requiresGrad_();
      const bt = tensor(new Float64Array([b])).requiresGrad_();
      const loss = ratioLoss(fakeX.mul(at).add(bt), realX.mul(at).add(bt));
      await loss.backward();
      a -= 2 * (at.grad!.item() as number);
      b -= 2 * (bt.grad!.item() as number);
    }
    expect(Math.abs(a - 1)).toBeLessThan(0.12);
    expect(Math.abs(b + 0.5)).toBeLessThan(0.12);
  });
});

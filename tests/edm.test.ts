// EDM's network and sampler against golden vectors from EDM's own code (../shared/fixtures).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  edmSample, EDMNetwork, ErrorCode, inferConfig, loadStateDict, memory, PRESETS, randn, teacherOneStep, zeros,
  type StateDict, type Tensor,
} from '../src/index.js';
import { expectError, sharedFixtures } from './helpers.js';

const fixtures = sharedFixtures;
const fixtureJson = JSON.parse(readFileSync(join(fixtures, 'edm-songunet-tiny.json'), 'utf8')) as {
  tiny_config: Record<string, unknown>; param_counts: Record<string, number>; state_dict_keys: string[];
};
let io: StateDict;
let net: EDMNetwork;

beforeAll(async () => {
  io = await loadStateDict(join(fixtures, 'edm-songunet-tiny-io.safetensors'));
  net = await EDMNetwork.load(join(fixtures, 'edm-songunet-tiny.safetensors'));
});
afterAll(() => {
  io.dispose();
  net.dispose();
});

/** max |got − want| / max |want|, in float64. */
async function relativeError(got: Tensor, want: Tensor): Promise<number> {
  const a = (await got.toTypedArray()) as Float32Array;
  const b = (await want.toTypedArray()) as Float32Array;
  expect(a.length).toBe(b.length);
  let err = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    err = Math.max(err, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return err / scale;
}

describe('EDM network', () => {
  it('infers the tiny fixture\'s config from its weights and says what it could not', () => {
    expect(net.config).toMatchObject({
      imgResolution: 16, inChannels: 2, outChannels: 2, labelDim: 10, augmentDim: 9, modelChannels: 16,
      channelMult: [1, 2], numBlocks: 1, attnResolutions: [16, 8],
    });
    expect(net.notes.join(' ')).toMatch(/dropout cannot be inferred/);
  });

  it('has EDM\'s parameter names, shapes and order', () => {
    const sd = net.stateDict();
    expect([...sd.keys()]).toEqual(fixtureJson.state_dict_keys);
    for (const t of sd.values()) t.dispose();
  });

  it('reproduces D from EDM\'s EDMPrecond (relative max error < 1e-5, float32)', async () => {
    const D = await net.denoise(io.get('x')!, io.get('sigma')!, { classLabels: io.get('class_labels'), augmentLabels: io.get('augment_labels') });
    expect(D.shape).toEqual([3, 2, 16, 16]);
    expect(await relativeError(D, io.get('D')!)).toBeLessThan(1e-5);
  });

  it('reproduces F, the raw SongUNet on c_in·x with noise labels ln(σ)/4', async () => {
    const sigma = io.get('sigma')!;
    const cIn = sigma.square().add(0.25).rsqrt().reshape(-1, 1, 1, 1);
    const F = await net.forwardRaw(io.get('x')!.mul(cIn), sigma.log().div(4), { classLabels: io.get('class_labels'), augmentLabels: io.get('augment_labels') });
    expect(await relativeError(F, io.get('F')!)).toBeLessThan(1e-5);
  });

  it('reproduces EDM\'s Heun sampler (18 steps, σ 80 → 0.002, ρ 7) within 1e-4', async () => {
    const out = await edmSample(net, { latents: io.get('sampler_latents')!, classLabels: io.get('sampler_labels') });
    expect(await relativeError(out, io.get('sampler_out')!)).toBeLessThan(1e-4);
  });

  it('runs the one-step teacher D(σ_max·z; σ_max)', async () => {
    const z = io.get('sampler_latents')!;
    const one = await teacherOneStep(net, { latents: z, classLabels: io.get('sampler_labels') });
    const direct = await net.denoise(z.mul(80), 80, { classLabels: io.get('sampler_labels') });
    expect(await relativeError(one, direct)).toBe(0);
  });

  it('builds the presets with the exact parameter counts of EDM\'s code', () => {
    for (const [preset, count] of [['fmnist32', 6_988_289], ['cifar10-ddpmpp', 55_735_299]] as const) {
      const n = EDMNetwork.create(preset);
      expect(n.parameterCount).toBe(count);
      n.dispose();
    }
    expect(fixtureJson.param_counts['cifar10-ddpmpp uncond (in 3, augment_dim 9)']).toBe(55_733_891);
    const uncond = EDMNetwork.create({ ...PRESETS['cifar10-ddpmpp'], channelMult: [2, 2, 2], attnResolutions: [16], labelDim: 0 });
    expect(uncond.parameterCount).toBe(55_733_891);
    uncond.dispose();
  });

  it('initialises reproducibly from a seed', async () => {
    const a = EDMNetwork.create({ ...PRESETS.fmnist32, channelMult: [1, 2], attnResolutions: [], modelChannels: 16 }, { seed: 3 });
    const b = EDMNetwork.create({ ...PRESETS.fmnist32, channelMult: [1, 2], attnResolutions: [], modelChannels: 16 }, { seed: 3 });
    const wa = a.stateDict().get('model.enc.32x32_conv.weight')!;
    const wb = b.stateDict().get('model.enc.32x32_conv.weight')!;
    expect(await wa.toTypedArray()).toEqual(await wb.toTypedArray());
    a.dispose();
    b.dispose();
  });

  it('denoises a batch with a scalar σ and class labels, leaking nothing', async () => {
    const baseline = memory();
    const x = randn([4, 2, 16, 16]);
    const labels = zeros([4, 10]);
    const d = await net.denoise(x, 2.5, { classLabels: labels });
    expect(d.shape).toEqual([4, 2, 16, 16]);
    for (const t of [x, labels, d]) t.dispose();
    expect(memory()).toEqual(baseline);
  });

  it('reports a state dict that does not fit, strictly and all at once', async () => {
    const sd = await loadStateDict(join(fixtures, 'edm-songunet-tiny.safetensors'));
    await expectError(() => EDMNetwork.load(sd, { config: { ...inferConfig(sd).config, modelChannels: 32 } }), ErrorCode.StateDictMismatch, /shape mismatch: model\.enc\.16x16_conv\.weight/);
    sd.delete('model.map_label.bias');
    await expectError(() => EDMNetwork.load(sd, { config: inferConfig(sd).config }), ErrorCode.StateDictMismatch, /missing: model\.map_label\.bias/);
    await expectError(() => inferConfig(new Map()), ErrorCode.CheckpointUnsupported, /cannot infer an EDM config/);
    sd.dispose();
  });

  it('rejects bad configs and inputs with clear errors', async () => {
    await expectError(() => EDMNetwork.create('nope' as 'fmnist32'), ErrorCode.InvalidArgType, /unknown preset/);
    await expectError(() => EDMNetwork.create({ imgResolution: 30 }), ErrorCode.InvalidArgValue, /power of two/);
    await expectError(() => EDMNetwork.create({ imgResolution: 32, modelChannels: 6 }), ErrorCode.InvalidArgValue, /multiple of 4/);
    await expectError(() => net.denoise(randn([1, 3, 16, 16]), 1, { classLabels: zeros([1, 10]) }), ErrorCode.Torch);
    // Without labels a class-conditional net sees zero labels, as EDM's EDMPrecond does.
    expect((await net.denoise(randn([1, 2, 16, 16]), 1)).shape).toEqual([1, 2, 16, 16]);
    await expectError(() => edmSample(net, { latents: randn([1, 2, 16, 16]), classLabels: zeros([1, 10]), steps: 0 }), ErrorCode.InvalidArgValue, /steps/);
    const gone = EDMNetwork.create({ imgResolution: 8, modelChannels: 8, channelMult: [1], attnResolutions: [], labelDim: 0 });
    gone.dispose();
    await expectError(() => gone.denoise(randn([1, 1, 8, 8]), 1), ErrorCode.InvalidArgType, /disposed/);
  });
});

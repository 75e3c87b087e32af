/**
 * Counting first (issue 6): the matrix FLOPs of a DiJS step and of a teacher step, from the
 * SongUNet layout (convolutions, attention products, linear layers; norms and elementwise work are
 * memory-bound and counted as bytes elsewhere). Forward FLOPs per image; a training backward costs
 * about twice its forward (input and weight gradients), an input-only backward about once.
 *   npx tsx bench/count-flops.ts [--preset fmnist32|cifar10-ddpmpp] [--batch 256]
 */
import { parseArgs } from 'node:util';
import { PRESETS, type EDMConfig, type PresetName } from '../src/index.js';

const { values } = parseArgs({ options: { preset: { type: 'string', default: 'fmnist32' }, batch: { type: 'string', default: '256' } } });
const c: EDMConfig = PRESETS[values.preset as PresetName];
const B = Number(values.batch);
const emb = c.modelChannels * c.channelMultEmb;
const conv = (cin: number, cout: number, k: number, res: number) => 2 * cin * cout * k * k * res * res;

function block(cin: number, cout: number, res: number, opts: { resample?: boolean; attention?: boolean } = {}): number {
  let f = conv(cin, cout, 3, res) + conv(cout, cout, 3, res) + 2 * emb * cout;
  if (cin !== cout || opts.resample) f += conv(cin, cout, 1, res);
  if (opts.attention) {
    const n = res * res;
    f += conv(cout, 3 * cout, 1, res) + 2 * n * n * cout /* q·k */ + 2 * n * n * cout /* w·v */ + conv(cout, cout, 1, res);
  }
  return f;
}

// Encoder (also the ratio network's trunk) and decoder, in SongUNet's construction order.
let encoder = 2 * c.modelChannels * emb + 2 * emb * emb + (c.labelDim ? 2 * c.labelDim * c.modelChannels : 0);
const skips: number[] = [];
let cout = c.inChannels;
c.channelMult.forEach((mult, level) => {
  const res = c.imgResolution >> level;
  if (level === 0) { encoder += conv(cout, c.modelChannels, 3, res); cout = c.modelChannels; }
  else encoder += block(cout, cout, res, { resample: true });
  skips.push(cout);
  for (let i = 0; i < c.numBlocks; i++) {
    encoder += block(cout, c.modelChannels * mult, res, { attention: c.attnResolutions.includes(res) });
    cout = c.modelChannels * mult;
    skips.push(cout);
  }
});
const head = 2 * cout; // pool → linear to one logit
let decoder = 0;
for (let level = c.channelMult.length - 1; level >= 0; level--) {
  const res = c.imgResolution >> level;
  if (level === c.channelMult.length - 1) decoder += block(cout, cout, res, { attention: true }) + block(cout, cout, res);
  else decoder += block(cout, cout, res, { resample: true });
  for (let i = 0; i <= c.numBlocks; i++) {
    const cin = cout + skips.pop()!;
    cout = c.modelChannels * c.channelMult[level]!;
    decoder += block(cin, cout, res, { attention: i === c.numBlocks && c.attnResolutions.includes(res) });
  }
  if (level === 0) decoder += conv(cout, c.outChannels, 3, res);
}
const unet = encoder + decoder, ratio = encoder + head;
// DiJS: G forward (B) + backward (2×); ratio update on 2B: forward + backward (2×);
// generator update through the ratio network on B: forward + input-only backward (1×).
const dijs = B * (3 * unet) + 2 * B * (3 * ratio) + B * (2 * ratio);
const teacher = B * 3 * unet;
const T = (f: number) => `${(f / 1e12).toFixed(2)} TFLOP`;
console.log(`${values.preset}, batch ${B}: UNet forward ${(unet / 1e9).toFixed(2)} GFLOP/image (encoder ${(encoder / 1e9).toFixed(2)}, decoder ${(decoder / 1e9).toFixed(2)})`);
console.log(`teacher step ${T(teacher)}; DiJS step ${T(dijs)} (generator ${T(3 * B * unet)}, ratio network ${T(8 * B * ratio)})`);
for (const [card, tflops] of [['H100 bf16 dense (790 TFLOP/s)', 790], ['H100 TF32 (~395 TFLOP/s)', 395]] as const) {
  console.log(`  floor on ${card}: DiJS ${(dijs / tflops / 1e9).toFixed(1)} ms, teacher ${(teacher / tflops / 1e9).toFixed(1)} ms`);
}

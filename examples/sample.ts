/**
 * Sample a trained one-step generator: a PNG grid (one column per class), optionally with the
 * ratio network as a verifier, optionally the images as a file for examples/evaluate.ts.
 *
 *   npx tsx examples/sample.ts --generator runs/dijs/generator.safetensors --out samples.png
 *   npx tsx examples/sample.ts --generator runs/dijs/generator.safetensors --ratio runs/dijs/ratio.safetensors --candidates 4
 *   npx tsx examples/sample.ts --generator g.safetensors --n 10000 --save samples.safetensors --evaluate
 */
import { commandLine } from './command-line.js';
import { cuda, evaluate, OneStepGenerator, RatioNetwork, saveImageGrid, saveSamples, type Device } from '../src/index.js';

const { values: args } = commandLine(import.meta.url, {
  options: {
    // A generator written by train-dijs.ts (generator.safetensors) or OneStepGenerator.save.
    generator: { type: 'string', default: 'runs/dijs/generator.safetensors' },
    // A ratio network (ratio.safetensors) for verifier sampling.
    ratio: { type: 'string' },
    // Candidates per sample, importance-resampled by exp(−d) (needs --ratio).
    candidates: { type: 'string', default: '1' },
    // The noise level at which the ratio network judges candidates.
    'sigma-verify': { type: 'string', default: '0.2' },
    // 'cuda' when a GPU is there, else 'cpu'; 'cuda:1' picks a GPU.
    device: { type: 'string', default: cuda.isAvailable() ? 'cuda' : 'cpu' },
    // Samples to draw.
    n: { type: 'string', default: '100' },
    // Seeds the latents (same seed, same images).
    seed: { type: 'string', default: '0' },
    // Comma-separated class indices, cycled (default: balanced, i mod 10).
    classes: { type: 'string' },
    // The PNG grid (one column per class).
    out: { type: 'string', default: 'samples.png' },
    // Also write the images (uint8 safetensors) for evaluate.ts --samples.
    save: { type: 'string' },
    // Measure FID, precision, recall and the class histogram of the samples.
    evaluate: { type: 'boolean', default: false },
  },
});
const device = args.device as Device;
const n = Number(args.n);
const generator = await OneStepGenerator.load(args.generator!, { device });
const ratio = args.ratio ? await RatioNetwork.load(args.ratio, { device }) : undefined;
const classes = generator.config.labelDim;
const wanted = args.classes?.split(',').map(Number);
const classLabels = classes ? Array.from({ length: n }, (_, i) => (wanted ? wanted[i % wanted.length]! : i % classes)) : undefined;
const options = { classLabels, candidates: Number(args.candidates), ratio, sigmaVerify: Number(args['sigma-verify']) };

const started = performance.now();
const images = await generator.sample({ n, seed: Number(args.seed), ...options });
const seconds = (performance.now() - started) / 1000;
console.log(`${n} samples in ${seconds.toFixed(2)} s on ${device} (${options.candidates > 1 ? `${options.candidates} candidates each, verifier` : 'one network evaluation each'})`);
await saveImageGrid(images.slice(0, 0, Math.min(n, 400)), args.out!, { columns: classes && !wanted ? classes : undefined });
console.log(`grid: ${args.out}`);
if (args.save) {
  await saveSamples(images, args.save, { name: `${args.generator}${options.candidates > 1 ? `, verifier k = ${options.candidates}` : ''}` });
  console.log(`images: ${args.save}`);
}
if (args.evaluate) {
  const r = await evaluate(images, { n });
  console.log(`FID ${r.fid.toFixed(2)}, precision ${r.precision.toFixed(3)}, recall ${r.recall.toFixed(3)}, classes ${r.histogram.map((h) => (100 * h).toFixed(1)).join(' ')} %`);
}
images.dispose();
generator.dispose();
ratio?.dispose();

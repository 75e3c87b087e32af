/**
 * Sample a trained one-step generator: a PNG grid (one column per class), optionally with the
 * ratio network as a verifier, optionally the images as a file for examples/evaluate.ts.
 *
 *   npx tsx examples/sample.ts --generator runs/dijs/generator.safetensors --out samples.png
 *   npx tsx examples/sample.ts --generator runs/dijs/generator.safetensors --ratio runs/dijs/ratio.safetensors --candidates 4
 *   npx tsx examples/sample.ts --generator g.safetensors --n 10000 --save samples.safetensors --evaluate
 *   # verifier sampling with the run's ratio network first trained on against this generator alone:
 *   npx tsx examples/sample.ts --generator runs/dijs/best-generator.safetensors --calibrate runs/dijs/checkpoint.safetensors \
 *     --calibrate-kimg 200 --candidates 4 --sigma-verify 0.05 --n 10000 --evaluate
 */
import { commandLine, UsageError } from './command-line.js';
import { calibrateRatio, cuda, evaluate, FashionMNIST, OneStepGenerator, RatioNetwork, saveImageGrid, saveSamples, type Device } from '../src/index.js';

const { values: args } = commandLine(import.meta.url, {
  options: {
    // A generator written by train-dijs.ts (generator.safetensors) or OneStepGenerator.save.
    generator: { type: 'string', default: 'runs/dijs/generator.safetensors' },
    // A ratio network (ratio.safetensors) for verifier sampling.
    ratio: { type: 'string' },
    // A run's checkpoint (train-dijs.ts's checkpoint.safetensors): its ratio network, trained on against
    // --generator alone for --calibrate-kimg (calibrateRatio), is the verifier; instead of --ratio.
    calibrate: { type: 'string' },
    // Images of calibration, in thousands.
    'calibrate-kimg': { type: 'string', default: '200' },
    // The run's --data-limit (its first N training images), for --calibrate.
    'data-limit': { type: 'string' },
    // Candidates per sample, importance-resampled by exp(−d) (needs --ratio or --calibrate).
    candidates: { type: 'string', default: '1' },
    // The noise level at which the ratio network judges candidates.
    'sigma-verify': { type: 'string', default: '0.2' },
    // T of the verifier's weights exp(−d/T): 1 resamples by p/q, larger is closer to plain sampling, 0 keeps each group's arg-min of d.
    'verifier-temperature': { type: 'string', default: '1' },
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
if (args.ratio && args.calibrate) throw new UsageError('--ratio or --calibrate, not both: --calibrate makes the ratio network from the run');
const calibrateKimg = Number(args['calibrate-kimg']);
if (args.calibrate && !(calibrateKimg > 0 && Number.isFinite(calibrateKimg))) throw new UsageError(`--calibrate-kimg takes a number of kimg > 0, not "${args['calibrate-kimg']}"`);
const generator = await OneStepGenerator.load(args.generator!, { device });
const ratio = args.ratio ? await RatioNetwork.load(args.ratio, { device }) : args.calibrate ? await calibrated(args.calibrate) : undefined;

/** The run's ratio network, trained on against this generator (calibrateRatio), with its progress. */
async function calibrated(checkpoint: string): Promise<RatioNetwork> {
  const started = performance.now();
  const data = await FashionMNIST.load({ split: 'train', device, limit: args['data-limit'] ? Number(args['data-limit']) : undefined });
  try {
    let reported = 0;
    return await calibrateRatio(checkpoint, generator, data, {
      images: calibrateKimg * 1000, device,
      onProgress: (images) => {
        if (images < reported + 50_000 && images < calibrateKimg * 1000) return;
        reported = images;
        console.log(`calibrating the ratio network on ${args.generator}: ${Number((images / 1000).toFixed(3))} of ${calibrateKimg} kimg, ${((performance.now() - started) / 1000).toFixed(0)} s`);
      },
    });
  } finally {
    data.dispose();
  }
}
const classes = generator.config.labelDim;
const wanted = args.classes?.split(',').map(Number);
const classLabels = classes ? Array.from({ length: n }, (_, i) => (wanted ? wanted[i % wanted.length]! : i % classes)) : undefined;
const options = { classLabels, candidates: Number(args.candidates), ratio, sigmaVerify: Number(args['sigma-verify']), verifierTemperature: Number(args['verifier-temperature']) };

const started = performance.now();
const images = await generator.sample({ n, seed: Number(args.seed), ...options });
const seconds = (performance.now() - started) / 1000;
console.log(`${n} samples in ${seconds.toFixed(2)} s on ${device} (${options.candidates > 1 ? `${options.candidates} candidates each, verifier${options.verifierTemperature !== 1 ? ` at T ${options.verifierTemperature}` : ''}` : 'one network evaluation each'})`);
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

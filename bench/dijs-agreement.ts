/**
 * Each fast path of the fused DiJS step against the plain one (issue 6's "correctness stays"):
 * 1. agreement: the same seeds and inputs, 6 iterations (with cudaGraph: 3 eager, capture, 3
 *    replayed); differences of the statistics (the networks' outputs) and the relative difference
 *    of the online generator's samples (Adam's first steps move each weight by ~lr whatever the
 *    gradient's size, so rounding that flips a tiny gradient's sign shows there: measured on an
 *    H100, ~6e-3 for bf16 and ~2e-4 for a graph of the float32 step);
 * 2. --curve N: an N-iteration training curve (ratio loss and accuracies per window) for a baseline
 *    with two seeds (run-to-run noise) and a candidate with the first seed. --curve-of fast (the
 *    default): the plain step against bf16 + CUDA graph (+ the fused kernels where built); --curve-of
 *    fused: bf16 + CUDA graph with libtorch's GroupNorm/SiLU against the same with the fused kernels.
 * "plain" is float32, eager, libtorch's GroupNorm/SiLU; each variant below turns one thing on.
 *   npx tsx bench/dijs-agreement.ts [--batch 64] [--curve 2000] [--curve-of fast|fused] [--tf32] [--cudnn-benchmark]
 */
import { parseArgs } from 'node:util';
import { cuda, DiJSTrainer, EDMNetwork, FashionMNIST, manualSeed, type DiJSOptions, type DiJSStats, type Tensor } from '../src/index.js';
import { applyCudaFlags, cudaFlagOptions } from './cuda-flags.js';

const { values } = parseArgs({
  options: {
    batch: { type: 'string', default: '64' }, curve: { type: 'string', default: '0' }, window: { type: 'string', default: '250' },
    'curve-of': { type: 'string', default: 'fast' },
    ...cudaFlagOptions,
  },
});
const device = cuda.isAvailable() ? 'cuda' : 'cpu';
applyCudaFlags(values);
const teacher = await EDMNetwork.load('models/fmnist32-teacher.safetensors', { device });
const data = await FashionMNIST.load({ split: 'train', device });
const batchSize = Number(values.batch);
const keys = ['lossRatio', 'lossGenerator', 'logitReal', 'logitFake'] as const;

// A variant: the trainer's options and whether onestep's fused kernels run (a process-wide switch).
type Variant = DiJSOptions & { fused?: boolean };
const fusedBuilt = device === 'cuda' && cuda.fusedKernelsBuilt();
function trainer({ fused = false, ...options }: Variant, seed: number): DiJSTrainer {
  cuda.setFusedKernels(fused);
  manualSeed(seed);
  return new DiJSTrainer({ teacher, data, device, batchSize, seed, ...options });
}
const norm = async (t: Tensor) => Number(await t.square().sum().sqrt().item());
async function relative(a: Tensor, b: Tensor): Promise<number> {
  return (await norm(a.sub(b))) / (await norm(b));
}

const allVariants: [string, Variant][] = [
  ['fused kernels', { fused: true }], ['bf16', { precision: 'bf16' }], ['bf16-autocast', { precision: 'bf16-autocast' }],
  ['cuda-graph', { cudaGraph: true }], ['bf16 + cuda-graph', { precision: 'bf16', cudaGraph: true }],
  ['bf16 + cuda-graph + fused kernels', { precision: 'bf16', cudaGraph: true, fused: true }],
];
const variants = allVariants.filter(([, o]) => (device === 'cuda' || !o.cudaGraph) && (fusedBuilt || !o.fused));

// 1. Agreement after 6 iterations from the same state and the same draws.
const plain = trainer({}, 11);
const plainStats = await plain.step(6);
const plainSamples = await plain.onlineGenerator.sample({ n: 64, seed: 5 });
console.log(`agreement with the plain step (${device}, batch ${batchSize}, 6 iterations from the shipped teacher):`);
console.log(`| variant | ${keys.join(' | ')} | online generator's samples |`);
console.log(`|---|${keys.map(() => '---|').join('')}---|`);
for (const [name, options] of variants) {
  const t = trainer(options, 11);
  const stats = await t.step(6);
  const samples = await t.onlineGenerator.sample({ n: 64, seed: 5 });
  const diffs = keys.map((k) => Math.abs(stats[k] - plainStats[k]).toExponential(1));
  console.log(`| ${name} | ${diffs.join(' | ')} | ${(await relative(samples, plainSamples)).toExponential(1)} (relative L2) |`);
  samples.dispose();
  t.dispose();
}
plain.dispose();
plainSamples.dispose();

// 2. Training curves: the plain step with two seeds gives the run-to-run noise.
const iterations = Number(values.curve);
if (iterations > 0) {
  const every = Number(values.window);
  const curve = async (options: Variant, seed: number): Promise<number[][]> => {
    const t = trainer(options, seed);
    const windows: number[][] = [];
    let sums = [0, 0, 0];
    for (let done = 0; done < iterations; done += 10) {
      const s: DiJSStats = await t.step(10);
      sums = [sums[0]! + s.lossRatio, sums[1]! + s.ratioAccuracyReal, sums[2]! + s.ratioAccuracyFake];
      if ((done + 10) % every === 0) {
        windows.push(sums.map((x) => x / (every / 10)));
        sums = [0, 0, 0];
      }
    }
    t.dispose();
    return windows;
  };
  const fast: Variant = device === 'cuda' ? { precision: 'bf16', cudaGraph: true, fused: fusedBuilt } : { precision: 'bf16' };
  const name = (v: Variant) => [v.precision ?? 'fp32', v.cudaGraph && 'cuda-graph', v.fused && 'fused kernels'].filter(Boolean).join(' + ');
  const [baseline, candidate]: [Variant, Variant] = values['curve-of'] === 'fused' ? [{ ...fast, fused: false }, fast] : [{}, fast];
  const runs: [string, number[][]][] = [];
  for (const [options, seed] of [[baseline, 1], [baseline, 2], [candidate, 1]] as const) {
    const label = `${name(options)}, seed ${seed}`;
    const t0 = performance.now();
    runs.push([label, await curve(options, seed)]);
    console.log(`${label}: ${((performance.now() - t0) / 1000).toFixed(0)} s; ratio loss per window ${runs.at(-1)![1].map((w) => w[0]!.toFixed(3)).join(' ')}`);
  }
  console.log(`\ntraining curves (${iterations} iterations, batch ${batchSize}; mean per ${every} iterations: ratio loss / accuracy real / accuracy fake):`);
  console.log(`| iterations | ${runs.map(([n]) => n).join(' | ')} |`);
  console.log(`|---|${runs.map(() => '---|').join('')}`);
  for (let w = 0; w < runs[0]![1].length; w++) {
    console.log(`| ${(w + 1) * every} | ${runs.map(([, r]) => r[w]!.map((x) => x.toFixed(3)).join(' / ')).join(' | ')} |`);
  }
  const gap = (a: number[][], b: number[][]) => Math.max(...a.map((row, i) => Math.abs(row[0]! - b[i]![0]!)));
  console.log(`RESULT curve: largest window gap in ratio loss — seed vs seed ${gap(runs[0]![1], runs[1]![1]).toFixed(4)}, candidate vs baseline (same seed) ${gap(runs[2]![1], runs[0]![1]).toFixed(4)}`);
}
teacher.dispose();
data.dispose();

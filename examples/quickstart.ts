/**
 * onestep quickstart: a small demo of the native core (README's first command runs it).
 *   npx tsx examples/quickstart.ts [--device cpu|cuda] [--steps 200]
 * It reports the libtorch it runs on, times a batched matrix product (the BLAS matters on CPU),
 * fits a line by gradient descent with autograd running off the JS thread, and shows that
 * every native tensor was freed. Later issues replace it with the DiJS training demo.
 */
import { parseArgs } from 'node:util';
import { buildInfo, cuda, getNumThreads, manualSeed, memory, randn, tidy, arange, zeros, type Device, type Tensor } from '../src/index.js';

const { values: args } = parseArgs({
  options: {
    device: { type: 'string', default: cuda.isAvailable() ? 'cuda' : 'cpu' },
    steps: { type: 'string', default: '200' },
  },
});
const device = args.device as Device;
const steps = Number(args.steps);

const info = buildInfo();
console.log(`onestep quickstart`);
console.log(`  libtorch ${info.torchVersion} (${info.flavour}), ${getNumThreads()} intra-op threads, ` +
  `CUDA ${cuda.isAvailable() ? `available (${cuda.deviceCount()} device(s))` : 'not available'}, running on ${device}`);

manualSeed(0);
await tidy(async () => {
  // 64 products of 256×256 matrices: 2.1 GFLOP.
  const a = randn([64, 256, 256], { device });
  const b = randn([64, 256, 256], { device });
  (await a.matmul(b).to('cpu')).dispose(); // warm-up
  const started = performance.now();
  const reps = 5;
  for (let i = 0; i < reps; i++) await a.matmul(b).sum().to('cpu');
  const ms = (performance.now() - started) / reps;
  console.log(`  batched matmul 64×256×256: ${ms.toFixed(1)} ms (${(2 * 64 * 256 ** 3 / ms / 1e6).toFixed(1)} GFLOP/s)`);
});

console.log(`  fitting y = 3x − 2 + noise by gradient descent (${steps} steps, backward on a worker thread)`);
const baseline = memory();
const { w, b } = await tidy(async () => {
  const x = arange(0, 1, 1 / 256, { device });
  const y = x.mul(3).sub(2).add(randn([256], { device }).mul(0.05));
  let w: Tensor = zeros([1], { device }).requiresGrad_();
  let b: Tensor = zeros([1], { device }).requiresGrad_();
  for (let step = 0; step <= steps; step++) {
    const loss = tidy(() => x.mul(w).add(b).sub(y).square().mean());
    await loss.backward();
    if (step % Math.max(1, Math.floor(steps / 4)) === 0) console.log(`    step ${String(step).padStart(4)}  loss ${(loss.item() as number).toFixed(5)}`);
    const [nw, nb] = tidy(() => [w.sub(w.grad!.mul(0.5)).detach().requiresGrad_(), b.sub(b.grad!.mul(0.5)).detach().requiresGrad_()]);
    w.dispose();
    b.dispose();
    [w, b] = [nw!, nb!];
  }
  return { w, b };
});
console.log(`  learned w = ${(w.item() as number).toFixed(3)}, b = ${(b.item() as number).toFixed(3)}`);
w.dispose();
b.dispose();
const after = memory();
console.log(`  native tensors alive: ${after.tensors - baseline.tensors} (${after.bytes - baseline.bytes} bytes) — all freed`);

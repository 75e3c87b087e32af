/**
 * CPU matrix-product throughput under the addon's thread settings: shows what the BLAS and the
 * intra-op thread count do (README § set-up, bench/NOTES.md). Run with different environments:
 *   npx tsx bench/cpu-matmul.ts            # threads = cores (the default)
 *   OMP_NUM_THREADS=1 npx tsx bench/cpu-matmul.ts
 */
import { buildInfo, conv2d, getNumThreads, randn, tidy } from '../src/index.js';

const shapes: [string, number[], number[]][] = [
  ['batched 64×256×256', [64, 256, 256], [64, 256, 256]],
  ['single 1024×1024', [1024, 1024], [1024, 1024]],
  ['conv-like 4096×576 · 576×128', [4096, 576], [576, 128]],
];
console.log(`libtorch ${buildInfo().torchVersion}, intra-op threads ${getNumThreads()}, OPENBLAS_NUM_THREADS=${process.env.OPENBLAS_NUM_THREADS ?? '(unset)'}`);
for (const [name, sa, sb] of shapes) {
  await tidy(async () => {
    const a = randn(sa);
    const b = randn(sb);
    const flop = 2 * sa.reduce((x, y) => x * y, 1) * sb[sb.length - 1]!;
    await a.matmul(b).toTypedArray(); // warm-up
    const times: number[] = [];
    for (let i = 0; i < 7; i++) {
      const t0 = performance.now();
      await a.matmul(b).sum().toTypedArray();
      times.push(performance.now() - t0);
    }
    times.sort((x, y) => x - y);
    const ms = times[3]!;
    console.log(`  ${name.padEnd(30)} ${ms.toFixed(1).padStart(7)} ms  ${(flop / ms / 1e6).toFixed(1).padStart(6)} GFLOP/s (median of 7)`);
  });
}

// Work that runs on libtorch's own intra-op threads rather than the BLAS's.
async function time(name: string, flop: number, fn: () => Promise<unknown>): Promise<void> {
  await fn();
  const times: number[] = [];
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  const ms = times.sort((x, y) => x - y)[3]!;
  console.log(`  ${name.padEnd(30)} ${ms.toFixed(1).padStart(7)} ms  ${flop ? `${(flop / ms / 1e6).toFixed(1).padStart(6)} GFLOP/s` : ''}`);
}
await tidy(async () => {
  const x = randn([16 << 20]);
  await time('silu on 16 M floats', 0, () => tidy(() => x.silu().sum().toTypedArray()));
  const img = randn([64, 64, 32, 32]);
  const w = randn([64, 64, 3, 3]);
  await time('conv2d 64×64×32×32, 3×3', 2 * 64 * 64 * 32 * 32 * 64 * 9, () => tidy(() => conv2d(img, w, null, { padding: 1 }).sum().toTypedArray()));
});

/**
 * Times a trainer's fused step as the step benchmarks report it: warm-up calls, then the median of
 * `calls` calls of `iterations`. With cuDNN autotuning on, the warm-up is two calls per libuv
 * worker thread: cuDNN keeps its algorithm choices per thread, and the calls land on any of them.
 */
import { cuda } from '../src/index.js';

/** Warm-up calls before timing: two per libuv worker thread when cuDNN autotunes (its choices are per thread), else one. */
export function warmupCalls(): number {
  return cuda.isAvailable() && cuda.cudnnBenchmark() ? 2 * Number(process.env.UV_THREADPOOL_SIZE ?? 4) : 1;
}

export async function timeSteps(step: (iterations: number) => Promise<unknown>, options: { calls: number; iterations: number; device: string }): Promise<{ ms: number; peak: string }> {
  const { calls, iterations: k, device } = options;
  const warmups = warmupCalls();
  // The peak covers the warm-up too: a CUDA-graph step allocates its memory while capturing there.
  if (device === 'cuda') cuda.resetPeakMemory();
  for (let i = 0; i < warmups; i++) await step(k); // warm-up: allocator, cuDNN algorithm choice
  const perStep: number[] = [];
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now();
    await step(k);
    perStep.push((performance.now() - t0) / k);
  }
  const ms = perStep.sort((a, b) => a - b)[Math.floor(perStep.length / 2)]!;
  const memory = device === 'cuda' ? cuda.memoryInfo() : undefined;
  const peak = memory ? `, peak ${(memory.peakAllocated / 2 ** 30).toFixed(2)} GiB (reserved ${(memory.reserved / 2 ** 30).toFixed(2)} GiB)` : '';
  return { ms, peak };
}

/**
 * The benchmarks' shared CUDA switches, parsed with node:util's parseArgs:
 *   --tf32             TF32 matrix products and convolutions (the references' --tf32)
 *   --cudnn-benchmark  cuDNN autotuning (the references' --benchmark)
 *   --no-fused         libtorch's GroupNorm / SiLU ops instead of onestep's fused CUDA kernels
 */
import { cuda } from '../src/index.js';

export const cudaFlagOptions = {
  tf32: { type: 'boolean', default: false },
  'cudnn-benchmark': { type: 'boolean', default: false },
  'no-fused': { type: 'boolean', default: false },
} as const;

/** Applies the switches process-wide; returns the words a RESULT line names them by. */
export function applyCudaFlags(values: { tf32?: boolean; 'cudnn-benchmark'?: boolean; 'no-fused'?: boolean }): string {
  if (values.tf32) cuda.setAllowTF32({ matmul: true, cudnn: true });
  if (values['cudnn-benchmark']) cuda.setCudnnBenchmark(true);
  if (values['no-fused']) cuda.setFusedKernels(false);
  const fused = cuda.isAvailable() && cuda.fusedKernelsBuilt() && cuda.fusedKernels();
  return `${values.tf32 ? ' tf32' : ''}${values['cudnn-benchmark'] ? ' cudnn-benchmark' : ''}${fused ? ' fused' : ''}`;
}

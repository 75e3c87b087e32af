"""Sums a Chrome trace's GPU kernels (onestep's cuda.stopProfiler or PyTorch's profiler
export_chrome_trace) by kind and by name: where a step's device time goes.

Usage: python3 trace_summary.py trace.json [--steps N] [--top 15]
  --steps: iterations the trace covers, to print per-step milliseconds.
"""
import argparse, collections, json, re

p = argparse.ArgumentParser()
p.add_argument("trace")
p.add_argument("--steps", type=int, default=1)
p.add_argument("--top", type=int, default=15)
a = p.parse_args()
events = json.load(open(a.trace))
events = events["traceEvents"] if isinstance(events, dict) else events
kernels = [e for e in events if e.get("cat") in ("kernel", "Kernel") and "dur" in e]
if not kernels:
    raise SystemExit("no kernels in the trace")
# Coarse kinds, first match wins: what each lever (bf16, fused norms, graphs) would act on.
KINDS = [("convolution", r"conv|cudnn|implicit_convolve|xmma|sm90_xmma|wgrad|dgrad|fprop|nchwToNhwc|nhwcToNchw"),
         ("matrix product", r"gemm|cutlass|ampere|sm90|cublas|Kernel2"),
         ("group norm", r"group_norm|GroupNorm|RowwiseMoments|ComputeFusedParams|groupnorm"),
         ("reduction", r"reduce_kernel|norm_kernel"),
         ("copy / cast", r"copy|Copy|cast|unrolled_elementwise_kernel.*bfloat"),
         ("elementwise", r"elementwise|vectorized|silu|Silu|lerp|addcdiv|foreach")]
by_kind, by_name = collections.Counter(), collections.Counter()
for k in kernels:
    name = k["name"]
    by_name[name[:90]] += k["dur"]
    by_kind[next((kind for kind, rx in KINDS if re.search(rx, name)), "other")] += k["dur"]
start = min(k["ts"] for k in kernels)
end = max(k["ts"] + k["dur"] for k in kernels)
busy = sum(k["dur"] for k in kernels)
print(f"{len(kernels) / a.steps:.0f} kernels per step; kernel time {busy / 1e3 / a.steps:.2f} ms per step over a span of "
      f"{(end - start) / 1e3 / a.steps:.2f} ms per step ({100 * busy / (end - start):.0f} % busy)")
for kind, us in by_kind.most_common():
    print(f"  {kind:16s} {us / 1e3 / a.steps:7.2f} ms  {100 * us / busy:5.1f} %")
print("top kernels:")
for name, us in by_name.most_common(a.top):
    print(f"  {us / 1e3 / a.steps:7.2f} ms  {100 * us / busy:5.1f} %  {name}")

"""Times a training step as the step benchmarks report it: warm-up, then the median of many
synchronised steps; returns (ms per step, peak GiB)."""
import statistics, time
import torch


def time_steps(step, steps, warm=10):
    for i in range(warm):
        step(i)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    times = []
    for i in range(steps):
        t0 = time.perf_counter()
        step(i)
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), torch.cuda.max_memory_allocated() / 2**30

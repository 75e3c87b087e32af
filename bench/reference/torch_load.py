"""Baseline for bench/checkpoint-load.sh: makes a 220 MB float32 state dict shaped like EDM's
CIFAR-10 network (55.7 M parameters) if missing, then times torch.load of it.

Usage: python3 torch_load.py PATH [device]   one load per process: prints its time and peak RSS
"""
import os, resource, sys, time
import torch

path = sys.argv[1]
device = sys.argv[2] if len(sys.argv) > 2 else "cpu"
if not os.path.exists(path):
    g = torch.Generator().manual_seed(0)
    sd, left = {}, 55_735_299
    shapes = [(256, 256, 3, 3), (256,), (128, 256, 1, 1), (1024, 256), (256, 768, 1, 1)]
    i = 0
    while left > 0:
        shape = shapes[i % len(shapes)]
        n = 1
        for d in shape:
            n *= d
        if n > left:
            shape, n = (left,), left
        sd[f"model.block{i}.weight"] = torch.randn(shape, generator=g)
        left -= n
        i += 1
    torch.save(sd, path)
with open(path, "rb") as f:  # warm the page cache, as for the other runs
    while f.read(1 << 24):
        pass
if device != "cpu":
    torch.zeros(1, device=device)  # CUDA context outside the timing, as onestep's bench does
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t0 = time.perf_counter()
sd = torch.load(path, map_location=device, weights_only=True)
if device != "cpu":
    torch.cuda.synchronize()
ms = (time.perf_counter() - t0) * 1000
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"torch.load {torch.__version__} {device}: {ms:.0f} ms, peak RSS {rss:.0f} MiB ({rss0:.0f} before loading), file {os.path.getsize(path) / 2**20:.0f} MiB")

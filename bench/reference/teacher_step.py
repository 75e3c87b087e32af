"""PyTorch eager baseline for onestep's fused teacher step: EDM's loss, backward, Adam with the
same update, EMA, on fmnist32 at batch 256 with data resident on the GPU.

Usage: python3 teacher_step.py [--steps 50] [--batch 256] [--tf32] [--benchmark]   prints ms/step, img/s, peak memory
"""
import argparse, sys
import torch
sys.path.insert(0, __file__.rsplit("/", 1)[0])
from songunet import EDMPrecond
from timing import time_steps

p = argparse.ArgumentParser()
p.add_argument("--steps", type=int, default=50)
p.add_argument("--batch", type=int, default=256)
p.add_argument("--tf32", action="store_true")
p.add_argument("--benchmark", action="store_true", help="torch.backends.cudnn.benchmark = True")
a = p.parse_args()
torch.backends.cudnn.benchmark = a.benchmark
if a.tf32:  # otherwise PyTorch's defaults, as libtorch has them: TF32 for cuDNN convolutions only
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
dev = "cuda"
torch.manual_seed(0)
net = EDMPrecond(img_resolution=32, in_channels=1, out_channels=1, label_dim=10, model_channels=64, channel_mult=(1, 2, 2),
                 num_blocks=2, attn_resolutions=(16,), dropout=0.1).to(dev).train()
ema = EDMPrecond(img_resolution=32, in_channels=1, out_channels=1, label_dim=10, model_channels=64, channel_mult=(1, 2, 2),
                 num_blocks=2, attn_resolutions=(16,)).to(dev).eval().requires_grad_(False)
ema.load_state_dict(net.state_dict())
opt = torch.optim.Adam(net.parameters(), lr=5e-4, betas=(0.9, 0.999), eps=1e-8)
images = torch.rand(60000, 1, 32, 32, device=dev) * 2 - 1
labels = torch.randint(0, 10, (60000,), device=dev)
perm = torch.randperm(60000, device=dev)
print(f"params {sum(p.numel() for p in net.parameters())}, torch {torch.__version__}, {torch.cuda.get_device_name()}, tf32 matmul {torch.backends.cuda.matmul.allow_tf32} conv {torch.backends.cudnn.allow_tf32}")


def step(i):
    idx = perm[(i * a.batch) % (60000 - a.batch):][: a.batch]
    y = images[idx]
    c = torch.nn.functional.one_hot(labels[idx], 10).float()
    sigma = (torch.randn(a.batch, 1, 1, 1, device=dev) * 1.2 - 1.2).exp()
    weight = (sigma ** 2 + 0.25) / (sigma * 0.5) ** 2
    n = torch.randn_like(y) * sigma
    loss = (weight * (net(y + n, sigma.flatten(), c) - y) ** 2).sum() / a.batch
    opt.zero_grad(set_to_none=True)
    loss.backward()
    for p in net.parameters():
        torch.nan_to_num(p.grad, nan=0, posinf=1e5, neginf=-1e5, out=p.grad)
    opt.step()
    with torch.no_grad():
        for pe, pn in zip(ema.parameters(), net.parameters()):
            pe.copy_(pn.detach().lerp(pe, 0.999))
    return loss.detach()


ms, peak = time_steps(step, a.steps)
print(f"RESULT pytorch teacher eager{' tf32' if a.tf32 else ''}{' cudnn-benchmark' if a.benchmark else ''}: {ms:.1f} ms/step (median of {a.steps}), {a.batch / ms * 1000:.0f} img/s, peak {peak:.2f} GiB")

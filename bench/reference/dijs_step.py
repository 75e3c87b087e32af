"""PyTorch baseline for onestep's fused DiJS step, the code a user would write instead: EDM's
SongUNet generator g(z) = D(σ_init·z; σ_init), a ratio network on the teacher's mapping network
and encoder with a GroupNorm → SiLU → pool → Linear head, one ratio update (fake detached vs real,
both noised at lognormal σ) then one generator update through the ratio network (JS surrogate),
Adam (0, 0.99) on both, EMA of the generator. fmnist32, data resident on the GPU.

Usage: python3 dijs_step.py [--steps 50] [--batch 256] [--tf32] [--compile] [--bf16] [--two-score] [--benchmark] [--profile]
                            [--preset fmnist32|cifar10]
  --preset cifar10: EDM's CIFAR-10 network (DDPM++, 55.7 M parameters, unconditional), 3 channels.
  --two-score: for memory comparison, a SiD/DMD-style step instead (a frozen teacher score net and
  a trainable fake-score net of the teacher's full size replace the ratio network).
Prints ms/step, img/s and peak memory.
"""
import argparse, contextlib, sys
import torch
import torch.nn.functional as F
sys.path.insert(0, __file__.rsplit("/", 1)[0])
from songunet import EDMPrecond, GroupNorm, Linear, UNetBlock
from timing import time_steps

p = argparse.ArgumentParser()
p.add_argument("--steps", type=int, default=50)
p.add_argument("--batch", type=int, default=256)
p.add_argument("--tf32", action="store_true")
p.add_argument("--compile", action="store_true")
p.add_argument("--bf16", action="store_true")
p.add_argument("--two-score", action="store_true")
p.add_argument("--benchmark", action="store_true", help="torch.backends.cudnn.benchmark = True")
p.add_argument("--profile", action="store_true", help="print the profiler's table of CUDA kernels for 5 steps")
p.add_argument("--preset", default="fmnist32", choices=["fmnist32", "cifar10"])
a = p.parse_args()
if a.tf32:
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
if a.benchmark:
    torch.backends.cudnn.benchmark = True
dev = "cuda"
torch.manual_seed(0)
if a.preset == "cifar10":  # EDM's cifar10 DDPM++ (dropout off in both steps, as in onestep's DiJS step)
    cfg = dict(img_resolution=32, in_channels=3, out_channels=3, label_dim=0, model_channels=128, channel_mult=(2, 2, 2), num_blocks=4, attn_resolutions=(16,))
else:
    cfg = dict(img_resolution=32, in_channels=1, out_channels=1, label_dim=10, model_channels=64, channel_mult=(1, 2, 2), num_blocks=2, attn_resolutions=(16,))
C, LABELS = cfg["in_channels"], cfg["label_dim"]


class RatioNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        unet = EDMPrecond(**cfg).model
        self.model = unet
        del unet.dec
        ch = cfg["model_channels"] * cfg["channel_mult"][-1]
        self.head_norm = GroupNorm(ch)
        self.head_out = Linear(ch, 1)

    def forward(self, x, sigma, c):
        m = self.model
        sigma = sigma.float().reshape(-1, 1, 1, 1)
        c_in = 1 / (0.25 + sigma ** 2).sqrt()
        half = m.model_channels // 2
        freqs = (1 / 10000) ** (torch.arange(half, dtype=torch.float32, device=x.device) / (half - 1))
        ang = (sigma.log() / 4).flatten().ger(freqs)
        emb = torch.cat([ang.sin(), ang.cos()], dim=1)
        if LABELS:
            emb = emb + m.map_label(c * (LABELS ** 0.5))
        emb = F.silu(m.map_layer1(F.silu(m.map_layer0(emb))))
        h = c_in * x
        for block in m.enc.values():
            h = block(h, emb) if isinstance(block, UNetBlock) else block(h)
        h = F.silu(self.head_norm(h)).mean((2, 3))
        return self.head_out(h).flatten().float()


gen = EDMPrecond(**cfg).to(dev)
ema = EDMPrecond(**cfg).to(dev).requires_grad_(False)
ema.load_state_dict(gen.state_dict())
if a.two_score:
    teacher = EDMPrecond(**cfg).to(dev).requires_grad_(False)
    critic = EDMPrecond(**cfg).to(dev)
else:
    critic = RatioNet().to(dev)
opt_g = torch.optim.Adam(gen.parameters(), lr=5e-5, betas=(0.0, 0.99), eps=1e-8)
opt_d = torch.optim.Adam(critic.parameters(), lr=5e-5, betas=(0.0, 0.99), eps=1e-8)
images = torch.rand(60000, C, 32, 32, device=dev) * 2 - 1
labels = torch.randint(0, 10, (60000,), device=dev)
perm = torch.randperm(60000, device=dev)
B = a.batch
print(f"generator {sum(p.numel() for p in gen.parameters())} params, critic {sum(p.numel() for p in critic.parameters())} "
      f"({'two-score' if a.two_score else 'ratio'}), torch {torch.__version__}, {torch.cuda.get_device_name()}, "
      f"tf32 {torch.backends.cuda.matmul.allow_tf32}, compile {a.compile}, bf16 {a.bf16}")
gen_f = torch.compile(gen) if a.compile else gen
critic_f = torch.compile(critic) if a.compile else critic
autocast = (lambda: torch.autocast("cuda", torch.bfloat16)) if a.bf16 else contextlib.nullcontext


def sigmas():
    return (torch.randn(B, device=dev) * 1.2 - 1.2).exp()


def step(i):
    z = torch.randn(B, C, 32, 32, device=dev)
    cf = F.one_hot(torch.randint(0, 10, (B,), device=dev), 10).float() if LABELS else None
    idx = perm[(i * B) % (60000 - B):][:B]
    y, cr = images[idx], (F.one_hot(labels[idx], 10).float() if LABELS else None)
    with autocast():
        fake = gen_f(z * 2.5, torch.full((B,), 2.5, device=dev), cf)
    sf, sr = sigmas(), sigmas()
    if a.two_score:  # SiD/DMD-style: fit the fake score on generated samples (denoising loss)
        with autocast():
            xn = fake.detach() + torch.randn_like(fake) * sf.view(-1, 1, 1, 1)
            loss_d = ((critic_f(xn, sf, cf) - fake.detach()) ** 2).sum() / B
    else:
        with autocast():
            d_f = critic_f(fake.detach() + torch.randn_like(fake) * sf.view(-1, 1, 1, 1), sf, cf)
            d_r = critic_f(y + torch.randn_like(y) * sr.view(-1, 1, 1, 1), sr, cr)
        loss_d = F.softplus(-d_f).mean() + F.softplus(d_r).mean()
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    sg = sigmas()
    xg = fake + torch.randn_like(fake) * sg.view(-1, 1, 1, 1)
    critic.requires_grad_(False)
    if a.two_score:  # the score difference as the gradient direction (DMD's surrogate)
        with torch.no_grad(), autocast():
            direction = critic_f(xg, sg, cf) - teacher(xg, sg, cf)
        loss_g = (fake * direction.float()).sum() / B
    else:
        with autocast():
            loss_g = (-0.5 * F.softplus(-critic_f(xg, sg, cf))).mean()
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    critic.requires_grad_(True)
    opt_g.step()
    with torch.no_grad():
        torch._foreach_lerp_(list(ema.parameters()), list(gen.parameters()), 1 - 0.5 ** (B / 1e5))
    return loss_d.detach(), loss_g.detach()


ms, peak = time_steps(step, a.steps, warm=30 if a.compile else 10)
if a.profile:  # where the GPU time goes, and how much CPU time issuing it takes
    from torch.profiler import profile, ProfilerActivity
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for i in range(5):
            step(i)
        torch.cuda.synchronize()
    print(prof.key_averages().table(sort_by="self_cuda_time_total", row_limit=22, max_name_column_width=60))
tag = "two-score" if a.two_score else "dijs"
print(f"RESULT pytorch {tag} {a.preset} {'compile' if a.compile else 'eager'}{' bf16' if a.bf16 else ''}{' tf32' if a.tf32 else ''}{' cudnn-benchmark' if a.benchmark else ''}: "
      f"{ms:.1f} ms/step (median of {a.steps}), {B / ms * 1000:.0f} img/s, peak {peak:.2f} GiB")

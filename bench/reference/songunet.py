"""EDM's SongUNet (DDPM++) and EDMPrecond in plain PyTorch, as NVlabs/edm training/networks.py
builds them for the configs onestep uses (standard encoder/decoder, positional noise embedding,
[1, 1] resampling filter, additive embedding, one attention head). The same parameter names as
onestep's native network, so either loads the other's weights. Used by the PyTorch baselines in
bench/reference/."""
import math
import torch
import torch.nn.functional as F


def xavier(shape, fan_in, fan_out, gain=1.0):
    return (torch.rand(*shape) * 2 - 1) * gain * math.sqrt(6 / (fan_in + fan_out))


class Linear(torch.nn.Module):
    def __init__(self, cin, cout, bias=True, gain=1.0):
        super().__init__()
        self.in_features = cin
        self.weight = torch.nn.Parameter(xavier([cout, cin], cin, cout, gain))
        self.bias = torch.nn.Parameter(torch.zeros(cout)) if bias else None

    def forward(self, x):
        x = x @ self.weight.to(x.dtype).t()
        return x.add_(self.bias.to(x.dtype)) if self.bias is not None else x


class Conv2d(torch.nn.Module):
    def __init__(self, cin, cout, kernel, up=False, down=False, gain=1.0):
        super().__init__()
        self.in_channels, self.up, self.down = cin, up, down
        self.weight = torch.nn.Parameter(xavier([cout, cin, kernel, kernel], cin * kernel * kernel, cout * kernel * kernel, gain)) if kernel else None
        self.bias = torch.nn.Parameter(torch.zeros(cout)) if kernel else None
        f = torch.ones(2)
        self.register_buffer("resample_filter", f.ger(f).unsqueeze(0).unsqueeze(1) / 4 if up or down else None)

    def forward(self, x):
        if self.up:
            x = F.conv_transpose2d(x, self.resample_filter.mul(4).tile([self.in_channels, 1, 1, 1]), groups=self.in_channels, stride=2)
        if self.down:
            x = F.conv2d(x, self.resample_filter.tile([self.in_channels, 1, 1, 1]), groups=self.in_channels, stride=2)
        if self.weight is not None:
            x = F.conv2d(x, self.weight, self.bias, padding=self.weight.shape[-1] // 2)
        return x


class GroupNorm(torch.nn.Module):
    def __init__(self, c, eps=1e-6):
        super().__init__()
        self.groups, self.eps = min(32, c // 4), eps
        self.weight = torch.nn.Parameter(torch.ones(c))
        self.bias = torch.nn.Parameter(torch.zeros(c))

    def forward(self, x):
        return F.group_norm(x, self.groups, self.weight.to(x.dtype), self.bias.to(x.dtype), self.eps)


class UNetBlock(torch.nn.Module):
    def __init__(self, cin, cout, emb, up=False, down=False, attention=False, dropout=0.0):
        super().__init__()
        self.in_channels, self.attention, self.dropout = cin, attention, dropout
        self.norm0 = GroupNorm(cin)
        self.conv0 = Conv2d(cin, cout, 3, up, down)
        self.affine = Linear(emb, cout)
        self.norm1 = GroupNorm(cout)
        self.conv1 = Conv2d(cout, cout, 3, gain=1e-5)
        self.skip = Conv2d(cin, cout, 1, up, down) if cout != cin or up or down else None
        if attention:
            self.norm2 = GroupNorm(cout)
            self.qkv = Conv2d(cout, cout * 3, 1, gain=math.sqrt(0.2))
            self.proj = Conv2d(cout, cout, 1, gain=1e-5)

    def forward(self, x, emb):
        orig = x
        x = self.conv0(F.silu(self.norm0(x)))
        x = F.silu(self.norm1(x.add_(self.affine(emb).unsqueeze(2).unsqueeze(3).to(x.dtype))))
        x = self.conv1(F.dropout(x, p=self.dropout, training=self.training))
        x = x.add_(self.skip(orig) if self.skip is not None else orig) * math.sqrt(0.5)
        if self.attention:
            n, c = x.shape[0], x.shape[1]
            q, k, v = self.qkv(self.norm2(x)).reshape(n, c, 3, -1).unbind(2)
            w = torch.einsum("ncq,nck->nqk", q.float(), (k / math.sqrt(c)).float()).softmax(dim=2).to(q.dtype)
            a = torch.einsum("nqk,nck->ncq", w, v)
            x = self.proj(a.reshape(*x.shape)).add_(x) * math.sqrt(0.5)
        return x


class SongUNet(torch.nn.Module):
    def __init__(self, img_resolution=32, in_channels=1, out_channels=1, label_dim=10, augment_dim=0, model_channels=64,
                 channel_mult=(1, 2, 2), num_blocks=2, attn_resolutions=(16,), dropout=0.0, channel_mult_emb=4):
        super().__init__()
        emb = model_channels * channel_mult_emb
        self.model_channels = model_channels
        self.map_label = Linear(label_dim, model_channels) if label_dim else None
        self.map_augment = Linear(augment_dim, model_channels, bias=False) if augment_dim else None
        self.map_layer0 = Linear(model_channels, emb)
        self.map_layer1 = Linear(emb, emb)
        self.enc = torch.nn.ModuleDict()
        cout = in_channels
        for level, mult in enumerate(channel_mult):
            res = img_resolution >> level
            if level == 0:
                cin, cout = cout, model_channels
                self.enc[f"{res}x{res}_conv"] = Conv2d(cin, cout, 3)
            else:
                self.enc[f"{res}x{res}_down"] = UNetBlock(cout, cout, emb, down=True, dropout=dropout)
            for idx in range(num_blocks):
                cin, cout = cout, model_channels * mult
                self.enc[f"{res}x{res}_block{idx}"] = UNetBlock(cin, cout, emb, attention=res in attn_resolutions, dropout=dropout)
        skips = [b.conv0.weight.shape[0] if isinstance(b, UNetBlock) else b.weight.shape[0] for b in self.enc.values()]
        self.dec = torch.nn.ModuleDict()
        for level, mult in reversed(list(enumerate(channel_mult))):
            res = img_resolution >> level
            if level == len(channel_mult) - 1:
                self.dec[f"{res}x{res}_in0"] = UNetBlock(cout, cout, emb, attention=True, dropout=dropout)
                self.dec[f"{res}x{res}_in1"] = UNetBlock(cout, cout, emb, dropout=dropout)
            else:
                self.dec[f"{res}x{res}_up"] = UNetBlock(cout, cout, emb, up=True, dropout=dropout)
            for idx in range(num_blocks + 1):
                cin, cout = cout + skips.pop(), model_channels * mult
                self.dec[f"{res}x{res}_block{idx}"] = UNetBlock(cin, cout, emb, attention=(idx == num_blocks and res in attn_resolutions), dropout=dropout)
            if level == 0:
                self.dec[f"{res}x{res}_aux_norm"] = GroupNorm(cout)
                self.dec[f"{res}x{res}_aux_conv"] = Conv2d(cout, out_channels, 3, gain=1e-5)

    def forward(self, x, noise_labels, class_labels=None, augment_labels=None):
        half = self.model_channels // 2
        freqs = (1 / 10000) ** (torch.arange(half, dtype=torch.float32, device=x.device) / (half - 1))
        ang = noise_labels.float().ger(freqs).to(x.dtype)
        emb = torch.cat([ang.sin(), ang.cos()], dim=1)
        if self.map_label is not None:
            emb = emb + self.map_label(class_labels * math.sqrt(self.map_label.in_features))
        if self.map_augment is not None and augment_labels is not None:
            emb = emb + self.map_augment(augment_labels)
        emb = F.silu(self.map_layer1(F.silu(self.map_layer0(emb))))
        skips = []
        for block in self.enc.values():
            x = block(x, emb) if isinstance(block, UNetBlock) else block(x)
            skips.append(x)
        aux = tmp = None
        for name, block in self.dec.items():
            if "aux_norm" in name:
                tmp = block(x)
            elif "aux_conv" in name:
                aux = block(F.silu(tmp))
            else:
                if x.shape[1] != block.in_channels:
                    x = torch.cat([x, skips.pop()], dim=1)
                x = block(x, emb)
        return aux


class EDMPrecond(torch.nn.Module):
    def __init__(self, sigma_data=0.5, **kwargs):
        super().__init__()
        self.sigma_data = sigma_data
        self.model = SongUNet(**kwargs)

    def forward(self, x, sigma, class_labels=None):
        sigma = sigma.float().reshape(-1, 1, 1, 1)
        sd = self.sigma_data
        c_skip = sd ** 2 / (sigma ** 2 + sd ** 2)
        c_out = sigma * sd / (sigma ** 2 + sd ** 2).sqrt()
        c_in = 1 / (sd ** 2 + sigma ** 2).sqrt()
        f = self.model(c_in * x, (sigma.log() / 4).flatten(), class_labels)
        return c_skip * x + c_out * f.float()

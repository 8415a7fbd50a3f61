"""kinema-micro networks: per-frame conv autoencoder, word-level text encoder, spatio-temporal DiT.

Written for a clean ONNX export (opset 17) that onnxruntime-web runs on wasm and WebGPU:
2D convs only, affine LayerNorm, hand-written attention with -1e4 additive masks, tensors of
rank <= 6, batch kept dynamic.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

NEG = -1e4


class Res(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.c1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.c2 = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x):
        return x + self.c2(F.silu(self.c1(F.silu(x))))


class Encoder(nn.Module):
    def __init__(self, z=8):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.SiLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), Res(64),  # 16x16
            nn.SiLU(), nn.Conv2d(64, 96, 3, stride=2, padding=1), Res(96),  # 8x8
            nn.SiLU(), nn.Conv2d(96, z, 3, padding=1))

    def forward(self, x):  # [N,3,32,32] -> [N,z,8,8]
        return self.net(x)


class Decoder(nn.Module):
    def __init__(self, z=8):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(z, 96, 3, padding=1), Res(96), Res(96),
            nn.Upsample(scale_factor=2, mode="nearest"), nn.SiLU(), nn.Conv2d(96, 64, 3, padding=1), Res(64),
            nn.Upsample(scale_factor=2, mode="nearest"), nn.SiLU(), nn.Conv2d(64, 32, 3, padding=1),
            nn.SiLU(), nn.Conv2d(32, 3, 3, padding=1))

    def forward(self, z):  # [N,z,8,8] -> [N,3,32,32]
        return self.net(z)


class VAEDecoder5D(nn.Module):
    """ONNX wrapper: latent_sample [B,C,T,h,w] (un-normalized) -> sample [B,3,T,H,W] in [-1,1]."""

    def __init__(self, dec):
        super().__init__()
        self.dec = dec

    def forward(self, z):
        B, C, T, h, w = z.shape
        x = z.permute(0, 2, 1, 3, 4).reshape(-1, C, h, w)
        y = self.dec(x).clamp(-1, 1)
        H, W = y.shape[-2], y.shape[-1]
        return y.reshape(-1, T, 3, H, W).permute(0, 2, 1, 3, 4)


def encode_clips(enc, clips):
    """clips [B,3,T,H,W] -> latents [B,C,T,h,w]."""
    B, _, T, H, W = clips.shape
    z = enc(clips.permute(0, 2, 1, 3, 4).reshape(B * T, 3, H, W))
    return z.reshape(B, T, z.shape[1], z.shape[2], z.shape[3]).permute(0, 2, 1, 3, 4)


def attention(q, k, v, heads, bias=None):
    B, Lq, D = q.shape
    Lk = k.shape[1]
    dh = D // heads
    q = q.reshape(-1, Lq, heads, dh).transpose(1, 2)
    k = k.reshape(-1, Lk, heads, dh).transpose(1, 2)
    v = v.reshape(-1, Lk, heads, dh).transpose(1, 2)
    a = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(dh))
    if bias is not None:
        a = a + bias
    a = torch.softmax(a, dim=-1)
    return torch.matmul(a, v).transpose(1, 2).reshape(-1, Lq, D)


class TextLayer(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.o = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x, bias):
        q, k, v = self.qkv(self.ln1(x)).chunk(3, dim=-1)
        x = x + self.o(attention(q, k, v, self.heads, bias))
        return x + self.mlp(self.ln2(x))


class TextEncoder(nn.Module):
    """input_ids, attention_mask [B,L] int64 -> last_hidden_state [B,L,D], padded rows zeroed."""

    def __init__(self, vocab, d=128, layers=2, heads=4, max_len=32):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.register_buffer("pos_fixed", sincos(torch.arange(max_len), d)[None])
        self.pos = nn.Parameter(torch.randn(1, max_len, d) * 0.02)
        self.layers = nn.ModuleList([TextLayer(d, heads) for _ in range(layers)])
        self.ln = nn.LayerNorm(d)

    def forward(self, input_ids, attention_mask):
        m = attention_mask.to(torch.float32)
        L = input_ids.shape[1]
        x = self.tok(input_ids) + self.pos[:, :L] + self.pos_fixed[:, :L]
        bias = ((1.0 - m) * NEG)[:, None, None, :]
        for layer in self.layers:
            x = layer(x, bias)
        return self.ln(x) * m[:, :, None]


def sincos(positions, dim):
    """Fixed sine-cosine features [N, dim] of integer positions."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    a = positions.float()[:, None] * freqs[None]
    return torch.cat([torch.sin(a), torch.cos(a)], dim=-1)


def sincos_3d(tn, hn, wn, dim):
    """Fixed 3D position features [1, tn*hn*wn, dim]: a quarter of the width for time, the rest split
    between rows and columns (DiT-style, extended to video)."""
    dt = dim // 4
    dh = (dim - dt) // 2
    dw = dim - dt - dh
    t, h, w = torch.meshgrid(torch.arange(tn), torch.arange(hn), torch.arange(wn), indexing="ij")
    return torch.cat([sincos(t.reshape(-1), dt), sincos(h.reshape(-1), dh), sincos(w.reshape(-1), dw)], dim=-1)[None]


def timestep_embedding(t, dim):
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    a = t[:, None] * freqs[None]
    return torch.cat([torch.cos(a), torch.sin(a)], dim=-1)


class Block(nn.Module):
    def __init__(self, d, dt, heads):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.o1 = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.q2 = nn.Linear(d, d)
        self.kv2 = nn.Linear(dt, 2 * d)
        self.o2 = nn.Linear(d, d)
        self.ln3 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
        self.table = nn.Parameter(torch.zeros(6, d))  # adaLN-single per-block offsets

    def forward(self, x, mod, ctx, ctx_bias):
        m = mod + self.table[None]  # [B,6,D]
        sh1, sc1, g1, sh2, sc2, g2 = [m[:, i: i + 1] for i in range(6)]
        h = self.ln1(x) * (1 + sc1) + sh1
        q, k, v = self.qkv(h).chunk(3, dim=-1)
        x = x + g1 * self.o1(attention(q, k, v, self.heads))
        k2, v2 = self.kv2(ctx).chunk(2, dim=-1)
        x = x + self.o2(attention(self.q2(self.ln2(x)), k2, v2, self.heads, ctx_bias))
        h = self.ln3(x) * (1 + sc2) + sh2
        return x + g2 * self.mlp(h)


class DiT(nn.Module):
    """hidden_states [B,C,T,h,w] (normalized latents), timestep [B] (sigma*1000),
    encoder_hidden_states [B,L,Dt], encoder_attention_mask [B,L] -> velocity [B,C,T,h,w]."""

    def __init__(self, c=8, t=8, h=8, w=8, d=128, dt=128, layers=6, heads=4, pt=2, ph=2, pw=2):
        super().__init__()
        self.c, self.t, self.h, self.w = c, t, h, w
        self.pt, self.ph, self.pw = pt, ph, pw
        self.tn, self.hn, self.wn = t // pt, h // ph, w // pw
        n = self.tn * self.hn * self.wn
        fdim = c * pt * ph * pw
        self.d = d
        self.embed = nn.Linear(fdim, d)
        self.register_buffer("pos_fixed", sincos_3d(self.tn, self.hn, self.wn, d))
        self.pos = nn.Parameter(torch.zeros(1, n, d))  # learned correction on top of the fixed grid
        self.t_mlp = nn.Sequential(nn.Linear(256, d), nn.SiLU(), nn.Linear(d, d))
        self.txt_pool = nn.Linear(dt, d)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(d, 6 * d))
        self.null = nn.Parameter(torch.randn(1, 1, dt) * 0.02)  # always-visible key for cross-attention
        self.blocks = nn.ModuleList([Block(d, dt, heads) for _ in range(layers)])
        self.ln_out = nn.LayerNorm(d)
        self.ada_out = nn.Sequential(nn.SiLU(), nn.Linear(d, 2 * d))
        self.out = nn.Linear(d, fdim)
        nn.init.zeros_(self.ada[1].weight)
        nn.init.zeros_(self.ada[1].bias)
        nn.init.zeros_(self.ada_out[1].weight)
        nn.init.zeros_(self.ada_out[1].bias)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        with torch.no_grad():  # gates start small but non-zero so blocks train from step one
            for b in self.blocks:
                b.table[2].fill_(0.1)
                b.table[5].fill_(0.1)

    def patchify(self, x):
        C, pt, ph, pw = self.c, self.pt, self.ph, self.pw
        tn, hn, wn = self.tn, self.hn, self.wn
        x = x.reshape(-1, C, tn, pt, self.h, self.w).permute(0, 2, 3, 1, 4, 5)  # B,tn,pt,C,h,w
        x = x.reshape(-1, pt * C, hn, ph, wn, pw).permute(0, 2, 4, 1, 3, 5)  # B*tn,hn,wn,ptC,ph,pw
        return x.reshape(-1, tn * hn * wn, pt * C * ph * pw)

    def unpatchify(self, y):
        C, pt, ph, pw = self.c, self.pt, self.ph, self.pw
        tn, hn, wn = self.tn, self.hn, self.wn
        y = y.reshape(-1, hn, wn, pt * C, ph, pw).permute(0, 3, 1, 4, 2, 5)  # B*tn,ptC,hn,ph,wn,pw
        y = y.reshape(-1, tn, pt, C, self.h, self.w).permute(0, 3, 1, 2, 4, 5)  # B,C,tn,pt,h,w
        return y.reshape(-1, C, self.t, self.h, self.w)

    def forward(self, hidden_states, timestep, encoder_hidden_states, encoder_attention_mask):
        m = encoder_attention_mask.to(torch.float32)
        pooled = (encoder_hidden_states * m[:, :, None]).sum(1) / m.sum(1, keepdim=True).clamp(min=1.0)
        c = self.t_mlp(timestep_embedding(timestep, 256)) + self.txt_pool(pooled)
        mod = self.ada(c).reshape(-1, 6, self.d)
        null = self.null.expand(encoder_hidden_states.shape[0], -1, -1)
        ctx = torch.cat([null, encoder_hidden_states], dim=1)
        ones = torch.ones_like(m[:, :1])
        ctx_bias = ((1.0 - torch.cat([ones, m], dim=1)) * NEG)[:, None, None, :]
        x = self.embed(self.patchify(hidden_states)) + self.pos + self.pos_fixed
        for b in self.blocks:
            x = b(x, mod, ctx, ctx_bias)
        sh, sc = self.ada_out(c).chunk(2, dim=-1)
        x = self.ln_out(x) * (1 + sc[:, None]) + sh[:, None]
        return self.unpatchify(self.out(x))


def count(m):
    return sum(p.numel() for p in m.parameters())

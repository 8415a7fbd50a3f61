"""Wan2.1's denoiser (diffusers' `WanTransformer3DModel`, text-to-video) in plain PyTorch 1.13, and its ONNX export.

Followed: huggingface/diffusers at commit 58eb52c080 (2026-08): `src/diffusers/models/transformers/transformer_wan.py`
(the model), `models/embeddings.py` (sinusoidal timesteps, `get_1d_rotary_pos_embed`), `models/attention.py`
(FeedForward), `scripts/convert_wan_to_diffusers.py` (the original Wan key names) and the tiny test config in
`tests/models/transformers/test_models_transformer_wan.py`; NVlabs/rcm `rcm/networks/wan2pt1.py` for the rCM `.pt`
layout. Our own code: only the tensor names, the defaults and the math match. diffusers' own module needs torch >= 2
(scaled_dot_product_attention, torch.nn.RMSNorm); this one does not.

Tensor names (diffusers layout; `dim` = heads * head_dim, P = pt*ph*pw):

    patch_embedding.{weight [dim,C,pt,ph,pw], bias}               Conv3d, kernel = stride = patch_size
    condition_embedder.time_embedder.linear_{1,2}.{weight,bias}    freq_dim -> dim -> dim (SiLU between)
    condition_embedder.time_proj.{weight [6*dim,dim], bias}         on SiLU(temb)
    condition_embedder.text_embedder.linear_{1,2}.{weight,bias}    text_dim -> dim -> dim (tanh-GELU between)
    blocks.{i}.attn1.{to_q,to_k,to_v,to_out.0}.{weight,bias}        self-attention
    blocks.{i}.attn1.norm_{q,k}.weight [dim]                        RMSNorm over all heads at once
    blocks.{i}.attn2.*                                              cross-attention (same names)
    blocks.{i}.norm2.{weight,bias}                                  affine LayerNorm before cross-attention
    blocks.{i}.ffn.net.0.proj.{weight,bias}, blocks.{i}.ffn.net.2.{weight,bias}
    blocks.{i}.scale_shift_table [1,6,dim]
    scale_shift_table [1,2,dim], proj_out.{weight [P*C_out,dim], bias}

The original Wan / rCM layout (`self_attn.q`, `time_embedding.0`, `head.head`, `modulation`, `norm3` for the
cross-attention norm, an optional `net.` prefix, and in rCM a Linear patch embedding [dim, C*P]) is renamed to these
names by `load_weights`.

ONNX graphs (the Wan graph contract, docs/wan.md):
  `denoiser_context` (once per prompt): encoder_hidden_states [B,L,text_dim] -> context [B,L,dim]
  `denoiser` (or `denoiser_0..k`, blocks split into shards):
      hidden_states [B,C,F,H,W], timestep [B] (= 1000 sigma), context [B,L,dim],
      rope_cos, rope_sin [N, head_dim/2] (see `rope_tables`) -> sample [B,C_out,F,H,W]
  With shards, shard 0 outputs `tokens` [B,N,dim], `temb` [B,dim], `timestep_proj` [B,6,dim]; middle shards map
  `tokens` -> `tokens`; the last one also reads `hidden_states` (for its shape only) and outputs `sample`.
In the graphs the patch embedding is a reshape + MatMul (kernel = stride, so it is the same product as the
Conv3d), which keeps every tensor at rank <= 6 and needs no 3-D Conv kernel in onnxruntime-web.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# diffusers' WanTransformer3DModel defaults (register_to_config), then the T2V configs the converter script ships.
_DIFFUSERS_DEFAULTS = {
    'patch_size': [1, 2, 2],
    'num_attention_heads': 40,
    'attention_head_dim': 128,
    'in_channels': 16,
    'out_channels': 16,
    'text_dim': 4096,
    'freq_dim': 256,
    'ffn_dim': 13824,
    'num_layers': 40,
    'cross_attn_norm': True,
    'qk_norm': 'rms_norm_across_heads',
    'eps': 1e-6,
    'image_dim': None,
    'added_kv_proj_dim': None,
    'rope_max_seq_len': 1024,
    'pos_embed_seq_len': None,
}

_CONFIGS = {
    # Wan2.1-T2V-1.3B as convert_wan_to_diffusers.py writes it (also what rCM's 1.3B checkpoint is).
    '1.3b': {'num_attention_heads': 12, 'attention_head_dim': 128, 'ffn_dim': 8960, 'num_layers': 30,
             'text_dim': 4096, 'freq_dim': 256},
    '14b': {'num_attention_heads': 40, 'attention_head_dim': 128, 'ffn_dim': 13824, 'num_layers': 40,
            'text_dim': 4096, 'freq_dim': 256},
    # Small enough for CI: 2 heads x 12 (RoPE pairs 2/2/2, as in diffusers' test config), 2 blocks.
    'tiny': {'num_attention_heads': 2, 'attention_head_dim': 12, 'ffn_dim': 32, 'num_layers': 2,
             'text_dim': 16, 'freq_dim': 16, 'rope_max_seq_len': 32},
}

ROPE_THETA = 10000.0
GRAPH_CONTEXT = 'denoiser_context'
GRAPH_DENOISER = 'denoiser'


# ---------------------------------------------------------------------------------------------- config

def default_config(name: Optional[str] = None) -> dict:
    """A diffusers-style config.json dict: 'tiny' (tests), '1.3b' (Wan2.1-T2V-1.3B, the default) or '14b'."""
    key = '1.3b' if name is None else str(name).lower()
    if key not in _CONFIGS:
        raise ValueError(f"`name` must be one of {sorted(_CONFIGS)} or None; got {name!r}")
    config = dict(_DIFFUSERS_DEFAULTS)
    config.update(_CONFIGS[key])
    config['_class_name'] = 'WanTransformer3DModel'
    return config


def _int(config: dict, key: str, minimum: int = 1) -> int:
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f'config `{key}` must be an integer >= {minimum}; got {value!r}')
    return value


def check_config(config: dict) -> dict:
    """diffusers' defaults filled in, values checked; raises ValueError naming the field and how to fix it."""
    if not isinstance(config, dict):
        raise ValueError(f'`config` must be a dict (the checkpoint\'s config.json); got {type(config).__name__}')
    full = dict(_DIFFUSERS_DEFAULTS)
    full.update({k: v for k, v in config.items() if not k.startswith('_')})
    for key in ('num_attention_heads', 'attention_head_dim', 'in_channels', 'text_dim', 'freq_dim', 'ffn_dim',
                'num_layers', 'rope_max_seq_len'):
        _int(full, key)
    if full['out_channels'] is None:  # diffusers: out_channels or in_channels
        full['out_channels'] = full['in_channels']
    _int(full, 'out_channels')
    patch = full['patch_size']
    if (not isinstance(patch, (list, tuple)) or len(patch) != 3
            or not all(isinstance(p, int) and not isinstance(p, bool) and p >= 1 for p in patch)):
        raise ValueError(f'config `patch_size` must be three positive integers [pt, ph, pw]; got {patch!r}')
    full['patch_size'] = [int(p) for p in patch]
    head_dim = full['attention_head_dim']
    # head_dim mod 6 in {0, 2}: the t/h/w split 2*(d//6) used here equals the pair split of the original Wan code
    # (c - 2*(c//3), c//3, c//3 pairs with c = d/2), and kinema's Wan family refuses other sizes (128 and 12 pass).
    if head_dim < 6 or head_dim % 6 not in (0, 2):
        raise ValueError(f'config `attention_head_dim` must be >= 6 with attention_head_dim mod 6 = 0 or 2 (e.g. 128 '
                         f'as Wan2.1, 12 as the tiny config) so RoPE splits the head into t/h/w pairs the same way in '
                         f'diffusers, the original Wan code and kinema; got {head_dim}')
    for key in ('image_dim', 'added_kv_proj_dim', 'pos_embed_seq_len'):
        if full[key] is not None:
            raise ValueError(f'config `{key}` is {full[key]!r}: image-conditioned Wan models (I2V/FLF2V) are not '
                             f'supported; convert a text-to-video checkpoint (`{key}`: null)')
    if not isinstance(full['cross_attn_norm'], bool):
        raise ValueError(f"config `cross_attn_norm` must be true or false; got {full['cross_attn_norm']!r}")
    eps = full['eps']
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
        raise ValueError(f'config `eps` must be a positive number; got {eps!r}')
    full['eps'] = float(eps)
    # diffusers builds RMSNorm q/k norms whatever `qk_norm` says; so do we (the weights are in every checkpoint).
    return full


def rope_split(head_dim: int) -> Tuple[int, int, int]:
    """(t, h, w) channel counts of a head, as diffusers: h = w = 2*(head_dim//6), t = the rest (128 -> 44/42/42)."""
    h = w = 2 * (head_dim // 6)
    return head_dim - h - w, h, w


def _section_angles(dim: int, positions: torch.Tensor) -> torch.Tensor:
    """[len(positions), dim/2] float64 angles pos * theta^(-2j/dim), computed as diffusers' get_1d_rotary_pos_embed."""
    freqs = 1.0 / (ROPE_THETA ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    return torch.outer(positions.to(torch.float64), freqs)


def rope_tables(config: dict, frames: int, height: int, width: int) -> Tuple[np.ndarray, np.ndarray]:
    """The `rope_cos`, `rope_sin` graph inputs for a latent of frames x height x width (before patching).

    Exactly how they are built (the TypeScript family must build the same):
      * pf, ph, pw = frames / patch_size[0], height / patch_size[1], width / patch_size[2] (must divide);
        N = pf*ph*pw tokens in (f, h, w) row-major order: token n = (f*ph + y)*pw + x.
      * The head's head_dim/2 rotation pairs split into t/h/w sections of dt/2, dh/2, dw/2 pairs where
        dh = dw = 2*floor(head_dim/6), dt = head_dim - dh - dw (head_dim 128 -> 22/21/21 pairs; 12 -> 2/2/2).
      * Pair i in section s (dimension d_s, local index j = i - section start, position p = f, y or x):
            angle = p * (1 / 10000^(2j / d_s))        computed in float64
        (the inverse frequency is `1.0 / 10000.0 ** ((2*j) / d_s)`, in that order, in float64).
      * cos, sin in float64, then rounded to float32. Shapes [N, head_dim/2].
    Pair i of every head (channels 2i, 2i+1 of q and k after the q/k norms) rotates by table[:, i]:
        out[2i] = x[2i]*cos - x[2i+1]*sin,  out[2i+1] = x[2i]*sin + x[2i+1]*cos.
    Returned as float64 arrays (the exact values before the float32 rounding); cast with .astype(np.float32).
    """
    config = check_config(config)
    pt, ph_, pw_ = config['patch_size']
    for name, value, p in (('frames', frames, pt), ('height', height, ph_), ('width', width, pw_)):
        if isinstance(value, bool) or not isinstance(value, int) or value < p or value % p:
            raise ValueError(f'`{name}` must be a positive multiple of the patch size {p}; got {value!r}')
    pf, ph, pw = frames // pt, height // ph_, width // pw_
    dt, dh, dw = rope_split(config['attention_head_dim'])
    grid_f = torch.arange(pf).view(pf, 1, 1).expand(pf, ph, pw).reshape(-1)
    grid_h = torch.arange(ph).view(1, ph, 1).expand(pf, ph, pw).reshape(-1)
    grid_w = torch.arange(pw).view(1, 1, pw).expand(pf, ph, pw).reshape(-1)
    angles = torch.cat([_section_angles(dt, grid_f), _section_angles(dh, grid_h), _section_angles(dw, grid_w)], dim=1)
    return angles.cos().numpy(), angles.sin().numpy()


# ---------------------------------------------------------------------------------------------- layers

class RMSNorm(nn.Module):
    """torch.nn.RMSNorm (torch >= 2.4) with a weight: x / sqrt(mean(x^2) + eps) * weight, over the last axis."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + self.eps) * self.weight


class FP32LayerNorm(nn.Module):
    """diffusers' FP32LayerNorm: layer norm computed in float32 (our compute is float32 throughout)."""

    def __init__(self, dim: int, eps: float, affine: bool):
        super().__init__()
        self.dim, self.eps = dim, eps
        if affine:
            self.weight = nn.Parameter(torch.ones(dim))
            self.bias = nn.Parameter(torch.zeros(dim))
        else:
            # Constant ones/zeros instead of None: torch 1.13 exports a weightless layer_norm as a
            # LayerNormalization with an empty Scale input, which the ONNX checker rejects. Same values.
            self.register_buffer('weight', torch.ones(dim), persistent=False)
            self.register_buffer('bias', torch.zeros(dim), persistent=False)

    def forward(self, x):
        return F.layer_norm(x.float(), (self.dim,), self.weight, self.bias, self.eps)


class _TwoLinear(nn.Module):
    """linear_1 -> activation -> linear_2 (diffusers' TimestepEmbedding and PixArtAlphaTextProjection)."""

    def __init__(self, n_in: int, n_hidden: int, act: nn.Module):
        super().__init__()
        self.linear_1 = nn.Linear(n_in, n_hidden)
        self.act = act
        self.linear_2 = nn.Linear(n_hidden, n_hidden)

    def forward(self, x):
        return self.linear_2(self.act(self.linear_1(x)))


class _GeluProj(nn.Module):
    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.proj = nn.Linear(n_in, n_out)

    def forward(self, x):
        return F.gelu(self.proj(x), approximate='tanh')


class FeedForward(nn.Module):
    """`net.0.proj` Linear + tanh-GELU, `net.1` dropout (identity at inference), `net.2` Linear."""

    def __init__(self, dim: int, inner: int):
        super().__init__()
        self.net = nn.ModuleList([_GeluProj(dim, inner), nn.Identity(), nn.Linear(inner, dim)])

    def forward(self, x):
        return self.net[2](self.net[0](x))


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x [B, N, heads, head_dim]; cos, sin [N, head_dim/2]: rotates interleaved pairs (x[2i], x[2i+1])."""
    pairs = x.reshape(x.shape[0], x.shape[1], x.shape[2], x.shape[3] // 2, 2)
    x1, x2 = pairs[..., 0], pairs[..., 1]
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    out = torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
    return out.reshape(x.shape[0], x.shape[1], x.shape[2], x.shape[3])


class WanAttention(nn.Module):
    def __init__(self, dim: int, heads: int, eps: float):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.to_q = nn.Linear(dim, dim)
        self.to_k = nn.Linear(dim, dim)
        self.to_v = nn.Linear(dim, dim)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim), nn.Identity()])
        self.norm_q = RMSNorm(dim, eps)
        self.norm_k = RMSNorm(dim, eps)

    def _heads(self, x):
        return x.reshape(x.shape[0], x.shape[1], self.heads, self.head_dim)

    def forward(self, x, context=None, rope: Optional[Tuple[torch.Tensor, torch.Tensor]] = None):
        source = x if context is None else context
        q = self._heads(self.norm_q(self.to_q(x)))
        k = self._heads(self.norm_k(self.to_k(source)))
        v = self._heads(self.to_v(source))
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # [B, heads, N, d]
        # scaled_dot_product_attention's math: softmax(q k^T / sqrt(d)) v, no mask.
        scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(self.head_dim))
        out = torch.matmul(torch.softmax(scores, dim=-1), v)
        out = out.transpose(1, 2).flatten(2)
        return self.to_out[0](out)


class WanTransformerBlock(nn.Module):
    def __init__(self, dim: int, ffn_dim: int, heads: int, cross_attn_norm: bool, eps: float):
        super().__init__()
        self.norm1 = FP32LayerNorm(dim, eps, affine=False)
        self.attn1 = WanAttention(dim, heads, eps)
        self.attn2 = WanAttention(dim, heads, eps)
        self.norm2 = FP32LayerNorm(dim, eps, affine=True) if cross_attn_norm else nn.Identity()
        self.ffn = FeedForward(dim, ffn_dim)
        self.norm3 = FP32LayerNorm(dim, eps, affine=False)
        self.scale_shift_table = nn.Parameter(torch.randn(1, 6, dim) / dim ** 0.5)

    def forward(self, x, context, timestep_proj, rope):
        mod = self.scale_shift_table + timestep_proj  # [B, 6, dim]
        shift, scale, gate = mod[:, 0:1], mod[:, 1:2], mod[:, 2:3]
        c_shift, c_scale, c_gate = mod[:, 3:4], mod[:, 4:5], mod[:, 5:6]
        x = x + self.attn1(self.norm1(x) * (1 + scale) + shift, None, rope) * gate
        x = x + self.attn2(self.norm2(x), context)
        x = x + self.ffn(self.norm3(x) * (1 + c_scale) + c_shift) * c_gate
        return x


class _ConditionEmbedder(nn.Module):
    def __init__(self, dim: int, freq_dim: int, text_dim: int):
        super().__init__()
        self.freq_dim = freq_dim
        self.time_embedder = _TwoLinear(freq_dim, dim, nn.SiLU())
        self.time_proj = nn.Linear(dim, 6 * dim)
        self.text_embedder = _TwoLinear(text_dim, dim, nn.GELU(approximate='tanh'))

    def sinusoid(self, timestep: torch.Tensor) -> torch.Tensor:
        """diffusers' Timesteps(freq_dim, flip_sin_to_cos=True, downscale_freq_shift=0): [cos | sin], float32."""
        half = self.freq_dim // 2
        exponent = -math.log(10000) * torch.arange(0, half, dtype=torch.float32) / half
        args = timestep.float()[:, None] * torch.exp(exponent)[None, :]
        emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
        if self.freq_dim % 2:
            emb = F.pad(emb, (0, 1, 0, 0))
        return emb

    def time(self, timestep):
        temb = self.time_embedder(self.sinusoid(timestep))
        timestep_proj = self.time_proj(F.silu(temb))
        return temb, timestep_proj.reshape(timestep_proj.shape[0], 6, -1)


class WanTransformer3D(nn.Module):
    """Our WanTransformer3DModel (T2V). `forward` is diffusers' forward; the `*_graph` pieces are what the ONNX
    graphs compute, taking the RoPE tables as inputs."""

    def __init__(self, config: dict):
        super().__init__()
        config = check_config(config)
        self.config = config
        heads, head_dim = config['num_attention_heads'], config['attention_head_dim']
        dim = heads * head_dim
        self.dim = dim
        self.patch_size = tuple(config['patch_size'])
        self.in_channels, self.out_channels = config['in_channels'], config['out_channels']
        eps = config['eps']
        self.patch_embedding = nn.Conv3d(self.in_channels, dim, kernel_size=self.patch_size, stride=self.patch_size)
        self.condition_embedder = _ConditionEmbedder(dim, config['freq_dim'], config['text_dim'])
        self.blocks = nn.ModuleList([
            WanTransformerBlock(dim, config['ffn_dim'], heads, config['cross_attn_norm'], eps)
            for _ in range(config['num_layers'])])
        self.norm_out = FP32LayerNorm(dim, eps, affine=False)
        self.proj_out = nn.Linear(dim, self.out_channels * math.prod(self.patch_size))
        self.scale_shift_table = nn.Parameter(torch.randn(1, 2, dim) / dim ** 0.5)
        # diffusers' WanRotaryPosEmbed: float64 tables over rope_max_seq_len positions, then float32.
        positions = torch.arange(config['rope_max_seq_len'])
        angles = torch.cat([_section_angles(d, positions) for d in rope_split(head_dim)], dim=1)
        self.register_buffer('rope_cos', angles.cos().float(), persistent=False)
        self.register_buffer('rope_sin', angles.sin().float(), persistent=False)

    # ---- diffusers' forward
    def rope(self, hidden_states) -> Tuple[torch.Tensor, torch.Tensor]:
        _, _, frames, height, width = hidden_states.shape
        pt, ph, pw = self.patch_size
        pf, ph, pw = frames // pt, height // ph, width // pw
        limit = self.config['rope_max_seq_len']
        if max(pf, ph, pw) > limit:
            raise ValueError(f'the patched latent grid {pf}x{ph}x{pw} exceeds rope_max_seq_len {limit}')
        dt, dh, dw = (d // 2 for d in rope_split(self.config['attention_head_dim']))
        parts = []
        for table in (self.rope_cos, self.rope_sin):
            t_part, h_part, w_part = table.split([dt, dh, dw], dim=1)
            grid = torch.cat([t_part[:pf].view(pf, 1, 1, -1).expand(pf, ph, pw, -1),
                              h_part[:ph].view(1, ph, 1, -1).expand(pf, ph, pw, -1),
                              w_part[:pw].view(1, 1, pw, -1).expand(pf, ph, pw, -1)], dim=-1)
            parts.append(grid.reshape(pf * ph * pw, -1))
        return parts[0], parts[1]

    def _check_input(self, hidden_states):
        if hidden_states.dim() != 5 or hidden_states.shape[1] != self.in_channels:
            raise ValueError(f'`hidden_states` must have shape [B, {self.in_channels}, F, H, W]; '
                             f'got {list(hidden_states.shape)}')
        for axis, p in zip((2, 3, 4), self.patch_size):
            if hidden_states.shape[axis] % p:
                raise ValueError(f'`hidden_states` axis {axis} ({hidden_states.shape[axis]}) must be a multiple of '
                                 f'the patch size {p}')

    def forward(self, hidden_states, timestep, encoder_hidden_states):
        """diffusers' WanTransformer3DModel.forward (T2V, return the sample): [B,C,F,H,W] velocity."""
        self._check_input(hidden_states)
        batch, _, frames, height, width = hidden_states.shape
        rope = self.rope(hidden_states)
        tokens = self.patch_embedding(hidden_states).flatten(2).transpose(1, 2).contiguous()
        temb, timestep_proj = self.condition_embedder.time(timestep.reshape(-1))
        context = self.condition_embedder.text_embedder(encoder_hidden_states)
        for block in self.blocks:
            tokens = block(tokens, context, timestep_proj, rope)
        return self.head(tokens, temb, hidden_states)

    def head(self, tokens, temb, hidden_states):
        mod = self.scale_shift_table + temb.unsqueeze(1)
        shift, scale = mod[:, 0:1], mod[:, 1:2]
        out = self.proj_out(self.norm_out(tokens) * (1 + scale) + shift)
        return self.unpatchify(out, hidden_states)

    # ---- graph pieces (rank <= 6 throughout)
    def patchify(self, hidden_states):
        """[B,C,F,H,W] -> [B, N, C*P] with channel order (c, kt, kh, kw), tokens (f, h, w) row-major."""
        b, c, f, h, w = hidden_states.shape
        pt, ph, pw = self.patch_size
        pf, py, px = f // pt, h // ph, w // pw
        x = hidden_states.reshape(b * c * pf, pt, py, ph, px, pw).permute(0, 2, 4, 1, 3, 5)
        x = x.reshape(b, c, pf, py * px, pt * ph * pw).permute(0, 2, 3, 1, 4)
        return x.reshape(b, pf * py * px, c * pt * ph * pw)

    def embed_tokens(self, hidden_states):
        weight = self.patch_embedding.weight.reshape(self.dim, -1)
        return torch.matmul(self.patchify(hidden_states), weight.t()) + self.patch_embedding.bias

    def unpatchify(self, out, hidden_states):
        """[B, N, P*C_out] (channel order kt, kh, kw, c as diffusers) -> [B, C_out, F, H, W]."""
        b, _, f, h, w = hidden_states.shape
        pt, ph, pw = self.patch_size
        pf, py, px = f // pt, h // ph, w // pw
        c = self.out_channels
        x = out.reshape(b, pf, py * px, pt * ph * pw, c).permute(0, 4, 1, 2, 3)
        x = x.reshape(b * c * pf, py, px, pt, ph, pw).permute(0, 3, 1, 4, 2, 5)
        return x.reshape(b, c, pf * pt, py * ph, px * pw)

    def forward_graph(self, hidden_states, timestep, context, rope_cos, rope_sin):
        """What the single `denoiser` graph computes (context already projected, RoPE tables as inputs)."""
        tokens, temb, timestep_proj = self.graph_start(hidden_states, timestep)
        tokens = self.graph_blocks(tokens, context, timestep_proj, rope_cos, rope_sin, 0, len(self.blocks))
        return self.head(tokens, temb, hidden_states)

    def graph_start(self, hidden_states, timestep):
        temb, timestep_proj = self.condition_embedder.time(timestep)
        return self.embed_tokens(hidden_states), temb, timestep_proj

    def graph_blocks(self, tokens, context, timestep_proj, rope_cos, rope_sin, start: int, stop: int):
        sparse = isinstance(self.blocks, nn.ModuleDict)  # a part built by build_part holds only its blocks
        for i in range(start, stop):
            block = self.blocks[str(i)] if sparse else self.blocks[i]
            tokens = block(tokens, context, timestep_proj, (rope_cos, rope_sin))
        return tokens


def build(config: dict) -> WanTransformer3D:
    module = WanTransformer3D(config)
    module.eval()
    return module


# ---------------------------------------------------------------------------------------------- weights

def parameter_shapes(config: dict) -> Dict[str, Tuple[int, ...]]:
    """Every checkpoint tensor name (diffusers layout) and its shape, without building the module."""
    config = check_config(config)
    dim = config['num_attention_heads'] * config['attention_head_dim']
    c_in, c_out, ffn = config['in_channels'], config['out_channels'], config['ffn_dim']
    patch = tuple(config['patch_size'])
    shapes: Dict[str, Tuple[int, ...]] = {}

    def linear(name, n_in, n_out):
        shapes[f'{name}.weight'] = (n_out, n_in)
        shapes[f'{name}.bias'] = (n_out,)

    shapes['patch_embedding.weight'] = (dim, c_in) + patch
    shapes['patch_embedding.bias'] = (dim,)
    linear('condition_embedder.time_embedder.linear_1', config['freq_dim'], dim)
    linear('condition_embedder.time_embedder.linear_2', dim, dim)
    linear('condition_embedder.time_proj', dim, 6 * dim)
    linear('condition_embedder.text_embedder.linear_1', config['text_dim'], dim)
    linear('condition_embedder.text_embedder.linear_2', dim, dim)
    for i in range(config['num_layers']):
        p = f'blocks.{i}'
        for attn in ('attn1', 'attn2'):
            for proj in ('to_q', 'to_k', 'to_v', 'to_out.0'):
                linear(f'{p}.{attn}.{proj}', dim, dim)
            shapes[f'{p}.{attn}.norm_q.weight'] = (dim,)
            shapes[f'{p}.{attn}.norm_k.weight'] = (dim,)
        if config['cross_attn_norm']:
            shapes[f'{p}.norm2.weight'] = (dim,)
            shapes[f'{p}.norm2.bias'] = (dim,)
        linear(f'{p}.ffn.net.0.proj', dim, ffn)
        linear(f'{p}.ffn.net.2', ffn, dim)
        shapes[f'{p}.scale_shift_table'] = (1, 6, dim)
    linear('proj_out', dim, c_out * math.prod(patch))
    shapes['scale_shift_table'] = (1, 2, dim)
    return shapes


def parameter_count(config: dict) -> int:
    return sum(math.prod(s) for s in parameter_shapes(config).values())


# Original Wan / rCM names -> diffusers names (learned from convert_wan_to_diffusers.py; the original calls the
# cross-attention norm norm3 and the FFN norm norm2; only the former has weights).
_ORIGINAL_TOP = {
    'time_embedding.0.': 'condition_embedder.time_embedder.linear_1.',
    'time_embedding.2.': 'condition_embedder.time_embedder.linear_2.',
    'time_projection.1.': 'condition_embedder.time_proj.',
    'text_embedding.0.': 'condition_embedder.text_embedder.linear_1.',
    'text_embedding.2.': 'condition_embedder.text_embedder.linear_2.',
    'head.head.': 'proj_out.',
    'head.modulation': 'scale_shift_table',
    'patch_embedding.': 'patch_embedding.',
}
_ORIGINAL_BLOCK = {
    'self_attn.q.': 'attn1.to_q.', 'self_attn.k.': 'attn1.to_k.', 'self_attn.v.': 'attn1.to_v.',
    'self_attn.o.': 'attn1.to_out.0.', 'self_attn.norm_q.': 'attn1.norm_q.', 'self_attn.norm_k.': 'attn1.norm_k.',
    'cross_attn.q.': 'attn2.to_q.', 'cross_attn.k.': 'attn2.to_k.', 'cross_attn.v.': 'attn2.to_v.',
    'cross_attn.o.': 'attn2.to_out.0.', 'cross_attn.norm_q.': 'attn2.norm_q.', 'cross_attn.norm_k.': 'attn2.norm_k.',
    'norm3.': 'norm2.',
    'ffn.0.': 'ffn.net.0.proj.', 'ffn.2.': 'ffn.net.2.',
    'modulation': 'scale_shift_table',
}
# Prefixes that wrappers put in front of the original keys (rCM/imaginaire `net.`, DDP `module.`, ComfyUI).
_ORIGINAL_PREFIXES = ('model.diffusion_model.', 'net.', 'module.', '_orig_mod.')
_ORIGINAL_MARKERS = ('time_embedding.', 'time_projection.', 'text_embedding.', 'head.head.', 'head.modulation')
_DIFFUSERS_MARKERS = ('condition_embedder.', 'proj_out.')


def _strip_prefix(key: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in _ORIGINAL_PREFIXES:
            if key.startswith(prefix):
                key, changed = key[len(prefix):], True
    return key


def _is_original_key(key: str) -> bool:
    key = _strip_prefix(key)
    if key.startswith(_ORIGINAL_MARKERS):
        return True
    parts = key.split('.', 2)
    return len(parts) == 3 and parts[0] == 'blocks' and parts[2].startswith(('self_attn.', 'cross_attn.', 'modulation'))


def detect_layout(tensors: Dict[str, torch.Tensor]) -> str:
    """'diffusers' or 'original' (Wan's own / rCM `.pt` names), from the key names; mixed layouts are refused."""
    original = [k for k in tensors if _is_original_key(k)]
    diffusers = [k for k in tensors if k.startswith(_DIFFUSERS_MARKERS) or '.attn1.' in k or '.attn2.' in k]
    if original and diffusers:
        raise ValueError(f'the checkpoint mixes the diffusers layout (e.g. `{diffusers[0]}`) and the original Wan '
                         f'layout (e.g. `{original[0]}`); give one checkpoint in one layout')
    return 'original' if original else 'diffusers'


def rename_original(tensors: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Original Wan / rCM names -> diffusers names. Keys it does not know keep their (prefix-stripped) name, so the
    strict load reports them. rCM's Linear patch embedding [dim, C*pt*ph*pw] becomes the Conv3d weight it equals
    (channel order c, kt, kh, kw); its shape is fixed in load_weights, which knows the config."""
    out: Dict[str, torch.Tensor] = {}
    for key, value in tensors.items():
        name = _strip_prefix(key)
        new = name
        for old, repl in _ORIGINAL_TOP.items():
            if name.startswith(old):
                new = repl + name[len(old):]
                break
        else:
            parts = name.split('.', 2)
            if len(parts) == 3 and parts[0] == 'blocks':
                for old, repl in _ORIGINAL_BLOCK.items():
                    if parts[2].startswith(old):
                        new = f'blocks.{parts[1]}.{repl}{parts[2][len(old):]}'
                        break
        if new in out:
            raise ValueError(f'checkpoint keys `{key}` and another key both map to `{new}`; remove the duplicate')
        out[new] = value
    return out


def _more(items: Sequence[str]) -> str:
    return f' (and {len(items) - 1} more)' if len(items) > 1 else ''


def load_weights(module: WanTransformer3D, tensors: Dict[str, torch.Tensor]) -> None:
    """Strict load by diffusers' names (or the original Wan/rCM names, renamed). A missing, unexpected or
    mis-shaped key raises ValueError naming it. Values are cast to float32 (fp16/bf16 checkpoints load too)."""
    layout = detect_layout(tensors)
    named = rename_original(tensors) if layout == 'original' else dict(tensors)
    expected = module.state_dict()
    note = ' (renamed from the original Wan layout)' if layout == 'original' else ''
    unexpected = sorted(k for k in named if k not in expected)
    if unexpected:
        raise ValueError(f'unexpected tensor `{unexpected[0]}`{_more(unexpected)} in the Wan transformer checkpoint'
                         f'{note}: WanTransformer3DModel (text-to-video) with this config has no such key')
    missing = [k for k in expected if k not in named]
    if missing:
        raise ValueError(f'missing tensor `{missing[0]}`{_more(missing)} in the Wan transformer checkpoint{note} '
                         f'(expected shape {list(expected[missing[0]].shape)})')
    state = {}
    for key, ref in expected.items():
        value = named[key]
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            raise ValueError(f'tensor `{key}` must be a floating-point tensor; got {getattr(value, "dtype", type(value))}')
        if key == 'patch_embedding.weight' and layout == 'original' and value.dim() == 2 \
                and value.numel() == ref.numel() and value.shape[0] == ref.shape[0]:
            value = value.reshape(ref.shape)  # rCM: nn.Linear over (c, kt, kh, kw)
        if tuple(value.shape) != tuple(ref.shape):
            raise ValueError(f'tensor `{key}` has shape {list(value.shape)}; this config expects {list(ref.shape)} '
                             f'(does config.json match the checkpoint?)')
        state[key] = value.detach().to(torch.float32)
    module.load_state_dict(state, strict=True)


def random_checkpoint(config: dict, seed: int) -> Dict[str, torch.Tensor]:
    """Every diffusers-layout key with random float32 values: Linear/Conv weights ~ N(0, 1/fan_in), small biases,
    norm weights near 1, modulation tables as diffusers initialises them (randn / sqrt(dim)); outputs stay O(1)."""
    shapes = parameter_shapes(config)
    generator = torch.Generator().manual_seed(int(seed))
    out: Dict[str, torch.Tensor] = {}
    for key, shape in shapes.items():
        noise = torch.randn(shape, generator=generator)
        if key.endswith('scale_shift_table'):
            value = noise / shape[-1] ** 0.5
        elif '.norm' in key and key.endswith('.weight'):
            value = 1.0 + 0.1 * noise
        elif key.endswith('.bias'):
            value = 0.05 * noise
        else:
            fan_in = math.prod(shape[1:])
            value = noise / fan_in ** 0.5
        out[key] = value.to(torch.float32).contiguous()
    return out


# ---------------------------------------------------------------------------------------------- reference I/O

def read_checkpoint(checkpoint_dir) -> Tuple[dict, Dict[str, torch.Tensor]]:
    """A diffusers folder (config.json + *.safetensors, sharded or not) -> (config, tensors), via checkpoints.py."""
    from . import checkpoints
    folder = Path(checkpoint_dir)
    return checkpoints.read_config(folder), checkpoints.read_checkpoint(folder)


def load_module(checkpoint_dir) -> WanTransformer3D:
    config, tensors = read_checkpoint(checkpoint_dir)
    module = build(config)
    load_weights(module, tensors)
    return module


def reference_outputs(checkpoint_dir, inputs: Dict[str, np.ndarray], module: Optional[WanTransformer3D] = None
                      ) -> Dict[str, np.ndarray]:
    """PyTorch reference for the component runner's `denoiser`. inputs: `hidden_states` [B,C,F,H,W],
    `timestep` [B], `encoder_hidden_states` [B,L,text_dim] (numpy). Returns float32 arrays: `sample` (diffusers'
    forward), `context` (the denoiser_context graph's output), `rope_cos`/`rope_sin` (the tables fed to the graph)."""
    for name in ('hidden_states', 'timestep', 'encoder_hidden_states'):
        if name not in inputs:
            raise ValueError(f'`inputs` must hold `{name}`; got {sorted(inputs)}')
    if module is None:
        module = load_module(checkpoint_dir)
    x = torch.from_numpy(np.ascontiguousarray(inputs['hidden_states'], dtype=np.float32))
    t = torch.from_numpy(np.ascontiguousarray(inputs['timestep'], dtype=np.float32)).reshape(-1)
    e = torch.from_numpy(np.ascontiguousarray(inputs['encoder_hidden_states'], dtype=np.float32))
    with torch.no_grad():
        sample = module(x, t, e)
        context = module.condition_embedder.text_embedder(e)
    cos, sin = rope_tables(module.config, *[int(s) for s in x.shape[2:]])
    return {'sample': sample.numpy(), 'context': context.numpy(),
            'rope_cos': cos.astype(np.float32), 'rope_sin': sin.astype(np.float32)}


# ---------------------------------------------------------------------------------------------- export

class _ContextGraph(nn.Module):
    def __init__(self, module: WanTransformer3D):
        super().__init__()
        self.text_embedder = module.condition_embedder.text_embedder

    def forward(self, encoder_hidden_states):
        return self.text_embedder(encoder_hidden_states)


class _PieceGraph(nn.Module):
    """Blocks [start, stop) of the transformer as one exported graph: the embeddings first when `first`, the
    head last when `last`; `inputs`/`outputs` are the graph's names in order (`shard_io`)."""

    def __init__(self, module: WanTransformer3D, start: int, stop: int, inputs, outputs, first: bool, last: bool):
        super().__init__()
        self.module, self.start, self.stop = module, start, stop
        self.inputs, self.outputs, self.first, self.last = list(inputs), list(outputs), first, last

    def forward(self, *args):
        m = self.module
        feeds = dict(zip(self.inputs, args))
        if self.first:
            tokens, temb, timestep_proj = m.graph_start(feeds['hidden_states'], feeds['timestep'])
        else:
            tokens, temb, timestep_proj = feeds[self.inputs[1] if self.last else self.inputs[0]], \
                feeds.get('temb'), feeds['timestep_proj']
        tokens = m.graph_blocks(tokens, feeds['context'], timestep_proj, feeds['rope_cos'], feeds['rope_sin'],
                                self.start, self.stop)
        if self.last:
            return m.head(tokens, temb, feeds['hidden_states'])
        if self.first:
            return tokens, temb, timestep_proj
        return tokens


class _ShardGraph(_PieceGraph):
    """Blocks [start, stop) plus, in the first shard, the embeddings and, in the last, the head, as one piece:
    graph I/O names as `shard_io` gives them (the same as the streaming export writes)."""

    def __init__(self, module: WanTransformer3D, start: int, stop: int, first: bool, last: bool,
                 index: Optional[int] = None, shards: Optional[int] = None):
        if index is None:  # two shards at most can be told from first/last alone
            index, shards = (0 if first else 1), (1 if first and last else 2)
        inputs, outputs, _, _ = shard_io(index, shards, 0, 1)
        super().__init__(module, start, stop, inputs, outputs, first, last)
        self.index, self.shards = index, shards

    def input_names(self) -> List[str]:
        return list(self.inputs)

    def output_names(self) -> List[str]:
        return list(self.outputs)


_AXES = {
    'hidden_states': {0: 'batch', 2: 'frames', 3: 'height', 4: 'width'},
    'sample': {0: 'batch', 2: 'frames', 3: 'height', 4: 'width'},
    'timestep': {0: 'batch'},
    'encoder_hidden_states': {0: 'batch', 1: 'text_length'},
    'context': {0: 'batch', 1: 'text_length'},
    'rope_cos': {0: 'tokens'},
    'rope_sin': {0: 'tokens'},
    'tokens': {0: 'batch', 1: 'tokens'},
    'temb': {0: 'batch'},
    'timestep_proj': {0: 'batch'},
}


def shard_ranges(num_layers: int, shards: int) -> List[Tuple[int, int]]:
    """Contiguous block ranges, as even as possible (earlier shards take the remainder)."""
    from .onnx_export import even_ranges  # imported here, as the export helpers are, so the module loads without onnx
    return even_ranges(num_layers, shards, 'shards', f'num_layers ({num_layers})')


def shard_modules(module: WanTransformer3D, shards: int = 1) -> List[Tuple[str, _ShardGraph]]:
    ranges = shard_ranges(len(module.blocks), shards)
    out = []
    for i, (start, stop) in enumerate(ranges):
        name = GRAPH_DENOISER if shards == 1 else f'{GRAPH_DENOISER}_{i}'
        out.append((name, _ShardGraph(module, start, stop, first=i == 0, last=i == len(ranges) - 1, index=i,
                                      shards=len(ranges))))
    return out


def shards_for(config: dict, weights: str, limit_bytes: int = 2_000_000_000) -> int:
    """The fewest shards that keep every graph's external-data file under limit_bytes (the issue's 2 GB)."""
    config = check_config(config)
    per_value = 2 if weights == 'fp16' else 4
    shapes = parameter_shapes(config)
    block_bytes = [sum(math.prod(s) for k, s in shapes.items() if k.startswith(f'blocks.{i}.')) * per_value
                   for i in range(config['num_layers'])]
    other = sum(math.prod(s) for k, s in shapes.items() if not k.startswith('blocks.')) * per_value
    for shards in range(1, config['num_layers'] + 1):
        ranges = shard_ranges(config['num_layers'], shards)
        sizes = [sum(block_bytes[a:b]) for a, b in ranges]
        if max(sizes) + other <= limit_bytes:  # conservative: every shard charged all non-block weights
            return shards
    raise ValueError(f'one Wan block alone exceeds {limit_bytes} bytes with {weights} weights')


def example_inputs(config: dict, frames: int = 2, height: int = 4, width: int = 6, text_length: int = 5,
                   batch: int = 1, seed: int = 0) -> Dict[str, torch.Tensor]:
    """Random trace/test inputs (the graph's shapes do not depend on them: every axis above is dynamic)."""
    config = check_config(config)
    g = torch.Generator().manual_seed(seed)
    cos, sin = rope_tables(config, frames, height, width)
    return {
        'hidden_states': torch.randn(batch, config['in_channels'], frames, height, width, generator=g),
        'timestep': torch.rand(batch, generator=g) * 1000,
        'encoder_hidden_states': torch.randn(batch, text_length, config['text_dim'], generator=g),
        'rope_cos': torch.from_numpy(cos.astype(np.float32)),
        'rope_sin': torch.from_numpy(sin.astype(np.float32)),
    }


def export(module: WanTransformer3D, config: dict, out_dir: Path, weights: str, shards: int = 1) -> List[dict]:
    """Writes `denoiser_context` and `denoiser` (or `denoiser_0..shards-1`) under out_dir; returns their manifest
    graph entries in run order (the context graph first, `perPrompt: true`)."""
    from . import onnx_export
    if weights not in ('fp32', 'fp16'):
        raise ValueError(f"`weights` must be 'fp32' or 'fp16'; got {weights!r}")
    out_dir = Path(out_dir)
    module.eval()
    # Trace at a size where no axis is 1 and no two dynamic axes are equal, so nothing is specialised.
    ex = example_inputs(module.config, frames=3, height=4, width=6, text_length=7, batch=2)
    entries: List[dict] = []
    with torch.no_grad():
        context = module.condition_embedder.text_embedder(ex['encoder_hidden_states'])
        entry = onnx_export.export_graph(
            _ContextGraph(module), (ex['encoder_hidden_states'],), out_dir, GRAPH_CONTEXT,
            input_names=['encoder_hidden_states'], output_names=['context'],
            dynamic_axes={k: _AXES[k] for k in ('encoder_hidden_states', 'context')}, weights=weights)
        entries.append(dict(entry, perPrompt=True))
        values = dict(ex, context=context)
        for name, shard in shard_modules(module, shards):
            inputs = shard.input_names()
            outputs = shard.output_names()
            args = tuple(values[k] for k in inputs)
            result = shard(*args)
            entries.append(onnx_export.export_graph(
                shard, args, out_dir, name, input_names=inputs, output_names=outputs,
                dynamic_axes={k: _axes(k) for k in inputs + outputs}, weights=weights))
            result = result if isinstance(result, tuple) else (result,)
            values.update(zip(outputs, result))
    return entries


def manifest_config(config: dict) -> dict:
    """`components.denoiser.config` of the manifest (docs/wan.md)."""
    config = check_config(config)
    return {
        'numHeads': config['num_attention_heads'],
        'headDim': config['attention_head_dim'],
        'patchSize': list(config['patch_size']),
        'inChannels': config['in_channels'],
        'outChannels': config['out_channels'],
        'textDim': config['text_dim'],
        'ropeTheta': ROPE_THETA,
    }


# ---------------------------------------------------------------------------------------------- streaming
# The 1.3B DiT is 5.7 GB in fp32 and a 14B one 57 GB: the converter builds each graph from pieces of a few
# blocks, each read from the lazy checkpoint, exported, quantized and written into the graph's data file
# before the next piece is built (onnx_export.GraphWriter). The small non-block weights (embeddings, the
# time MLP, the head: ~25 M values at 1.3B) are loaded in every piece that needs them.

_NON_BLOCK_PREFIXES = ('patch_embedding.', 'condition_embedder.', 'proj_out.', 'scale_shift_table')


def build_part(config: dict, blocks: Sequence[int]) -> WanTransformer3D:
    """A WanTransformer3D holding every non-block weight and only the given blocks (as `blocks.<i>`), left
    uninitialised: load it with CheckpointView.load_into."""
    from .onnx_export import no_init
    config = check_config(config)
    with no_init():  # every tensor is loaded from the checkpoint next (CheckpointView.load_into)
        module = WanTransformer3D(dict(config, num_layers=1))
        module.config = config
        heads, head_dim = config['num_attention_heads'], config['attention_head_dim']
        module.blocks = nn.ModuleDict({str(i): WanTransformerBlock(heads * head_dim, config['ffn_dim'], heads,
                                                                   config['cross_attn_norm'], config['eps'])
                                       for i in blocks})
    return module.eval()


class CheckpointView:
    """A lazy checkpoint (checkpoints.LazyCheckpoint) seen under diffusers' names: original Wan / rCM names are
    renamed as `load_weights` does; names, shapes and the layout are checked before any weight is read."""

    def __init__(self, ckpt, config: dict):
        self.ckpt, self.config = ckpt, check_config(config)
        keys = ckpt.keys()
        self.layout = detect_layout({k: None for k in keys})
        if self.layout == 'original':
            renamed = rename_original({k: k for k in keys})
            self.source = {new: old for new, old in renamed.items()}
        else:
            self.source = {k: k for k in keys}
        expected = parameter_shapes(config)
        note = ' (renamed from the original Wan layout)' if self.layout == 'original' else ''
        unexpected = sorted(k for k in self.source if k not in expected)
        if unexpected:
            raise ValueError(f'unexpected tensor `{unexpected[0]}`{_more(unexpected)} in the Wan transformer '
                             f'checkpoint{note}: WanTransformer3DModel (text-to-video) with this config has no such key')
        missing = [k for k in expected if k not in self.source]
        if missing:
            raise ValueError(f'missing tensor `{missing[0]}`{_more(missing)} in the Wan transformer checkpoint{note} '
                             f'(expected shape {list(expected[missing[0]])})')
        for key, shape in expected.items():
            have = list(ckpt.shape(self.source[key]))
            if key == 'patch_embedding.weight' and self.layout == 'original' and len(have) == 2 \
                    and math.prod(have) == math.prod(shape) and have[0] == shape[0]:
                continue  # rCM: nn.Linear over (c, kt, kh, kw)
            if have != list(shape):
                raise ValueError(f'tensor `{key}` has shape {have}; this config expects {list(shape)} '
                                 f'(does config.json match the checkpoint?)')

    def load_into(self, module: WanTransformer3D) -> None:
        """Read the module's tensors (and only them) into it, as float32."""
        with torch.no_grad():
            for key, ref in module.state_dict().items():
                value = self.ckpt.get(self.source[key])
                if not value.is_floating_point():
                    raise ValueError(f'tensor `{key}` must be a floating-point tensor; got {value.dtype}')
                ref.copy_(value.reshape(ref.shape).to(torch.float32))


def block_bytes(config: dict, weights: str, quant=None) -> int:
    """Bytes one block's weights take in a graph of `weights` storage."""
    from .onnx_export import matmul_bytes
    config = check_config(config)
    dim = config['num_attention_heads'] * config['attention_head_dim']
    ffn = config['ffn_dim']
    linears = [(dim, dim)] * 8 + [(dim, ffn), (ffn, dim)]
    total = sum(matmul_bytes(k, n, weights, quant, bias=True) for k, n in linears)
    small = (4 + (2 if config['cross_attn_norm'] else 0)) * dim + 6 * dim  # q/k norms, norm2, modulation
    return total + small * (2 if weights == 'fp16' else 4)


def non_block_bytes(config: dict, weights: str, prefixes=_NON_BLOCK_PREFIXES) -> int:
    """Bytes of the weights outside the blocks under the given name prefixes, charged as float (fp16 for fp16
    weights, else fp32: the time MLP and head stay float in int8/int4 graphs; conservative for the rest)."""
    per = 2 if weights == 'fp16' else 4
    shapes = parameter_shapes(config)
    return sum(math.prod(s) for k, s in shapes.items() if k.startswith(tuple(prefixes))) * per


# The graph structure of one block (~40 KB measured at any size), charged to the data so that tiny test limits
# also hold for the .onnx file; at real size it is noise.
GRAPH_BYTES_PER_BLOCK = 48_000
_FIRST = ('patch_embedding.', 'condition_embedder.time_embedder.', 'condition_embedder.time_proj.')
_LAST = ('proj_out.', 'scale_shift_table')


def plan_shards(config: dict, weights: str, limit: int, quant=None) -> int:
    """The fewest block graphs whose files each stay under `limit` (2% headroom): the first graph also holds the
    patch embedding and time MLP, the last the head (both charged as float)."""
    config = check_config(config)
    per_block = block_bytes(config, weights, quant) + GRAPH_BYTES_PER_BLOCK
    room = int(limit * 0.98) - 8_000  # the start and head nodes
    first, last = non_block_bytes(config, weights, _FIRST), non_block_bytes(config, weights, _LAST)
    context = non_block_bytes(config, weights, ('condition_embedder.text_embedder.',))
    if context > room:
        raise ValueError(f'the text MLP (denoiser_context) takes {context} bytes with {weights} weights, over the '
                         f'file limit {limit}; raise --max-file-bytes')
    layers = config['num_layers']
    for shards in range(1, layers + 1):
        ranges = shard_ranges(layers, shards)
        sizes = [(b - a) * per_block + (first if i == 0 else 0) + (last if i == len(ranges) - 1 else 0)
                 for i, (a, b) in enumerate(ranges)]
        if max(sizes) <= room:
            return shards
    raise ValueError(f'one Wan block takes {per_block} bytes with {weights} weights (the first graph also '
                     f'{first}, the last {last}), over the file limit {limit}; raise --max-file-bytes or use '
                     'smaller weights')


def shard_io(index: int, shards: int, piece: int, pieces: int) -> Tuple[List[str], List[str], bool, bool]:
    """(inputs, outputs, first, last) of piece `piece` of shard `index`. Between shards the state is `tokens`
    out of shard 0 and `tokens_<i>` out of shard i-1 for i >= 2 (a graph cannot output a tensor under its
    input's name); inside a graph pieces pass `tokens__piece<p>`; `temb` and `timestep_proj` come out of shard 0."""
    first = index == 0 and piece == 0
    last = index == shards - 1 and piece == pieces - 1

    def shard_state(i):  # the state shard i reads (i >= 1)
        return 'tokens' if i == 1 else f'tokens_{i}'

    tok_in = None
    if not first:
        tok_in = shard_state(index) if piece == 0 else f'tokens__piece{piece}'
    tok_out = None
    if not last:
        tok_out = shard_state(index + 1) if piece == pieces - 1 else f'tokens__piece{piece + 1}'
    if first:
        inputs = ['hidden_states', 'timestep', 'context', 'rope_cos', 'rope_sin']
    else:
        inputs = [tok_in, 'timestep_proj', 'context', 'rope_cos', 'rope_sin']
        if last:
            inputs = ['hidden_states', tok_in, 'temb'] + inputs[1:]
    if last:
        outputs = ['sample']
    else:
        outputs = [tok_out, 'temb', 'timestep_proj'] if first else [tok_out]
    return inputs, outputs, first, last


def _axes(name: str) -> dict:
    if name.startswith('tokens'):
        return _AXES['tokens']
    return _AXES[name]


def export_streaming(ckpt, config: dict, out_dir: Path, weights: str, shards: int = 1, quant=None,
                     limit: Optional[int] = None, piece_bytes: int = 1_000_000_000, log=None) -> List[dict]:
    """`export`'s graphs from a lazy checkpoint (a CheckpointView or checkpoints.LazyCheckpoint), each block graph
    written from pieces of at most `piece_bytes` float32 block weights (at least one block)."""
    from . import onnx_export
    view = ckpt if isinstance(ckpt, CheckpointView) else CheckpointView(ckpt, config)
    config = check_config(config)
    limit = limit or onnx_export.FILE_LIMIT
    out_dir = Path(out_dir)
    ex = example_inputs(config, frames=3, height=4, width=6, text_length=7, batch=2)
    entries: List[dict] = []
    # the context graph: the text MLP only
    part = build_part(config, [])
    view.load_into(part)
    with torch.no_grad():
        context = part.condition_embedder.text_embedder(ex['encoder_hidden_states'])
    writer = onnx_export.GraphWriter(out_dir, GRAPH_CONTEXT, weights, limit)
    writer.add(onnx_export.export_model(
        _ContextGraph(part), (ex['encoder_hidden_states'],), out_dir / f'.{GRAPH_CONTEXT}.{weights}.export',
        input_names=['encoder_hidden_states'], output_names=['context'],
        dynamic_axes={k: _AXES[k] for k in ('encoder_hidden_states', 'context')}, weights=weights, quant=quant))
    entries.append(dict(writer.finish(['context']), perPrompt=True))
    values = dict(ex, context=context)
    per_piece = max(1, int(piece_bytes) // block_bytes(config, 'fp32'))
    for index, (start, stop) in enumerate(shard_ranges(config['num_layers'], shards)):
        name = GRAPH_DENOISER if shards == 1 else f'{GRAPH_DENOISER}_{index}'
        pieces = onnx_export.even_ranges(stop - start, -(-(stop - start) // per_piece), 'pieces', 'blocks')
        writer = onnx_export.GraphWriter(out_dir, name, weights, limit)
        for p, (a, b) in enumerate(pieces):
            inputs, outputs, first, last = shard_io(index, shards, p, len(pieces))
            part = build_part(config, range(start + a, start + b))
            view.load_into(part)
            piece = _PieceGraph(part, start + a, start + b, inputs, outputs, first, last)
            args = tuple(values[k] for k in inputs)
            with torch.no_grad():
                result = piece(*args)
            result = result if isinstance(result, tuple) else (result,)
            model = onnx_export.export_model(
                piece, args, out_dir / f'.{name}.{weights}.{p}.export', input_names=inputs, output_names=outputs,
                dynamic_axes={k: _axes(k) for k in inputs + outputs}, weights=weights, quant=quant)
            del piece, part
            writer.add(model)
            del model
            values.update(zip(outputs, result))
        _, shard_outputs = shard_io(index, shards, 0, 1)[:2]
        entries.append(writer.finish(shard_outputs))
        if log:
            log(f'transformer: {name} ({weights}, blocks {start}-{stop - 1}, {len(pieces)} piece(s)) written')
    return entries


def activation_bytes(config: dict, batch: int, frames: int, height: int, width: int, text_length: int = 512) -> int:
    """Peak activation estimate of one denoiser step, float32 (convert/README.md), at `frames` video frames of
    height x width pixels: latent F = (frames-1)/4 + 1, h = height/8, w = width/8, N = F·(h/pt·ph)·(w/pw) tokens.
    Per block: the states, norm, q/k/v, attention output and modulated input (8·N·dim), self-attention scores and
    softmax for all heads at once (2·heads·N²), cross-attention scores (2·heads·N·L), the FFN (2·N·ffn); plus the
    context (L·dim), the RoPE tables (N·head_dim) and the latents in and out:
        4 · (B · (8·N·dim + 2·heads·N² + 2·heads·N·L + 2·N·ffn + L·dim + 2·C·F·h·w) + N·head_dim)."""
    config = check_config(config)
    pt, ph, pw = config['patch_size']
    f = (frames - 1) // 4 + 1
    h, w = height // 8, width // 8
    n = (f // pt) * (h // ph) * (w // pw)
    heads, head_dim = config['num_attention_heads'], config['attention_head_dim']
    dim = heads * head_dim
    per = (8 * n * dim + 2 * heads * n * n + 2 * heads * n * text_length + 2 * n * config['ffn_dim']
           + text_length * dim + 2 * config['in_channels'] * f * h * w)
    return 4 * (batch * per + n * head_dim)

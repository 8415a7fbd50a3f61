"""Our umT5 encoder (the Wan2.1 text encoder) in PyTorch 1.13, with the tensor names of transformers'
`UMT5EncoderModel` checkpoints, and its export in kinema's Wan contract (docs/wan.md).

Math as transformers' `models/umt5/modeling_umt5.py` (read at commit de0f5d1e, configuration at
0d7e95d9): pre-norm blocks of self-attention then a gated tanh-GELU feed-forward; the RMS norm has no
mean and no bias, its variance is taken in fp32; attention scores are q·kᵀ with NO 1/√d scaling; every
layer (unlike T5/mT5) owns a relative position bias table indexed by bidirectional log buckets (the
bucket of each clamped distance is a small constant table in the graph); the
padding mask enters as (1 − mask)·finfo(float32).min added to the scores; a final RMS norm. Dropout is
the identity at inference and is left out.

The token embedding is not part of the exported graphs: the real table (256,384 × 4,096) is larger
than a GPU buffer may be, so it is written as a raw little-endian [V, D] file that kinema gathers from.
The last graph multiplies by the mask, giving diffusers' `prompt_embeds` (zeros past the true length).
"""
import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .checkpoints import strict_load
from .onnx_export import FILE_LIMIT, even_ranges, export_graph, file_entry

_MASK_MIN = torch.finfo(torch.float32).min

# The umT5-XXL encoder Wan2.1 ships (text_encoder/config.json of the diffusers repo).
_XXL = {"vocab_size": 256384, "d_model": 4096, "d_kv": 64, "d_ff": 10240, "num_layers": 24, "num_heads": 64,
        "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128,
        "layer_norm_epsilon": 1e-6, "feed_forward_proj": "gated-gelu", "dense_act_fn": "gelu_new",
        "is_gated_act": True, "model_type": "umt5", "architectures": ["UMT5EncoderModel"]}
_TINY = dict(_XXL, vocab_size=64, d_model=32, d_kv=8, d_ff=48, num_layers=2, num_heads=4)


def default_config(name=None) -> dict:
    """'tiny' for tests; otherwise the umT5-XXL encoder of Wan2.1."""
    return dict(_TINY if name == "tiny" else _XXL)


def _settings(config: dict) -> dict:
    """The fields the encoder reads, with transformers' UMT5Config defaults; bad values name the key."""
    def num(key, default, kind=int, minimum=1):
        v = config.get(key, default)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or (kind is int and int(v) != v) or v < minimum:
            raise ValueError(f"text encoder config `{key}` must be {'an integer' if kind is int else 'a number'} "
                             f">= {minimum}; got {v!r}")
        return kind(v)

    proj = config.get("feed_forward_proj", "gated-gelu")
    parts = str(proj).split("-")
    if len(parts) > 2 or (len(parts) == 2 and parts[0] != "gated"):
        raise ValueError(f"text encoder config `feed_forward_proj` must be 'gated-<act>' or '<act>'; got {proj!r}")
    gated = parts[0] == "gated"
    act = "gelu_new" if proj == "gated-gelu" else parts[-1]
    if act not in _ACTS:
        raise ValueError(f"text encoder config `feed_forward_proj` activation must be one of "
                         f"{', '.join(sorted(_ACTS))}; got {act!r} (from {proj!r})")
    if config.get("is_decoder"):
        raise ValueError("text encoder config `is_decoder` must be false: only the umT5 encoder is converted")
    return {"vocab": num("vocab_size", 250112), "d_model": num("d_model", 512), "d_kv": num("d_kv", 64),
            "d_ff": num("d_ff", 1024), "layers": num("num_layers", 8), "heads": num("num_heads", 6),
            "buckets": num("relative_attention_num_buckets", 32, minimum=4),
            "max_distance": num("relative_attention_max_distance", 128, minimum=2),
            "eps": num("layer_norm_epsilon", 1e-6, float, minimum=0), "gated": gated, "act": act}


def _gelu_tanh(x):
    # transformers' "gelu_new": the tanh approximation, written out (opset 17 has no Gelu op)
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def _gelu_erf(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


_ACTS = {"gelu_new": _gelu_tanh, "gelu_pytorch_tanh": _gelu_tanh, "gelu": _gelu_erf, "relu": torch.relu}


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        variance = x.to(torch.float32).pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(variance + self.eps))


def relative_position_bucket(relative_position, num_buckets, max_distance):
    """Bidirectional T5 buckets: half the buckets for keys after the query, half before; in each half,
    exact distances below num_buckets/4, then log-spaced bins up to max_distance, then the last bin."""
    half = num_buckets // 2
    buckets = (relative_position > 0).to(torch.long) * half
    distance = torch.abs(relative_position)
    max_exact = half // 2
    is_small = distance < max_exact
    # clamp before the log: the small distances take the other branch of the where anyway
    far = torch.clamp(distance, min=max_exact).to(torch.float32)
    large = max_exact + (torch.log(far / max_exact) / math.log(max_distance / max_exact)
                         * (half - max_exact)).to(torch.long)
    large = torch.clamp(large, max=half - 1)
    return buckets + torch.where(is_small, distance, large)


class Attention(nn.Module):
    def __init__(self, s):
        super().__init__()
        inner = s["heads"] * s["d_kv"]
        self.heads, self.d_kv = s["heads"], s["d_kv"]
        self.buckets, self.max_distance = s["buckets"], s["max_distance"]
        self.q = nn.Linear(s["d_model"], inner, bias=False)
        self.k = nn.Linear(s["d_model"], inner, bias=False)
        self.v = nn.Linear(s["d_model"], inner, bias=False)
        self.o = nn.Linear(inner, s["d_model"], bias=False)
        self.relative_attention_bias = nn.Embedding(s["buckets"], s["heads"])
        table = relative_position_bucket(torch.arange(-s["max_distance"], s["max_distance"] + 1),
                                         s["buckets"], s["max_distance"])
        self.register_buffer("bucket_table", table, persistent=False)  # not a checkpoint tensor

    def position_bias(self, length, device):
        pos = torch.arange(length, dtype=torch.long, device=device)
        # key position − query position; every distance past max_distance falls in the last bucket, so
        # clamping first and looking the bucket up in a table computed once (in torch float32, as
        # transformers does per call) gives the same buckets for any length, with no float log in the graph
        rel = torch.clamp(pos[None, :] - pos[:, None], -self.max_distance, self.max_distance)
        bucket = self.bucket_table[rel + self.max_distance]
        return self.relative_attention_bias(bucket).permute(2, 0, 1).unsqueeze(0)  # [1, H, L, L]

    def forward(self, x, mask_bias):
        b, n = x.shape[0], x.shape[1]

        def heads(t):
            return t.view(b, n, self.heads, self.d_kv).transpose(1, 2)

        q, k, v = heads(self.q(x)), heads(self.k(x)), heads(self.v(x))
        scores = torch.matmul(q, k.transpose(3, 2))  # no 1/sqrt(d_kv): umT5 folds it into the weights
        scores = scores + (self.position_bias(n, x.device) + mask_bias)
        weights = torch.softmax(scores.float(), dim=-1).type_as(scores)
        out = torch.matmul(weights, v).transpose(1, 2).reshape(b, n, self.heads * self.d_kv)
        return self.o(out)


class LayerSelfAttention(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.SelfAttention = Attention(s)
        self.layer_norm = RMSNorm(s["d_model"], s["eps"])

    def forward(self, x, mask_bias):
        return x + self.SelfAttention(self.layer_norm(x), mask_bias)


class DenseGatedActDense(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.wi_0 = nn.Linear(s["d_model"], s["d_ff"], bias=False)
        self.wi_1 = nn.Linear(s["d_model"], s["d_ff"], bias=False)
        self.wo = nn.Linear(s["d_ff"], s["d_model"], bias=False)
        self.act = _ACTS[s["act"]]

    def forward(self, x):
        return self.wo(self.act(self.wi_0(x)) * self.wi_1(x))


class DenseActDense(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.wi = nn.Linear(s["d_model"], s["d_ff"], bias=False)
        self.wo = nn.Linear(s["d_ff"], s["d_model"], bias=False)
        self.act = _ACTS[s["act"]]

    def forward(self, x):
        return self.wo(self.act(self.wi(x)))


class LayerFF(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.DenseReluDense = DenseGatedActDense(s) if s["gated"] else DenseActDense(s)
        self.layer_norm = RMSNorm(s["d_model"], s["eps"])

    def forward(self, x):
        return x + self.DenseReluDense(self.layer_norm(x))


class Block(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.layer = nn.ModuleList([LayerSelfAttention(s), LayerFF(s)])

    def forward(self, x, mask_bias):
        return self.layer[1](self.layer[0](x, mask_bias))


class Stack(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.block = nn.ModuleList([Block(s) for _ in range(s["layers"])])
        self.final_layer_norm = RMSNorm(s["d_model"], s["eps"])


def mask_bias(attention_mask):
    """[B, L] 0/1 mask -> [B, 1, 1, L] additive bias: 0 for real tokens, finfo(float32).min for padding."""
    return (1.0 - attention_mask.to(torch.float32))[:, None, None, :] * _MASK_MIN


def _run_stack(stack, hidden_states, attention_mask, start, stop, final):
    bias = mask_bias(attention_mask)
    x = hidden_states
    for block in stack.block[start:stop]:
        x = block(x, bias)
    if final:
        x = stack.final_layer_norm(x) * attention_mask.to(x.dtype)[:, :, None]
    return x


class UMT5Encoder(nn.Module):
    """UMT5EncoderModel's tensors: `shared.weight` (alias `encoder.embed_tokens.weight`, tied),
    `encoder.block.{i}.layer.{0,1}...`, `encoder.final_layer_norm.weight`."""

    def __init__(self, config: dict):
        super().__init__()
        self.settings = s = _settings(config)
        self.shared = nn.Embedding(s["vocab"], s["d_model"])
        self.encoder = Stack(s)

    def run_layers(self, hidden_states, attention_mask, start=0, stop=None, final=True):
        """Layers [start, stop) on embedded tokens; with `final`, the final norm times the mask."""
        return _run_stack(self.encoder, hidden_states, attention_mask, start, stop, final)

    def forward(self, input_ids, attention_mask):
        """input_ids, attention_mask [B, L] int64 -> prompt_embeds [B, L, D] (zeros at padding)."""
        return self.run_layers(self.shared(input_ids), attention_mask)


def build(config: dict) -> UMT5Encoder:
    return UMT5Encoder(config).eval()


EMBED_ALIAS = "encoder.embed_tokens.weight"


def load_weights(module: UMT5Encoder, tensors: dict) -> None:
    """Strict: every tensor of UMT5EncoderModel once (the tied embedding under `shared.weight`,
    `encoder.embed_tokens.weight` or both), nothing extra, shapes as the config says."""
    strict_load(module, tensors, aliases={EMBED_ALIAS: "shared.weight"})


def random_checkpoint(config: dict, seed: int) -> dict:
    """Tensors named as UMT5EncoderModel saves them, with transformers' init scales (so activations
    stay finite), norms near 1, and a bias table large enough that the buckets matter."""
    s = _settings(config)
    g = torch.Generator().manual_seed(seed)

    def randn(*shape, std):
        return torch.randn(*shape, generator=g) * std

    d, inner, ff = s["d_model"], s["heads"] * s["d_kv"], s["d_ff"]
    out = {"shared.weight": randn(s["vocab"], d, std=1.0)}
    for i in range(s["layers"]):
        p = f"encoder.block.{i}.layer."
        out[p + "0.SelfAttention.q.weight"] = randn(inner, d, std=(d * s["d_kv"]) ** -0.5)
        out[p + "0.SelfAttention.k.weight"] = randn(inner, d, std=d ** -0.5)
        out[p + "0.SelfAttention.v.weight"] = randn(inner, d, std=d ** -0.5)
        out[p + "0.SelfAttention.o.weight"] = randn(d, inner, std=inner ** -0.5)
        out[p + "0.SelfAttention.relative_attention_bias.weight"] = randn(s["buckets"], s["heads"], std=0.5)
        out[p + "0.layer_norm.weight"] = 1.0 + randn(d, std=0.1)
        if s["gated"]:
            out[p + "1.DenseReluDense.wi_0.weight"] = randn(ff, d, std=d ** -0.5)
            out[p + "1.DenseReluDense.wi_1.weight"] = randn(ff, d, std=d ** -0.5)
        else:
            out[p + "1.DenseReluDense.wi.weight"] = randn(ff, d, std=d ** -0.5)
        out[p + "1.DenseReluDense.wo.weight"] = randn(d, ff, std=ff ** -0.5)
        out[p + "1.layer_norm.weight"] = 1.0 + randn(d, std=0.1)
    out["encoder.final_layer_norm.weight"] = 1.0 + randn(d, std=0.1)
    return out


class _Shard(nn.Module):
    def __init__(self, encoder: UMT5Encoder, start, stop, final):
        super().__init__()
        # the stack under the name `encoder`, so the graph's weights keep their checkpoint names
        self.encoder, self.start, self.stop, self.final = encoder.encoder, start, stop, final

    def forward(self, hidden_states, attention_mask):
        return _run_stack(self.encoder, hidden_states, attention_mask, self.start, self.stop, self.final)


def layer_bytes(config: dict, weights: str) -> int:
    """Weight bytes of one encoder layer in a graph (for choosing a shard count)."""
    s = _settings(config)
    inner = s["heads"] * s["d_kv"]
    n = 4 * s["d_model"] * inner + s["buckets"] * s["heads"] + 2 * s["d_model"]
    n += (3 if s["gated"] else 2) * s["d_model"] * s["d_ff"]
    return n * (2 if weights == "fp16" else 4)


def shards_needed(config: dict, weights: str, limit=FILE_LIMIT) -> int:
    """The fewest graphs whose external data each stay under `limit` (with 5% headroom)."""
    s = _settings(config)
    per_graph = max(1, int(limit * 0.95) // layer_bytes(config, weights))
    return -(-s["layers"] // per_graph)


def shard_ranges(layers: int, shards: int):
    return even_ranges(layers, shards, "--text-encoder-shards", f"{layers} (the layer count)")


def shard_io_names(index: int, shards: int):
    """(input names, output names) of shard `index`. A graph cannot output a tensor under the name of
    one of its inputs (ONNX is single-assignment), so states between shards are `hidden_states_<i>`."""
    inp = "hidden_states" if index == 0 else f"hidden_states_{index}"
    out = "prompt_embeds" if index == shards - 1 else f"hidden_states_{index + 1}"
    return [inp, "attention_mask"], [out]


def export(module: UMT5Encoder, config: dict, out_dir, weights: str, shards: int = 1) -> list:
    """Graphs `text_encoder` (one shard) or `text_encoder_0..k-1`, each a contiguous run of layers;
    every shard takes `attention_mask`; the last applies the final norm and the mask -> `prompt_embeds`.
    Returns the manifest graph entries (paths relative to out_dir)."""
    s = module.settings
    ranges = shard_ranges(s["layers"], shards)
    length = 12
    hidden = torch.randn(1, length, s["d_model"], generator=torch.Generator().manual_seed(0))
    mask = torch.ones(1, length, dtype=torch.int64)
    mask[0, 9:] = 0
    entries = []
    for i, (start, stop) in enumerate(ranges):
        name = "text_encoder" if shards == 1 else f"text_encoder_{i}"
        ins, outs = shard_io_names(i, shards)
        axes = {n: {0: "batch", 1: "sequence"} for n in ins + outs}
        entries.append(export_graph(_Shard(module, start, stop, i == shards - 1), (hidden, mask), out_dir, name,
                                    input_names=ins, output_names=outs, dynamic_axes=axes, weights=weights))
    return entries


def embedding_file_name(dtype: str) -> str:
    return f"embed_tokens.{dtype}.bin"


def export_embedding(module: UMT5Encoder, out_dir, dtype: str) -> dict:
    """Write the token embedding as raw little-endian [V, D] fp32 or fp16, row-major, in row chunks so
    the real table never needs a second full copy. Returns the file entry (role "embedding")."""
    if dtype not in ("fp32", "fp16"):
        raise ValueError(f"embedding dtype must be 'fp32' or 'fp16'; got {dtype!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / embedding_file_name(dtype)
    table = module.shared.weight.detach()
    np_dtype = np.dtype("<f2" if dtype == "fp16" else "<f4")
    if table.shape[0] * table.shape[1] * np_dtype.itemsize > FILE_LIMIT:
        raise AssertionError(f"the {dtype} embedding table [{table.shape[0]}, {table.shape[1]}] would be over "
                             f"{FILE_LIMIT} bytes; store it as fp16")
    with open(path, "wb") as f:
        for r in range(0, table.shape[0], 8192):
            f.write(table[r:r + 8192].numpy().astype(np_dtype).tobytes())
    entry = file_entry(path, out_dir, role="embedding")
    return entry


def embedding_dtype_for(config: dict, weights: str) -> str:
    """The variant's own dtype, unless fp32 would put the table over the file limit (the real umT5
    table is 4.2 GB in fp32, 2.1 GB in fp16)."""
    s = _settings(config)
    if weights == "fp32" and s["vocab"] * s["d_model"] * 4 > FILE_LIMIT:
        return "fp16"
    return weights

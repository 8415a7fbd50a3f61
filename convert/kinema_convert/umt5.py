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
import gc
import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .checkpoints import strict_load
from .manifest import UsageError
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


# ---------------------------------------------------------------------------------------------- streaming
# The real umT5-XXL is 22.7 GB in fp32, as much as a converting machine may have. The converter never
# builds it whole: each graph is exported in pieces of a few layers, each piece built from only its
# layers' tensors (read from the lazy checkpoint), exported, quantized and written, then freed.


def checkpoint_names(config: dict) -> dict:
    """{module name: shape} of every tensor UMT5EncoderModel saves (the tied embedding as `shared.weight`)."""
    s = _settings(config)
    d, inner, ff = s["d_model"], s["heads"] * s["d_kv"], s["d_ff"]
    out = {"shared.weight": [s["vocab"], d]}
    for i in range(s["layers"]):
        p = f"encoder.block.{i}.layer."
        for n in "qkv":
            out[p + f"0.SelfAttention.{n}.weight"] = [inner, d]
        out[p + "0.SelfAttention.o.weight"] = [d, inner]
        out[p + "0.SelfAttention.relative_attention_bias.weight"] = [s["buckets"], s["heads"]]
        out[p + "0.layer_norm.weight"] = [d]
        for n in (("wi_0", "wi_1") if s["gated"] else ("wi",)):
            out[p + f"1.DenseReluDense.{n}.weight"] = [ff, d]
        out[p + "1.DenseReluDense.wo.weight"] = [d, ff]
        out[p + "1.layer_norm.weight"] = [d]
    out["encoder.final_layer_norm.weight"] = [d]
    return out


def check_checkpoint(config: dict, ckpt) -> None:
    """Strict by names and shapes, before any weight is read: every tensor once (the tied embedding under
    `shared.weight`, `encoder.embed_tokens.weight` or both), nothing extra. ValueError names the tensor."""
    want = checkpoint_names(config)
    have = {}
    for k in ckpt.keys():
        target = "shared.weight" if k == EMBED_ALIAS else k
        if target not in want:
            raise ValueError(f"unexpected checkpoint tensor '{k}'; does the config match the checkpoint?")
        if list(ckpt.shape(k)) != want[target]:
            raise ValueError(f"checkpoint tensor '{k}' has shape {list(ckpt.shape(k))}; the config needs {want[target]}")
        have[target] = k
    missing = [k for k in want if k not in have]
    if missing:
        raise ValueError(f"checkpoint lacks tensor '{missing[0]}' ({len(missing)} missing in all); "
                         "is this the right checkpoint for this component?")


def embedding_key(ckpt) -> str:
    return "shared.weight" if "shared.weight" in ckpt else EMBED_ALIAS


class _PartStack(nn.Module):
    def __init__(self, s, start, stop, final):
        super().__init__()
        self.block = nn.ModuleDict({str(i): Block(s) for i in range(start, stop)})
        if final:
            self.final_layer_norm = RMSNorm(s["d_model"], s["eps"])


class EncoderPart(nn.Module):
    """Layers [start, stop) (and, with `final`, the final norm times the mask) under the checkpoint's own
    names (`encoder.block.<i>...`): hidden_states, attention_mask -> hidden states."""

    def __init__(self, config: dict, start: int, stop: int, final: bool):
        super().__init__()
        self.settings = s = _settings(config)
        self.start, self.stop, self.final = start, stop, final
        self.encoder = _PartStack(s, start, stop, final)

    def forward(self, hidden_states, attention_mask):
        bias = mask_bias(attention_mask)
        x = hidden_states
        for i in range(self.start, self.stop):
            x = self.encoder.block[str(i)](x, bias)
        if self.final:
            x = self.encoder.final_layer_norm(x) * attention_mask.to(x.dtype)[:, :, None]
        return x

    def load(self, ckpt) -> None:
        """Read this part's tensors (only them) from a checkpoints.LazyCheckpoint."""
        with torch.no_grad():
            for name, p in self.state_dict().items():
                p.copy_(ckpt.get(name).to(torch.float32))


def _linear_shapes(s):
    """(K, N) of every Linear of one layer."""
    d, inner, ff = s["d_model"], s["heads"] * s["d_kv"], s["d_ff"]
    out = [(d, inner)] * 3 + [(inner, d)]
    out += [(d, ff)] * (2 if s["gated"] else 1) + [(ff, d)]
    return out


def quantized_layer_bytes(config: dict, weights: str, quant=None) -> int:
    """Bytes one encoder layer's weights take in a graph of `weights` storage (MatMulNBits layout for int8/int4)."""
    from .onnx_export import matmul_bytes
    s = _settings(config)
    small = (s["buckets"] * s["heads"] + 2 * s["d_model"]) * 4  # bias table, norms: float32
    return small + sum(matmul_bytes(k, n, weights, quant) for k, n in _linear_shapes(s))


# The graph structure of one layer (nodes, names, shapes: ~24 KB measured at any size), charged to the data so
# that tiny test limits also hold for the .onnx file; at real size it is noise.
GRAPH_BYTES_PER_LAYER = 32_000


def plan_shards(config: dict, weights: str, limit: int, quant=None) -> int:
    """The fewest graphs whose files each stay under `limit` (2% headroom for alignment and small tensors)."""
    s = _settings(config)
    per_layer = quantized_layer_bytes(config, weights, quant) + GRAPH_BYTES_PER_LAYER
    per_graph = int(limit * 0.98) // per_layer
    if per_graph < 1:
        raise ValueError(f"one umT5 layer takes {per_layer} bytes with {weights} weights, over the file limit "
                         f"{limit}; raise --max-file-bytes or use smaller weights")
    return -(-s["layers"] // per_graph)


def export_streaming(ckpt, config: dict, out_dir, weights: str, shards: int, quant=None, limit=FILE_LIMIT,
                     piece_bytes=1_000_000_000, log=None) -> list:
    """The graphs of `export`, built from a lazy checkpoint: each graph is exported in pieces of at most
    `piece_bytes` float32 weight bytes (at least one layer), each piece quantized (int8/int4) and written
    into the graph's data file before the next is built. Same names and I/O as `export`."""
    from .onnx_export import GraphWriter, export_model, graph_file_name, no_init
    s = _settings(config)
    ranges = shard_ranges(s["layers"], shards)
    per_piece = max(1, int(piece_bytes) // quantized_layer_bytes(config, "fp32"))
    length = 12
    hidden = torch.randn(1, length, s["d_model"], generator=torch.Generator().manual_seed(0))
    mask = torch.ones(1, length, dtype=torch.int64)
    mask[0, 9:] = 0
    out_dir = Path(out_dir)
    entries = []
    for i, (start, stop) in enumerate(ranges):
        name = "text_encoder" if shards == 1 else f"text_encoder_{i}"
        ins, outs = shard_io_names(i, shards)
        writer = GraphWriter(out_dir, name, weights, limit)
        pieces = even_ranges(stop - start, -(-(stop - start) // per_piece), "pieces", "layers")
        for p, (a, b) in enumerate(pieces):
            a, b = a + start, b + start
            last = p == len(pieces) - 1
            p_in = ins[0] if p == 0 else f"{ins[0]}__piece{p}"
            p_out = outs[0] if last else f"{ins[0]}__piece{p + 1}"
            with no_init():  # every tensor is loaded next
                part = EncoderPart(config, a, b, final=last and i == shards - 1)
            part.load(ckpt)
            axes = {n: {0: "batch", 1: "sequence"} for n in (p_in, "attention_mask", p_out)}
            model = export_model(part, (hidden, mask), out_dir / f".{graph_file_name(name, weights)}.{p}.export",
                                 input_names=[p_in, "attention_mask"], output_names=[p_out], dynamic_axes=axes,
                                 weights=weights, quant=quant)
            del part
            writer.add(model)
            del model
            gc.collect()
        entries.append(writer.finish(outs))
        if log:
            log(f"text encoder: {name} ({weights}, layers {start}-{stop - 1}, {len(pieces)} piece(s)) written")
    return entries


def export_embedding_streaming(ckpt, config: dict, out_dir, dtype: str, block_size=None, limit=FILE_LIMIT) -> dict:
    """The embedding table from a lazy checkpoint, read and written a chunk of rows at a time: fp32/fp16 raw
    [V, D] little-endian, or int8/int4 (quantize.quantize_rows: codes row-major, then the float16 scales).
    Returns the file entry (role "embedding")."""
    from . import quantize
    s = _settings(config)
    v, d = s["vocab"], s["d_model"]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / embedding_file_name(dtype)
    key = embedding_key(ckpt)
    bits = {"int8": 8, "int4": 4}.get(dtype)
    if dtype in ("fp32", "fp16"):
        size = v * d * (4 if dtype == "fp32" else 2)
    elif bits:
        quantize.check_format(bits, block_size)
        if d % block_size:
            raise UsageError(f"`--block-size` {block_size} must divide the text encoder's d_model {d} for the "
                             "quantized embedding table")
        size = v * d * bits // 8 + v * d // block_size * 2
    else:
        raise ValueError(f"embedding dtype must be fp32, fp16, int8 or int4; got {dtype!r}")
    if size > limit:
        raise UsageError(f"the {dtype} embedding table [{v}, {d}] would be {size} bytes, over the file limit "
                         f"{limit}; store it smaller (fp16, int8 or int4) or raise --max-file-bytes")
    step = max(1, (1 << 24) // d)
    scales = []
    with open(path, "wb") as f:
        for r in range(0, v, step):
            rows = ckpt.get(key, rows=(r, min(v, r + step))).numpy()
            if bits:
                codes, sc = quantize.quantize_rows(rows, bits, block_size)
                f.write(codes)
                scales.append(sc.astype("<f2"))
            else:
                f.write(rows.astype("<f2" if dtype == "fp16" else "<f4").tobytes())
        for sc in scales:
            f.write(sc.tobytes())
    return file_entry(path, out_dir, role="embedding")


def activation_bytes(config: dict, batch: int, length: int) -> int:
    """Peak activation estimate of one encoder graph run, float32 (convert/README.md): the states and their
    norm, q/k/v and the attention output, the gated FFN's three [L, d_ff] tensors, and the position bias,
    scores and softmax per head:
        4 · B · (L · (4·D + 4·inner + 3·d_ff) + 3·H·L²)."""
    s = _settings(config)
    inner = s["heads"] * s["d_kv"]
    per = length * (4 * s["d_model"] + 4 * inner + 3 * s["d_ff"]) + 3 * s["heads"] * length * length
    return 4 * batch * per

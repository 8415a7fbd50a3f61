"""Random weights at the real size, in the layouts the real checkpoints come in, for the full-size proof
(speed and memory do not depend on the weights' values):

    write_random("wan2.1-t2v-1.3b", DIR) -> {"text_encoder", "tokenizer", "transformer", "decoder", "scheduler"}

- text_encoder/: transformers' UMT5EncoderModel folder (the umT5-XXL config Wan2.1 ships), bf16,
  sharded as `model-0000i-of-0000N.safetensors` + `model.safetensors.index.json`;
- transformer/: diffusers' WanTransformer3DModel 1.3B folder, bf16, sharded as
  `diffusion_pytorch_model-0000i-of-0000N.safetensors` + its index;
- taew2_1.safetensors: the TAEHV taew2_1 key layout (11 M parameters; built in memory, it is small);
- tokenizer/: a SYNTHETIC umT5-style tokenizer (testing.write_tokenizer: 63 pieces, ids far below
  256384), not google/umt5-xxl's; the encoder's cost does not depend on which ids it looks up;
- scheduler/scheduler_config.json: the UniPC config diffusers ships with Wan2.1.

Every tensor is generated and written one at a time, in chunks of rows, straight into its shard: the
shard's header is known from the shapes alone, so nothing is held but one chunk (the 256384 x 4096
embedding is written 16 M values at a time). Values are normal with each layer's init scale (the
same rules as umt5.random_checkpoint and wan_transformer.random_checkpoint), so activations stay
finite; tensor i of a component draws from numpy's PCG64 seeded with (seed, component, i), so a
file is the same on every run.
"""
import json
import math
import struct
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from . import taehv, testing, umt5
from . import wan_transformer as wt
from .checkpoints import write_safetensors

PRESETS = ("wan2.1-t2v-1.3b",)
# Shard size: like the 2 GB parts of the published diffusers checkpoints; one tensor larger than this
# (the umT5 embedding, 2.1 GB in bf16) gets a shard of its own.
DEFAULT_SHARD_BYTES = 2_000_000_000
CHUNK_VALUES = 1 << 24  # values generated per step: 64 MB of fp32, 32 MB of bf16

# (name, shape, mean, std): value = mean + std * N(0, 1)
Spec = Tuple[str, Tuple[int, ...], float, float]


def preset_configs(preset: str) -> dict:
    """The real configs of a preset: {"text_encoder": UMT5 config.json, "transformer": diffusers
    config.json, "decoder": TAEHV config}."""
    if preset not in PRESETS:
        raise ValueError(f"`preset` must be one of {', '.join(PRESETS)}; got {preset!r}")
    te = umt5.default_config()
    te["torch_dtype"] = "bfloat16"
    tr = wt.default_config("1.3b")
    tr["torch_dtype"] = "bfloat16"
    return {"text_encoder": te, "transformer": tr, "decoder": taehv.default_config("taew2_1")}


def umt5_specs(config: dict) -> List[Spec]:
    """Every tensor of UMT5EncoderModel with umt5.random_checkpoint's init scales."""
    s = umt5._settings(config)
    d, inner, ff, kv = s["d_model"], s["heads"] * s["d_kv"], s["d_ff"], s["d_kv"]
    out: List[Spec] = [("shared.weight", (s["vocab"], d), 0.0, 1.0)]
    for i in range(s["layers"]):
        p = f"encoder.block.{i}.layer."
        out += [(p + "0.SelfAttention.q.weight", (inner, d), 0.0, (d * kv) ** -0.5),
                (p + "0.SelfAttention.k.weight", (inner, d), 0.0, d ** -0.5),
                (p + "0.SelfAttention.v.weight", (inner, d), 0.0, d ** -0.5),
                (p + "0.SelfAttention.o.weight", (d, inner), 0.0, inner ** -0.5),
                (p + "0.SelfAttention.relative_attention_bias.weight", (s["buckets"], s["heads"]), 0.0, 0.5),
                (p + "0.layer_norm.weight", (d,), 1.0, 0.1)]
        if s["gated"]:
            out += [(p + "1.DenseReluDense.wi_0.weight", (ff, d), 0.0, d ** -0.5),
                    (p + "1.DenseReluDense.wi_1.weight", (ff, d), 0.0, d ** -0.5)]
        else:
            out.append((p + "1.DenseReluDense.wi.weight", (ff, d), 0.0, d ** -0.5))
        out += [(p + "1.DenseReluDense.wo.weight", (d, ff), 0.0, ff ** -0.5),
                (p + "1.layer_norm.weight", (d,), 1.0, 0.1)]
    out.append(("encoder.final_layer_norm.weight", (d,), 1.0, 0.1))
    return out


def transformer_specs(config: dict) -> List[Spec]:
    """Every diffusers-layout tensor (wan_transformer.parameter_shapes) with
    wan_transformer.random_checkpoint's init rules."""
    out: List[Spec] = []
    for key, shape in wt.parameter_shapes(config).items():
        shape = tuple(int(x) for x in shape)
        if key.endswith("scale_shift_table"):
            out.append((key, shape, 0.0, shape[-1] ** -0.5))
        elif ".norm" in key and key.endswith(".weight"):
            out.append((key, shape, 1.0, 0.1))
        elif key.endswith(".bias"):
            out.append((key, shape, 0.0, 0.05))
        else:
            out.append((key, shape, 0.0, math.prod(shape[1:]) ** -0.5))
    return out


def plan_shards(specs: List[Spec], max_bytes: int, itemsize: int = 2) -> List[List[Spec]]:
    """Tensors in order, cut into consecutive shards of at most max_bytes (a larger tensor alone)."""
    shards: List[List[Spec]] = [[]]
    size = 0
    for spec in specs:
        n = math.prod(spec[1]) * itemsize
        if shards[-1] and size + n > max_bytes:
            shards.append([])
            size = 0
        shards[-1].append(spec)
        size += n
    return shards


def _header(shard: List[Spec]) -> bytes:
    header, offset = {}, 0
    for name, shape, _, _ in shard:
        n = math.prod(shape) * 2
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    header["__metadata__"] = {"format": "pt", "kinema": "random weights (random_init.py)"}
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    return raw + b" " * ((8 - len(raw) % 8) % 8)


def _bf16_bits(x: np.ndarray) -> np.ndarray:
    """float32 -> bf16 bits, round to nearest even (finite inputs)."""
    u = x.view(np.uint32)
    return ((u + (np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1)))) >> np.uint32(16)).astype(np.uint16)


def _write_tensor(f, spec: Spec, rng: np.random.Generator) -> None:
    _, shape, mean, std = spec
    total = math.prod(shape)
    done = 0
    while done < total:
        n = min(CHUNK_VALUES, total - done)
        x = rng.standard_normal(n, dtype=np.float32)
        x *= np.float32(std)
        if mean:
            x += np.float32(mean)
        f.write(_bf16_bits(x).astype("<u2", copy=False).tobytes())
        done += n


def write_component(folder, specs: List[Spec], prefix: str, seed: int, stream: int,
                    max_bytes: int = DEFAULT_SHARD_BYTES, dry_run: bool = False, config: Optional[dict] = None) -> dict:
    """config.json (when given), the shards and `<prefix>.safetensors.index.json` in folder. dry_run
    writes the configs and the index only. Returns {"files", "tensors", "parameters", "bytes"}."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if config is not None:
        (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    shards = plan_shards(specs, max_bytes)
    weight_map, files = {}, []
    index = {name: i for i, (name, _, _, _) in enumerate(specs)}
    for k, shard in enumerate(shards):
        fname = f"{prefix}-{k + 1:05d}-of-{len(shards):05d}.safetensors"
        files.append(folder / fname)
        for spec in shard:
            weight_map[spec[0]] = fname
        if dry_run:
            continue
        raw = _header(shard)
        with open(folder / fname, "wb") as f:
            f.write(struct.pack("<Q", len(raw)))
            f.write(raw)
            for spec in shard:
                _write_tensor(f, spec, np.random.default_rng([seed, stream, index[spec[0]]]))
    params = sum(math.prod(s[1]) for s in specs)
    with open(folder / f"{prefix}.safetensors.index.json", "w") as f:
        json.dump({"metadata": {"total_size": params * 2}, "weight_map": weight_map}, f, indent=2)
    return {"files": files, "tensors": len(specs), "parameters": params, "bytes": params * 2}


def write_random(preset: str, out_dir, seed: int = 0, dry_run: bool = False, configs: Optional[dict] = None,
                 max_shard_bytes: int = DEFAULT_SHARD_BYTES) -> Dict[str, Path]:
    """Random-weight checkpoints of `preset` with its real configs (or `configs`, a dict with any of
    text_encoder / transformer / decoder replacing those, for tests) into out_dir. dry_run writes the
    configs, indexes, tokenizer and scheduler but no weights. Returns the paths, plus "stats":
    {component: {"files", "tensors", "parameters", "bytes"}}."""
    cfg = preset_configs(preset)
    cfg.update(configs or {})
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative integer; got {seed!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    te_cfg = dict(cfg["text_encoder"])
    te_cfg["d_model"] = int(cfg["transformer"].get("text_dim", te_cfg["d_model"]))  # the DiT reads umT5's width
    if te_cfg["vocab_size"] < len(testing.tokenizer_vocab()):
        raise ValueError(f"text encoder vocab_size {te_cfg['vocab_size']} is smaller than the synthetic "
                         f"tokenizer's {len(testing.tokenizer_vocab())} pieces")
    stats = {
        "text_encoder": write_component(out / "text_encoder", umt5_specs(te_cfg), "model", seed, 1,
                                        max_shard_bytes, dry_run, te_cfg),
        "transformer": write_component(out / "transformer", transformer_specs(cfg["transformer"]),
                                       "diffusion_pytorch_model", seed, 2, max_shard_bytes, dry_run,
                                       cfg["transformer"]),
    }
    decoder = out / f"{cfg['decoder'].get('name', 'taew2_1')}.safetensors"
    dec = taehv.random_checkpoint(cfg["decoder"], seed + 3)
    if not dry_run:
        write_safetensors(decoder, dec, dtype="bf16")
    stats["decoder"] = {"files": [decoder], "tensors": len(dec),
                        "parameters": sum(int(t.numel()) for t in dec.values()),
                        "bytes": 2 * sum(int(t.numel()) for t in dec.values())}
    testing.write_tokenizer(out / "tokenizer")
    testing.write_scheduler(out / "scheduler")
    return {"text_encoder": out / "text_encoder", "tokenizer": out / "tokenizer", "transformer": out / "transformer",
            "decoder": decoder, "scheduler": out / "scheduler", "stats": stats}


def main(argv=None) -> int:
    import argparse
    p = argparse.ArgumentParser(description="write random-weight checkpoints at a preset's real size")
    p.add_argument("preset", choices=PRESETS)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dry-run", action="store_true", help="configs and indexes only, no weights")
    a = p.parse_args(argv)
    paths = write_random(a.preset, a.out, a.seed, a.dry_run)
    for k, v in paths["stats"].items():
        print(f"{k}: {v['parameters']:,} parameters, {v['tensors']} tensors, {v['bytes']:,} bytes in "
              f"{len(v['files'])} file(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

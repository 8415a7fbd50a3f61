"""Random-weight checkpoints at tiny configs, in the layouts real checkpoints come in, for tests:
diffusers/transformers folders (config.json + safetensors, optionally sharded with an index and
optionally bf16), TAEHV as one .safetensors, and a tiny umT5-style tokenizer (Unigram, `<pad>` 0,
`</s>` 1, `<unk>` 2, Metaspace, `</s>` appended).

    /usr/bin/python3 convert/convert.py make-random --tiny --out DIR
"""
import importlib
import json
from pathlib import Path

from . import umt5
from .checkpoints import write_safetensors, write_sharded
from .manifest import UNIPC_WAN21

# Pieces of the tiny tokenizer, after the three specials: every lowercase letter and digit alone (so
# any ASCII text tokenizes without <unk>), then whole words that the Unigram model prefers.
_WORDS = ["▁a", "▁the", "▁red", "▁blue", "▁cat", "▁dog", "▁on", "▁in", "▁of", "▁and", "▁video", "▁sky",
          "▁running", "▁circle", "▁moving", "▁right", "▁left", "ing", "ed", "er", "s", ",", "."]


def _checkpoint_files(folder: Path, tensors: dict, weights_name: str, shards: int, dtype):
    if shards > 1:
        write_sharded(folder, tensors, shards, dtype=dtype, prefix=weights_name)
    else:
        write_safetensors(folder / f"{weights_name}.safetensors", tensors, dtype=dtype)


def write_umt5(folder, config=None, seed=0, shards=1, dtype=None) -> dict:
    """A transformers UMT5EncoderModel folder: config.json + model.safetensors (or model-0000i-of-N
    shards + model.safetensors.index.json). Returns the tensors written (fp32)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = dict(config or umt5.default_config("tiny"))
    tensors = umt5.random_checkpoint(config, seed)
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    _checkpoint_files(folder, tensors, "model", shards, dtype)
    return tensors


def write_transformer(folder, config=None, seed=0, shards=1, dtype=None) -> dict:
    """A diffusers WanTransformer3DModel folder (config.json + diffusion_pytorch_model*.safetensors)."""
    wt = importlib.import_module(".wan_transformer", __package__)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = dict(config or wt.default_config("tiny"))
    config.setdefault("_class_name", "WanTransformer3DModel")
    tensors = wt.random_checkpoint(config, seed)
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    _checkpoint_files(folder, tensors, "diffusion_pytorch_model", shards, dtype)
    return tensors


def write_taehv(path, config=None, seed=0, dtype=None) -> dict:
    """TAEHV (taew2_1 key layout) as one .safetensors file."""
    tv = importlib.import_module(".taehv", __package__)
    config = dict(config or tv.default_config("tiny"))
    tensors = tv.random_checkpoint(config, seed)
    write_safetensors(path, tensors, dtype=dtype)
    return tensors


def tokenizer_vocab():
    pieces = ["<pad>", "</s>", "<unk>", "▁"] + [chr(c) for c in range(ord("a"), ord("z") + 1)]
    pieces += [str(d) for d in range(10)] + _WORDS
    vocab = []
    for i, p in enumerate(pieces):
        if i < 3:
            vocab.append([p, 0.0])
        elif len(p) == 1 or p == "▁":
            vocab.append([p, -8.0 - i * 0.01])  # single characters: the fallback
        else:
            vocab.append([p, -2.0 - 0.1 * len(p)])
    return vocab


def write_tokenizer(folder, max_length=512) -> Path:
    """tokenizer.json + tokenizer_config.json in the shape of google/umt5-xxl's (a T5 Unigram model);
    its vocabulary has 63 pieces, under the tiny encoder's 64 rows."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    specials = [("<pad>", 0), ("</s>", 1), ("<unk>", 2)]
    metaspace = {"type": "Metaspace", "replacement": "▁", "add_prefix_space": True,
                 "prepend_scheme": "always", "split": True}
    tok = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True} for c, i in specials],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Lowercase"},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]},
        "pre_tokenizer": metaspace,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
            "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
            "special_tokens": {"</s>": {"id": "</s>", "ids": [1], "tokens": ["</s>"]}}},
        "decoder": metaspace,
        "model": {"type": "Unigram", "unk_id": 2, "vocab": tokenizer_vocab(), "byte_fallback": False},
    }
    (folder / "tokenizer.json").write_text(json.dumps(tok, indent=2, ensure_ascii=False) + "\n")
    cfg = {"tokenizer_class": "T5Tokenizer", "model_max_length": max_length, "pad_token": "<pad>",
           "eos_token": "</s>", "unk_token": "<unk>", "extra_ids": 0, "add_prefix_space": True,
           "clean_up_tokenization_spaces": True}
    (folder / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    (folder / "special_tokens_map.json").write_text(json.dumps(
        {"pad_token": "<pad>", "eos_token": "</s>", "unk_token": "<unk>"}, indent=2) + "\n")
    return folder / "tokenizer.json"


def write_scheduler(folder, config=None) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "scheduler_config.json"
    path.write_text(json.dumps(config or UNIPC_WAN21, indent=2) + "\n")
    return path


def make_random(out, seed=0, shards=1, dtype=None) -> dict:
    """The whole tiny set: transformer/, text_encoder/, tokenizer/, taehv.safetensors,
    scheduler/scheduler_config.json. The encoder's width follows the transformer's `text_dim`.
    Returns the paths written."""
    wt = importlib.import_module(".wan_transformer", __package__)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t_cfg = wt.default_config("tiny")
    te_cfg = umt5.default_config("tiny")
    te_cfg["d_model"] = int(t_cfg.get("text_dim", te_cfg["d_model"]))
    te_cfg["vocab_size"] = max(te_cfg["vocab_size"], len(tokenizer_vocab()))
    write_transformer(out / "transformer", t_cfg, seed, shards, dtype)
    write_umt5(out / "text_encoder", te_cfg, seed + 1, shards, dtype)
    write_tokenizer(out / "tokenizer")
    write_taehv(out / "taehv.safetensors", None, seed + 2, dtype)
    write_scheduler(out / "scheduler")
    return {"transformer": out / "transformer", "text_encoder": out / "text_encoder",
            "tokenizer": out / "tokenizer", "decoder": out / "taehv.safetensors", "scheduler": out / "scheduler"}

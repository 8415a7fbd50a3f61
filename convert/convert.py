#!/usr/bin/env python3
"""kinema's model converter.

    npm run convert -- wan --transformer DIR [--text-encoder DIR --tokenizer DIR] [--decoder FILE]
                           [--scheduler DIR] [--sampler unipc|euler|rcm] --out DIR [--weights fp32|fp16|int8|int4]
                           [--preset wan2.1-t2v-1.3b] [--max-file-bytes N]
    npm run convert -- wan --random-init wan2.1-t2v-1.3b --out DIR
    npm run convert -- make-random --tiny --out DIR

Exit status: 0 done, 1 a checkpoint or conversion failed (the message names the file or tensor),
2 a usage error (the message names the flag). See convert/README.md.
"""
import argparse
import gc
import importlib
import json
import os
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kinema_convert import manifest as mf  # noqa: E402
from kinema_convert import umt5  # noqa: E402
from kinema_convert.checkpoints import CheckpointError, open_checkpoint, read_checkpoint, read_config  # noqa: E402
from kinema_convert.manifest import UsageError  # noqa: E402
from kinema_convert.onnx_export import FILE_LIMIT, Quant, rebase  # noqa: E402

_GRAPH_KEYS = ("name", "files", "perPrompt")

PRESETS = {
    "wan2.1-t2v-1.3b": {
        "id": "wan2.1-t2v-1.3b", "name": "Wan2.1 T2V 1.3B", "sampler": "rcm",
        "width": 416, "height": 240, "num_frames": 21, "max_num_frames": 81, "sizes": [(240, 416), (832, 480), (480, 832)],
        "text_encoder_weights": ["int4"], "transformer_weights": ["int8"], "decoder_weights": ["fp16"],
        "embedding_weights": "int4",
        # the int8 form kinema's WebGPU build runs too (it refuses 8-bit MatMulNBits); on wasm the weights stay
        # int8 and a full-size DiT step took 20.9 s against MatMulNBits' 20.7 s (onnxruntime-web in Node)
        "int8_op": "DequantizeLinear",
    },
}


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        raise UsageError(message)


WEIGHTS = ("fp32", "fp16", "int8", "int4")


def _weights(value):
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items or any(v not in WEIGHTS for v in items) or len(set(items)) != len(items):
        raise argparse.ArgumentTypeError(f"must be one or more of fp32, fp16, int8, int4, comma-separated "
                                         f"(e.g. int8 or fp16,int4); got {value!r}")
    return items


def _count(value):
    try:
        n = int(value)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0; got {value!r}")
    return n


def _positive(value):
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {value!r}")
    return n


def _size(value):
    try:
        w, h = (int(x) for x in value.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be WIDTHxHEIGHT, e.g. 832x480; got {value!r}") from None
    return w, h


def parser():
    p = _Parser(prog="convert", allow_abbrev=False, description="Convert checkpoints into a kinema model folder.")
    sub = p.add_subparsers(dest="command", metavar="{wan,make-random}")
    sub.required = True
    w = sub.add_parser("wan", allow_abbrev=False, help="Wan2.1 text-to-video (diffusers layout; rCM/Wan .pt for the transformer)")
    w.error = p.error
    w.add_argument("--transformer", help="diffusers transformer/ folder, or an original Wan/rCM .pt/.safetensors file")
    w.add_argument("--transformer-config", help="config.json for a --transformer file (default: Wan2.1-T2V-1.3B)")
    w.add_argument("--text-encoder", help="transformers UMT5EncoderModel folder (text_encoder/)")
    w.add_argument("--tokenizer", help="tokenizer/ folder with tokenizer.json and tokenizer_config.json")
    w.add_argument("--decoder", help="TAEHV taew2_1 checkpoint (.safetensors or .pth)")
    w.add_argument("--scheduler", help="diffusers scheduler/ folder (scheduler_config.json)")
    w.add_argument("--sampler", choices=["unipc", "euler", "rcm"],
                   help="sampler when no --scheduler is given (default unipc, as Wan2.1 ships); rcm: 4-step, no CFG")
    w.add_argument("--out", required=True, help="output model folder")
    w.add_argument("--weights", type=_weights, default=None,
                   help="weight storage of every component's graphs: fp32, fp16, int8, int4 or a list such as "
                        "fp32,int8 (one variant each; compute stays fp32); default fp32 (the preset: int4 umT5, "
                        "int8 DiT, fp16 decoder). The decoder is convolutions: int8/int4 leave it fp16")
    w.add_argument("--text-encoder-weights", type=_weights, default=None, help="overrides --weights for umT5")
    w.add_argument("--transformer-weights", type=_weights, default=None, help="overrides --weights for the DiT")
    w.add_argument("--decoder-weights", type=_weights, default=None,
                   help="overrides --weights for the decoder: fp32 or fp16 (no int8/int4: it has no MatMuls)")
    w.add_argument("--embedding-weights", choices=list(WEIGHTS), default=None,
                   help="storage of the umT5 token table (default: the smallest integer type among the text "
                        "encoder's variants, else fp32 when an fp32 variant is asked for and the table fits, else fp16)")
    w.add_argument("--block-size", type=_positive, default=None,
                   help="quantization block size along K (a power of two >= 16; default 32 for int4, 128 for int8)")
    w.add_argument("--zero-points", action="store_true",
                   help="asymmetric blocks with uint8 zero points (default: symmetric, no zero points)")
    w.add_argument("--int8-op", choices=["MatMulNBits", "DequantizeLinear"], default="MatMulNBits",
                   help="how int8 weights are written: com.microsoft MatMulNBits (blocks of --block-size; the "
                        "default without a preset), or int8 [K, N] with a scale per column behind DequantizeLinear -> MatMul, which "
                        "onnxruntime-web 1.30's JSEP WebGPU build runs where it refuses 8-bit MatMulNBits "
                        "(quantize.py; the preset's default); int4 is always MatMulNBits")
    w.add_argument("--quant-min-elements", type=_count, default=None,
                   help="MatMul weights with fewer values stay float (default: quantize.MIN_ELEMENTS, 4096)")
    w.add_argument("--max-file-bytes", type=_positive, default=1_900_000_000,
                   help="largest graph or external-data file; the shard counts are chosen so every file fits "
                        "(default 1900000000, at most 2147483647)")
    w.add_argument("--max-export-bytes", type=_positive, default=1_000_000_000,
                   help="float32 weight bytes one export builds at once (at least one layer): graphs are "
                        "exported in pieces of this size and chained, so RAM stays bounded (default 1000000000)")
    w.add_argument("--preset", choices=list(PRESETS), default=None,
                   help="wan2.1-t2v-1.3b: id, rCM 4 steps without CFG (--sampler unipc: 50 steps, CFG 5), "
                        "416x240 and 21 frames, int4 umT5 + int4 table, int8 DiT, fp16 decoder; flags override")
    w.add_argument("--random-init", choices=list(PRESETS), default=None, metavar="PRESET",
                   help="write random weights of PRESET's real size and tensor names into OUT/.random-checkpoints "
                        "and convert them with the preset (no checkpoint flags)")
    w.add_argument("--seed", type=int, default=0, help="seed of --random-init")
    w.add_argument("--text-encoder-shards", type=_positive, default=None,
                   help="split the encoder layers over N graphs (default: the fewest that keep every file under "
                        "--max-file-bytes)")
    w.add_argument("--transformer-shards", type=_positive, default=None,
                   help="split the transformer blocks over N graphs (default: the fewest that keep every file under "
                        "--max-file-bytes)")
    w.add_argument("--trust-pickle", action="store_true",
                   help="let torch.load unpickle arbitrary objects in a .pt/.pth you trust")
    w.add_argument("--id", default="wan2.1-t2v", help="manifest id")
    w.add_argument("--name", default="Wan2.1 T2V", help="manifest name")
    w.add_argument("--model-version", default="1.0.0", help="manifest version")
    w.add_argument("--width", type=_positive, default=None, help="default width (832; tiny models: 64)")
    w.add_argument("--height", type=_positive, default=None, help="default height (480; tiny models: 64)")
    w.add_argument("--num-frames", type=_positive, default=None, help="default frame count, 4k+1 (81; the preset 21), also the largest "
                        "unless --max-num-frames")
    w.add_argument("--max-num-frames", type=_positive, default=None,
                   help="largest frame count, 4k+1 (default: --num-frames; the preset: 81)")
    w.add_argument("--sizes", type=_size, nargs="*", default=None, help="further allowed sizes, WIDTHxHEIGHT")
    w.add_argument("--steps", type=_positive, default=None, help="default steps (unipc/euler 50, rcm 4)")
    w.add_argument("--guidance-scale", type=float, default=None, help="default CFG scale (5.0; rcm: off)")
    w.add_argument("--max-length", type=_positive, default=512, help="prompt tokens (512, as diffusers' Wan)")
    r = sub.add_parser("make-random", allow_abbrev=False, help="random-weight tiny checkpoints for tests")
    r.error = p.error
    r.add_argument("--tiny", action="store_true", help="the tiny test configs (required; the only size offered)")
    r.add_argument("--out", required=True)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--shards", type=_positive, default=1, help="safetensors files per folder (index when > 1)")
    r.add_argument("--dtype", choices=["fp32", "fp16", "bf16"], default=None, help="stored dtype (default fp32)")
    return p


def _log(msg):
    print(f"convert: {msg}", file=sys.stderr, flush=True)


def _component_module(name):
    try:
        return importlib.import_module(f"kinema_convert.{name}")
    except ImportError as e:
        raise CheckpointError(f"kinema_convert.{name} cannot be imported ({e})") from None


def _lift(graphs, w):
    """Lift non-graph keys of the entries (e.g. `streaming`, `config`) off the graphs. Returns (graphs, extras)."""
    out, extras = [], {}
    for g in graphs:
        for k in list(g):
            if k not in _GRAPH_KEYS:
                value = g.pop(k)
                if k in extras and extras[k] != value:
                    raise AssertionError(f"graph {g['name']} ({w}) gives `{k}` different from another graph")
                extras[k] = value
        out.append(g)
    return out, extras


def _variant(w, graphs, folder, data=None):
    v = {"dtype": w, "compute": "fp32", "graphs": rebase(graphs, folder)}
    if data:
        v["data"] = data
    return v


def _variants(export_fn, out_dir: Path, folder: str, weights, data=None):
    """Export each weight variant; lift non-graph keys of the entries to the component. Returns (variants, extras)."""
    variants, extras = [], {}
    for w in weights:
        graphs, ex = _lift(export_fn(w), w)
        for k, value in ex.items():
            if k in extras and extras[k] != value:
                raise AssertionError(f"variant {w} gives `{k}` different from another variant")
            extras[k] = value
        variants.append(_variant(w, graphs, folder, data))
    return variants, extras


def _layer(name):
    """The layer name quantize.default_keep expects: the export wrappers' scope removed ('module.blocks.0.attn1.to_q'
    -> 'blocks.0.attn1.to_q'); the DiT's top-level patch-embedding MatMul ('/module/MatMul' -> 'module') is 'MatMul'."""
    return re.sub(r"^module(\.|$)", "", name) or "MatMul"


def _quant(args, component):
    from kinema_convert import quantize
    return Quant(block_size=args.block_size, zero_points=args.zero_points,
                 keep=lambda name: quantize.default_keep(component, _layer(name)), min_elements=args.quant_min_elements,
                 int8_op=args.int8_op)


def _embedding_dtype(args, config):
    if args.embedding_weights:
        return args.embedding_weights
    ints = [w for w in ("int4", "int8") if w in args.text_encoder_weights]
    if ints:
        return ints[0]
    if "fp32" in args.text_encoder_weights and umt5.embedding_dtype_for(config, "fp32") == "fp32":
        return "fp32"
    return "fp16"


def convert_text_encoder(args, out: Path) -> dict:
    src = Path(args.text_encoder)
    if not src.is_dir():
        raise UsageError(f"`--text-encoder`: {src} is not a folder (pass the checkpoint's text_encoder/ folder)")
    config = read_config(src)
    s = umt5._settings(config)
    quant = _quant(args, "textEncoder")
    plan = {}
    for w in args.text_encoder_weights:
        try:
            shards = args.text_encoder_shards or umt5.plan_shards(config, w, args.max_file_bytes, quant)
            umt5.shard_ranges(s["layers"], shards)  # fails before the weights are read, naming the flag
        except ValueError as e:
            raise UsageError(str(e)) from None
        plan[w] = shards
    ckpt = open_checkpoint(src, args.trust_pickle)
    umt5.check_checkpoint(config, ckpt)
    dest = out / "text_encoder"
    emb_dtype = _embedding_dtype(args, config)
    emb_bits = {"int8": 8, "int4": 4}.get(emb_dtype)
    emb_block = None
    if emb_bits:
        from kinema_convert import quantize
        emb_block = args.block_size
        if emb_block is None:  # the default, or the largest power of two >= 16 dividing d_model below it
            emb_block = quantize.DEFAULT_BLOCK_SIZE[emb_bits]
            while emb_block > 16 and s["d_model"] % emb_block:
                emb_block //= 2
    emb = rebase([umt5.export_embedding_streaming(ckpt, config, dest, emb_dtype, emb_block, args.max_file_bytes)],
                 "text_encoder")
    _log(f"text encoder: embedding table {emb_dtype} written ({emb[0]['bytes']} bytes)")
    variants = []
    for w in args.text_encoder_weights:
        _log(f"text encoder: {s['layers']} layers in {plan[w]} graph(s), {w} weights")
        graphs = umt5.export_streaming(ckpt, config, dest, w, plan[w], quant=quant, limit=args.max_file_bytes,
                                       piece_bytes=args.max_export_bytes, log=_log)
        variants.append(_variant(w, graphs, "text_encoder", emb))
        gc.collect()
    embedding = {"vocabSize": s["vocab"], "dim": s["d_model"], "dtype": emb_dtype}
    if emb_block:
        embedding["blockSize"] = emb_block
    return {"hiddenSize": s["d_model"], "embedding": embedding, "variants": variants}


def _transformer_config(args, wt, src):
    if src.is_dir():
        if args.transformer_config:
            raise UsageError("`--transformer-config` is for a --transformer file; a folder has its own config.json")
        return read_config(src)
    if src.is_file():
        if args.transformer_config:
            try:
                return json.loads(Path(args.transformer_config).read_text())
            except (OSError, json.JSONDecodeError) as e:
                raise UsageError(f"`--transformer-config`: cannot read {args.transformer_config}: {e}") from None
        return wt.default_config(None)
    raise UsageError(f"`--transformer`: {src} does not exist")


def convert_transformer(args, out: Path) -> dict:
    wt = _component_module("wan_transformer")
    src = Path(args.transformer)
    config = _transformer_config(args, wt, src)
    wt.check_config(config)
    quant = _quant(args, "denoiser")
    plan = {}
    for w in args.transformer_weights:
        try:
            shards = args.transformer_shards or wt.plan_shards(config, w, args.max_file_bytes, quant)
            wt.shard_ranges(wt.check_config(config)["num_layers"], shards)
        except ValueError as e:
            raise UsageError(str(e).replace("`shards`", "`--transformer-shards`")) from None
        plan[w] = shards
    view = wt.CheckpointView(open_checkpoint(src, args.trust_pickle), config)
    variants = []
    for w in args.transformer_weights:
        _log(f"transformer: {wt.check_config(config)['num_layers']} blocks in {plan[w]} graph(s), {w} weights")
        graphs = wt.export_streaming(view, config, out / "denoiser", w, plan[w], quant=quant,
                                     limit=args.max_file_bytes, piece_bytes=args.max_export_bytes, log=_log)
        variants.append(_variant(w, graphs, "denoiser"))
        gc.collect()
    return {"config": wt.manifest_config(config), "variants": variants}


def convert_decoder(args, out: Path) -> dict:
    tv = _component_module("taehv")
    src = Path(args.decoder)
    if not src.is_file():
        raise UsageError(f"`--decoder`: {src} is not a file (pass TAEHV's taew2_1 .safetensors or .pth)")
    tensors = read_checkpoint(src, args.trust_pickle)
    # the channel widths follow the checkpoint (taew2_1, or a tiny test one); the layout is fixed
    config = tv.config_from_tensors(tensors) if hasattr(tv, "config_from_tensors") else tv.default_config(None)
    module = tv.build(config)
    tv.load_weights(module, tensors)
    del tensors
    variants, extras = _variants(lambda w: tv.export(module, config, out / "vae_decoder", w), out, "vae_decoder",
                                 args.decoder_weights)
    comp = dict(extras)
    comp["variants"] = variants
    comp["_config"] = config
    return comp


def _resolve_weights(args, preset):
    """Per-component weight lists: the component's own flag, else --weights, else the preset, else fp32."""
    for key in ("text_encoder_weights", "transformer_weights", "decoder_weights"):
        if getattr(args, key) is None:
            setattr(args, key, list(args.weights) if args.weights else list(preset.get(key, ["fp32"])))
    bad = [w for w in (args.decoder_weights or []) if w in ("int8", "int4")]
    if bad and "--decoder-weights" in getattr(args, "_given", ()):
        raise UsageError(f"`--decoder-weights {','.join(args.decoder_weights)}`: the TAEHV decoder is convolutions, "
                         "which MatMulNBits does not cover; give fp16 or fp32 (fp16 halves it, 11 M parameters)")
    if bad:
        kept = []
        for w in args.decoder_weights:
            w = "fp16" if w in ("int8", "int4") else w
            if w not in kept:
                kept.append(w)
        if args.decoder:
            _log(f"note: the decoder stays {','.join(kept)} (int8/int4 apply to MatMuls; TAEHV is convolutions)")
        args.decoder_weights = kept


def _apply_preset(args):
    name = args.preset or args.random_init
    if args.preset and args.random_init and args.preset != args.random_init:
        raise UsageError(f"`--random-init {args.random_init}` converts with its own preset; drop `--preset {args.preset}`")
    preset = PRESETS.get(name, {})
    if not preset:
        return preset
    if args.id == "wan2.1-t2v" and "--id" not in args._given:
        args.id = preset["id"]
    if args.name == "Wan2.1 T2V" and "--name" not in args._given:
        args.name = preset["name"]
    if args.sampler is None and args.scheduler is None:
        args.sampler = preset["sampler"]
    for key in ("width", "height", "num_frames", "max_num_frames"):
        if getattr(args, key) is None:
            setattr(args, key, preset[key])
    if args.sizes is None:
        args.sizes = list(preset["sizes"])
    if args.embedding_weights is None and args.text_encoder_weights is None and args.weights is None:
        args.embedding_weights = preset["embedding_weights"]
    if "--int8-op" not in args._given:
        args.int8_op = preset["int8_op"]
    return preset


def _random_init(args, out: Path):
    if any((args.transformer, args.text_encoder, args.tokenizer, args.decoder, args.scheduler)):
        raise UsageError("`--random-init` writes its own checkpoints; drop `--transformer`, `--text-encoder`, "
                         "`--tokenizer`, `--decoder` and `--scheduler`")
    try:
        from kinema_convert import random_init
    except ImportError as e:
        raise CheckpointError(f"kinema_convert.random_init cannot be imported ({e})") from None
    dest = out / ".random-checkpoints"
    marker = dest / "kinema-random-init.json"
    keys = ("text_encoder", "tokenizer", "transformer", "decoder")
    done = None
    if marker.is_file():
        try:
            done = json.loads(marker.read_text())
        except json.JSONDecodeError:
            done = None
    if done and done.get("preset") == args.random_init and done.get("seed") == args.seed \
            and all(Path(done["paths"].get(k, "")).exists() for k in keys):
        _log(f"random init: reusing the {args.random_init} checkpoints (seed {args.seed}) in {dest}, written "
             f"whole by an earlier run (delete {marker.name} to write them again)")
        paths = done["paths"]
    else:
        if marker.exists():
            marker.unlink()
        _log(f"random init: writing {args.random_init} checkpoints (seed {args.seed}) into {dest}")
        paths = random_init.write_random(args.random_init, dest, args.seed)
        paths = {k: str(paths[k]) for k in keys}
        marker.write_text(json.dumps({"preset": args.random_init, "seed": args.seed, "paths": paths}, indent=2) + "\n")
    args.text_encoder = str(paths["text_encoder"])
    args.tokenizer = str(paths["tokenizer"])
    args.transformer = str(paths["transformer"])
    args.decoder = str(paths["decoder"])


def _memory(manifest, components):
    """components.<c>.variants[i].memory: weightsBytes (the graph and external-data files the variant's sessions
    hold; its data files, the token table, live in JS memory and are not counted) and
    activationBytes (the estimate at the manifest's default size and frames; convert/README.md)."""
    d = manifest["defaults"]
    cfg = manifest["guidance"]["cfg"]
    batch = 2 if cfg else 1
    length = manifest.get("tokenizer", {}).get("maxLength", 512)
    act = {}
    if "textEncoder" in components:
        act["textEncoder"] = umt5.activation_bytes(components["textEncoder"].pop("_config"), batch, length)
    if "denoiser" in components:
        wt = _component_module("wan_transformer")
        act["denoiser"] = wt.activation_bytes(components["denoiser"].pop("_config"), batch, d["numFrames"],
                                              d["height"], d["width"], length)
    if "vaeDecoder" in components:
        tv = _component_module("taehv")
        act["vaeDecoder"] = tv.activation_bytes(components["vaeDecoder"].pop("_config"), d["height"] // 8,
                                                d["width"] // 8)
    for name, comp in components.items():
        for v in comp["variants"]:
            files = [f for g in v["graphs"] for f in g["files"]]
            v["memory"] = {"weightsBytes": sum(f["bytes"] for f in files), "activationBytes": int(act[name])}


def run_wan(args):
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"`--out`: {out} exists and is not a folder")
    if args.max_file_bytes > FILE_LIMIT:
        raise UsageError(f"`--max-file-bytes` must be at most {FILE_LIMIT} (protobuf's and 32-bit offsets' limit); "
                         f"got {args.max_file_bytes}")
    if args.block_size is not None:
        from kinema_convert import quantize
        try:
            quantize.check_format(4, args.block_size)
        except ValueError:
            raise UsageError(f"`--block-size` must be a power of two >= 16 (e.g. 32, 64, 128); got {args.block_size}") \
                from None
    preset = _apply_preset(args)
    if args.random_init:
        out.mkdir(parents=True, exist_ok=True)
        _random_init(args, out)
    if not (args.transformer or args.text_encoder or args.decoder):
        raise UsageError("give at least one of `--transformer`, `--text-encoder`, `--decoder` (or `--random-init PRESET`)")
    if bool(args.text_encoder) != bool(args.tokenizer):
        raise UsageError("`--text-encoder` and `--tokenizer` go together (the family tokenizes prompts for the "
                         "encoder); give both or neither")
    _resolve_weights(args, preset)
    if args.embedding_weights and not args.text_encoder and "--embedding-weights" in args._given:
        raise UsageError("`--embedding-weights` is for the text encoder's table; give `--text-encoder` too")
    scheduler = mf.scheduler_block(args.scheduler, args.sampler)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    components, tokenizer_files, text_dim = {}, None, None
    if args.text_encoder:
        components["textEncoder"] = convert_text_encoder(args, out)
        components["textEncoder"]["_config"] = read_config(Path(args.text_encoder))
        tokenizer_files = mf.copy_tokenizer(args.tokenizer, out)
    if args.transformer:
        components["denoiser"] = convert_transformer(args, out)
        components["denoiser"]["_config"] = _transformer_config(args, _component_module("wan_transformer"),
                                                                Path(args.transformer))
        text_dim = components["denoiser"]["config"]["textDim"]
    if text_dim is not None and "textEncoder" in components and components["textEncoder"]["hiddenSize"] != text_dim:
        raise UsageError(f"the text encoder's d_model ({components['textEncoder']['hiddenSize']}) differs from the "
                         f"transformer's text_dim ({text_dim}): these checkpoints do not belong together")
    if args.decoder:
        components["vaeDecoder"] = convert_decoder(args, out)
    tiny = "denoiser" in components and components["denoiser"]["config"]["numHeads"] * \
        components["denoiser"]["config"]["headDim"] < 512
    width = args.width or (64 if tiny else 832)
    height = args.height or (64 if tiny else 480)
    frames = args.num_frames or (9 if tiny else 81)
    sizes = args.sizes if args.sizes is not None else (() if tiny else ((480, 832), (416, 240), (240, 416)))
    configs = {k: c.pop("_config") for k, c in components.items()}
    manifest = mf.build_manifest(components=components, scheduler=scheduler, tokenizer_files=tokenizer_files,
                                 model_id=args.id, name=args.name, version=args.model_version,
                                 max_length=args.max_length, width=width, height=height, num_frames=frames,
                                 sizes=sizes, steps=args.steps, guidance_scale=args.guidance_scale,
                                 max_frames=args.max_num_frames)
    for k, c in components.items():
        c["_config"] = configs[k]
    _memory(manifest, components)
    path = mf.write_manifest(out, manifest)
    mf.check_files(out, manifest)
    total = sum(f["bytes"] for c in components.values() for v in c["variants"]
                for f in [f for g in v["graphs"] for f in g["files"]] + list(v.get("data", [])))
    _log(f"wrote {path} ({', '.join(components)}; {total} bytes over all variants) in {time.time() - started:.0f} s")


def run_make_random(args):
    if not args.tiny:
        raise UsageError("`make-random` needs `--tiny` (random weights are for tests; only the tiny configs exist)")
    from kinema_convert import testing
    paths = testing.make_random(args.out, seed=args.seed, shards=args.shards, dtype=args.dtype)
    _log("wrote " + ", ".join(str(p) for p in paths.values()))


def main(argv=None):
    try:
        argv = list(sys.argv[1:] if argv is None else argv)
        args = parser().parse_args(argv)
        args._given = {str(a).split("=")[0] for a in argv if str(a).startswith("--")}
        (run_wan if args.command == "wan" else run_make_random)(args)
    except UsageError as e:
        print(f"convert: error: {e}", file=sys.stderr)
        return 2
    except (CheckpointError, ValueError, AssertionError, OSError) as e:
        print(f"convert: failed: {e}", file=sys.stderr)
        if os.environ.get("KINEMA_CONVERT_TRACE"):
            raise
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

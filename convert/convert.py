#!/usr/bin/env python3
"""kinema's model converter.

    npm run convert -- wan --transformer DIR [--text-encoder DIR --tokenizer DIR] [--decoder FILE]
                           [--scheduler DIR] [--sampler unipc|euler|rcm] --out DIR [--weights fp32|fp16]
    npm run convert -- make-random --tiny --out DIR

Exit status: 0 done, 1 a checkpoint or conversion failed (the message names the file or tensor),
2 a usage error (the message names the flag). See convert/README.md.
"""
import argparse
import gc
import importlib
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kinema_convert import manifest as mf  # noqa: E402
from kinema_convert import umt5  # noqa: E402
from kinema_convert.checkpoints import CheckpointError, read_checkpoint, read_config  # noqa: E402
from kinema_convert.manifest import UsageError  # noqa: E402
from kinema_convert.onnx_export import rebase  # noqa: E402

_GRAPH_KEYS = ("name", "files", "perPrompt")


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        raise UsageError(message)


def _weights(value):
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items or any(v not in ("fp32", "fp16") for v in items) or len(set(items)) != len(items):
        raise argparse.ArgumentTypeError(f"must be fp32, fp16 or fp32,fp16; got {value!r}")
    return items


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
    p = _Parser(prog="convert", description="Convert checkpoints into a kinema model folder.")
    sub = p.add_subparsers(dest="command", metavar="{wan,make-random}")
    sub.required = True
    w = sub.add_parser("wan", help="Wan2.1 text-to-video (diffusers layout; rCM/Wan .pt for the transformer)")
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
    w.add_argument("--weights", type=_weights, default=["fp32"],
                   help="weight storage of the graphs: fp32, fp16 or fp32,fp16 (compute stays fp32); default fp32")
    w.add_argument("--text-encoder-shards", type=_positive, default=None,
                   help="split the encoder layers over N graphs (default: 1, or the fewest that keep every "
                        "file under 2 GiB)")
    w.add_argument("--transformer-shards", type=_positive, default=None,
                   help="split the transformer blocks over N graphs (default: the fewest that keep files under 2 GB)")
    w.add_argument("--trust-pickle", action="store_true",
                   help="let torch.load unpickle arbitrary objects in a .pt/.pth you trust")
    w.add_argument("--id", default="wan2.1-t2v", help="manifest id")
    w.add_argument("--name", default="Wan2.1 T2V", help="manifest name")
    w.add_argument("--model-version", default="1.0.0", help="manifest version")
    w.add_argument("--width", type=_positive, default=None, help="default width (832; tiny models: 64)")
    w.add_argument("--height", type=_positive, default=None, help="default height (480; tiny models: 64)")
    w.add_argument("--num-frames", type=_positive, default=None, help="default and largest frame count, 4k+1 (81)")
    w.add_argument("--sizes", type=_size, nargs="*", default=None, help="further allowed sizes, WIDTHxHEIGHT")
    w.add_argument("--steps", type=_positive, default=None, help="default steps (unipc/euler 50, rcm 4)")
    w.add_argument("--guidance-scale", type=float, default=None, help="default CFG scale (5.0; rcm: off)")
    w.add_argument("--max-length", type=_positive, default=512, help="prompt tokens (512, as diffusers' Wan)")
    r = sub.add_parser("make-random", help="random-weight tiny checkpoints for tests")
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


def _variants(export_fn, out_dir: Path, folder: str, weights, data=None):
    """Export each weight variant; lift non-graph keys of the entries (e.g. `streaming`, `config`) to
    the component. Returns (variants, extras)."""
    variants, extras = [], {}
    for w in weights:
        graphs = []
        for g in export_fn(w):
            for k in list(g):
                if k not in _GRAPH_KEYS:
                    value = g.pop(k)
                    if k in extras and extras[k] != value:
                        raise AssertionError(f"graph {g['name']} ({w}) gives `{k}` different from another graph")
                    extras[k] = value
            graphs.append(g)
        v = {"dtype": w, "compute": "fp32", "graphs": rebase(graphs, folder)}
        if data:
            v["data"] = data
        variants.append(v)
    return variants, extras


def convert_text_encoder(args, out: Path) -> dict:
    src = Path(args.text_encoder)
    if not src.is_dir():
        raise UsageError(f"`--text-encoder`: {src} is not a folder (pass the checkpoint's text_encoder/ folder)")
    config = read_config(src)
    module = umt5.build(config)
    s = module.settings
    shards = args.text_encoder_shards or max(umt5.shards_needed(config, w) for w in args.weights)
    try:
        umt5.shard_ranges(s["layers"], shards)  # fails before the weights are read, naming the flag
    except ValueError as e:
        raise UsageError(str(e)) from None
    umt5.load_weights(module, read_checkpoint(src, args.trust_pickle))
    gc.collect()
    # one table for all variants: fp32 whenever an fp32 variant is asked for and the table fits a file
    emb_dtype = "fp32" if "fp32" in args.weights and umt5.embedding_dtype_for(config, "fp32") == "fp32" else "fp16"
    dest = out / "text_encoder"
    emb = rebase([umt5.export_embedding(module, dest, emb_dtype)], "text_encoder")
    _log(f"text encoder: {s['layers']} layers in {shards} graph(s), embedding {emb_dtype}")
    variants, extras = _variants(lambda w: umt5.export(module, config, dest, w, shards), out, "text_encoder",
                                 args.weights, data=emb)
    comp = {"hiddenSize": s["d_model"], "embedding": {"vocabSize": s["vocab"], "dim": s["d_model"], "dtype": emb_dtype}}
    comp.update(extras)
    comp["variants"] = variants
    return comp


def convert_transformer(args, out: Path) -> dict:
    wt = _component_module("wan_transformer")
    src = Path(args.transformer)
    if src.is_dir():
        if args.transformer_config:
            raise UsageError("`--transformer-config` is for a --transformer file; a folder has its own config.json")
        config = read_config(src)
    elif src.is_file():
        if args.transformer_config:
            try:
                config = json.loads(Path(args.transformer_config).read_text())
            except (OSError, json.JSONDecodeError) as e:
                raise UsageError(f"`--transformer-config`: cannot read {args.transformer_config}: {e}") from None
        else:
            config = wt.default_config(None)
    else:
        raise UsageError(f"`--transformer`: {src} does not exist")
    module = wt.build(config)
    wt.load_weights(module, read_checkpoint(src, args.trust_pickle))
    gc.collect()
    shards = args.transformer_shards
    if shards is None and hasattr(wt, "shards_for"):
        shards = max(wt.shards_for(config, w) for w in args.weights)
    shards = shards or 1
    if shards > 1:
        _log(f"transformer: blocks in {shards} graphs")
    variants, extras = _variants(lambda w: wt.export(module, config, out / "denoiser", w, shards=shards), out,
                                 "denoiser", args.weights)
    comp = {"config": wt.manifest_config(config) if hasattr(wt, "manifest_config") else mf.denoiser_config(config)}
    comp.update(extras)
    comp["variants"] = variants
    return comp


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
                                 args.weights)
    comp = dict(extras)
    comp["variants"] = variants
    return comp


def run_wan(args):
    if not (args.transformer or args.text_encoder or args.decoder):
        raise UsageError("give at least one of `--transformer`, `--text-encoder`, `--decoder`")
    if bool(args.text_encoder) != bool(args.tokenizer):
        raise UsageError("`--text-encoder` and `--tokenizer` go together (the family tokenizes prompts for the "
                         "encoder); give both or neither")
    scheduler = mf.scheduler_block(args.scheduler, args.sampler)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"`--out`: {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    components, tokenizer_files, text_dim = {}, None, None
    if args.text_encoder:
        components["textEncoder"] = convert_text_encoder(args, out)
        tokenizer_files = mf.copy_tokenizer(args.tokenizer, out)
    if args.transformer:
        components["denoiser"] = convert_transformer(args, out)
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
    manifest = mf.build_manifest(components=components, scheduler=scheduler, tokenizer_files=tokenizer_files,
                                 model_id=args.id, name=args.name, version=args.model_version,
                                 max_length=args.max_length, width=width, height=height, num_frames=frames,
                                 sizes=args.sizes or (() if tiny else ((480, 832), (416, 240), (240, 416))),
                                 steps=args.steps, guidance_scale=args.guidance_scale)
    path = mf.write_manifest(out, manifest)
    mf.check_files(out, manifest)
    _log(f"wrote {path} ({', '.join(components)}) in {time.time() - started:.0f} s")


def run_make_random(args):
    if not args.tiny:
        raise UsageError("`make-random` needs `--tiny` (random weights are for tests; only the tiny configs exist)")
    from kinema_convert import testing
    paths = testing.make_random(args.out, seed=args.seed, shards=args.shards, dtype=args.dtype)
    _log("wrote " + ", ".join(str(p) for p in paths.values()))


def main(argv=None):
    try:
        args = parser().parse_args(argv)
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

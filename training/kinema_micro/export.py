"""Export a trained kinema-micro to ONNX (fp32, fp16, int8 variants), write the tokenizer, the
parity reference vectors, the tokenizer golden file, the eval set and the manifest, then verify
every ONNX file against PyTorch with onnxruntime from Node.

    /usr/bin/python3 -m kinema_micro.export --run training/runs/main --dest public/models/kinema-micro
"""
import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import time

import numpy as np
import onnx
import torch

from . import world
from .model import DiT, Decoder, Encoder, TextEncoder, VAEDecoder5D, count, encode_clips
from .onnx_tools import fix_conv_attributes, op_types, to_fp16_weights, to_int8_weights
from .sampling import flow_sigmas, sample, to_uint8_frames
from .tokenizer import Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
TRAINING = os.path.dirname(HERE)
REPO = os.path.dirname(TRAINING)
OPSET = 17


def load(run, ckpt="model.pt"):
    st = torch.load(os.path.join(run, ckpt))
    a = st["args"]
    tok = Tokenizer()
    te = TextEncoder(len(tok.vocab), d=a["text_dim"], layers=a["text_layers"], heads=4, max_len=tok.max_length)
    pt, ph, pw = a.get("patch", [2, 2, 2])
    dit = DiT(c=a["latent_channels"], d=a["dit_dim"], dt=a["text_dim"], layers=a["dit_layers"], heads=a["dit_heads"],
              pt=pt, ph=ph, pw=pw)
    enc, dec = Encoder(a["latent_channels"]), Decoder(a["latent_channels"])
    te.load_state_dict(st["te"])
    dit.load_state_dict(st["dit"])
    enc.load_state_dict(st["enc"])
    dec.load_state_dict(st["dec"])
    for m in (te, dit, enc, dec):
        m.eval()
    return st, tok, te, dit, enc, dec


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


def file_entry(dest, name):
    p = os.path.join(dest, name)
    return {"path": name, "bytes": os.path.getsize(p), "sha256": sha256(p)}


def export_onnx(dest, tok, te, dit, dec5d, C, L, D):
    B = 2
    ids = torch.zeros(B, L, dtype=torch.int64)
    ids[0, :5] = torch.tensor([4, 35, 12, 31, 36])
    mask = (ids != 0).to(torch.int64)
    kw = dict(opset_version=OPSET, do_constant_folding=True)
    torch.onnx.export(te, (ids, mask), os.path.join(dest, "text_encoder.onnx"),
                      input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"],
                      dynamic_axes={"input_ids": {0: "batch"}, "attention_mask": {0: "batch"},
                                    "last_hidden_state": {0: "batch"}}, **kw)
    x = torch.randn(B, C, 8, 8, 8)
    t = torch.tensor([500.0, 500.0])
    ctx = te(ids, mask)
    torch.onnx.export(dit, (x, t, ctx, mask), os.path.join(dest, "denoiser.onnx"),
                      input_names=["hidden_states", "timestep", "encoder_hidden_states", "encoder_attention_mask"],
                      output_names=["sample"],
                      dynamic_axes={"hidden_states": {0: "batch"}, "timestep": {0: "batch"},
                                    "encoder_hidden_states": {0: "batch"}, "encoder_attention_mask": {0: "batch"},
                                    "sample": {0: "batch"}}, **kw)
    torch.onnx.export(dec5d, (torch.randn(1, C, 8, 8, 8),), os.path.join(dest, "vae_decoder.onnx"),
                      input_names=["latent_sample"], output_names=["sample"],
                      dynamic_axes={"latent_sample": {0: "batch", 2: "frames"}, "sample": {0: "batch", 2: "frames"}},
                      **kw)
    names = {}
    for comp, fname in (("textEncoder", "text_encoder"), ("denoiser", "denoiser"), ("vaeDecoder", "vae_decoder")):
        path = os.path.join(dest, fname + ".onnx")
        m = fix_conv_attributes(onnx.load(path))
        onnx.checker.check_model(m)
        onnx.save(m, path)
        variants = [("fp32", fname + ".onnx")]
        m16 = to_fp16_weights(m)
        onnx.checker.check_model(m16)
        onnx.save(m16, os.path.join(dest, fname + ".fp16.onnx"))
        variants.append(("fp16", fname + ".fp16.onnx"))
        if comp == "denoiser":
            m8 = to_int8_weights(m)
            onnx.checker.check_model(m8)
            onnx.save(m8, os.path.join(dest, fname + ".int8.onnx"))
            variants.append(("int8", fname + ".int8.onnx"))
        names[comp] = variants
        print(f"{fname}: ops {op_types(m)}")
    return names


def write_bin(folder, name, tensor, dtype):
    arr = tensor.detach().cpu().numpy() if isinstance(tensor, torch.Tensor) else np.asarray(tensor)
    arr = arr.astype({"float32": "<f4", "int64": "<i8", "uint8": "u1"}[dtype])
    arr.tofile(os.path.join(folder, name))
    return {"file": name, "dtype": dtype, "shape": list(arr.shape)}


REF_CASES = [
    ("en", "a red circle moving right on a black background", 1),
    ("zh", "黑色背景上一个红色的圆向右移动", 1),
    ("en", "a cyan triangle shrinking on a white background", 7),
    ("zh", "灰色背景上一个橙色的正方形向上移动", 42),
]


def reference_vectors(dest, tok, te, dit, dec5d, mean, std, C, steps, guidance, shift):
    folder = os.path.join(dest, "reference")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    sig = flow_sigmas(steps, shift)
    cases = []
    for k, (lang, prompt, seed) in enumerate(REF_CASES):
        p = f"c{k}-"
        ic, mc = tok.encode(prompt)
        iu, mu = tok.encode("")
        ids = torch.tensor([ic, iu], dtype=torch.int64)
        masks = torch.tensor([mc, mu], dtype=torch.int64)
        g = torch.Generator().manual_seed(seed)
        noise = torch.randn(1, C, 8, 8, 8, generator=g)
        tr = {}
        x, video = sample(te, dit, dec5d, mean, std, ids, masks, noise, steps, guidance, shift, trace=tr)
        case = {"name": f"c{k}", "language": lang, "prompt": prompt, "negativePrompt": "", "seed": seed,
                "tensors": {
                    "input_ids": write_bin(folder, p + "input_ids.bin", ids, "int64"),
                    "attention_mask": write_bin(folder, p + "attention_mask.bin", masks, "int64"),
                    "last_hidden_state": write_bin(folder, p + "last_hidden_state.bin", tr["text_hidden"], "float32"),
                    "noise": write_bin(folder, p + "noise.bin", noise, "float32"),
                    "final_latents": write_bin(folder, p + "final_latents.bin", x, "float32"),
                    "latent_sample": write_bin(folder, p + "latent_sample.bin", tr["latent_denormalized"], "float32"),
                    "decoded": write_bin(folder, p + "decoded.bin", video, "float32"),
                    "frames": write_bin(folder, p + "frames.bin", to_uint8_frames(video)[0], "uint8"),
                },
                "steps": []}
        # Every step for the first two cases (one per language); the first step only for the rest,
        # to keep the folder small. latent_out of step i is latent_in of step i + 1.
        recorded = tr["steps"] if k < 2 else tr["steps"][:1]
        case["recordedSteps"] = "all" if k < 2 else "first"
        for i, s in enumerate(recorded):
            e = {"index": i, "sigma": float(sig[i]), "sigmaNext": float(sig[i + 1]),
                 "timestep": float(s["timestep"][0]),
                 "latent_in": write_bin(folder, f"{p}step{i}-latent_in.bin", s["latent_in"], "float32"),
                 "sample": write_bin(folder, f"{p}step{i}-sample.bin", s["sample"], "float32")}
            if i == len(recorded) - 1 and len(recorded) < len(tr["steps"]):
                e["latent_out"] = write_bin(folder, f"{p}step{i}-latent_out.bin", s["latent_out"], "float32")
            case["steps"].append(e)
        cases.append(case)
    index = {
        "format": "kinema-reference/1",
        "model": "kinema-micro",
        "description": "PyTorch reference for parity tests. Little-endian raw arrays, row-major. CFG batches are "
                       "[conditional, unconditional] (row 0 = prompt, row 1 = empty string). Denoiser inputs per "
                       "step: hidden_states = concat(latent_in, latent_in), timestep = [t, t], "
                       "encoder_hidden_states = last_hidden_state, encoder_attention_mask = attention_mask. "
                       "v = v_uncond + guidanceScale * (v_cond - v_uncond); latent_out = latent_in + "
                       "(sigmaNext - sigma) * v (the next step's latent_in; final_latents after the last step). "
                       "latent_sample = final_latents * std + mean (manifest.latent); "
                       "decoded = vae_decoder(latent_sample); frames = round((decoded + 1) * 127.5) as uint8 "
                       "[T,H,W,3].",
        "noise": "torch.Generator().manual_seed(seed); torch.randn([1,C,T,h,w], generator=g) (float32, CPU); "
                 "the engine should feed noise.bin rather than reproduce torch's RNG",
        "steps": steps, "guidanceScale": guidance,
        "scheduler": {"type": "flow-match-euler", "config": {"num_train_timesteps": 1000, "shift": shift}},
        "sigmas": [float(s) for s in sig],
        "timesteps": [float(s * 1000.0) for s in sig[:-1]],
        "latent": {"mean": [float(v) for v in mean], "std": [float(v) for v in std]},
        "cases": cases,
    }
    with open(os.path.join(folder, "index.json"), "w", encoding="utf-8") as f:
        json.dump(index, f, ensure_ascii=False, indent=1)
        f.write("\n")
    return index


def golden_prompts():
    rng = random.Random(99)
    out = ["", "   ", "a red circle moving right on a black background", "黑色背景上一个红色的圆向右移动",
           "a red 圆moving right", "A RED CIRCLE, moving RIGHT!", "an orange box on a grey background growing.",
           "在灰色背景上，品红色的三角形正在变小。", "a purple dragon flying", "紫色的龙在飞",
           "Café crème", "red\tcircle\nmoving   left", "一个洋红色的方形往下移动，白色背景",
           " ".join(["red circle"] * 20), "黑色背景上" * 10, "a red circle moving right on a black background 🙂",
           "３个ｒｅｄ circles", "a-b c/d (e) [f]"]
    combos = world.all_combos()
    while len(out) < 80:
        lang = "en" if len(out) % 2 else "zh"
        out.append(world.caption(rng, lang, *rng.choice(combos)))
    return out


def write_golden(tok, path):
    rows = []
    for p in golden_prompts():
        ids, mask = tok.encode(p)
        rows.append({"text": p, "tokens": tok.tokens(p)[: tok.max_length], "input_ids": ids, "attention_mask": mask})
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"maxLength": tok.max_length, "cases": rows}, f, ensure_ascii=False, indent=0)
        f.write("\n")


def write_eval_set(path, heldout):
    """64 prompts per language: every held-out combo once per language, plus 16 seen combos."""
    rng = random.Random(2024)
    train, _ = world.split_combos()
    seen = rng.sample(train, 16)
    items = []
    for lang in ("en", "zh"):
        for group, combos in (("heldout", heldout), ("seen", seen)):
            for (c, s, m, b) in combos:
                items.append({"language": lang, "prompt": world.caption(rng, lang, c, s, m, b),
                              "seed": rng.randrange(1, 2 ** 31), "heldOut": group == "heldout",
                              "expected": {"color": c, "shape": s, "motion": m, "background": b}})
    # CI subset: 6 per language, mixing held-out and seen, all motions represented.
    for lang in ("en", "zh"):
        picked = [i for i, it in enumerate(items) if it["language"] == lang]
        by_motion = {}
        for i in picked:
            by_motion.setdefault(items[i]["expected"]["motion"], i)
        for i in by_motion.values():
            items[i]["ci"] = True
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"description": "kinema-micro evaluation set (written by training/kinema_micro/export.py)",
                   "items": items}, f, ensure_ascii=False, indent=1)
        f.write("\n")


@torch.no_grad()
def write_recon(out_dir, enc, dec):
    """Autoencoder reconstructions of fresh ground-truth clips, for the detector's ceiling."""
    os.makedirs(out_dir, exist_ok=True)
    rng = random.Random(555)
    combos = [rng.choice(world.all_combos()) for _ in range(192)]
    clips = world.make_batch(rng, combos)
    dec5d = VAEDecoder5D(dec)
    recon = dec5d(encode_clips(enc, clips))
    to_uint8_frames(clips).numpy().tofile(os.path.join(out_dir, "gt.bin"))
    to_uint8_frames(recon).numpy().tofile(os.path.join(out_dir, "recon.bin"))
    mse = float(((recon - clips) ** 2).mean())
    with open(os.path.join(out_dir, "recon.json"), "w") as f:
        json.dump({"count": len(combos), "frames": 8, "width": 32, "height": 32, "mse": mse,
                   "expected": [{"color": c, "shape": s, "motion": m, "background": b} for (c, s, m, b) in combos]}, f)
    return mse


def vocabulary():
    def forms(table):
        return sorted({f for v in table.values() for f in v}, key=lambda x: (len(x), x))
    en = {"shape": [f for s in world.SHAPES for f in world.EN_SHAPE[s]],
          "color": list(world.COLORS),
          "motion": [f for m in world.MOTIONS for f in world.EN_MOTION[m]],
          "background": [f"{b} background" for b in world.BACKGROUNDS] + ["grey background"]}
    zh = {"shape": [f for s in world.SHAPES for f in world.ZH_SHAPE[s]],
          "color": [f for c in world.COLORS for f in world.ZH_COLOR[c]],
          "motion": [f for m in world.MOTIONS for f in world.ZH_MOTION[m]],
          "background": [f"{world.ZH_BG[b][0]}背景" for b in world.BACKGROUNDS]}
    return {"en": en, "zh": zh}


def write_manifest(dest, names, tok, mean, std, C, D, steps, guidance, shift, params):
    examples = {"en": [], "zh": []}
    for (c, s, m, b) in [("red", "circle", "right", "black"), ("yellow", "square", "down", "gray"),
                         ("cyan", "triangle", "grow", "black"), ("magenta", "circle", "shrink", "white"),
                         ("orange", "triangle", "left", "gray"), ("green", "square", "up", "white")]:
        examples["en"].append(world.canonical("en", c, s, m, b))
        examples["zh"].append(world.canonical("zh", c, s, m, b))

    def variants(comp):
        out = []
        for dtype, fname in names[comp]:
            out.append({"dtype": dtype, "compute": "fp32", "files": [file_entry(dest, fname)]})
        return out

    manifest = {
        "format": "kinema-model/1",
        "id": "kinema-micro",
        "version": "1.1.0",
        "name": "kinema-micro",
        "description": "A micro bilingual (English/Chinese) text-to-video model trained from scratch on procedural "
                       "clips: one coloured shape (circle, square, triangle) moving left/right/up/down, growing or "
                       "shrinking on a black, white or gray background. 8 frames at 32x32. Wan-style: word-level "
                       "transformer text encoder, per-frame conv VAE (8x8x8 latents per frame), spatio-temporal "
                       "DiT denoiser trained with flow matching (velocity = noise - clean latent). The denoiser "
                       "works on normalized latents (z - mean) / std; the VAE decoder takes un-normalized z. "
                       "Classifier-free guidance uses the empty prompt (all [PAD], attention mask all zero) as "
                       "the unconditional input.",
        "license": "Apache-2.0",
        "languages": ["en", "zh"],
        "tokenizer": {"files": [file_entry(dest, "tokenizer.json"), file_entry(dest, "tokenizer_config.json")],
                      "maxLength": tok.max_length},
        "components": {
            "textEncoder": {"hiddenSize": D, "variants": variants("textEncoder")},
            "denoiser": {"variants": variants("denoiser")},
            "vaeDecoder": {"variants": variants("vaeDecoder")},
        },
        "releaseOrder": ["textEncoder", "denoiser", "vaeDecoder"],
        "latent": {"channels": C, "temporalCompression": 1, "spatialCompression": 4,
                   "mean": [round(float(v), 7) for v in mean], "std": [round(float(v), 7) for v in std]},
        "scheduler": {"type": "flow-match-euler",
                      "config": {"num_train_timesteps": 1000, "shift": shift, "use_dynamic_shifting": False}},
        "defaults": {"steps": steps, "guidanceScale": guidance, "numFrames": 8, "fps": 8, "width": 32, "height": 32,
                     "negativePrompt": ""},
        "limits": {"steps": {"min": 1, "max": 100}, "guidanceScale": {"min": 0, "max": 20},
                   "numFrames": {"min": 8, "max": 8}, "sizes": [{"width": 32, "height": 32}]},
        "vocabulary": vocabulary(),
        "examples": examples,
    }
    with open(os.path.join(dest, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, ensure_ascii=False, indent=2)
        f.write("\n")
    return manifest


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", default=os.path.join(TRAINING, "runs", "main"))
    ap.add_argument("--dest", default=os.path.join(REPO, "public", "models", "kinema-micro"))
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--guidance", type=float, default=4.0)
    ap.add_argument("--shift", type=float, default=1.0)
    ap.add_argument("--ckpt", default="model.pt", help="checkpoint file inside the run folder")
    ap.add_argument("--skip-verify", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(2)
    t0 = time.time()
    st, tok, te, dit, enc, dec = load(args.run, args.ckpt)
    dec5d = VAEDecoder5D(dec).eval()
    C = st["args"]["latent_channels"]
    D = st["args"]["text_dim"]
    mean = torch.tensor(st["mean"])
    std = torch.tensor(st["std"])
    dest = args.dest
    os.makedirs(dest, exist_ok=True)
    for f in os.listdir(dest):
        if f.endswith(".onnx") or f.endswith(".json"):
            os.remove(os.path.join(dest, f))
    tok.save(dest)
    names = export_onnx(dest, tok, te, dit, dec5d, C, tok.max_length, D)
    reference_vectors(dest, tok, te, dit, dec5d, mean, std, C, args.steps, args.guidance, args.shift)
    eval_dir = os.path.join(TRAINING, "eval")
    write_golden(tok, os.path.join(eval_dir, "tokenizer-golden.json"))
    heldout = [tuple(c) for c in st["extra"].get("heldout", [])] or world.split_combos()[1]
    write_eval_set(os.path.join(eval_dir, "eval-set.json"), heldout)
    mse = write_recon(os.path.join(TRAINING, "out", "recon"), enc, dec)
    params = {"textEncoder": count(te), "denoiser": count(dit), "vaeDecoder": count(dec), "vaeEncoder": count(enc)}
    write_manifest(dest, names, tok, mean, std, C, D, args.steps, args.guidance, args.shift, params)
    sizes = {f: os.path.getsize(os.path.join(dest, f)) for f in sorted(os.listdir(dest)) if f.endswith(".onnx")}
    info = {"params": params, "sizes": sizes, "fp32Total": sum(v for k, v in sizes.items() if k.count(".") == 1),
            "reconMse": mse, "train": st["extra"], "exportSeconds": None}
    print(json.dumps(info, indent=1))
    if not args.skip_verify:
        r = subprocess.run(["node", os.path.join(TRAINING, "eval", "verify-onnx.mjs"), dest], cwd=REPO)
        if r.returncode != 0:
            sys.exit("ONNX verification failed")
    info["exportSeconds"] = time.time() - t0
    os.makedirs(os.path.join(TRAINING, "out"), exist_ok=True)
    with open(os.path.join(TRAINING, "out", "export-info.json"), "w") as f:
        json.dump(info, f, indent=1)
    print(f"export done in {info['exportSeconds']:.0f}s")


if __name__ == "__main__":
    main()

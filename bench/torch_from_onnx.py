"""Build the kinema-micro PyTorch modules (training/kinema_micro/model.py) from the SHIPPED fp32 ONNX
files, so that the PyTorch side of the benchmark runs from a clean clone (no training checkpoint).

The ONNX files were exported with do_constant_folding=True (opset 17), which keeps most PyTorch
parameter names as initializer names but rewrites some:
  - Linear weights applied with MatMul are stored transposed under generated names
    (onnx::MatMul_NNN); the MatMul's output feeds the Add that takes 'X.bias', so the
    initializer transposed is 'X.weight'. Linears on 2D inputs became Gemm and keep their names.
  - Block.table is folded into table[None] (onnx::Add_NNN, shape [1,6,d]).
Whatever is not found by name or by the MatMul -> Add(bias) rule is matched by graph position
(first use of the remaining initializers, in order) against the remaining torch keys, with a shape
check (transposed for 2D Linear weights, reshaped for folded unsqueezes). Every parameter and buffer
must be filled; a missing one raises naming the key.

Constructor arguments come from the manifest (latent channels) and from initializer shapes / the
graph: text vocab, width and max length from tok.weight / pos; DiT width, depth, text width from
block initializers; heads from the attention reshape's Div constant; patch sizes by matching the
fixed 3D sine-cosine grid buffer (pos_fixed) against the candidates.
"""
import json
import os
import re
import sys

import numpy as np
import onnx
import torch
from onnx import numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "training"))

from kinema_micro.model import DiT, Decoder, TextEncoder, VAEDecoder5D, sincos_3d  # noqa: E402

DEFAULT_DIR = os.path.join(ROOT, "public", "models", "kinema-micro")


class Graph:
    def __init__(self, path):
        self.model = onnx.load(path)
        g = self.model.graph
        self.nodes = list(g.node)
        self.inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
        self.producer = {o: n for n in self.nodes for o in n.output}
        self.consts = {}
        for n in self.nodes:
            if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
                self.consts[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)

    def const(self, name):
        if name in self.inits:
            return self.inits[name]
        return self.consts.get(name)

    def first_use_order(self):
        seen, order = set(), []
        for n in self.nodes:
            for i in n.input:
                if i in self.inits and i not in seen:
                    seen.add(i)
                    order.append(i)
        return order

    def heads(self, scope):
        """attention(): dh = D // heads, D read as Gather(Shape(q), 2); the divisor is heads."""
        for n in self.nodes:
            if n.op_type != "Div" or not n.name.startswith(scope):
                continue
            num, den = self.producer.get(n.input[0]), self.const(n.input[1])
            if num is None or den is None or num.op_type != "Gather" or den.size != 1:
                continue
            idx = self.const(num.input[1])
            src = self.producer.get(num.input[0])
            if idx is not None and int(idx.reshape(-1)[0]) == 2 and src is not None and src.op_type == "Shape":
                return int(den.reshape(-1)[0])
        raise ValueError(f"could not infer the number of attention heads in scope {scope}")


def fill(module, graph, what):
    """Copy every parameter/buffer of `module` from `graph`; returns the names used per key."""
    target = module.state_dict()
    found, used = {}, set()
    # 1. same name
    for k in target:
        if k in graph.inits:
            found[k] = graph.inits[k]
            used.add(k)
    # 2. Linear weights folded into MatMul: MatMul(x, W) -> Add('X.bias', .) gives X.weight = W^T
    for n in graph.nodes:
        if n.op_type != "Add":
            continue
        for bias, other in ((n.input[0], n.input[1]), (n.input[1], n.input[0])):
            if not bias.endswith(".bias") or bias not in graph.inits:
                continue
            wkey = bias[: -len(".bias")] + ".weight"
            mm = graph.producer.get(other)
            if wkey not in target or wkey in found or mm is None or mm.op_type != "MatMul":
                continue
            w = mm.input[1]
            if w in graph.inits and graph.inits[w].ndim == 2:
                found[wkey] = graph.inits[w].T
                used.add(w)
    # 3. the rest (folded unsqueezes such as Block.table, bias-less Linears) by graph position
    rest_keys = [k for k in target if k not in found]
    rest_inits = [i for i in graph.first_use_order() if i not in used and graph.inits[i].dtype == np.float32
                  and graph.inits[i].size > 1]
    for k in rest_keys:
        shape = tuple(target[k].shape)
        for j, name in enumerate(rest_inits):
            arr = graph.inits[name]
            cand = None
            if arr.ndim == 2 and len(shape) == 2 and arr.shape == shape[::-1] and k.endswith(".weight"):
                cand = arr.T  # MatMul weight of a Linear
            elif arr.size == int(np.prod(shape)) and tuple(s for s in arr.shape if s != 1) == tuple(
                    s for s in shape if s != 1):
                cand = arr.reshape(shape)  # folded unsqueeze
            if cand is not None:
                found[k] = cand
                used.add(name)
                del rest_inits[j]
                break
    missing = [k for k in target if k not in found]
    if missing:
        raise KeyError(f"{what}: no ONNX initializer for torch key(s): {', '.join(missing)}")
    state = {}
    for k, v in target.items():
        arr = np.ascontiguousarray(found[k])
        if tuple(arr.shape) != tuple(v.shape):
            raise ValueError(f"{what}: shape mismatch for {k}: onnx {arr.shape} vs torch {tuple(v.shape)}")
        state[k] = torch.from_numpy(arr.astype(np.float32)).to(v.dtype)
    module.load_state_dict(state, strict=True)
    return module.eval()


def count_layers(names, prefix):
    idx = {int(m.group(1)) for n in names for m in [re.match(re.escape(prefix) + r"(\d+)\.", n)] if m}
    return max(idx) + 1 if idx else 0


def load(model_dir=DEFAULT_DIR):
    """Returns (manifest, te, dit, dec5d, mean, std)."""
    manifest = json.load(open(os.path.join(model_dir, "manifest.json"), encoding="utf-8"))

    def fp32(comp):
        for v in manifest["components"][comp]["variants"]:
            if v["dtype"] == "fp32":
                return os.path.join(model_dir, v["files"][0]["path"])
        raise ValueError(f"manifest has no fp32 variant for {comp}")

    C = int(manifest["latent"]["channels"])

    g = Graph(fp32("textEncoder"))
    vocab, d_text = g.inits["tok.weight"].shape
    max_len = g.inits["pos"].shape[1]
    te = TextEncoder(int(vocab), d=int(d_text), layers=count_layers(g.inits, "layers."),
                     heads=g.heads("/layers.0/"), max_len=int(max_len))
    te = fill(te, g, "text encoder")

    g = Graph(fp32("denoiser"))
    d = int(g.inits["pos"].shape[2])
    dt = int(g.inits["null"].shape[2])
    n_tok = int(g.inits["pos"].shape[1])
    layers = count_layers(g.inits, "blocks.")
    heads = g.heads("/blocks.0/")
    pos_fixed = torch.from_numpy(np.array(g.inits["pos_fixed"]))
    sc = int(manifest["latent"].get("spatialCompression", 4))
    H = W = int(manifest["defaults"]["height"]) // sc
    T = int(manifest["defaults"]["numFrames"]) // int(manifest["latent"].get("temporalCompression", 1))
    patch = None
    for pt in range(1, T + 1):
        for ph in range(1, H + 1):
            for pw in range(1, W + 1):
                if T % pt or H % ph or W % pw or (T // pt) * (H // ph) * (W // pw) != n_tok:
                    continue
                grid = sincos_3d(T // pt, H // ph, W // pw, d)
                if grid.shape == pos_fixed.shape and torch.allclose(grid, pos_fixed, atol=1e-5):
                    patch = (pt, ph, pw)
    if patch is None:
        raise ValueError("could not infer the DiT patch size from pos_fixed")
    dit = DiT(c=C, t=T, h=H, w=W, d=d, dt=dt, layers=layers, heads=heads, pt=patch[0], ph=patch[1], pw=patch[2])
    dit = fill(dit, g, "denoiser")

    g = Graph(fp32("vaeDecoder"))
    zc = int(g.inits["dec.net.0.weight"].shape[1])
    if zc != C:
        raise ValueError(f"vae decoder takes {zc} channels, manifest says {C}")
    dec5d = fill(VAEDecoder5D(Decoder(C)), g, "vae decoder")

    mean = torch.tensor(manifest["latent"]["mean"], dtype=torch.float32)
    std = torch.tensor(manifest["latent"]["std"], dtype=torch.float32)
    config = {"text": {"vocab": int(vocab), "d": int(d_text), "layers": len(te.layers), "heads": te.layers[0].heads,
                       "max_len": int(max_len)},
              "dit": {"c": C, "d": d, "dt": dt, "layers": layers, "heads": heads, "patch": list(patch)}}
    return manifest, te, dit, dec5d, mean, std, config


def _read(folder, entry):
    dt = {"float32": "<f4", "int64": "<i8", "uint8": "u1"}[entry["dtype"]]
    return torch.from_numpy(np.fromfile(os.path.join(folder, entry["file"]), dtype=dt).reshape(entry["shape"]).copy())


@torch.no_grad()
def check_reference(te, dit, dec5d, model_dir=DEFAULT_DIR):
    """Max abs error of the loaded modules against the shipped PyTorch reference vectors."""
    folder = os.path.join(model_dir, "reference")
    index = json.load(open(os.path.join(folder, "index.json"), encoding="utf-8"))
    err = {"text_encoder": 0.0, "denoiser": 0.0, "vae_decoder": 0.0}
    for case in index["cases"]:
        t = case["tensors"]
        ids, mask = _read(folder, t["input_ids"]), _read(folder, t["attention_mask"])
        ref_h = _read(folder, t["last_hidden_state"])
        err["text_encoder"] = max(err["text_encoder"], float((te(ids, mask) - ref_h).abs().max()))
        for s in case["steps"]:
            x = _read(folder, s["latent_in"])
            ts = torch.tensor([s["timestep"]] * 2, dtype=torch.float32)
            out = dit(torch.cat([x, x]), ts, ref_h, mask)
            err["denoiser"] = max(err["denoiser"], float((out - _read(folder, s["sample"])).abs().max()))
        dec = dec5d(_read(folder, t["latent_sample"]))
        err["vae_decoder"] = max(err["vae_decoder"], float((dec - _read(folder, t["decoded"])).abs().max()))
    return err


if __name__ == "__main__":
    _, te, dit, dec5d, _, _, config = load()
    err = check_reference(te, dit, dec5d)
    print(json.dumps({"config": config, "max_abs_err": err}))
    sys.exit(0 if max(err.values()) <= 1e-3 else 1)

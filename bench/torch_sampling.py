#!/usr/bin/env python3
"""PyTorch side of benchmark (b): the same kinema-micro sampling (text encoder on prompt + empty prompt,
N flow-match Euler steps with CFG, VAE decode of 8 frames) timed on the CPU. Prints one JSON line.

By default the PyTorch modules (training/kinema_micro/model.py) are filled from the SHIPPED fp32 ONNX
files in public/models/kinema-micro by bench/torch_from_onnx.py, so this runs from a clean clone; the
mapping is proven on every run against the shipped reference vectors (max abs error in the output as
"parity"; exits non-zero above 1e-3). --run DIR uses a training checkpoint (DIR/model.pt) instead."""
import argparse, json, os, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "training"))

ap = argparse.ArgumentParser()
ap.add_argument("--run", default=None, help="a training run folder with model.pt (default: the shipped ONNX weights)")
ap.add_argument("--steps", type=int, default=8)
ap.add_argument("--guidance", type=float, default=4.0)
ap.add_argument("--rounds", type=int, default=3)
ap.add_argument("--threads", type=int, default=1)
args = ap.parse_args()

if args.run is not None and not os.path.exists(os.path.join(args.run, "model.pt")):
    sys.exit(f"no trained checkpoint at {args.run}/model.pt")

import torch  # noqa: E402
from kinema_micro.model import VAEDecoder5D  # noqa: E402
from kinema_micro.sampling import sample  # noqa: E402

torch.set_num_threads(args.threads)
manifest = json.load(open(os.path.join(ROOT, "public", "models", "kinema-micro", "manifest.json")))
shift = float(manifest["scheduler"]["config"].get("shift", 1.0))
parity = None
if args.run is None:
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    from torch_from_onnx import check_reference, load as load_onnx  # noqa: E402
    from kinema_micro.tokenizer import Tokenizer  # noqa: E402
    _, te, dit, dec5d, mean, std, _ = load_onnx()
    tok = Tokenizer()
    if len(tok.vocab) != te.tok.num_embeddings:
        sys.exit(f"tokenizer has {len(tok.vocab)} words, the shipped text encoder {te.tok.num_embeddings}")
    parity = check_reference(te, dit, dec5d)
    if max(parity.values()) > 1e-3:
        sys.exit(f"ONNX -> PyTorch weight mapping off the reference vectors: {parity}")
else:
    from kinema_micro.export import load  # noqa: E402
    st, tok, te, dit, enc, dec = load(args.run)
    dec5d = VAEDecoder5D(dec).eval()
    mean = torch.tensor(st["mean"], dtype=torch.float32)
    std = torch.tensor(st["std"], dtype=torch.float32)
C = len(mean)
encoded = [tok.encode("a red circle moving right on a black background"), tok.encode("")]
ids = torch.tensor([e[0] for e in encoded], dtype=torch.int64)
masks = torch.tensor([e[1] for e in encoded], dtype=torch.int64)

def once(seed):
    noise = torch.randn([1, C, 8, 8, 8], generator=torch.Generator().manual_seed(seed))
    start = time.perf_counter()
    sample(te, dit, dec5d, mean, std, ids, masks, noise, args.steps, args.guidance, shift)
    return (time.perf_counter() - start) * 1000

once(0)  # warm-up
times = sorted(once(seed) for seed in range(1, args.rounds + 1))
print(json.dumps({"ms": times[len(times) // 2], "all": times, "threads": args.threads, "torch": torch.__version__, "steps": args.steps,
                  "weights": args.run or "shipped ONNX (public/models/kinema-micro)", "parity": parity}))

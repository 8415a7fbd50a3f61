#!/usr/bin/env python3
"""PyTorch side of benchmark (b): the same kinema-micro sampling (text encoder on prompt + empty prompt,
N flow-match Euler steps with CFG, VAE decode of 8 frames) timed on the CPU. Prints one JSON line.

Needs the trained checkpoint of `npm run train:micro` (training/runs/main/model.pt); the shipped ONNX
files do not keep PyTorch's parameter layout."""
import argparse, json, os, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "training"))

ap = argparse.ArgumentParser()
ap.add_argument("--run", default=None, help="a training run folder with model.pt (default: the newest under training/runs)")
ap.add_argument("--steps", type=int, default=8)
ap.add_argument("--guidance", type=float, default=4.0)
ap.add_argument("--rounds", type=int, default=3)
ap.add_argument("--threads", type=int, default=1)
args = ap.parse_args()

if args.run is None:
    # Timing depends on the architecture, not the weights: any finished run of kinema-micro will do.
    runs = os.path.join(ROOT, "training", "runs")
    found = [os.path.join(runs, d) for d in (os.listdir(runs) if os.path.isdir(runs) else []) if os.path.exists(os.path.join(runs, d, "model.pt"))]
    args.run = max(found, key=lambda d: os.path.getmtime(os.path.join(d, "model.pt"))) if found else os.path.join(runs, "main")
if not os.path.exists(os.path.join(args.run, "model.pt")):
    sys.exit(f"no trained checkpoint at {args.run}/model.pt (run npm run train:micro first)")

import torch  # noqa: E402
from kinema_micro.export import load  # noqa: E402
from kinema_micro.model import VAEDecoder5D  # noqa: E402
from kinema_micro.sampling import sample  # noqa: E402

torch.set_num_threads(args.threads)
manifest = json.load(open(os.path.join(ROOT, "public", "models", "kinema-micro", "manifest.json")))
shift = float(manifest["scheduler"]["config"].get("shift", 1.0))
st, tok, te, dit, enc, dec = load(args.run)
dec5d = VAEDecoder5D(dec).eval()
mean = torch.tensor(st["mean"], dtype=torch.float32)
std = torch.tensor(st["std"], dtype=torch.float32)
C = len(st["mean"])
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
print(json.dumps({"ms": times[len(times) // 2], "all": times, "threads": args.threads, "torch": torch.__version__, "steps": args.steps}))

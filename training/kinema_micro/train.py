"""Train kinema-micro from scratch, reproducibly from one seed.

Stage 1 trains the per-frame autoencoder on single frames; stage 2 encodes a fixed set of clips
once, records per-channel latent mean/std, and trains the text encoder and DiT jointly with
flow matching (velocity = noise - clean). Captions are re-drawn every step (random language and
paraphrase), so the cached latents see many different wordings.

    /usr/bin/python3 -m kinema_micro.train --out training/runs/main
"""
import argparse
import copy
import json
import math
import os
import random
import time

import numpy as np
import torch
import torch.nn.functional as F

from . import world
from .model import DiT, Decoder, Encoder, TextEncoder, count, encode_clips
from .tokenizer import Tokenizer


def log(f, msg):
    line = f"[{time.strftime('%H:%M:%S')}] {msg}"
    print(line, flush=True)
    f.write(line + "\n")
    f.flush()


def cosine_lr(step, total, base, warmup):
    if step < warmup:
        return base * (step + 1) / warmup
    p = (step - warmup) / max(1, total - warmup)
    return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * p)))


def train_ae(args, train_combos, logf):
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    enc, dec = Encoder(args.latent_channels), Decoder(args.latent_channels)
    log(logf, f"AE: encoder {count(enc)} params, decoder {count(dec)} params")
    params = list(enc.parameters()) + list(dec.parameters())
    opt = torch.optim.Adam(params, lr=args.ae_lr)
    t0 = time.time()
    for step in range(args.ae_steps):
        lr = cosine_lr(step, args.ae_steps, args.ae_lr, 100)
        for g in opt.param_groups:
            g["lr"] = lr
        combos = [rng.choice(train_combos) for _ in range(args.ae_batch)]
        clips = world.make_batch(rng, combos)  # [B,3,T,H,W]
        fi = torch.randint(0, world.FRAMES, (args.ae_batch,))
        x = clips[torch.arange(args.ae_batch), :, fi]  # one random frame per clip
        z = enc(x)
        # Latent noise makes the decoder tolerant of the small errors a denoiser leaves behind.
        zn = z + args.ae_latent_noise * z.detach().std() * torch.randn_like(z)
        y = dec(zn)
        rec = F.mse_loss(y, x) + 0.5 * F.l1_loss(y, x)
        loss = rec + 1e-4 * z.pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if step % 100 == 0 or step == args.ae_steps - 1:
            with torch.no_grad():
                mse = F.mse_loss(dec(z), x).item()
            log(logf, f"AE step {step} loss {loss.item():.5f} mse(clean z) {mse:.5f} lr {lr:.2e} "
                      f"{time.time() - t0:.0f}s")
    return enc, dec, time.time() - t0


@torch.no_grad()
def build_latents(args, enc, train_combos, logf):
    rng = random.Random(args.seed + 1)
    combos = [train_combos[i % len(train_combos)] for i in range(args.num_clips)]
    rng.shuffle(combos)
    zs = []
    mse = []
    for i in range(0, len(combos), 256):
        clips = world.make_batch(rng, combos[i:i + 256])
        zs.append(encode_clips(enc, clips))
    z = torch.cat(zs)
    mean = z.mean(dim=(0, 2, 3, 4))
    std = z.std(dim=(0, 2, 3, 4))
    attrs = torch.tensor([[world.COLORS.index(c), world.SHAPES.index(s), world.MOTIONS.index(m),
                           world.BACKGROUNDS.index(b)] for (c, s, m, b) in combos])
    log(logf, f"latents {tuple(z.shape)} mean {mean.tolist()} std {std.tolist()}")
    return z, attrs, mean, std


def ema_update(ema, model, decay):
    with torch.no_grad():
        for pe, p in zip(ema.parameters(), model.parameters()):
            pe.mul_(decay).add_(p.detach(), alpha=1 - decay)


def train_dit(args, z, attrs, mean, std, logf, enc=None, dec=None):
    torch.manual_seed(args.seed + 2)
    rng = random.Random(args.seed + 2)
    tok = Tokenizer()
    zn = (z - mean[None, :, None, None, None]) / std[None, :, None, None, None]
    te = TextEncoder(len(tok.vocab), d=args.text_dim, layers=args.text_layers, heads=4, max_len=tok.max_length)
    dit = DiT(c=args.latent_channels, d=args.dit_dim, dt=args.text_dim, layers=args.dit_layers, heads=args.dit_heads,
              pt=args.patch[0], ph=args.patch[1], pw=args.patch[2])
    log(logf, f"text encoder {count(te)} params, DiT {count(dit)} params")
    if args.resume:
        # Continue from a finished run's (EMA) weights with a fresh, lower learning-rate cycle.
        st = torch.load(args.resume)
        te.load_state_dict(st["te"])
        dit.load_state_dict(st["dit"])
        log(logf, f"resumed text encoder and DiT from {args.resume}")
    te_ema, dit_ema = copy.deepcopy(te), copy.deepcopy(dit)
    params = list(te.parameters()) + list(dit.parameters())
    decay, no_decay = [], []
    for p in params:
        (decay if p.dim() >= 2 else no_decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.99))
    t0 = time.time()
    B = args.batch
    running = 0.0
    for step in range(args.steps):
        lr = cosine_lr(step, args.steps, args.lr, args.warmup)
        for g in opt.param_groups:
            g["lr"] = lr
        idx = torch.randint(0, zn.shape[0], (B,))
        x0 = zn[idx]
        ids, masks = [], []
        for a in attrs[idx].tolist():
            if rng.random() < args.cfg_dropout:
                text = ""  # exactly what the engine encodes for the unconditional branch
            else:
                lang = "en" if rng.random() < 0.5 else "zh"
                text = world.caption(rng, lang, world.COLORS[a[0]], world.SHAPES[a[1]], world.MOTIONS[a[2]],
                                     world.BACKGROUNDS[a[3]])
            i, m = tok.encode(text)
            ids.append(i)
            masks.append(m)
        ids = torch.tensor(ids, dtype=torch.int64)
        masks = torch.tensor(masks, dtype=torch.int64)
        # Trailing all-padding columns change nothing (masked keys get exp(-1e4) = 0 weight and
        # padded rows are zeroed), so drop them to save text-encoder and cross-attention work.
        lb = max(1, int(masks.sum(1).max()))
        ids, masks = ids[:, :lb], masks[:, :lb]
        sigma = torch.sigmoid(torch.randn(B) * args.t_std + args.t_mean)
        noise = torch.randn_like(x0)
        s = sigma[:, None, None, None, None]
        xt = (1 - s) * x0 + s * noise
        ctx = te(ids, masks)
        v = dit(xt, sigma * 1000.0, ctx, masks)
        if args.fg_weight > 0:
            # Up-weight the shape: latent pixels far from the clip's background (the per-frame median)
            # carry the corners that tell a square from a circle, yet are a small part of a plain MSE.
            bg = x0.flatten(3).median(dim=3).values[..., None, None]
            dev = (x0 - bg).pow(2).mean(dim=1, keepdim=True)
            w = 1 + args.fg_weight * dev / dev.amax(dim=(3, 4), keepdim=True).clamp(min=1e-6)
            loss = ((v - (noise - x0)).pow(2) * w).sum() / (w.sum() * x0.shape[1])
        else:
            loss = F.mse_loss(v, noise - x0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        d = min(args.ema, (1 + step) / (10 + step))
        ema_update(te_ema, te, d)
        ema_update(dit_ema, dit, d)
        running = 0.98 * running + 0.02 * loss.item() if step else loss.item()
        if step % 50 == 0 or step == args.steps - 1:
            el = time.time() - t0
            log(logf, f"DiT step {step} loss {loss.item():.4f} avg {running:.4f} lr {lr:.2e} {el:.0f}s "
                      f"({el / (step + 1):.2f}s/step)")
        if args.ckpt_every and step and step % args.ckpt_every == 0:
            save(args, te_ema, dit_ema, enc, dec, mean, std, name=f"ckpt_{step}.pt")
    return te_ema, dit_ema, time.time() - t0


def save(args, te, dit, enc, dec, mean, std, name="model.pt", extra=None):
    path = os.path.join(args.out, name)
    state = {"args": vars(args), "te": te.state_dict(), "dit": dit.state_dict(),
             "mean": mean.tolist(), "std": std.tolist(), "extra": extra or {}}
    if enc is not None:
        state["enc"] = enc.state_dict()
        state["dec"] = dec.state_dict()
    torch.save(state, path + ".tmp")
    os.replace(path + ".tmp", path)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", default="training/runs/main")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--latent-channels", type=int, default=8)
    p.add_argument("--ae-steps", type=int, default=1000)
    p.add_argument("--ae-batch", type=int, default=64)
    p.add_argument("--ae-lr", type=float, default=2e-3)
    p.add_argument("--ae-latent-noise", type=float, default=0.05)
    p.add_argument("--ae", default="", help="reuse the autoencoder from this model.pt (skips stage 1)")
    p.add_argument("--num-clips", type=int, default=24000)
    p.add_argument("--text-dim", type=int, default=128)
    p.add_argument("--text-layers", type=int, default=2)
    p.add_argument("--dit-dim", type=int, default=128)
    p.add_argument("--dit-layers", type=int, default=6)
    p.add_argument("--dit-heads", type=int, default=4)
    p.add_argument("--patch", type=lambda v: [int(x) for x in v.split(",")], default=[2, 2, 2],
                   help="DiT patch size in latent frames,rows,columns")
    p.add_argument("--steps", type=int, default=7000)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1.5e-3)
    p.add_argument("--ema", type=float, default=0.999)
    p.add_argument("--cfg-dropout", type=float, default=0.1)
    p.add_argument("--fg-weight", type=float, default=3.0, help="extra loss weight on foreground latents")
    p.add_argument("--t-mean", type=float, default=0.0)
    p.add_argument("--t-std", type=float, default=1.0)
    p.add_argument("--ckpt-every", type=int, default=1000)
    p.add_argument("--resume", default="", help="start the DiT stage from this model.pt (use with --ae)")
    p.add_argument("--warmup", type=int, default=200)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    logf = open(os.path.join(args.out, "train.log"), "a")
    log(logf, f"args {json.dumps(vars(args))}")
    train_combos, held = world.split_combos()
    log(logf, f"{len(train_combos)} training combos, {len(held)} held out")
    t_start = time.time()
    if args.ae:
        st = torch.load(args.ae)
        enc, dec = Encoder(args.latent_channels), Decoder(args.latent_channels)
        enc.load_state_dict(st["enc"])
        dec.load_state_dict(st["dec"])
        ae_time = 0.0
    else:
        enc, dec, ae_time = train_ae(args, train_combos, logf)
        torch.save({"enc": enc.state_dict(), "dec": dec.state_dict()}, os.path.join(args.out, "ae.pt"))
    enc.eval()
    dec.eval()
    z, attrs, mean, std = build_latents(args, enc, train_combos, logf)
    te, dit, dit_time = train_dit(args, z, attrs, mean, std, logf, enc, dec)
    total = time.time() - t_start
    extra = {"ae_seconds": ae_time, "dit_seconds": dit_time, "total_seconds": total,
             "heldout": [list(c) for c in held]}
    save(args, te, dit, enc, dec, mean, std, extra=extra)
    log(logf, f"done: AE {ae_time:.0f}s, DiT {dit_time:.0f}s, total {total:.0f}s")


if __name__ == "__main__":
    main()

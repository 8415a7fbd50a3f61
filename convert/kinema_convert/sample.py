"""A PyTorch sampling run of a (tiny) Wan-family model, the reference for kinema's end-to-end frames.

It runs diffusers' WanPipeline loop on our modules: for each step, the denoiser on the latents (and, with
classifier-free guidance, again on the negative prompt: v = v_uncond + scale * (v_cond - v_uncond)), the
sampler's update (schedulers.py's references of the samplers kinema runs), then TAEHV decodes the final latents
(the denoiser's space, no un-normalisation) to 4T-3 RGB frames in [0, 1]. Inputs are what kinema's own run sees:
the text encoder's output (`prompt_embeds.npy` [1, L, text_dim]) and the starting latents: either `--noise`
(used as given, as kinema uses a request's `initialLatents`) or `--latent-shape` (kinema's seeded Philox noise
for `--seed`, times the sampler's init_noise_sigma, as a generation without initialLatents starts).

    /usr/bin/python3 -m convert.kinema_convert.sample --transformer DIR --decoder taehv.safetensors \\
        --prompt-embeds prompt_embeds.npy --noise noise.npy --sampler unipc --steps 4 \\
        [--guidance-scale 5 --negative-prompt-embeds neg.npy] [--scheduler DIR|FILE | --model DIR] \\
        --out frames.npy [--latents-out latents.npy]

(`python3 convert/kinema_convert/sample.py ...` works too.) `--model DIR` reads the scheduler (type and config)
and the guidance switch from a converted model's manifest.json, so the reference uses exactly what kinema will.
The rCM sampler re-noises after every step but the last: with kinema's noise for seed (seed + 1 + i) mod 2^31
(schedulers.rcm_noise_seed), unless `--step-noise` gives the steps - 1 arrays.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

if __package__ in (None, ''):  # run as a file: python3 convert/kinema_convert/sample.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = 'kinema_convert'  # noqa: A001

from . import manifest as _manifest  # noqa: E402
from . import schedulers  # noqa: E402
from . import taehv  # noqa: E402
from . import wan_transformer as wt  # noqa: E402

SAMPLERS = ('unipc', 'euler', 'rcm')


def _array(path, what: str, ndim: int) -> np.ndarray:
    p = Path(path)
    if not p.is_file():
        raise ValueError(f'`{what}`: {p} does not exist')
    arr = np.load(str(p))
    if arr.ndim != ndim or arr.shape[0] != 1:
        raise ValueError(f'`{what}` must hold one [1, ...] array of {ndim} dimensions; got shape {list(arr.shape)}')
    return np.ascontiguousarray(arr, dtype=np.float32)


def scheduler_from_model(model_dir) -> dict:
    """{"type", "config", "cfg"} from a converted model's manifest.json."""
    path = Path(model_dir) / 'manifest.json'
    if not path.is_file():
        raise ValueError(f'`--model`: {path} does not exist (give the folder the converter wrote)')
    m = json.loads(path.read_text())
    scheduler = m.get('scheduler')
    if not isinstance(scheduler, dict) or 'type' not in scheduler:
        raise ValueError(f'`--model`: {path} has no `scheduler` block with a `type`')
    guidance = m.get('guidance') or {}
    return {'type': scheduler['type'], 'config': dict(scheduler.get('config') or {}), 'cfg': guidance.get('cfg')}


def denoise(module: wt.WanTransformer3D, latents: torch.Tensor, timestep: float, prompt: torch.Tensor,
            negative: Optional[torch.Tensor], guidance_scale: float) -> torch.Tensor:
    """One model evaluation as diffusers' WanPipeline makes it (timestep expanded over the batch)."""
    t = torch.full((latents.shape[0],), float(timestep), dtype=torch.float32)
    with torch.no_grad():
        v = module(latents, t, prompt)
        if negative is not None:
            v_uncond = module(latents, t, negative)
            v = v_uncond + guidance_scale * (v - v_uncond)
    return v


class _Sampler:
    """schedulers.py's reference samplers behind one face: timesteps, sigmas, init_noise_sigma, step(i, x, v)."""

    def __init__(self, scheduler: dict, steps: int, seed: int, shape, step_noise=None):
        kind, config = scheduler.get('type'), dict(scheduler.get('config') or {})
        config = {k: v for k, v in config.items() if not k.startswith('_')}
        if kind == 'unipc':
            self.impl = schedulers.UniPCFlow(**config)
        elif kind == 'flow-match-euler':
            self.impl = schedulers.FlowMatchEuler(**config)
        elif kind == 'rcm':
            self.impl = schedulers.Rcm(**config)
        else:
            raise ValueError(f"scheduler `type` must be 'unipc', 'flow-match-euler' or 'rcm'; got {kind!r}")
        self.kind, self.seed, self.shape = kind, seed, tuple(shape)
        self.impl.set_timesteps(steps)
        if step_noise is not None and kind != 'rcm':
            raise ValueError(f'`step_noise` is for the rcm sampler only (it re-noises); this is {kind}')
        if step_noise is not None and len(step_noise) != steps - 1:
            raise ValueError(f'`step_noise` must hold steps - 1 = {steps - 1} arrays (one per re-noise); '
                             f'got {len(step_noise)}')
        self.step_noise = step_noise
        ts = self.impl.timesteps
        self.timesteps = [float(t) for t in (ts.tolist() if hasattr(ts, 'tolist') else ts)]
        sig = self.impl.sigmas
        self.sigmas = [float(v) for v in (sig.tolist() if hasattr(sig, 'tolist') else sig)]
        self.init_noise_sigma = float(getattr(self.impl, 'init_noise_sigma', 1.0))

    def noise_for_step(self, i: int) -> torch.Tensor:
        """rCM's re-noise after step i: the given array, else kinema's noise for seed (seed + 1 + i) mod 2^31."""
        if self.step_noise is not None:
            arr = self.step_noise[i]
        else:
            arr = schedulers.kinema_noise(self.shape, schedulers.rcm_noise_seed(self.seed, i))
        if tuple(arr.shape) != self.shape:
            raise ValueError(f'rCM step noise {i} has shape {list(arr.shape)}; the latents are {list(self.shape)}')
        return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))

    def step(self, i: int, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        if self.kind == 'rcm':
            last = i == len(self.timesteps) - 1
            nxt, _ = self.impl.step(v, x, None if last else self.noise_for_step(i))
        else:
            nxt, _ = self.impl.step(v, x)
        return nxt.to(torch.float32)


def initial_latents(scheduler: dict, steps: int, shape, seed: int) -> np.ndarray:
    """What kinema starts from without given latents: its seeded noise times the sampler's init_noise_sigma."""
    sampler = _Sampler(scheduler, steps, seed, shape)
    noise = schedulers.kinema_noise(tuple(shape), seed)
    return (noise * np.float32(sampler.init_noise_sigma)).astype(np.float32) \
        if sampler.init_noise_sigma != 1.0 else noise


def run(module: wt.WanTransformer3D, prompt_embeds: np.ndarray, latents: np.ndarray, scheduler: dict, steps: int,
        guidance_scale: float = 1.0, negative_prompt_embeds: Optional[np.ndarray] = None, seed: int = 0,
        step_noise: Optional[Sequence[np.ndarray]] = None) -> Dict[str, np.ndarray]:
    """The denoising loop from `latents` (used as given, like kinema's `initialLatents`).
    scheduler: {"type": "unipc"|"flow-match-euler"|"rcm", "config": {...}} (a manifest's scheduler block).
    Guidance runs when guidance_scale > 1 (diffusers' rule) and then needs negative_prompt_embeds.
    Returns float32 `latents` (final), `timesteps`, `sigmas`."""
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= 1000:
        raise ValueError(f'`steps` must be an integer from 1 to 1000; got {steps!r}')
    cfg = guidance_scale > 1.0
    if cfg and negative_prompt_embeds is None:
        raise ValueError(f'`guidance_scale` {guidance_scale} > 1 turns on classifier-free guidance: give '
                         f'`negative_prompt_embeds` (the text encoder\'s output for the negative prompt) too')
    prompt = torch.from_numpy(np.ascontiguousarray(prompt_embeds, dtype=np.float32))
    negative = torch.from_numpy(np.ascontiguousarray(negative_prompt_embeds, dtype=np.float32)) if cfg else None
    x = torch.from_numpy(np.ascontiguousarray(latents, dtype=np.float32).copy())
    sampler = _Sampler(scheduler, steps, seed, x.shape, step_noise)
    for i, t in enumerate(sampler.timesteps):
        v = denoise(module, x, t, prompt, negative, guidance_scale)
        x = sampler.step(i, x, v)
    return {'latents': x.numpy().astype(np.float32),
            'timesteps': np.asarray(sampler.timesteps, dtype=np.float32),
            'sigmas': np.asarray(sampler.sigmas, dtype=np.float32)}


def decode(decoder_path, latents: np.ndarray) -> np.ndarray:
    """TAEHV on NCTHW latents [1, 16, T, H, W] -> frames [4T-3, 8H, 8W, 3] float32 in [0, 1]."""
    module = taehv.load_module(decoder_path)
    x = torch.from_numpy(np.ascontiguousarray(latents, dtype=np.float32)).permute(0, 2, 1, 3, 4)
    frames = taehv.decode_video(module, x)[0]
    return np.ascontiguousarray(frames.permute(0, 2, 3, 1).numpy(), dtype=np.float32)


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog='sample', description='PyTorch sampling run of a Wan-family model')
    p.add_argument('--transformer', required=True, help='diffusers WanTransformer3DModel folder (config.json + weights)')
    p.add_argument('--decoder', help='TAEHV taew2_1 .safetensors/.pth; without it only latents are written')
    p.add_argument('--prompt-embeds', required=True, help='prompt_embeds.npy [1, L, text_dim]')
    p.add_argument('--negative-prompt-embeds', help='negative prompt_embeds.npy, needed when guidance is on')
    p.add_argument('--noise', help='starting latents .npy [1, 16, T, H, W], used as given (kinema: initialLatents)')
    p.add_argument('--latent-shape', type=int, nargs=5, metavar=('B', 'C', 'T', 'H', 'W'),
                   help="instead of --noise: kinema's seeded noise (--seed) times the sampler's init_noise_sigma")
    p.add_argument('--model', help="a converted model folder: its manifest's scheduler and guidance are used")
    p.add_argument('--sampler', choices=SAMPLERS, help='unipc | euler | rcm (default: the model\'s, else unipc)')
    p.add_argument('--scheduler', help='diffusers scheduler folder or scheduler_config.json')
    p.add_argument('--steps', type=int, required=True)
    p.add_argument('--guidance-scale', type=float, default=1.0, help='> 1 turns classifier-free guidance on')
    p.add_argument('--seed', type=int, default=0, help="the generation's seed (rCM re-noise)")
    p.add_argument('--step-noise', nargs='*', help='rCM: one noise .npy per re-noise (steps - 1 files)')
    p.add_argument('--out', help='frames.npy [4T-3, 8H, 8W, 3] in [0, 1]')
    p.add_argument('--latents-out', help='final latents .npy [1, 16, T, H, W]')
    args = p.parse_args(argv)
    try:
        if args.out and not args.decoder:
            raise ValueError('`--out` writes decoded frames: give `--decoder` (the TAEHV file) too')
        if not args.out and not args.latents_out:
            raise ValueError('give `--out` (frames) or `--latents-out` (latents), or both')
        if args.model:
            block = scheduler_from_model(args.model)
            if args.sampler or args.scheduler:
                raise ValueError('`--model` brings its own scheduler: drop `--sampler`/`--scheduler`, or `--model`')
            if block.pop('cfg') is False and args.guidance_scale > 1:
                raise ValueError(f'the model is sampled without guidance (manifest guidance.cfg false); '
                                 f'drop `--guidance-scale` {args.guidance_scale}')
        else:
            block = _manifest.scheduler_block(args.scheduler, args.sampler)
        module = wt.load_module(args.transformer)
        prompt = _array(args.prompt_embeds, '--prompt-embeds', 3)
        negative = _array(args.negative_prompt_embeds, '--negative-prompt-embeds', 3) \
            if args.negative_prompt_embeds else None
        if (args.noise is None) == (args.latent_shape is None):
            raise ValueError('give one of `--noise` (starting latents) or `--latent-shape` (kinema\'s seeded noise)')
        noise = _array(args.noise, '--noise', 5) if args.noise else \
            initial_latents(block, args.steps, args.latent_shape, args.seed)
        step_noise = [_array(f, '--step-noise', 5) for f in args.step_noise] if args.step_noise else None
        result = run(module, prompt, noise, block, args.steps, args.guidance_scale, negative, args.seed, step_noise)
    except ValueError as e:
        print(f'sample: {e}', file=sys.stderr)
        return 2
    if args.latents_out:
        np.save(args.latents_out, result['latents'])
    if args.out:
        frames = decode(args.decoder, result['latents'])
        np.save(args.out, frames)
        print(f'sample: {frames.shape[0]} frames {frames.shape[1]}x{frames.shape[2]} -> {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())

"""TAEHV decoder (madebyollin/taehv, the taew2_1 layout) and its streaming ONNX export.

Followed: madebyollin/taehv `taehv.py` at commit 1f14a568f24bf8811e0a0ac601613e04fc1581e8 (2026-08-18),
the base (non-"super") decoder with `decoder_time_upscale=(False, True, True)` and
`decoder_space_upscale=(True, True, True)`. Our own code; only the state-dict key layout and the math match.

The decoder is one `nn.Sequential` named `decoder`, so the checkpoint's keys load by their own names
(`decoder.1.weight`, `decoder.3.conv.0.weight`, `decoder.7.conv.weight`, ...):

    0 tanh(x/3)*3 on the latent   1 conv3x3 L->c0   2 ReLU
    3,4,5  MemBlock(c0)            6 nearest x2      7 TGrow(c0, 1)   8 conv3x3 c0->c1 (no bias)
    9,10,11 MemBlock(c1)          12 nearest x2     13 TGrow(c1, 2)  14 conv3x3 c1->c2 (no bias)
    15,16,17 MemBlock(c2)         18 nearest x2     19 TGrow(c2, 2)  20 conv3x3 c2->c3 (no bias)
    21 ReLU                       22 conv3x3 c3->3

A MemBlock sees its input frame concatenated with its input at the previous frame (zeros before the
first frame). A TGrow turns each frame into `stride` frames (a 1x1 conv to stride*C channels, channel group
k becoming sub-frame k). One latent frame therefore becomes 4 RGB frames; the first 3 frames of a clip are
start-up frames that taehv drops, so T latent frames give 4T-3 frames, clamped to [0, 1].

Streaming: the only state carried from one latent frame to the next is, for each of the 9 MemBlocks, its
input at the last frame it processed. At the first two levels one frame per latent passes each MemBlock;
at the third level two frames do (after the first stride-2 TGrow), the second one seeing the first as its
past. The step graph takes those 9 tensors as inputs `mem_i` and returns the new ones as `mem_out_i`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

LOG = logging.getLogger(__name__)

GRAPH_NAME = 'vae_decoder_step'
REFERENCE = 'madebyollin/taehv taehv.py @ 1f14a568f24bf8811e0a0ac601613e04fc1581e8'

# The fixed taew2_1 layout: which of the three decoder levels grow time / space, which encoder levels pool time.
DECODER_TIME_UPSCALE = (False, True, True)
DECODER_SPACE_UPSCALE = (True, True, True)
ENCODER_TIME_DOWNSCALE = (True, True, False)
IMAGE_CHANNELS = 3
OUTPUT_GAIN = 4.0  # random_checkpoint's extra scale on the last conv

_CONFIG_KEYS = ('name', 'latent_channels', 'patch_size', 'decoder_channels', 'encoder_channels')


def default_config(name: Optional[str] = None) -> dict:
    """`'taew2_1'` (or None): the real checkpoint. `'tiny'`: the same structure with few channels, for tests."""
    if name is None or name == 'taew2_1':
        return {'name': 'taew2_1', 'latent_channels': 16, 'patch_size': 1,
                'decoder_channels': [256, 128, 64, 64], 'encoder_channels': 64}
    if name == 'tiny':
        return {'name': 'tiny', 'latent_channels': 16, 'patch_size': 1,
                'decoder_channels': [24, 16, 8, 8], 'encoder_channels': 8}
    raise ValueError(f"`name` must be 'taew2_1', 'tiny' or None; got {name!r}")


def _positive_int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f'`{what}` must be a positive integer; got {value!r}')
    return value


def check_config(config: dict) -> dict:
    """Validates a TAEHV config and returns a normalised copy; raises ValueError saying how to fix it."""
    if not isinstance(config, dict):
        raise ValueError(f'the TAEHV config must be a dict like default_config("taew2_1"); got {type(config).__name__}')
    unknown = sorted(set(config) - set(_CONFIG_KEYS))
    if unknown:
        raise ValueError(f'unknown TAEHV config key `{unknown[0]}`; the keys are {", ".join(_CONFIG_KEYS)}')
    base = default_config('taew2_1')
    out = dict(base)
    out.update(config)
    out['latent_channels'] = _positive_int(out['latent_channels'], 'latent_channels')
    out['encoder_channels'] = _positive_int(out['encoder_channels'], 'encoder_channels')
    if out['patch_size'] != 1:
        # taew2_1 has none; the step graph's contract is 8x space (patch 1). Larger patches (taew2_2) are not built.
        raise ValueError(f'`patch_size` must be 1 (the taew2_1 layout); got {out["patch_size"]!r}')
    channels = out['decoder_channels']
    if not isinstance(channels, (list, tuple)) or len(channels) != 4:
        raise ValueError(f'`decoder_channels` must be a list of 4 positive integers (taew2_1: [256, 128, 64, 64]); got {channels!r}')
    out['decoder_channels'] = [_positive_int(c, f'decoder_channels[{i}]') for i, c in enumerate(channels)]
    return out


def config_from_tensors(tensors: Dict[str, torch.Tensor]) -> dict:
    """Reads the channel widths off a checkpoint's decoder tensors (a TAEHV file carries no config)."""
    def shape(key: str) -> Tuple[int, ...]:
        if key not in tensors:
            raise ValueError(f'missing tensor `{key}` in the TAEHV checkpoint: is this a TAEHV (taew2_1) file?')
        return tuple(tensors[key].shape)
    c0, latent = shape('decoder.1.weight')[:2]
    c1 = shape('decoder.8.weight')[0]
    c2 = shape('decoder.14.weight')[0]
    c3 = shape('decoder.20.weight')[0]
    out = shape('decoder.22.weight')[0]
    if out != IMAGE_CHANNELS:
        raise ValueError(f'tensor `decoder.22.weight` has {out} output channels; a patch-size-1 TAEHV (taew2_1) has 3')
    config = {'name': 'checkpoint', 'latent_channels': latent, 'patch_size': 1,
              'decoder_channels': [c0, c1, c2, c3], 'encoder_channels': 64}
    if 'encoder.0.weight' in tensors:
        config['encoder_channels'] = int(tensors['encoder.0.weight'].shape[0])
    return check_config(config)


# ---------------------------------------------------------------------------------------------- blocks

def _conv3(n_in: int, n_out: int, bias: bool = True, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(n_in, n_out, 3, stride=stride, padding=1, bias=bias)


class SoftClamp(nn.Module):
    """Squashes latents smoothly into (-3, 3) before the first conv."""

    def forward(self, x):
        return torch.tanh(x / 3.0) * 3.0


class MemBlock(nn.Module):
    """Residual block on [frame, previous frame's input]; keys `conv.0`, `conv.2`, `conv.4`."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Sequential(_conv3(2 * channels, channels), nn.ReLU(), _conv3(channels, channels),
                                  nn.ReLU(), _conv3(channels, channels))
        self.channels = channels

    def forward(self, x, past):
        # In every taew2_1 MemBlock n_in == n_out, so taehv's skip is the identity (and has no weights).
        return torch.relu(self.conv(torch.cat([x, past], 1)) + x)


class TGrow(nn.Module):
    """Each frame becomes `stride` frames: a 1x1 conv to stride*C channels, group k = sub-frame k."""

    def __init__(self, channels: int, stride: int):
        super().__init__()
        self.channels = channels
        self.stride = stride
        self.conv = nn.Conv2d(channels, channels * stride, 1, bias=False)

    def forward(self, x, frames: Optional[int] = None):
        # `frames` (the input's frame count, a Python int) keeps the exported graph's frame axis static.
        y = self.conv(x)
        if self.stride == 1:
            return y
        n = x.shape[0] if frames is None else frames
        return y.reshape(n * self.stride, self.channels, y.shape[2], y.shape[3])


class TPool(nn.Module):
    """Encoder only (present for the key layout of random checkpoints): `stride` frames -> one."""

    def __init__(self, channels: int, stride: int):
        super().__init__()
        self.stride = stride
        self.conv = nn.Conv2d(channels * stride, channels, 1, bias=False)


class Upsample2(nn.Module):
    """Nearest-neighbour x2 (what nn.Upsample(scale_factor=2) does)."""

    def __init__(self, factor: int):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        if self.factor == 1:
            return x
        return F.interpolate(x, scale_factor=float(self.factor), mode='nearest')


def _decoder_layers(config: dict) -> List[nn.Module]:
    c = config['decoder_channels']
    layers: List[nn.Module] = [SoftClamp(), _conv3(config['latent_channels'], c[0]), nn.ReLU()]
    for level in range(3):
        layers += [MemBlock(c[level]), MemBlock(c[level]), MemBlock(c[level]),
                   Upsample2(2 if DECODER_SPACE_UPSCALE[level] else 1),
                   TGrow(c[level], 2 if DECODER_TIME_UPSCALE[level] else 1),
                   _conv3(c[level], c[level + 1], bias=False)]
    layers += [nn.ReLU(), _conv3(c[3], IMAGE_CHANNELS * config['patch_size'] ** 2)]
    return layers


def _encoder_layers(config: dict) -> List[nn.Module]:
    e = config['encoder_channels']
    layers: List[nn.Module] = [_conv3(IMAGE_CHANNELS * config['patch_size'] ** 2, e), nn.ReLU()]
    for level in range(3):
        layers += [TPool(e, 2 if ENCODER_TIME_DOWNSCALE[level] else 1), _conv3(e, e, bias=False, stride=2),
                   MemBlock(e), MemBlock(e), MemBlock(e)]
    layers.append(_conv3(e, config['latent_channels']))
    return layers


# ---------------------------------------------------------------------------------------------- module

class TAEHVDecoder(nn.Module):
    """The TAEHV decoder. `forward(latent, *mems)` is one streaming step (what the ONNX graph computes)."""

    def __init__(self, config: dict):
        super().__init__()
        self.config = check_config(config)
        self.decoder = nn.Sequential(*_decoder_layers(self.config))
        specs = []
        scale, frames = 1, 1
        for index, block in enumerate(self.decoder):
            if isinstance(block, MemBlock):
                specs.append({'block': index, 'channels': block.channels, 'scale': scale, 'frames': frames})
            elif isinstance(block, Upsample2):
                scale *= block.factor
            elif isinstance(block, TGrow):
                frames *= block.stride
        self.memory_specs = specs
        self.frames_per_latent = frames
        self.trim_frames = frames - 1
        self.space_scale = scale * self.config['patch_size']

    # -- streaming ---------------------------------------------------------------------------------------
    def initial_memory(self, height: int, width: int) -> List[torch.Tensor]:
        """taehv's first frame sees zeros as its past (`xt * 0` / zero padding), so the memories start at zero."""
        return [torch.zeros(1, s['channels'], height * s['scale'], width * s['scale']) for s in self.memory_specs]

    def step(self, latent: torch.Tensor, mems: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        """One latent frame [1, L, H, W] + memories -> (frames [4, 3, 8H, 8W] in [0, 1], new memories)."""
        if not torch.onnx.is_in_onnx_export() and (latent.dim() != 4 or latent.shape[0] != 1):
            raise ValueError(f'`latent` must have shape [1, {self.config["latent_channels"]}, H, W]; got {list(latent.shape)}')
        if len(mems) != len(self.memory_specs):
            raise ValueError(f'`mems` must hold {len(self.memory_specs)} tensors; got {len(mems)}')
        x = latent
        new_mems: List[torch.Tensor] = []
        k = 0
        frames = 1  # frames of this step at the current level
        for block in self.decoder:
            if isinstance(block, MemBlock):
                if frames == 1:
                    past = mems[k]
                    new_mems.append(x)
                else:
                    # The frames of this step in order: each one's past is the one before it.
                    past = torch.cat([mems[k], x[:frames - 1]], 0)
                    new_mems.append(x[frames - 1:])
                x = block(x, past)
                k += 1
            elif isinstance(block, TGrow):
                x = block(x, frames)
                frames *= block.stride
            else:
                x = block(x)
        return x.clamp(0.0, 1.0), new_mems

    def forward(self, latent, *mems):
        frames, new_mems = self.step(latent, list(mems))
        return (frames, *new_mems)

    # -- whole clips -------------------------------------------------------------------------------------
    def run_parallel(self, latents: torch.Tensor) -> torch.Tensor:
        """All frames at once, as taehv's parallel path: NTCHW latents -> NTCHW frames (untrimmed, clamped)."""
        n, t = latents.shape[:2]
        x = latents.reshape(n * t, *latents.shape[2:])
        for block in self.decoder:
            if isinstance(block, MemBlock):
                frames = x.reshape(n, t, *x.shape[1:])
                past = torch.cat([torch.zeros_like(frames[:, :1]), frames[:, :-1]], 1).reshape(x.shape)
                x = block(x, past)
            elif isinstance(block, TGrow):
                x = block(x)
                t *= block.stride
            else:
                x = block(x)
        return x.reshape(n, t, *x.shape[1:]).clamp(0.0, 1.0)

    def _check_latents(self, latents: torch.Tensor) -> None:
        if latents.dim() != 5 or latents.shape[2] != self.config['latent_channels']:
            raise ValueError('`latents` must be NTCHW with C = %d (taehv order; the denoiser\'s NCTHW needs '
                             '.permute(0, 2, 1, 3, 4)); got shape %s' % (self.config['latent_channels'], list(latents.shape)))
        if latents.shape[1] < 1:
            raise ValueError('`latents` must hold at least one latent frame (T >= 1)')

    def decode_video(self, latents: torch.Tensor) -> torch.Tensor:
        """The reference: NTCHW latents -> NTCHW RGB in [0, 1], T -> 4T-3 frames (taehv's decode_video)."""
        self._check_latents(latents)
        return self.run_parallel(latents)[:, self.trim_frames:]

    def decode_streaming(self, latents: torch.Tensor) -> torch.Tensor:
        """The same result through `step`, one latent frame per call, as kinema runs the ONNX graph."""
        self._check_latents(latents)
        clips = []
        for b in range(latents.shape[0]):
            mems = self.initial_memory(latents.shape[3], latents.shape[4])
            frames = []
            for t in range(latents.shape[1]):
                out, mems = self.step(latents[b:b + 1, t], mems)
                frames.append(out)
            clips.append(torch.cat(frames, 0)[self.trim_frames:])
        return torch.stack(clips, 0)

    def streaming_manifest(self) -> dict:
        """The `components.vaeDecoder.streaming` block of the manifest (design.md)."""
        return {
            'memory': [{'input': f'mem_{i}', 'output': f'mem_out_{i}', 'channels': s['channels'], 'scale': s['scale']}
                       for i, s in enumerate(self.memory_specs)],
            'framesPerLatent': self.frames_per_latent,
            'trimFrames': self.trim_frames,
        }


def build(config: dict) -> TAEHVDecoder:
    module = TAEHVDecoder(config)
    module.eval()
    return module


def decode_video(module: TAEHVDecoder, latents: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return module.decode_video(latents)


def decode_streaming(module: TAEHVDecoder, latents: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return module.decode_streaming(latents)


# ---------------------------------------------------------------------------------------------- weights

def load_weights(module: TAEHVDecoder, tensors: Dict[str, torch.Tensor]) -> None:
    """Strict load by taehv's own key names (checkpoints.strict_load: a missing, unexpected or mis-shaped key
    is a ValueError naming it; values cast to fp32). `encoder.*` tensors are skipped, and the skip is logged:
    kinema only decodes."""
    from . import checkpoints
    ignored = [k for k in tensors if k.startswith('encoder.')]
    checkpoints.strict_load(module, {k: v for k, v in tensors.items() if not k.startswith('encoder.')})
    if ignored:
        LOG.warning('TAEHV: ignored %d encoder tensors (encoder.*): kinema uses only the decoder', len(ignored))


def random_checkpoint(config: dict, seed: int) -> Dict[str, torch.Tensor]:
    """Every key of a real TAEHV file (encoder and decoder) with random values that keep activations finite
    and the decoded frames spread inside [0, 1] rather than stuck at a clamp."""
    config = check_config(config)
    generator = torch.Generator().manual_seed(int(seed))
    out: Dict[str, torch.Tensor] = {}
    for prefix, layers in (('encoder', _encoder_layers(config)), ('decoder', _decoder_layers(config))):
        holder = nn.Module()
        setattr(holder, prefix, nn.Sequential(*layers))
        for key, ref in holder.state_dict().items():
            if key.endswith('.bias'):
                value = torch.randn(ref.shape, generator=generator) * 0.05
            else:
                fan_in = ref[0].numel()
                # ~He scaling for the ReLU stack, damped so 9 residual MemBlocks do not blow up.
                value = torch.randn(ref.shape, generator=generator) * (0.8 / fan_in ** 0.5)
            out[key] = value.to(torch.float32)
    last = len(_decoder_layers(config)) - 1
    # A wider last conv spreads the frames over [0, 1]; the bias centres them (a few pixels reach the clamp).
    out[f'decoder.{last}.weight'] = out[f'decoder.{last}.weight'] * OUTPUT_GAIN
    out[f'decoder.{last}.bias'] = out[f'decoder.{last}.bias'] + 0.5
    return out


def read_checkpoint(path) -> Dict[str, torch.Tensor]:
    """A TAEHV `.safetensors` or `.pth` file -> tensors by name (through checkpoints.py)."""
    from . import checkpoints
    return checkpoints.read_checkpoint(Path(path))


def load_module(path) -> TAEHVDecoder:
    """Builds the decoder that fits the file's widths and loads it strictly."""
    tensors = read_checkpoint(path)
    module = build(config_from_tensors(tensors))
    load_weights(module, tensors)
    return module


def reference_frames(checkpoint_path, latents_npy) -> np.ndarray:
    """The PyTorch reference for the component runner's `decoder`: latents.npy [1, 16, T, H, W] (NCTHW, the
    denoiser's space) -> frames [4T-3, 8H, 8W, 3] float32 in [0, 1]."""
    latents = np.load(str(latents_npy))
    if latents.ndim != 5 or latents.shape[0] != 1:
        raise ValueError(f'latents.npy must have shape [1, C, T, H, W]; got {list(latents.shape)}')
    module = load_module(checkpoint_path)
    x = torch.from_numpy(np.ascontiguousarray(latents, dtype=np.float32)).permute(0, 2, 1, 3, 4)
    frames = decode_video(module, x)[0]  # [4T-3, 3, 8H, 8W]
    return np.ascontiguousarray(frames.permute(0, 2, 3, 1).numpy(), dtype=np.float32)


# ---------------------------------------------------------------------------------------------- export

def export(module: TAEHVDecoder, config: dict, out_dir: Path, weights: str) -> List[dict]:
    """Writes graph `vae_decoder_step` (one latent frame per call, memories as I/O) under out_dir.
    Returns its manifest graph entry, carrying the `streaming` block for components.vaeDecoder."""
    from . import onnx_export
    if weights not in ('fp32', 'fp16'):
        raise ValueError(f"`weights` must be 'fp32' or 'fp16'; got {weights!r}")
    given = {k: v for k, v in check_config(config).items() if k != 'name'}
    built = {k: v for k, v in module.config.items() if k != 'name'}
    if given != built:
        raise ValueError(f'`config` {given} does not match the module, built from {built}; pass the config the module was built with')
    out_dir = Path(out_dir)
    module.eval()
    height, width = 3, 5  # any size traces the same graph; H and W are dynamic axes
    latent = torch.zeros(1, module.config['latent_channels'], height, width)
    mems = module.initial_memory(height, width)
    n = len(mems)
    input_names = ['latent'] + [f'mem_{i}' for i in range(n)]
    output_names = ['frames'] + [f'mem_out_{i}' for i in range(n)]

    def axes(scale: int) -> dict:
        return {2: 'height', 3: 'width'} if scale == 1 else {2: f'height_x{scale}', 3: f'width_x{scale}'}
    dynamic_axes = {'latent': axes(1), 'frames': axes(module.space_scale)}
    for i, spec in enumerate(module.memory_specs):
        dynamic_axes[f'mem_{i}'] = axes(spec['scale'])
        dynamic_axes[f'mem_out_{i}'] = axes(spec['scale'])
    entry = onnx_export.export_graph(module, (latent, *mems), out_dir, GRAPH_NAME, input_names=input_names,
                                     output_names=output_names, dynamic_axes=dynamic_axes, weights=weights)
    entry['streaming'] = module.streaming_manifest()
    return [entry]


def main(argv=None) -> int:
    """`python3 -m kinema_convert.taehv --checkpoint FILE --latents latents.npy --out frames.npy` (run in convert/):
    the PyTorch reference frames for a component-runner comparison."""
    import argparse
    parser = argparse.ArgumentParser(prog='python3 -m kinema_convert.taehv', description=main.__doc__)
    parser.add_argument('--checkpoint', required=True, help="TAEHV .safetensors or .pth (taew2_1 layout)")
    parser.add_argument('--latents', required=True, help='latents.npy, [1, 16, T, H, W] float32 (NCTHW)')
    parser.add_argument('--out', required=True, help='where to write frames.npy, [4T-3, 8H, 8W, 3] float32')
    args = parser.parse_args(argv)
    np.save(args.out, reference_frames(args.checkpoint, args.latents))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())


def activation_bytes(config: dict, height: int, width: int) -> int:
    """Peak activation estimate of one decoder step (one latent frame of height x width), float32
    (convert/README.md): walking the decoder, the largest layer's input, output and a MemBlock's concatenation
    (3 x the largest [frames, C, H, W] map), plus every memory in and out (2 x their sum)."""
    module_config = check_config(config)
    c = module_config['decoder_channels']
    largest, mems = module_config['latent_channels'] * height * width, 0
    scale, frames, channels = 1, 1, c[0]
    for level in range(3):
        channels = c[level]
        size = frames * channels * (height * scale) * (width * scale)
        mems += 3 * channels * (height * scale) * (width * scale)
        largest = max(largest, 2 * size)  # MemBlock: cat(x, past) has 2C channels
        scale *= 2 if DECODER_SPACE_UPSCALE[level] else 1
        largest = max(largest, frames * channels * (height * scale) * (width * scale))
        frames *= 2 if DECODER_TIME_UPSCALE[level] else 1
        largest = max(largest, frames * max(channels, c[level + 1]) * (height * scale) * (width * scale))
    return 4 * (3 * largest + 2 * mems)

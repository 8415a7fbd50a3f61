"""The `kinema-model/2` manifest a conversion writes (format: docs/model-manifest.md, Wan fields:
docs/wan.md). Only the components that were converted appear; the Wan family refuses to generate
with a missing one (MODEL_INCOMPLETE) but each present one runs on its own.
"""
import json
import shutil
from pathlib import Path

from .onnx_export import file_entry

FORMAT = "kinema-model/2"
PIPELINE = "wan2.1"

# rCM's four-step schedule in rectified-flow σ (from its TrigFlow schedule; model timestep = 1000·σ)
RCM_SIGMAS = [0.98765, 0.78271, 0.60898, 0.40622]

# What diffusers' scripts/convert_wan_to_diffusers.py builds for Wan2.1 at 480p
# (UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
# num_train_timesteps=1000, flow_shift=3.0)), with the scheduler's other defaults as it saves them.
UNIPC_WAN21 = {
    "_class_name": "UniPCMultistepScheduler",
    "beta_end": 0.02, "beta_schedule": "linear", "beta_start": 0.0001, "disable_corrector": [],
    "dynamic_thresholding_ratio": 0.995, "final_sigmas_type": "zero", "flow_shift": 3.0,
    "lower_order_final": True, "num_train_timesteps": 1000, "predict_x0": True,
    "prediction_type": "flow_prediction", "rescale_betas_zero_snr": False, "sample_max_value": 1.0,
    "solver_order": 2, "solver_p": None, "solver_type": "bh2", "steps_offset": 0, "thresholding": False,
    "timestep_spacing": "linspace", "trained_betas": None, "use_beta_sigmas": False,
    "use_exponential_sigmas": False, "use_flow_sigmas": True, "use_karras_sigmas": False,
}
EULER_WAN21 = {"_class_name": "FlowMatchEulerDiscreteScheduler", "num_train_timesteps": 1000, "shift": 3.0,
               "use_dynamic_shifting": False}

_CLASS_TO_TYPE = {"UniPCMultistepScheduler": "unipc", "FlowMatchEulerDiscreteScheduler": "flow-match-euler"}
_SAMPLER_TO_TYPE = {"unipc": "unipc", "euler": "flow-match-euler", "rcm": "rcm"}


class UsageError(ValueError):
    """A flag or input the caller must change; the converter exits with status 2."""


def scheduler_block(scheduler_dir=None, sampler=None) -> dict:
    """{"type", "config"} from a diffusers scheduler folder (its scheduler_config.json), from the
    `--sampler` choice, or both when they agree; UniPC as Wan2.1 ships it when neither is given."""
    if sampler is not None and sampler not in _SAMPLER_TO_TYPE:
        raise UsageError(f"`--sampler` must be one of {', '.join(_SAMPLER_TO_TYPE)}; got {sampler!r}")
    if sampler == "rcm":
        if scheduler_dir is not None:
            raise UsageError("`--sampler rcm` takes its σ list from the converter; drop `--scheduler` "
                             "(a diffusers scheduler_config.json describes a different sampler)")
        return {"type": "rcm", "config": {"sigmas": list(RCM_SIGMAS)}}
    if scheduler_dir is None:
        if sampler == "euler":
            return {"type": "flow-match-euler", "config": dict(EULER_WAN21)}
        return {"type": "unipc", "config": dict(UNIPC_WAN21)}
    path = Path(scheduler_dir)
    if path.is_dir():
        path = path / "scheduler_config.json"
    if not path.is_file():
        raise UsageError(f"`--scheduler`: {path} does not exist (pass the folder holding scheduler_config.json)")
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise UsageError(f"`--scheduler`: {path} is not valid JSON: {e}") from None
    cls = config.get("_class_name") if isinstance(config, dict) else None
    if cls not in _CLASS_TO_TYPE:
        raise UsageError(f"`--scheduler`: {path} `_class_name` must be one of {', '.join(_CLASS_TO_TYPE)}; "
                         f"got {cls!r}")
    kind = _CLASS_TO_TYPE[cls]
    if sampler is not None and _SAMPLER_TO_TYPE[sampler] != kind:
        raise UsageError(f"`--sampler {sampler}` disagrees with `--scheduler` ({path} is a {cls}); "
                         "give one of them")
    return {"type": kind, "config": config}


def copy_tokenizer(tokenizer_dir, out_dir) -> list:
    """tokenizer.json and tokenizer_config.json (both required), special_tokens_map.json if present,
    copied into out_dir/tokenizer/. Returns the manifest file entries."""
    src = Path(tokenizer_dir)
    if not src.is_dir():
        raise UsageError(f"`--tokenizer`: {src} is not a folder (pass the checkpoint's tokenizer/ folder)")
    for required in ("tokenizer.json", "tokenizer_config.json"):
        if not (src / required).is_file():
            raise UsageError(f"`--tokenizer`: {src} has no {required}; kinema reads the Hugging Face "
                             "tokenizers format (Wan-AI/Wan2.1-T2V-1.3B-Diffusers ships both in tokenizer/)")
    dest = Path(out_dir) / "tokenizer"
    dest.mkdir(parents=True, exist_ok=True)
    entries = []
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (src / name).is_file():
            shutil.copyfile(src / name, dest / name)
            entries.append(file_entry(dest / name, out_dir))
    return entries


def denoiser_config(config: dict) -> dict:
    """components.denoiser.config from a diffusers WanTransformer3DModel config.json."""
    heads, head_dim = config.get("num_attention_heads"), config.get("attention_head_dim")
    for key, v in (("num_attention_heads", heads), ("attention_head_dim", head_dim),
                   ("text_dim", config.get("text_dim"))):
        if not isinstance(v, int) or v < 1:
            raise UsageError(f"transformer config `{key}` must be a positive integer; got {v!r}")
    return {"numHeads": heads, "headDim": head_dim, "patchSize": list(config.get("patch_size", [1, 2, 2])),
            "inChannels": config.get("in_channels", 16), "outChannels": config.get("out_channels", 16),
            "textDim": config["text_dim"], "ropeTheta": 10000}


def _sizes(width, height, extra):
    sizes = [{"width": width, "height": height}]
    for w, h in extra:
        if {"width": w, "height": h} not in sizes:
            sizes.append({"width": w, "height": h})
    return sizes


def build_manifest(*, components: dict, scheduler: dict, tokenizer_files=None, model_id="wan2.1-t2v",
                   name="Wan2.1 T2V", version="1.0.0", description=None, max_length=512, width=832,
                   height=480, num_frames=81, fps=16, sizes=(), license_="Apache-2.0", steps=None,
                   guidance_scale=None, max_frames=None) -> dict:
    """The whole manifest. `components` maps textEncoder/denoiser/vaeDecoder to their finished
    component objects (variants with graphs); absent components are simply not there."""
    few_step = scheduler["type"] == "rcm"
    if steps is None:
        steps = len(scheduler["config"]["sigmas"]) if few_step else 50
    if guidance_scale is None:
        guidance_scale = 1.0 if few_step else 5.0
    max_steps = len(scheduler["config"]["sigmas"]) if few_step else 100
    if not 1 <= steps <= max_steps:
        raise UsageError(f"`--steps` must be an integer from 1 to {max_steps} for this sampler; got {steps}")
    if (num_frames - 1) % 4:
        raise UsageError(f"`--num-frames` must be 4k+1 (Wan compresses time 4x); got {num_frames}")
    max_frames = num_frames if max_frames is None else max_frames
    if (max_frames - 1) % 4 or max_frames < num_frames:
        raise UsageError(f"`--max-num-frames` must be 4k+1 and at least `--num-frames` ({num_frames}); got {max_frames}")
    for key, v in (("--width", width), ("--height", height)):
        if v % 16:
            raise UsageError(f"`{key}` must be a multiple of 16 (8x VAE, 2x patch); got {v}")
    manifest = {
        "format": FORMAT,
        "pipeline": PIPELINE,
        "id": model_id,
        "version": version,
        "name": name,
        "description": description or (
            "Wan2.1 text-to-video (flow-matching DiT, umT5 text encoder, TAEHV decoder) converted by "
            "kinema's converter (convert/convert.py)."),
        "license": license_,
        "languages": ["en", "zh"],
        "components": components,
        "releaseOrder": [c for c in ("textEncoder", "denoiser", "vaeDecoder") if c in components],
        # TAEHV decodes the denoiser's own latent space: no mean/std to undo
        "latent": {"channels": 16, "temporalCompression": 4, "spatialCompression": 8,
                   "mean": [0.0] * 16, "std": [1.0] * 16},
        "scheduler": scheduler,
        "guidance": {"cfg": not few_step, "negativePrompt": ""},
        "defaults": {"steps": steps, "guidanceScale": guidance_scale, "numFrames": num_frames, "fps": fps,
                     "width": width, "height": height, "negativePrompt": ""},
        "limits": {"steps": {"min": 1, "max": max_steps},
                   "guidanceScale": {"min": 0, "max": 20},
                   "numFrames": {"min": 1, "max": max_frames},
                   "sizes": _sizes(width, height, sizes)},
    }
    if tokenizer_files:
        manifest["tokenizer"] = {"files": tokenizer_files, "maxLength": max_length}
    return manifest


def write_manifest(out_dir, manifest: dict) -> Path:
    path = Path(out_dir) / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return path


def check_files(out_dir, manifest: dict) -> None:
    """Every file the manifest names exists with its bytes and sha256 (used by tests and after writing)."""
    from .onnx_export import sha256
    out_dir = Path(out_dir)
    entries = list(manifest.get("tokenizer", {}).get("files", []))
    for comp in manifest["components"].values():
        for v in comp["variants"]:
            for g in v.get("graphs", []):
                entries += g["files"]
            entries += v.get("data", [])
    for e in entries:
        p = out_dir / e["path"]
        if not p.is_file():
            raise AssertionError(f"manifest names {e['path']}, which is not in {out_dir}")
        if p.stat().st_size != e["bytes"] or sha256(p) != e["sha256"]:
            raise AssertionError(f"{e['path']}: bytes or sha256 differ from the manifest")

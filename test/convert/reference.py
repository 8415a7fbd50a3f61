"""PyTorch references for the cross-language tests (test/convert/wan-components.test.ts).

    /usr/bin/python3 test/convert/reference.py RAW MODEL OUT

RAW is what `convert.py make-random --tiny` wrote (the checkpoints), MODEL the converted folder (read only
for its manifest: the token length L and the latent size). For each component this writes the runner's
inputs under OUT/<component>/in/ and the converter's PyTorch modules' outputs under OUT/<component>/ref/,
as .npy files named as the component runner names them. Inputs are seeded random values; the text
encoder's output is the denoiser's `encoder_hidden_states`, as in a generation.
"""
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "convert"))

from kinema_convert import taehv, umt5, wan_transformer  # noqa: E402
from kinema_convert.checkpoints import read_checkpoint, read_config  # noqa: E402


def save(folder: Path, name: str, array: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / f"{name}.npy", np.ascontiguousarray(array))


def main(raw: Path, model: Path, out: Path) -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(1234)
    manifest = json.loads((model / "manifest.json").read_text())
    length = int(manifest["tokenizer"]["maxLength"])

    # Text encoder: a few real tokens then </s> (id 1) and padding (id 0), as the tokenizer makes them.
    config = read_config(raw / "text_encoder")
    encoder = umt5.build(config)
    umt5.load_weights(encoder, read_checkpoint(raw / "text_encoder"))
    real = max(2, length // 2)
    ids = np.zeros((1, length), dtype=np.int64)
    ids[0, : real - 1] = rng.integers(3, int(config["vocab_size"]), size=real - 1)
    ids[0, real - 1] = 1
    mask = np.zeros((1, length), dtype=np.int64)
    mask[0, :real] = 1
    with torch.no_grad():
        embeds = encoder(torch.from_numpy(ids), torch.from_numpy(mask)).numpy().astype(np.float32)
    save(out / "text-encoder" / "in", "input_ids", ids)
    save(out / "text-encoder" / "in", "attention_mask", mask)
    save(out / "text-encoder" / "ref", "prompt_embeds", embeds)

    # Denoiser: random latents [1, 16, 2, 4, 6] (T, H, W all differ, so a transposed axis shows), t = 1000·σ.
    hidden = rng.standard_normal((1, 16, 2, 4, 6)).astype(np.float32)
    timestep = np.array([757.5], dtype=np.float32)
    inputs = {"hidden_states": hidden, "timestep": timestep, "encoder_hidden_states": embeds}
    refs = wan_transformer.reference_outputs(raw / "transformer", inputs)
    for name, array in inputs.items():
        save(out / "denoiser" / "in", name, array)
    save(out / "denoiser" / "ref", "sample", refs["sample"].astype(np.float32))

    # Decoder: T = 3 latent frames of 3 x 5 (4T - 3 = 9 RGB frames of 24 x 40).
    latents = rng.standard_normal((1, 16, 3, 3, 5)).astype(np.float32)
    save(out / "decoder" / "in", "latents", latents)
    frames = taehv.reference_frames(raw / "taehv.safetensors", out / "decoder" / "in" / "latents.npy")
    save(out / "decoder" / "ref", "frames", frames)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: reference.py RAW MODEL OUT")
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))

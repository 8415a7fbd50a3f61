#!/usr/bin/python3
"""Reference values for kinema's schedulers, written independently of the TypeScript.

diffusers is not installed here, so this re-implements FlowMatchEulerDiscreteScheduler and DDIMScheduler
(eta = 0) in numpy/torch following diffusers' documented code paths and dtypes (numpy float64 timestep
spacing, torch float32 betas/alphas/sigmas, float32 step arithmetic). It writes one JSON file per config to
test/fixtures/schedulers/. Run from the repository root:

    /usr/bin/python3 training/reference/schedulers.py
"""
import json
import math
import os

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "test", "fixtures", "schedulers")


# ---------------------------------------------------------------- flow matching (Euler)
class FlowMatchEuler:
    def __init__(self, num_train_timesteps=1000, shift=1.0, use_dynamic_shifting=False, base_shift=0.5,
                 max_shift=1.15, base_image_seq_len=256, max_image_seq_len=4096, time_shift_type="exponential",
                 shift_terminal=None, **_ignored):
        self.n = num_train_timesteps
        self.shift = shift
        self.dynamic = use_dynamic_shifting
        self.time_shift_type = time_shift_type
        self.shift_terminal = shift_terminal
        timesteps = np.linspace(1, num_train_timesteps, num_train_timesteps, dtype=np.float32)[::-1].copy()
        timesteps = torch.from_numpy(timesteps).to(dtype=torch.float32)
        sigmas = timesteps / num_train_timesteps
        if not use_dynamic_shifting:
            sigmas = shift * sigmas / (1 + (shift - 1) * sigmas)
        self.sigma_min = sigmas[-1].item()
        self.sigma_max = sigmas[0].item()

    def time_shift(self, mu, sigma, t):
        if self.time_shift_type == "exponential":
            return math.exp(mu) / (math.exp(mu) + (1 / t - 1) ** sigma)
        return mu / (mu + (1 / t - 1) ** sigma)

    def set_timesteps(self, num_inference_steps, mu=None):
        if self.dynamic and mu is None:
            raise ValueError("mu must be passed when use_dynamic_shifting is True")
        timesteps = np.linspace(self.sigma_max * self.n, self.sigma_min * self.n, num_inference_steps)
        sigmas = timesteps / self.n
        if self.dynamic:
            sigmas = self.time_shift(mu, 1.0, sigmas)
        else:
            sigmas = self.shift * sigmas / (1 + (self.shift - 1) * sigmas)
        if self.shift_terminal:
            one_minus_z = 1 - sigmas
            scale_factor = one_minus_z[-1] / (1 - self.shift_terminal)
            sigmas = 1 - (one_minus_z / scale_factor)
        sigmas = torch.from_numpy(np.asarray(sigmas)).to(dtype=torch.float32)
        self.timesteps = sigmas * self.n
        self.sigmas = torch.cat([sigmas, torch.zeros(1)])

    def step(self, i, sample, model_output):
        sample = sample.to(torch.float32)
        sigma = self.sigmas[i]
        sigma_next = self.sigmas[i + 1]
        prev_sample = sample + (sigma_next - sigma) * model_output
        pred_original = sample - sigma * model_output
        return prev_sample, pred_original


# ---------------------------------------------------------------- DDIM (eta = 0)
def betas_for_alpha_bar(n, max_beta=0.999):
    def alpha_bar(t):
        return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
    betas = [min(1 - alpha_bar((i + 1) / n) / alpha_bar(i / n), max_beta) for i in range(n)]
    return torch.tensor(betas, dtype=torch.float32)


def rescale_zero_terminal_snr(betas):
    alphas = 1.0 - betas
    alphas_cumprod = torch.cumprod(alphas, dim=0)
    alphas_bar_sqrt = alphas_cumprod.sqrt()
    a0 = alphas_bar_sqrt[0].clone()
    a_t = alphas_bar_sqrt[-1].clone()
    alphas_bar_sqrt -= a_t
    alphas_bar_sqrt *= a0 / (a0 - a_t)
    alphas_bar = alphas_bar_sqrt ** 2
    alphas = alphas_bar[1:] / alphas_bar[:-1]
    alphas = torch.cat([alphas_bar[0:1], alphas])
    return 1 - alphas


class Ddim:
    def __init__(self, num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02, beta_schedule="linear",
                 trained_betas=None, clip_sample=True, set_alpha_to_one=True, steps_offset=0,
                 prediction_type="epsilon", clip_sample_range=1.0, timestep_spacing="leading",
                 rescale_betas_zero_snr=False, **_ignored):
        if trained_betas is not None:
            betas = torch.tensor(trained_betas, dtype=torch.float32)
        elif beta_schedule == "linear":
            betas = torch.linspace(beta_start, beta_end, num_train_timesteps, dtype=torch.float32)
        elif beta_schedule == "scaled_linear":
            betas = torch.linspace(beta_start ** 0.5, beta_end ** 0.5, num_train_timesteps, dtype=torch.float32) ** 2
        elif beta_schedule == "squaredcos_cap_v2":
            betas = betas_for_alpha_bar(num_train_timesteps)
        else:
            raise NotImplementedError(beta_schedule)
        if rescale_betas_zero_snr:
            betas = rescale_zero_terminal_snr(betas)
        self.alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        self.final_alpha_cumprod = torch.tensor(1.0) if set_alpha_to_one else self.alphas_cumprod[0]
        self.n = num_train_timesteps
        self.clip_sample = clip_sample
        self.clip_sample_range = clip_sample_range
        self.steps_offset = steps_offset
        self.prediction_type = prediction_type
        self.timestep_spacing = timestep_spacing

    def set_timesteps(self, steps):
        self.num_inference_steps = steps
        if self.timestep_spacing == "linspace":
            timesteps = np.linspace(0, self.n - 1, steps).round()[::-1].copy().astype(np.int64)
        elif self.timestep_spacing == "leading":
            step_ratio = self.n // steps
            timesteps = (np.arange(0, steps) * step_ratio).round()[::-1].copy().astype(np.int64)
            timesteps += self.steps_offset
        elif self.timestep_spacing == "trailing":
            step_ratio = self.n / steps
            timesteps = np.round(np.arange(self.n, 0, -step_ratio)).astype(np.int64)
            timesteps -= 1
        self.timesteps = torch.from_numpy(timesteps)

    def prev_timestep(self, timestep):
        return timestep - self.n // self.num_inference_steps

    def alpha_prev(self, timestep):
        prev = self.prev_timestep(timestep)
        return self.alphas_cumprod[prev] if prev >= 0 else self.final_alpha_cumprod

    def step(self, i, sample, model_output):
        timestep = int(self.timesteps[i])
        alpha_prod_t = self.alphas_cumprod[timestep]
        alpha_prod_t_prev = self.alpha_prev(timestep)
        beta_prod_t = 1 - alpha_prod_t
        if self.prediction_type == "epsilon":
            pred_original_sample = (sample - beta_prod_t ** 0.5 * model_output) / alpha_prod_t ** 0.5
            pred_epsilon = model_output
        elif self.prediction_type == "sample":
            pred_original_sample = model_output
            pred_epsilon = (sample - alpha_prod_t ** 0.5 * pred_original_sample) / beta_prod_t ** 0.5
        elif self.prediction_type == "v_prediction":
            pred_original_sample = alpha_prod_t ** 0.5 * sample - beta_prod_t ** 0.5 * model_output
            pred_epsilon = alpha_prod_t ** 0.5 * model_output + beta_prod_t ** 0.5 * sample
        if self.clip_sample:
            pred_original_sample = pred_original_sample.clamp(-self.clip_sample_range, self.clip_sample_range)
        std_dev_t = 0.0  # eta = 0
        pred_sample_direction = (1 - alpha_prod_t_prev - std_dev_t ** 2) ** 0.5 * pred_epsilon
        prev_sample = alpha_prod_t_prev ** 0.5 * pred_original_sample + pred_sample_direction
        return prev_sample, pred_original_sample


# ---------------------------------------------------------------- fixtures
def floats(t):
    return [float(v) for v in t.flatten().tolist()]


def fixture(name, kind, config, steps, mu=None, check_steps=None, size=12, scale=1.0):
    gen = torch.Generator().manual_seed(sum(map(ord, name)))
    if kind == "flow-match-euler":
        sched = FlowMatchEuler(**config)
        sched.set_timesteps(steps, mu=mu)
    else:
        sched = Ddim(**config)
        sched.set_timesteps(steps)
    n_steps = len(sched.timesteps)
    if check_steps is None:
        check_steps = sorted({0, 1, n_steps // 2, n_steps - 1} & set(range(n_steps)))
    checks = []
    for i in check_steps:
        sample = torch.randn(size, generator=gen) * scale
        model_output = torch.randn(size, generator=gen) * scale
        prev_sample, pred_original = sched.step(i, sample, model_output)
        checks.append({
            "step": i,
            "sample": floats(sample),
            "modelOutput": floats(model_output),
            "prevSample": floats(prev_sample),
            "predOriginal": floats(pred_original),
        })
    out = {
        "name": name,
        "type": kind,
        "config": config,
        "steps": steps,
        "timesteps": floats(sched.timesteps.to(torch.float64)),
        "checks": checks,
    }
    if mu is not None:
        out["mu"] = mu
    if kind == "flow-match-euler":
        out["sigmas"] = floats(sched.sigmas.to(torch.float64))
    else:
        out["alphaProd"] = [float(sched.alphas_cumprod[int(t)]) for t in sched.timesteps]
        out["alphaProdPrev"] = [float(sched.alpha_prev(int(t))) for t in sched.timesteps]
        out["prevTimesteps"] = [int(sched.prev_timestep(int(t))) for t in sched.timesteps]
    path = os.path.join(OUT, name + ".json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("wrote", os.path.relpath(path), n_steps, "steps")


def main():
    os.makedirs(OUT, exist_ok=True)
    flow = {"_class_name": "FlowMatchEulerDiscreteScheduler", "num_train_timesteps": 1000}
    fixture("flow-shift1-10", "flow-match-euler", {**flow, "shift": 1.0}, 10)
    fixture("flow-wan-shift3-20", "flow-match-euler", {**flow, "shift": 3.0}, 20)
    fixture("flow-wan-shift5-50", "flow-match-euler", {**flow, "shift": 5.0}, 50)
    fixture("flow-dynamic-mu-8", "flow-match-euler",
            {**flow, "shift": 3.0, "use_dynamic_shifting": True, "base_shift": 0.5, "max_shift": 1.15}, 8, mu=0.8)
    fixture("flow-terminal-7", "flow-match-euler", {**flow, "shift": 2.05, "shift_terminal": 0.1}, 7)
    fixture("flow-single-step", "flow-match-euler", {**flow, "shift": 5.0}, 1)

    modelscope = {"_class_name": "DDIMScheduler", "_diffusers_version": "0.15.0.dev0", "beta_end": 0.012,
                  "beta_schedule": "scaled_linear", "beta_start": 0.00085, "clip_sample": False,
                  "num_train_timesteps": 1000, "prediction_type": "epsilon", "set_alpha_to_one": False,
                  "skip_prk_steps": True, "steps_offset": 1, "trained_betas": None}
    fixture("ddim-modelscope-25", "ddim", modelscope, 25)
    fixture("ddim-trailing-v-7", "ddim", {"beta_schedule": "linear", "timestep_spacing": "trailing",
                                          "prediction_type": "v_prediction", "clip_sample": False}, 7)
    fixture("ddim-linspace-cos-sample-clip-10", "ddim",
            {"beta_schedule": "squaredcos_cap_v2", "timestep_spacing": "linspace", "prediction_type": "sample",
             "clip_sample": True, "clip_sample_range": 1.0}, 10, scale=2.0)
    fixture("ddim-eps-clip-5", "ddim", {"clip_sample": True, "clip_sample_range": 1.5}, 5, scale=3.0)
    fixture("ddim-zero-snr-v-4", "ddim", {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012,
                                          "rescale_betas_zero_snr": True, "timestep_spacing": "trailing",
                                          "prediction_type": "v_prediction", "clip_sample": False}, 4)
    fixture("ddim-trailing-3", "ddim", {"timestep_spacing": "trailing", "clip_sample": False}, 3)
    fixture("ddim-linspace-odd-6", "ddim", {"timestep_spacing": "linspace", "clip_sample": False,
                                           "num_train_timesteps": 100}, 6)


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()

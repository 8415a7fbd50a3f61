#!/usr/bin/python3
"""Reference samplers for the Wan family, in numpy/torch, written from the algorithms (not from kinema's
TypeScript) so the two can be held against each other:

- ``UniPCFlow``: diffusers' UniPCMultistepScheduler with ``prediction_type="flow_prediction"``,
  ``use_flow_sigmas=True`` and ``flow_shift`` (what diffusers' convert_wan_to_diffusers.py ships for Wan2.1:
  flow_shift 3.0, num_train_timesteps 1000, solver_order 2, bh2, lower_order_final, final sigma 0),
  following diffusers' dtypes: the schedule in numpy float64, σ stored float32, step scalars as float32
  torch tensors, latents float32.
- ``FlowMatchEuler``: diffusers' FlowMatchEulerDiscreteScheduler with a static shift.
- ``Rcm``: rCM/TurboDiffusion's few-step sampler in rectified-flow form (x0 = x − σ·v, then
  x = (1 − σ')·x0 + σ'·ε with fresh noise; the last step returns x0).
- ``kinema_noise(shape, seed)``: kinema's Philox-4x32-10 + Box–Muller noise (src/kernels/philox.ts) in numpy,
  float32 operation by operation, so a PyTorch sampling run can use exactly the noise kinema draws.
  rCM's re-noise at step i uses seed ``rcm_noise_seed(seed, i) = (seed + 1 + i) % 2**31``.

``python3 convert/kinema_convert/schedulers.py --write-fixtures`` regenerates test/fixtures/schedulers/samplers/
(``--check`` compares instead of writing; exit status 1 when they differ).
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "test", "fixtures", "schedulers", "samplers")

# What convert_wan_to_diffusers.py writes for Wan2.1 T2V (480p): UniPCMultistepScheduler(prediction_type=
# "flow_prediction", use_flow_sigmas=True, num_train_timesteps=1000, flow_shift=3.0), saved with every
# __init__ argument at its default.
WAN21_UNIPC_CONFIG = {
    "_class_name": "UniPCMultistepScheduler",
    "beta_end": 0.02,
    "beta_schedule": "linear",
    "beta_start": 0.0001,
    "disable_corrector": [],
    "dynamic_thresholding_ratio": 0.995,
    "final_sigmas_type": "zero",
    "flow_shift": 3.0,
    "lower_order_final": True,
    "num_train_timesteps": 1000,
    "predict_x0": True,
    "prediction_type": "flow_prediction",
    "rescale_betas_zero_snr": False,
    "sample_max_value": 1.0,
    "shift_terminal": None,
    "sigma_max": None,
    "sigma_min": None,
    "solver_order": 2,
    "solver_p": None,
    "solver_type": "bh2",
    "steps_offset": 0,
    "thresholding": False,
    "time_shift_type": "exponential",
    "timestep_spacing": "linspace",
    "trained_betas": None,
    "use_beta_sigmas": False,
    "use_dynamic_shifting": False,
    "use_exponential_sigmas": False,
    "use_flow_sigmas": True,
    "use_karras_sigmas": False,
}

RCM_SIGMAS = [0.98765, 0.78271, 0.60898, 0.40622]
TURBO_SIGMAS = [0.98765, 0.93378, 0.85290, 0.60898]


# ---------------------------------------------------------------------------------------------- UniPC
class UniPCFlow:
    def __init__(self, num_train_timesteps=1000, solver_order=2, solver_type="bh2", lower_order_final=True,
                 disable_corrector=(), flow_shift=1.0, final_sigmas_type="zero", shift_terminal=None,
                 prediction_type="epsilon", use_flow_sigmas=False, predict_x0=True, **_others):
        if prediction_type != "flow_prediction" or not use_flow_sigmas or not predict_x0:
            raise ValueError("this reference implements the flow-matching UniPC only")
        self.n = num_train_timesteps
        self.order = solver_order
        self.solver_type = "bh2" if solver_type in ("midpoint", "heun", "logrho") else solver_type
        self.lower_order_final = lower_order_final
        self.disable_corrector = list(disable_corrector)
        self.shift = flow_shift
        self.final = final_sigmas_type
        self.shift_terminal = shift_terminal

    def set_timesteps(self, steps):
        s = np.linspace(1.0, 1.0 / self.n, steps + 1)[:-1]
        s = self.shift * s / (1 + (self.shift - 1) * s)
        if self.shift_terminal:
            one_minus = 1 - s
            s = 1 - one_minus / (one_minus[-1] / (1 - self.shift_terminal))
        if abs(s[0] - 1) < 1e-6:
            s[0] -= 1e-6
        self.timesteps = (s * self.n).astype(np.int64)  # torch .to(int64) truncates, as numpy's astype
        last = 0.0 if self.final == "zero" else s[-1]
        self.sigmas = torch.from_numpy(np.concatenate([s, [last]]).astype(np.float32))
        self.steps = steps
        self.history = []  # [(x0, step index)], newest last
        self.last_sample = None
        self.last_order = None
        self.warm = 0
        self.index = 0

    @staticmethod
    def _lam(sigma):
        return torch.log(1 - sigma) - torch.log(sigma)

    def _scalars(self, t_idx, s0_idx, earlier_idx, order):
        sig_t, sig_s0 = self.sigmas[t_idx], self.sigmas[s0_idx]
        alpha_t = 1 - sig_t
        lam_s0 = self._lam(sig_s0)
        h = self._lam(sig_t) - lam_s0
        rks = [(self._lam(self.sigmas[k]) - lam_s0) / h for k in earlier_idx[: order - 1]]
        rks = torch.stack(rks + [torch.ones(())])
        hh = -h
        h_phi_1 = torch.expm1(hh)
        b_h = hh if self.solver_type == "bh1" else torch.expm1(hh)
        rows, b = [], []
        h_phi_k = h_phi_1 / hh - 1
        fact = 1
        for i in range(1, order + 1):
            rows.append(torch.pow(rks, i - 1))
            b.append(h_phi_k * fact / b_h)
            fact *= i + 1
            h_phi_k = h_phi_k / hh - 1 / fact
        return sig_t, sig_s0, alpha_t, h_phi_1, b_h, rks, torch.stack(rows), torch.stack(b)

    def step(self, v, x):
        """One step from sample x (float32 tensor) with velocity v; returns (next sample, x0)."""
        i = self.index
        x0 = x - self.sigmas[i] * v
        if i > 0 and (i - 1) not in self.disable_corrector and self.last_sample is not None:
            order = self.last_order
            m0 = self.history[-1][0]
            earlier = list(reversed(self.history[:-1]))
            sig_t, sig_s0, alpha_t, h_phi_1, b_h, rks, rows, b = self._scalars(i, i - 1, [k for _, k in earlier], order)
            rhos = torch.tensor([0.5]) if order == 1 else torch.linalg.solve(rows, b)
            corr = 0
            for k in range(order - 1):
                corr = corr + rhos[k] * ((earlier[k][0] - m0) / rks[k])
            base = sig_t / sig_s0 * self.last_sample - alpha_t * h_phi_1 * m0
            x = base - alpha_t * b_h * (corr + rhos[-1] * (x0 - m0))
        self.history = (self.history + [(x0, i)])[-self.order:]
        order = min(self.order, self.steps - i) if self.lower_order_final else self.order
        order = min(order, self.warm + 1)
        self.last_sample = x
        self.last_order = order
        m0 = self.history[-1][0]
        earlier = list(reversed(self.history[:-1]))
        sig_t, sig_s0, alpha_t, h_phi_1, b_h, rks, rows, b = self._scalars(i + 1, i, [k for _, k in earlier], order)
        pred = 0
        if order > 1:
            rhos = torch.tensor([0.5]) if order == 2 else torch.linalg.solve(rows[:-1, :-1], b[:-1])
            for k in range(order - 1):
                pred = pred + rhos[k] * ((earlier[k][0] - m0) / rks[k])
        nxt = sig_t / sig_s0 * x - alpha_t * h_phi_1 * m0 - alpha_t * b_h * pred
        self.warm = min(self.warm + 1, self.order)
        self.index += 1
        return nxt.to(torch.float32), x0


# ---------------------------------------------------------------------------------------------- Euler
class FlowMatchEuler:
    """FlowMatchEulerDiscreteScheduler, static shift only (the form Wan configs use)."""

    def __init__(self, num_train_timesteps=1000, shift=1.0, use_dynamic_shifting=False, shift_terminal=None,
                 invert_sigmas=False, use_karras_sigmas=False, use_exponential_sigmas=False, use_beta_sigmas=False,
                 stochastic_sampling=False, **_others):
        if use_dynamic_shifting or shift_terminal or invert_sigmas or use_karras_sigmas or use_exponential_sigmas \
                or use_beta_sigmas or stochastic_sampling:
            raise ValueError("this reference implements the static-shift Euler schedule only")
        self.n = num_train_timesteps
        self.shift = shift

    def set_timesteps(self, steps):
        n = self.n
        base = torch.from_numpy(np.linspace(1, n, n, dtype=np.float32)[::-1].copy()) / n  # float32
        shifted = self.shift * base / (1 + (self.shift - 1) * base)
        sigma_max, sigma_min = shifted[0].item(), shifted[-1].item()
        s = np.linspace(sigma_max * n, sigma_min * n, steps) / n
        s = self.shift * s / (1 + (self.shift - 1) * s)
        sig = torch.from_numpy(s).to(torch.float32)
        self.timesteps = sig * n
        self.sigmas = torch.cat([sig, torch.zeros(1)])
        self.index = 0

    def step(self, v, x):
        i = self.index
        self.index += 1
        x0 = x - self.sigmas[i] * v
        return x + (self.sigmas[i + 1] - self.sigmas[i]) * v, x0


# ---------------------------------------------------------------------------------------------- rCM
def rcm_noise_seed(seed, i):
    return (seed + 1 + i) % 2 ** 31


class Rcm:
    def __init__(self, sigmas, t_scaling_factor=1000.0, **_others):
        self.all = [float(s) for s in sigmas]
        self.scale = t_scaling_factor

    def set_timesteps(self, steps):
        if not 1 <= steps <= len(self.all):
            raise ValueError(f"steps must be from 1 to {len(self.all)}")
        used = self.all[:steps]
        self.sigmas = used + [0.0]
        self.timesteps = [s * self.scale for s in used]
        s0 = used[0]
        # rCM starts from x_trig = ε; in flow space that is ε / (cos t0 + sin t0) = ε·√(σ0² + (1 − σ0)²).
        self.init_noise_sigma = math.sqrt(s0 * s0 + (1 - s0) ** 2)
        self.steps = steps
        self.index = 0

    def step(self, v, x, noise):
        """noise: ε for the re-noise (ignored on the last step)."""
        i = self.index
        self.index += 1
        x0 = x - self.sigmas[i] * v
        if i == self.steps - 1:
            return x0, x0
        s = self.sigmas[i + 1]
        return (1 - s) * x0 + s * noise, x0


# ---------------------------------------------------------------------------------------------- noise
_M0, _M1, _W0, _W1 = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85
F = np.float32


def _philox(counter, key_lo, key_hi):
    """Philox-4x32-10 over an array of counters (words 1-3 zero); returns words r0, r1."""
    mask = np.uint64(0xFFFFFFFF)
    c0 = counter.astype(np.uint64)
    c1 = np.zeros_like(c0)
    c2 = np.zeros_like(c0)
    c3 = np.zeros_like(c0)
    k0, k1 = np.uint64(key_lo), np.uint64(key_hi)
    for r in range(10):
        if r > 0:
            k0 = (k0 + np.uint64(_W0)) & mask
            k1 = (k1 + np.uint64(_W1)) & mask
        p0 = np.uint64(_M0) * c0
        p1 = np.uint64(_M1) * c2
        c0, c1, c2, c3 = ((p1 >> np.uint64(32)) ^ c1 ^ k0) & mask, p1 & mask, ((p0 >> np.uint64(32)) ^ c3 ^ k1) & mask, p0 & mask
    return c0, c1


def _ln_unit(n):
    """ln(n·2^−24) for integers n in [1, 2^24] from float32 + and × (as kinema's lnUnit)."""
    n = n.astype(np.float64)
    e = np.floor(np.log2(n)).astype(np.int64)
    # exact powers: fix any floor(log2) rounding at the edges
    e = np.where(2.0 ** e > n, e - 1, e)
    e = np.where(2.0 ** (e + 1) <= n, e + 1, e)
    m = n / 2.0 ** e
    big = m > np.float64(F(math.sqrt(2)))
    m = np.where(big, m / 2, m)
    e = np.where(big, e + 1, e)
    m = m.astype(F)
    s = (m - F(1)) / (m + F(1))
    s2 = s * s
    p = np.full_like(s, F(1 / 13))
    for k in (11, 9, 7, 5, 3):
        p = p * s2 + F(1 / k)
    p = p * s2 + F(1)
    return (F(2) * s) * p + (e - 24).astype(F) * F(math.log(2))


def _cos_folded(theta):
    a = np.abs(theta)
    flip = a > F(math.pi / 2)
    a = np.where(flip, F(math.pi) - a, a).astype(F)
    a2 = a * a
    p = np.full_like(a, F(1 / 20922789888000))
    for k in (14, 12, 10, 8, 6, 4, 2):
        p = p * a2 + F((1 if (k // 2) % 2 == 0 else -1) / math.factorial(k))
    p = p * a2 + F(1)
    return np.where(flip, -p, p).astype(F)


def kinema_noise(shape, seed):
    """kinema's N(0, 1) tensor of `shape` for `seed` (value i = Philox counter i), float32."""
    count = int(np.prod(shape))
    r0, r1 = _philox(np.arange(count, dtype=np.uint64), seed % 2 ** 32, seed // 2 ** 32)
    n = (r0 >> np.uint64(8)) + np.uint64(1)
    u2 = (r1 >> np.uint64(8)).astype(np.float64) * 2.0 ** -24
    radius = np.sqrt(F(-2) * _ln_unit(n)).astype(F)
    theta = (F(2 * math.pi) * u2.astype(F)) - F(math.pi)
    return (radius * _cos_folded(theta.astype(F))).astype(F).reshape(shape)


# ---------------------------------------------------------------------------------------------- fixtures
SHAPE = (1, 4, 2, 3, 3)


def _rng_values(rng, shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _run(kind, config, steps, seed, data_seed):
    rng = np.random.default_rng(data_seed)
    sample0 = _rng_values(rng, SHAPE)
    outputs = [_rng_values(rng, SHAPE) for _ in range(steps)]
    if kind == "unipc":
        s = UniPCFlow(**config)
    elif kind == "flow-match-euler":
        s = FlowMatchEuler(**config)
    else:
        s = Rcm(**config)
    s.set_timesteps(steps)
    x = torch.from_numpy(sample0.copy())
    x0 = None
    for i in range(steps):
        v = torch.from_numpy(outputs[i])
        if kind == "rcm":
            x, x0 = s.step(v, x, torch.from_numpy(kinema_noise(SHAPE, rcm_noise_seed(seed, i))))
        else:
            x, x0 = s.step(v, x)
    sigmas = s.sigmas.tolist() if torch.is_tensor(s.sigmas) else list(s.sigmas)
    timesteps = [float(t) for t in (s.timesteps.tolist() if hasattr(s.timesteps, "tolist") else s.timesteps)]
    out = {
        "type": kind,
        "config": config,
        "steps": steps,
        "seed": seed,
        "shape": list(SHAPE),
        "timesteps": timesteps,
        "sigmas": [float(v) for v in sigmas],
        "sample": sample0.ravel().tolist(),
        "modelOutputs": [o.ravel().tolist() for o in outputs],
        "final": x.numpy().astype(np.float32).ravel().tolist(),
        "finalX0": x0.numpy().astype(np.float32).ravel().tolist(),
    }
    if kind == "rcm":
        out["initNoiseSigma"] = s.init_noise_sigma
    return out


CASES = [
    ("unipc-wan21-50", "unipc", WAN21_UNIPC_CONFIG, 50),
    ("unipc-wan21-4", "unipc", WAN21_UNIPC_CONFIG, 4),
    ("unipc-wan21-1", "unipc", WAN21_UNIPC_CONFIG, 1),
    ("unipc-order3-bh1-sigma-min-shift5-10", "unipc", {"prediction_type": "flow_prediction", "use_flow_sigmas": True, "flow_shift": 5.0, "solver_order": 3, "solver_type": "bh1", "final_sigmas_type": "sigma_min"}, 10),
    # (bh1 into a final σ = 0 is NaN in diffusers: B(h) = −h = −∞ times a zero correction.)
    ("unipc-disable-corrector-sigma-min-7", "unipc", {"prediction_type": "flow_prediction", "use_flow_sigmas": True, "flow_shift": 2.0, "disable_corrector": [0, 3], "final_sigmas_type": "sigma_min"}, 7),
    ("unipc-terminal-order1-6", "unipc", {"prediction_type": "flow_prediction", "use_flow_sigmas": True, "flow_shift": 3.0, "shift_terminal": 0.1, "solver_order": 1}, 6),
    ("euler-wan-shift3-8", "flow-match-euler", {"num_train_timesteps": 1000, "shift": 3.0}, 8),
    ("rcm-4", "rcm", {"sigmas": RCM_SIGMAS}, 4),
    ("rcm-2", "rcm", {"sigmas": RCM_SIGMAS}, 2),
    ("rcm-turbo-4", "rcm", {"sigmas": TURBO_SIGMAS}, 4),
]


def fixtures():
    result = {}
    for k, (name, kind, config, steps) in enumerate(CASES):
        data = _run(kind, config, steps, seed=1234 + 97 * k, data_seed=7 + k)
        result[name + ".json"] = json.dumps({"name": name, **data}, indent=1) + "\n"
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write-fixtures", action="store_true", help="regenerate test/fixtures/schedulers/samplers/")
    mode.add_argument("--check", action="store_true", help="exit 1 when the fixtures on disk differ from a fresh run")
    args = parser.parse_args(argv)
    fresh = fixtures()
    if args.write_fixtures:
        os.makedirs(FIXTURES, exist_ok=True)
        for name, text in fresh.items():
            with open(os.path.join(FIXTURES, name), "w") as f:
                f.write(text)
        print(f"wrote {len(fresh)} fixtures to {os.path.normpath(FIXTURES)}")
        return 0
    stale = []
    for name, text in fresh.items():
        path = os.path.join(FIXTURES, name)
        if not os.path.exists(path) or open(path).read() != text:
            stale.append(name)
    extra = sorted(set(os.listdir(FIXTURES)) - set(fresh)) if os.path.isdir(FIXTURES) else []
    if stale or extra:
        print(f"stale: {stale}, not generated: {extra}; run: python3 convert/kinema_convert/schedulers.py --write-fixtures")
        return 1
    print(f"{len(fresh)} fixtures up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())

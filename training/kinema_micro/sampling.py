"""Flow-match Euler sampling with classifier-free guidance, as the engine runs it.

Sigmas follow diffusers' FlowMatchEulerDiscreteScheduler.set_timesteps (use_dynamic_shifting=False):
linspace from sigma_max*T to sigma_min*T (both already shifted), divided by T, shifted again, then a
final 0 appended. timestep = sigma * T is what the denoiser receives.
"""
import numpy as np
import torch


def flow_sigmas(steps, shift, num_train_timesteps=1000):
    T = num_train_timesteps
    train = np.linspace(1, T, T, dtype=np.float32)[::-1].copy() / T
    train = shift * train / (1 + (shift - 1) * train)
    smax, smin = float(train[0]), float(train[-1])
    t = np.linspace(smax * T, smin * T, steps).astype(np.float32)
    s = t / T
    s = shift * s / (1 + (shift - 1) * s)
    return np.append(s, np.float32(0.0)).astype(np.float32)


@torch.no_grad()
def sample(te, dit, dec5d, mean, std, ids, masks, noise, steps, guidance, shift, trace=None):
    """ids/masks: [2B, L] (first B rows conditional, last B unconditional); noise [B,C,T,h,w].
    Returns (normalized latents, decoded video [B,3,T,H,W])."""
    B = noise.shape[0]
    ctx = te(ids, masks)
    sig = torch.from_numpy(flow_sigmas(steps, shift))
    x = noise.clone()
    if trace is not None:
        trace["text_hidden"] = ctx.clone()
        trace["steps"] = []
    for i in range(steps):
        t = (sig[i] * 1000.0).expand(2 * B).contiguous()
        xin = torch.cat([x, x])
        out = dit(xin, t, ctx, masks)
        vc, vu = out[:B], out[B:]
        v = vu + guidance * (vc - vu) if guidance != 1.0 else vc
        x_next = x + (sig[i + 1] - sig[i]) * v
        if trace is not None:
            trace["steps"].append({"latent_in": x.clone(), "timestep": t.clone(), "sample": out.clone(),
                                   "latent_out": x_next.clone()})
        x = x_next
    m = mean.view(1, -1, 1, 1, 1)
    s = std.view(1, -1, 1, 1, 1)
    z = x * s + m
    video = dec5d(z)
    if trace is not None:
        trace["latent_denormalized"] = z.clone()
        trace["video"] = video.clone()
    return x, video


def to_uint8_frames(video):
    """[B,3,T,H,W] in [-1,1] -> uint8 [B,T,H,W,3] (round((x+1)*127.5))."""
    v = ((video.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return v.permute(0, 2, 3, 4, 1).contiguous()

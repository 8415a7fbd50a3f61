"""The procedural world kinema-micro learns: attributes, bilingual captions, clip rendering.

Everything a caption can say is one (colour, shape, motion, background) tuple. The JavaScript
caption parser (training/eval/captions.mjs) mirrors the word lists here; the tokenizer golden test
and the eval set keep the two in step.
"""
import math
import random

import torch
import torch.nn.functional as F

SIZE = 32
FRAMES = 8

COLORS = ["red", "green", "blue", "yellow", "white", "cyan", "magenta", "orange"]
SHAPES = ["circle", "square", "triangle"]
MOTIONS = ["left", "right", "up", "down", "grow", "shrink"]
BACKGROUNDS = ["black", "white", "gray"]

COLOR_RGB = {
    "red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255), "yellow": (255, 255, 0),
    "white": (255, 255, 255), "cyan": (0, 255, 255), "magenta": (255, 0, 255), "orange": (255, 128, 0),
}
BG_RGB = {"black": (0, 0, 0), "white": (255, 255, 255), "gray": (128, 128, 128)}

# ---------------------------------------------------------------- captions
EN_COLOR = {c: [c] for c in COLORS}
EN_SHAPE = {"circle": ["circle", "disc"], "square": ["square", "box"], "triangle": ["triangle"]}
EN_MOTION = {
    "left": ["moving left", "moving to the left", "moves left", "going left", "sliding left"],
    "right": ["moving right", "moving to the right", "moves right", "going right", "sliding right"],
    "up": ["moving up", "moving upward", "moves up", "going up", "rising"],
    "down": ["moving down", "moving downward", "moves down", "going down", "falling"],
    "grow": ["growing", "grows", "getting bigger", "expanding"],
    "shrink": ["shrinking", "shrinks", "getting smaller", "contracting"],
}
EN_BG = {b: [b] for b in BACKGROUNDS}
EN_BG["gray"] = ["gray", "grey"]

ZH_COLOR = {
    "red": ["红色", "红"], "green": ["绿色", "绿"], "blue": ["蓝色", "蓝"], "yellow": ["黄色", "黄"],
    "white": ["白色", "白"], "cyan": ["青色", "青"], "magenta": ["品红色", "洋红色"], "orange": ["橙色", "橙"],
}
ZH_SHAPE = {"circle": ["圆形", "圆"], "square": ["正方形", "方形"], "triangle": ["三角形"]}
ZH_MOTION = {
    "left": ["向左移动", "往左移动", "向左运动"], "right": ["向右移动", "往右移动", "向右运动"],
    "up": ["向上移动", "往上移动", "向上运动"], "down": ["向下移动", "往下移动", "向下运动"],
    "grow": ["变大", "逐渐变大"], "shrink": ["变小", "逐渐变小"],
}
ZH_BG = {"black": ["黑色"], "white": ["白色"], "gray": ["灰色"]}

# Canonical (first-listed) forms; used for the manifest vocabulary and examples.
def canonical(lang, color, shape, motion, bg):
    if lang == "en":
        art = "an" if color[0] in "aeiou" else "a"
        return f"{art} {color} {shape} {EN_MOTION[motion][0]} on a {bg} background"
    return f"{ZH_BG[bg][0]}背景上一个{ZH_COLOR[color][0]}的{ZH_SHAPE[shape][0]}{ZH_MOTION[motion][0]}"


def caption(rng: random.Random, lang, color, shape, motion, bg):
    """A random paraphrase: synonyms, optional articles, several word orders."""
    if lang == "en":
        c = rng.choice(EN_COLOR[color])
        s = rng.choice(EN_SHAPE[shape])
        m = rng.choice(EN_MOTION[motion])
        b = rng.choice(EN_BG[bg])
        art = rng.choice(["a ", "", "the ", "one "])
        if art == "a " and c[0] in "aeiou":
            art = "an "
        bart = rng.choice(["a ", "", "the "])
        subj = f"{art}{c} {s}"
        t = rng.randrange(6)
        if t == 0:
            out = f"{subj} {m} on {bart}{b} background"
        elif t == 1:
            out = f"{subj} {m} against {bart}{b} background"
        elif t == 2:
            out = f"on {bart}{b} background, {subj} {m}"
        elif t == 3:
            out = f"{b} background with {subj} {m}"
        elif t == 4:
            out = f"{subj} that is {m} on {bart}{b} background"
        else:
            out = f"{subj} on {bart}{b} background {m}"
        if rng.random() < 0.3:
            out = out[0].upper() + out[1:]
        if rng.random() < 0.2:
            out += "."
        return out
    c = rng.choice(ZH_COLOR[color])
    s = rng.choice(ZH_SHAPE[shape])
    m = rng.choice(ZH_MOTION[motion])
    b = ZH_BG[bg][0] + "背景"
    de = rng.choice(["的", "", "的"])
    one = rng.choice(["一个", "", "一个"])
    subj = f"{one}{c}{de}{s}"
    t = rng.randrange(5)
    if t == 0:
        out = f"{b}上{subj}{m}"
    elif t == 1:
        out = f"{subj}在{b}上{m}"
    elif t == 2:
        out = f"{subj}{m}，{b}"
    elif t == 3:
        out = f"在{b}上，{subj}正在{m}"
    else:
        out = f"{b}上有{subj}{m}"
    if rng.random() < 0.2:
        out += "。"
    return out


def all_combos():
    return [(c, s, m, b) for c in COLORS for s in SHAPES for m in MOTIONS for b in BACKGROUNDS if c != b]


def split_combos(seed=1234, n_heldout=48):
    """Held-out caption combinations: never rendered or captioned in training."""
    combos = all_combos()
    rng = random.Random(seed)
    held = set(rng.sample(combos, n_heldout))
    train = [c for c in combos if c not in held]
    return train, sorted(held)


# ---------------------------------------------------------------- rendering
def sample_params(rng: random.Random, motion):
    """Per-clip geometry: centre (cx, cy) and half-extent r for each frame. Moving shapes start near
    the edge opposite their direction of travel, with jitter on the other axis, size and speed."""
    if motion in ("left", "right", "up", "down"):
        r = rng.uniform(4.5, 7.0)
        start = r + rng.uniform(0.5, 3.0)
        speed = rng.uniform(1.5, 2.4)
        speed = min(speed, (SIZE - r - 0.5 - start) / (FRAMES - 1))
        other = rng.uniform(r + 1.0, SIZE - r - 1.0)
        pos = [start + speed * k for k in range(FRAMES)]
        if motion in ("left", "up"):
            pos = [SIZE - p for p in pos]
        if motion in ("left", "right"):
            return [(p, other, r) for p in pos]
        return [(other, p, r) for p in pos]
    r_small = rng.uniform(3.0, 4.5)
    r_big = rng.uniform(9.0, 11.5)
    cx = rng.uniform(r_big + 0.5, SIZE - r_big - 0.5)
    cy = rng.uniform(r_big + 0.5, SIZE - r_big - 0.5)
    rs = [r_small + (r_big - r_small) * k / (FRAMES - 1) for k in range(FRAMES)]
    if motion == "shrink":
        rs = rs[::-1]
    return [(cx, cy, r) for r in rs]


_SS = 2  # supersampling factor (antialiased edges)
_coords = (torch.arange(SIZE * _SS, dtype=torch.float32) + 0.5) / _SS


def render(shapes, colors, bgs, geom):
    """shapes: list[str] (B); colors/bgs: list[str]; geom: tensor [B, T, 3] (cx, cy, r).
    Returns uint8-valued float clips in [-1, 1], shape [B, 3, T, H, W]."""
    B = len(shapes)
    cx = geom[:, :, 0, None, None]
    cy = geom[:, :, 1, None, None]
    r = geom[:, :, 2, None, None]
    X = _coords[None, None, None, :]
    Y = _coords[None, None, :, None]
    dx = X - cx
    dy = Y - cy
    circle = (dx * dx + dy * dy <= r * r)
    hs = r * 0.88
    square = (dx.abs() <= hs) & (dy.abs() <= hs)
    top = -r
    bot = r * 0.8
    frac = (dy - top) / (bot - top)
    tri = (dy >= top) & (dy <= bot) & (dx.abs() <= r * 1.05 * frac)
    kind = torch.tensor([SHAPES.index(s) for s in shapes])[:, None, None, None]
    mask = torch.where(kind == 0, circle, torch.where(kind == 1, square, tri)).float()
    mask = F.avg_pool2d(mask, _SS)  # [B, T, H, W]
    col = torch.tensor([COLOR_RGB[c] for c in colors], dtype=torch.float32) / 127.5 - 1
    bg = torch.tensor([BG_RGB[b] for b in bgs], dtype=torch.float32) / 127.5 - 1
    m = mask[:, None]
    out = bg[:, :, None, None, None] * (1 - m) + col[:, :, None, None, None] * m
    return out


def make_batch(rng: random.Random, combos):
    """Render one clip per combo; returns clips [B,3,T,H,W] in [-1,1]."""
    geom = torch.tensor([sample_params(rng, m) for (_, _, m, _) in combos], dtype=torch.float32)
    return render([s for (_, s, _, _) in combos], [c for (c, _, _, _) in combos],
                  [b for (_, _, _, b) in combos], geom)

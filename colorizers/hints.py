"""Colour hints: the extra input of hint-capable models (hint ab + mask), simulated for training.

A hint says "this spot has this colour". Models with ``config.use_hints`` take two normalised ab
channels (zero where no hint) and a mask channel (1 where a hint is). Training shows them random
true-colour hints on part of the images (Zhang et al. 2017, "Real-Time User-Guided Image
Colorization with Learned Deep Priors": a geometric number of hints, small square patches whose
colour is the patch's mean ab), and no hints on the rest, so one model serves both uses.
"""

from __future__ import annotations

import math

import torch


def simulate_hints(
    labels: torch.Tensor,
    generator: torch.Generator,
    *,
    probability: float = 0.5,
    mean_hints: float = 8.0,
    max_hints: int = 64,
    max_patch: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random true-colour hints for normalised ab ``labels`` (B, 2, H, W).

    Each image gets hints with ``probability``; their number follows a geometric distribution of mean
    ``mean_hints`` (at most ``max_hints``), each a square patch of side 1..``max_patch`` pixels (default
    about 1/16 of the shorter side) at a uniform position, holding the patch's mean ab. Returns
    ``(hint_ab, hint_mask)`` shaped (B, 2, H, W) and (B, 1, H, W) on the labels' device.
    """
    if not 0 <= probability <= 1:
        raise ValueError(f"probability must be in [0, 1], got {probability}")
    if mean_hints < 1:
        raise ValueError(f"mean_hints must be at least 1, got {mean_hints}")
    batch, _, height, width = labels.shape
    max_patch = max_patch or max(1, min(height, width) // 16)
    hint_ab = torch.zeros_like(labels)
    hint_mask = labels.new_zeros(batch, 1, height, width)
    draws = torch.rand(batch, generator=generator)
    # geometric on {1, 2, ...} with mean `mean_hints`: P(n) = p (1 - p)^(n - 1), p = 1 / mean
    uniform = torch.rand(batch, generator=generator).clamp_min(1e-12)
    if mean_hints > 1:
        counts = (torch.log(uniform) / math.log(1.0 - 1.0 / mean_hints)).floor().long() + 1
    else:
        counts = torch.ones(batch, dtype=torch.long)
    counts = counts.clamp(1, max_hints)
    for index in range(batch):
        if draws[index] >= probability:
            continue
        number = int(counts[index])
        sides = torch.randint(1, max_patch + 1, (number,), generator=generator).tolist()
        tops = torch.rand(number, generator=generator).tolist()
        lefts = torch.rand(number, generator=generator).tolist()
        for side, top, left in zip(sides, tops, lefts):
            side_h, side_w = min(side, height), min(side, width)
            y, x = int(top * (height - side_h + 1)), int(left * (width - side_w + 1))
            patch = labels[index, :, y : y + side_h, x : x + side_w]
            hint_ab[index, :, y : y + side_h, x : x + side_w] = patch.mean(dim=(1, 2), keepdim=True)
            hint_mask[index, :, y : y + side_h, x : x + side_w] = 1.0
    return hint_ab, hint_mask

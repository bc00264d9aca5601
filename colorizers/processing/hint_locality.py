"""Keep a colour hint's effect local and edge-aware.

A hint-capable model sees hints as extra inputs, and its prediction can change anywhere in the
image. ``colorize()`` therefore runs the model twice on a hinted image, without hints (``auto``) and
with them (``hinted``), both at the working size, and keeps the hints' effect only where it belongs:

    guided = hinted + weight * (hint colour - hinted)     (the hint's colour spreads over its region)
    ab     = auto   + weight * (guided - auto)

``weight`` in [0, 1] falls with the geodesic distance ``d`` from the nearest hint pixel,
``weight = exp(-(d / reach)^2)``, over a cost map that is 1 in flat regions and grows with the
lightness gradient (``skimage.graph.MCP_Geometric``), so a hint colours the region it sits in and
stops at strong lightness edges. "The hint colour" of a pixel is that of the hint it is geodesically
nearest to. Pixels far from every hint keep the automatic colour bit for bit (weight exactly 0
underflows only far away; an image without hints is never blended at all).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.ndimage import gaussian_filter
from skimage.graph import MCP_Geometric

from colorizers.color import denormalize_lightness

# Chosen on benchmarks/hint_locality.py's edge image (256 px, L 25 | 80, hint 20 px from the edge)
# and on skimage's rocket photo with a hint on the sky:
# REACH: the geodesic distance at which a hint's weight falls to 1/e, as a fraction of the working
#   image's longer side (so it scales with the image). 0.5 lets a hint colour a uniform half of the
#   image (weight 0.57 at 3/8 of the side away); 0.25 left most of a uniform region uncoloured.
REACH = 0.5
# EDGE_COST: extra path length, in reaches, per L* unit of lightness crossed. A strong edge (a step
#   of 40 L*) then costs 2 reaches (weight below exp(-4) = 0.02 beyond it, under 2 ab units for the
#   largest hint colours); a soft sky gradient of 10 L* costs half a reach.
EDGE_COST = 0.05
# SMOOTHING: Gaussian sigma (working pixels) on L before its gradient, so noise and JPEG grain do not
#   count as edges while a real edge's total step is kept.
SMOOTHING = 1.0


def geodesic_distance(lightness: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Geodesic distance (working pixels) from the ``starts`` mask over an L* plane (h, w) in [0, 100],
    and for every pixel the flat index of the start pixel it is nearest to."""
    height, width = lightness.shape
    smooth = gaussian_filter(lightness.astype(np.float64), SMOOTHING)
    gradient = np.hypot(*np.gradient(smooth))  # L* per pixel
    reach = REACH * max(height, width)
    costs = 1.0 + EDGE_COST * reach * gradient
    mcp = MCP_Geometric(costs, fully_connected=True)
    start_points = np.argwhere(starts)
    distance, traceback = mcp.find_costs([tuple(p) for p in start_points])
    # follow every pixel's traceback to its start by pointer jumping
    offsets = np.asarray(mcp.offsets)
    rows, columns = np.mgrid[0:height, 0:width]
    step = np.clip(traceback, 0, None)
    previous_rows = np.where(traceback >= 0, rows - offsets[step, 0], rows)
    previous_columns = np.where(traceback >= 0, columns - offsets[step, 1], columns)
    root = (previous_rows * width + previous_columns).ravel()
    while True:
        jumped = root[root]
        if np.array_equal(jumped, root):
            break
        root = jumped
    return distance, root.reshape(height, width)


def hint_weight(lightness: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(weight, nearest)``: a hint's weight in [0, 1] per pixel and the flat index of the nearest
    hint pixel, for an L* plane (h, w) and the hint mask (h, w) at the working size."""
    distance, nearest = geodesic_distance(lightness, mask > 0)
    reach = REACH * max(lightness.shape)
    return np.exp(-((distance / reach) ** 2)), nearest


def localize_hints(
    auto: torch.Tensor,
    hinted: torch.Tensor,
    pixel_values: torch.Tensor,
    hint_ab: torch.Tensor,
    hint_mask: torch.Tensor,
) -> torch.Tensor:
    """The blended normalised ab (B, 2, h, w) from the model's automatic and hinted predictions, its
    normalised L input (B, 1, h, w) and the drawn hints (``hint_ab`` (B, 2, h, w), ``hint_mask``
    (B, 1, h, w)), all at the working size. Images without hints get ``auto`` unchanged."""
    result = auto.clone()
    for index in range(auto.shape[0]):
        mask = hint_mask[index, 0].float().cpu().numpy()
        if not mask.any():
            continue
        lightness = denormalize_lightness(pixel_values[index, 0].float().cpu().numpy())
        weight, nearest = hint_weight(lightness, mask)
        colours = hint_ab[index].float().cpu().numpy().reshape(2, -1)[:, nearest]
        weight = torch.from_numpy(weight.astype(np.float32)).to(auto.device)
        colours = torch.from_numpy(colours.astype(np.float32)).to(auto.device)
        guided = hinted[index] + weight * (colours - hinted[index])
        result[index] = auto[index] + weight * (guided - auto[index])
    return result

"""Video frames' colour, fast: full-resolution L joined with ab predicted at a low resolution.

``join_lightness_ab`` gives what ``ColorizerImageProcessor.post_process_colorization`` gives (ab
upsampled bilinearly, lightness kept, out-of-gamut colours losing chroma rather than lightness) at a
fraction of its cost, since a film has hundreds of thousands of frames: OpenCV converts Lab to RGB, and
only the pixels it had to clip get their chroma reduced, to the largest chroma that fits the sRGB gamut
at their L and hue, read from a table (:func:`max_chroma_table`) instead of bisected pixel by pixel.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from colorizers.color import AB_SCALE, _lab_to_linear_planes

# The gamut table's grid: L every 0.5 (0..100), hue every degree.
_L_STEPS, _HUE_STEPS = 201, 360
_TOLERANCE = 1e-6


@functools.lru_cache(maxsize=1)
def max_chroma_table() -> np.ndarray:
    """``(L steps, hue steps + 1)`` float32: the largest CIELAB chroma in the sRGB gamut at each L and hue
    (the last column repeats the first, so interpolation wraps around). Computed once, in ~0.1 s."""
    lightness = np.linspace(0.0, 100.0, _L_STEPS)[:, None] * np.ones((1, _HUE_STEPS))
    hue = np.linspace(0.0, 2 * np.pi, _HUE_STEPS, endpoint=False)[None, :] * np.ones((_L_STEPS, 1))
    low, high = np.zeros(lightness.shape), np.full(lightness.shape, 200.0)
    for _ in range(24):  # bisection on chroma: in gamut below the boundary, outside above it
        mid = (low + high) / 2
        planes = _lab_to_linear_planes(lightness, mid * np.cos(hue), mid * np.sin(hue))
        fits = np.ones(lightness.shape, bool)
        for plane in planes:
            fits &= (plane >= -_TOLERANCE) & (plane <= 1.0 + _TOLERANCE)
        low, high = np.where(fits, mid, low), np.where(fits, high, mid)
    return np.concatenate([low, low[:, :1]], axis=1).astype(np.float32)


def fit_chroma(lightness: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """a, b scaled down (never up) to the gamut boundary at each pixel's L and hue (1-D arrays)."""
    table = max_chroma_table()
    chroma = np.hypot(a, b)
    row = np.clip(lightness, 0.0, 100.0) * np.float32((_L_STEPS - 1) / 100.0)
    column = np.mod(np.arctan2(b, a), 2 * np.pi) * np.float32(_HUE_STEPS / (2 * np.pi))
    row0, column0 = np.minimum(row.astype(np.int32), _L_STEPS - 2), np.minimum(column.astype(np.int32), _HUE_STEPS - 1)
    dr, dc = row - row0, column - column0
    limit = (table[row0, column0] * (1 - dc) + table[row0, column0 + 1] * dc) * (1 - dr) + (
        table[row0 + 1, column0] * (1 - dc) + table[row0 + 1, column0 + 1] * dc
    ) * dr
    scale = np.minimum(1.0, limit / np.maximum(chroma, 1e-6)).astype(np.float32)
    return a * scale, b * scale


def join_lightness_ab(lightness: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """Full-resolution L ``(H, W)`` and normalised ab at any size ``(2, h, w)`` -> sRGB uint8 ``(H, W, 3)``."""
    height, width = lightness.shape
    ab_small = np.moveaxis(np.asarray(ab, np.float32), 0, -1) * np.float32(AB_SCALE)
    ab_full = cv2.resize(ab_small, (width, height), interpolation=cv2.INTER_LINEAR)
    lab = cv2.merge([np.asarray(lightness, np.float32), ab_full])
    rgb = cv2.convertScaleAbs(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB), alpha=255.0)
    clipped = cv2.inRange(rgb, (1, 1, 1), (254, 254, 254)) == 0
    clipped &= cv2.inRange(rgb, (0, 0, 0), (0, 0, 0)) == 0  # black and white are in gamut: their own L
    clipped &= cv2.inRange(rgb, (255, 255, 255), (255, 255, 255)) == 0
    rows, columns = np.nonzero(clipped)
    if rows.size:
        pixels = lab[rows, columns]
        pixels[:, 1], pixels[:, 2] = fit_chroma(pixels[:, 0], pixels[:, 1], pixels[:, 2])
        fitted = cv2.cvtColor(pixels[:, None, :], cv2.COLOR_Lab2RGB)[:, 0]
        rgb[rows, columns] = cv2.convertScaleAbs(fitted, alpha=255.0)
    return rgb


__all__ = ["fit_chroma", "join_lightness_ab", "max_chroma_table"]

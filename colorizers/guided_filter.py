"""Edge-aware upsampling of predicted colour: a guided filter on the full-resolution lightness.

Colour predicted at a low resolution and resized bilinearly bleeds across edges; here the ab planes
follow the edges of the full-resolution L (He et al., "Guided Image Filtering" 2013 and "Fast Guided
Filter" 2015, with the variant described in ``guided_upsample``). It imports only NumPy, PIL and,
when present, OpenCV, so it travels to the Hub beside the image processor as remote code.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

try:  # OpenCV makes edge-aware upsampling fast; without it (e.g. as Hub remote code) NumPy/PIL do the same maths
    import cv2
except ImportError:  # pragma: no cover - a dependency of the package, optional for remote code
    cv2 = None


def resize_plane(plane: np.ndarray, height: int, width: int, resample=Image.Resampling.BILINEAR) -> np.ndarray:
    """Resize one float32 plane with PIL (antialiased when shrinking)."""
    if plane.shape == (height, width):
        return np.asarray(plane, np.float32)
    resized = Image.fromarray(np.ascontiguousarray(plane, np.float32)).resize((width, height), resample)
    return np.asarray(resized, np.float32)


def _window_counts(length: int, radius: int) -> np.ndarray:
    """How many pixels of a line of ``length`` fall in the (2r+1)-pixel window around each one."""
    index = np.arange(length)
    return (np.minimum(index + radius, length - 1) - np.maximum(index - radius, 0) + 1).astype(np.float32)


def box_mean(planes: list[np.ndarray], radius: int) -> list[np.ndarray]:
    """Mean of each (h, w) plane over the (2r+1)x(2r+1) window around every pixel.

    Windows are clipped to the image: each output is the mean of the in-image pixels of its window
    (He et al.'s normalisation), so borders and images smaller than a window need no padding rule.
    """
    height, width = planes[0].shape
    inverse = 1.0 / (_window_counts(height, radius)[:, None] * _window_counts(width, radius)[None, :])
    means = []
    for plane in planes:
        plane = np.ascontiguousarray(plane, np.float32)
        if cv2 is not None:
            side = 2 * radius + 1
            sums = cv2.boxFilter(plane, -1, (side, side), normalize=False, borderType=cv2.BORDER_CONSTANT)
        else:  # running sums along each axis, over zero padding
            sums = plane.astype(np.float64)
            for axis, length in ((0, height), (1, width)):
                pad = [(0, 0), (0, 0)]
                pad[axis] = (radius + 1, radius)
                cumulative = np.cumsum(np.pad(sums, pad), axis=axis)
                upper = np.take(cumulative, np.arange(2 * radius + 1, 2 * radius + 1 + length), axis=axis)
                sums = upper - np.take(cumulative, np.arange(length), axis=axis)
        sums = np.asarray(sums, np.float32)
        sums *= inverse
        means.append(sums)
    return means


def resize_planes(plane: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize one (h, w) float32 plane: area averaging when shrinking both sides, else bilinear."""
    plane = np.ascontiguousarray(plane, np.float32)
    if plane.shape == (height, width):
        return plane.copy()
    shrink = height <= plane.shape[0] and width <= plane.shape[1]
    if cv2 is not None:
        return cv2.resize(plane, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return np.array(resize_plane(plane, height, width, Image.Resampling.BOX if shrink else Image.Resampling.BILINEAR))


def guided_upsample(
    ab: np.ndarray, lightness: np.ndarray, *, radius: int, eps: float, keep_prediction: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Edge-aware upsampling of low-resolution ab to the size of ``lightness``, by a fast guided filter.

    He, Sun & Tang, "Guided Image Filtering" (TPAMI 2013) and He & Sun, "Fast Guided Filter" (2015).
    At the resolution of ``ab`` (2, h, w), with the guide ``I`` = the full-resolution L (H, W) scaled
    to [0, 1] and shrunk to (h, w) by area averaging, each ab channel ``p`` is fitted in every
    (2r+1)^2 window as ``A * I + B``: ``A = cov(I, p) / (var(I) + eps)``, averaged over the windows.
    ``A`` and ``B`` are upsampled bilinearly and the output is ``A * L + B`` with the full-resolution L,
    so colour edges follow the edges of L instead of bleeding across them.

    ``keep_prediction=True`` (what post-processing uses) takes ``B = p - A * I`` per low-resolution
    pixel instead, so the output is the bilinear upsampling of the prediction itself plus about
    ``A * (L - upsampled I)``: colour detail only where L has detail the shrink removed, in
    proportion to how colour follows L around it (where L is flat, the output is plain bilinear).
    ``False`` is the textbook filter (``B = mean(p) - A * mean(I)``, averaged like ``A``), which
    also smooths the prediction over the windows: on scikit-image's photos with the true ab at 1/4
    and 1/8 size it scored about 1 dB below plain bilinear, the kept-prediction form about 1 dB
    above (``benchmarks/edge_aware.py --tune``).

    Args:
        ab: a* and b* planes (2, h, w) in CIELAB units, at any resolution.
        lightness: L (H, W) in [0, 100].
        radius: window radius in pixels of ``ab``.
        eps: regularisation of ``A`` on the guide's [0, 1] scale (where L varies much less than
            ``eps`` within a window, colour does not follow it).
        keep_prediction: see above.

    Returns the a* and b* planes (H, W), float32, within the range of the input's own planes.
    """
    height, width = lightness.shape
    lightness = np.asarray(lightness, np.float32)
    guide = resize_planes(lightness, *ab.shape[1:])
    guide *= np.float32(0.01)
    colour = [np.asarray(plane, np.float32) for plane in ab]
    mean_i, mean_ii, *rest = box_mean([guide, guide * guide, *colour, *(guide * plane for plane in colour)], radius)
    variance_eps = mean_ii - mean_i * mean_i
    np.maximum(variance_eps, 0.0, out=variance_eps)
    variance_eps += np.float32(eps)
    outputs = []
    for mean_p, mean_ip, plane in zip(rest[:2], rest[2:], colour):
        slope = (mean_ip - mean_i * mean_p) / variance_eps
        if keep_prediction:
            (slope,) = box_mean([slope], radius)
            offset = plane - slope * guide
        else:
            slope, offset = box_mean([slope, mean_p - slope * mean_i], radius)
        slope *= np.float32(0.01)  # so that it applies to L itself, not to L / 100
        slope, offset = (resize_planes(coefficient, height, width) for coefficient in (slope, offset))
        slope *= lightness  # A * L + B at full size, kept within the prediction's own range
        slope += offset
        outputs.append(np.clip(slope, plane.min(), plane.max(), out=slope))
    return outputs[0], outputs[1]


# Chosen on scikit-image's bundled colour photos (benchmarks/edge_aware.py --tune), never on the evaluation sets.
GUIDED_RADIUS = 1
GUIDED_EPS = 1e-3

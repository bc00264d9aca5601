"""Upsampling predicted colour to full resolution: the fast guided filter (edge-aware, guided by the
full-resolution L) and plain bilinear, whole or in bands of rows.

Images above ``BAND_PIXELS`` are post-processed band by band (``upsample_to_rgb``): no full-resolution
float plane is ever made, so a 36-megapixel photo costs its uint8 output plus a few megabytes instead
of gigabytes. Bands agree with the whole-image computation to float rounding (about 1e-6 ab units).
Imports only NumPy, PIL, OpenCV when installed, and its sibling ``color.py``: it travels to the Hub as
remote code with the image processor.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

try:  # OpenCV makes edge-aware upsampling fast; without it (e.g. as Hub remote code) NumPy/PIL do the same maths
    import cv2
except ImportError:  # pragma: no cover - a dependency of the package, optional for remote code
    cv2 = None

from colorizers.color import denormalize_ab, lightness_ab_to_rgb_uint8

BAND_PIXELS = 4_000_000  # larger images are processed in bands of rows
BAND_TARGET = 500_000  # pixels per band


def row_bands(height: int, width: int, target: int = BAND_TARGET, minimum: int = 16) -> list[tuple[int, int]]:
    """``(start, stop)`` row ranges of about ``target`` pixels each (at least ``minimum`` rows) covering ``height``."""
    rows = max(minimum, target // max(1, width))
    return [(start, min(height, start + rows)) for start in range(0, height, rows)]


def resize_plane(plane: np.ndarray, height: int, width: int, resample=Image.Resampling.BILINEAR) -> np.ndarray:
    """Resize one float32 plane with PIL (antialiased when shrinking)."""
    if plane.shape == (height, width):
        return np.asarray(plane, np.float32)
    resized = Image.fromarray(np.ascontiguousarray(plane, np.float32)).resize((width, height), resample)
    return np.asarray(resized, np.float32)


def _linear_taps(source: int, target: int, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear taps of output positions start..stop-1 when ``source`` samples are stretched to ``target``
    (pixel centres aligned, edges clamped, as OpenCV's INTER_LINEAR): first index, second index, weight of the second."""
    position = (np.arange(start, stop, dtype=np.float64) + 0.5) * (source / target) - 0.5
    position = np.clip(position, 0.0, source - 1)
    first = np.floor(position).astype(np.intp)
    second = np.minimum(first + 1, source - 1)
    return first, second, (position - first).astype(np.float32)


def resize_rows(plane: np.ndarray, height: int, width: int, start: int, stop: int) -> np.ndarray:
    """Rows ``start..stop`` of ``plane`` (h, w) upsampled bilinearly to (height, width) (h <= height, w <= width),
    computing only those rows: each is the same as in the whole upsampled plane, to float rounding."""
    plane = np.ascontiguousarray(plane, np.float32)
    top, bottom, weight = _linear_taps(plane.shape[0], height, start, stop)
    needed = plane[top.min() : bottom.max() + 1]
    if cv2 is not None:  # horizontal pass only (same number of rows: the vertical pass is the identity)
        wide = cv2.resize(needed, (width, needed.shape[0]), interpolation=cv2.INTER_LINEAR)
    else:
        left, right, across = _linear_taps(plane.shape[1], width, 0, width)
        wide = needed[:, left] * (1 - across) + needed[:, right] * across
    first, second = wide[top - top.min()], wide[bottom - top.min()]
    first *= (1 - weight)[:, None]
    second *= weight[:, None]
    first += second
    return first


def upsample_to_rgb(
    ab: np.ndarray,
    light: np.ndarray,
    *,
    edge_aware: bool,
    radius: int = 1,
    eps: float = 1e-3,
    resample=Image.Resampling.BILINEAR,
    as_image: bool = False,
) -> np.ndarray | Image.Image:
    """Normalised ab (2, h, w) at any resolution + full-resolution L (H, W) -> RGB uint8 (H, W, 3), or a PIL
    RGB image with ``as_image`` (filled band by band: no uint8 copy of the whole image on the way).

    Edge-aware (guided) or bilinear (``resample``) when the prediction is smaller than the image; a
    prediction at least as large on both sides is resized plainly. Above ``BAND_PIXELS`` the full-size
    work is done in bands of rows (when the prediction is smaller on both sides).
    """
    height, width = light.shape
    smaller = ab.shape[1] < height or ab.shape[2] < width
    banded = height * width > BAND_PIXELS and ab.shape[1] <= height and ab.shape[2] <= width and smaller
    if not banded:
        if edge_aware and smaller:
            a, b = guided_upsample(denormalize_ab(ab), light, radius=radius, eps=eps)
        else:
            a, b = (denormalize_ab(resize_plane(plane, height, width, resample)) for plane in ab)
        rgb = lightness_ab_to_rgb_uint8(light, a, b)
        return Image.fromarray(rgb) if as_image else rgb
    light = np.asarray(light, np.float32)
    output = Image.new("RGB", (width, height)) if as_image else np.empty((height, width, 3), np.uint8)
    coefficients = guided_coefficients(denormalize_ab(ab), light, radius=radius, eps=eps) if edge_aware else None
    for start, stop in row_bands(height, width):
        if coefficients is not None:
            a, b = apply_guided(coefficients, light[start:stop], height, width, (start, stop))
        else:
            a, b = (denormalize_ab(resize_rows(plane, height, width, start, stop)) for plane in ab)
        rows = lightness_ab_to_rgb_uint8(light[start:stop], a, b)
        if as_image:
            output.paste(Image.fromarray(rows), (0, start))
        else:
            output[start:stop] = rows
    return output


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
    lightness = np.asarray(lightness, np.float32)
    coefficients = guided_coefficients(ab, lightness, radius=radius, eps=eps, keep_prediction=keep_prediction)
    a, b = apply_guided(coefficients, lightness, *lightness.shape)
    return a, b


def guided_coefficients(
    ab: np.ndarray, lightness: np.ndarray, *, radius: int, eps: float, keep_prediction: bool = True
) -> list:
    """The low-resolution part of :func:`guided_upsample`: per ab channel ``(A, B, min, max)`` at the size of
    ``ab``, ``A`` already scaled to apply to L itself (not L / 100)."""
    guide = resize_planes(lightness, *ab.shape[1:])
    guide *= np.float32(0.01)
    colour = [np.asarray(plane, np.float32) for plane in ab]
    mean_i, mean_ii, *rest = box_mean([guide, guide * guide, *colour, *(guide * plane for plane in colour)], radius)
    variance_eps = mean_ii - mean_i * mean_i
    np.maximum(variance_eps, 0.0, out=variance_eps)
    variance_eps += np.float32(eps)
    coefficients = []
    for mean_p, mean_ip, plane in zip(rest[:2], rest[2:], colour):
        slope = (mean_ip - mean_i * mean_p) / variance_eps
        if keep_prediction:
            (slope,) = box_mean([slope], radius)
            offset = plane - slope * guide
        else:
            slope, offset = box_mean([slope, mean_p - slope * mean_i], radius)
        slope *= np.float32(0.01)  # so that it applies to L itself, not to L / 100
        coefficients.append((slope, offset, plane.min(), plane.max()))
    return coefficients


def apply_guided(
    coefficients: list, lightness: np.ndarray, height: int, width: int, rows: tuple[int, int] | None = None
) -> list:
    """The full-resolution part of :func:`guided_upsample`: ``A * L + B`` per channel, clipped to the
    prediction's range. ``rows=(r0, r1)``: only those rows, ``lightness`` being L's rows r0..r1 (the
    coefficients are then upsampled by :func:`resize_rows`, so no full-size plane is ever made)."""
    outputs = []
    for slope, offset, low, high in coefficients:
        if rows is None:
            slope, offset = (resize_planes(coefficient, height, width) for coefficient in (slope, offset))
        else:
            slope, offset = (resize_rows(coefficient, height, width, *rows) for coefficient in (slope, offset))
        slope *= lightness  # A * L + B at full size, kept within the prediction's own range
        slope += offset
        outputs.append(np.clip(slope, low, high, out=slope))
    return outputs


# Chosen on scikit-image's bundled colour photos (benchmarks/edge_aware.py --tune), never on the evaluation sets.
GUIDED_RADIUS = 1
GUIDED_EPS = 1e-3


__all__ = [
    "BAND_PIXELS",
    "GUIDED_EPS",
    "GUIDED_RADIUS",
    "apply_guided",
    "box_mean",
    "guided_coefficients",
    "guided_upsample",
    "resize_plane",
    "resize_planes",
    "resize_rows",
    "row_bands",
    "upsample_to_rgb",
]

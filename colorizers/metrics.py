"""Image-quality metrics, following the protocol of ``shared/data/README.md``.

Everything is scored on RGB uint8 at the image's full resolution: PSNR with ``data_range=255``,
SSIM with ``channel_axis=2`` and ``data_range=255`` (scikit-image), and colourfulness
(Hasler & Suesstrunk 2003) with its gap to the reference's colourfulness.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from .image_processing_colorizer import image_to_array


def as_rgb_uint8(image: Any) -> np.ndarray:
    """Any image colorizers accepts -> (H, W, 3) uint8 sRGB (gray becomes R = G = B)."""
    array = image_to_array(image)
    if array.dtype != np.uint8:
        array = (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    return array


def psnr(prediction: np.ndarray, reference: np.ndarray) -> float:
    """PSNR in dB on uint8 RGB; ``inf`` for identical images."""
    _check_pair(prediction, reference)
    if np.array_equal(prediction, reference):
        return math.inf
    return float(peak_signal_noise_ratio(reference, prediction, data_range=255))


def ssim(prediction: np.ndarray, reference: np.ndarray) -> float:
    """Mean SSIM on uint8 RGB (scikit-image defaults: 7x7 window, ``channel_axis=2``)."""
    _check_pair(prediction, reference)
    if min(prediction.shape[:2]) < 7:
        raise ValueError(f"SSIM needs images of at least 7x7 pixels, got {prediction.shape[1]}x{prediction.shape[0]}")
    return float(structural_similarity(reference, prediction, channel_axis=2, data_range=255))


def colorfulness(image: np.ndarray) -> float:
    """Hasler & Suesstrunk (2003) colourfulness of an RGB image on the 0..255 scale."""
    rgb = np.asarray(image, dtype=np.float64)
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ValueError(f"colourfulness needs an (H, W, 3) RGB image, got shape {rgb.shape}")
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    rg = np.abs(red - green)
    yb = np.abs((red + green) / 2.0 - blue)
    return float(math.hypot(rg.std(), yb.std()) + 0.3 * math.hypot(rg.mean(), yb.mean()))


def score(prediction: Any, reference: Any | None = None) -> dict[str, float | None]:
    """All metrics of one prediction; PSNR/SSIM and the gap are ``None`` without a colour reference."""
    prediction = as_rgb_uint8(prediction)
    result: dict[str, float | None] = {
        "psnr": None,
        "ssim": None,
        "colorfulness": colorfulness(prediction),
        "reference_colorfulness": None,
        "colorfulness_gap": None,
    }
    if reference is not None:
        reference = as_rgb_uint8(reference)
        result["psnr"] = psnr(prediction, reference)
        result["ssim"] = ssim(prediction, reference)
        result["reference_colorfulness"] = colorfulness(reference)
        result["colorfulness_gap"] = result["reference_colorfulness"] - result["colorfulness"]
    return result


# Measured on 6,000 tiny-imagenet training images: chroma < 2 on more than 90% of the pixels flags
# 2.2% of them, among which every one of the 1.8% stored as PIL mode "L"; the rest are RGB files
# with no visible colour.
GRAY_CHROMA_THRESHOLD = 2.0
GRAY_MAX_SHARE = 0.9


def neutral_share(image: Any, *, chroma_threshold: float = GRAY_CHROMA_THRESHOLD) -> float:
    """Share of pixels whose chroma |ab| is below ``chroma_threshold`` (CIELAB units)."""
    from .color import rgb_to_lab

    array = image_to_array(image)
    if array.ndim == 2:
        return 1.0
    lab = rgb_to_lab(array)
    return float((np.hypot(lab[..., 1], lab[..., 2]) < chroma_threshold).mean())


def is_grayscale(
    image: Any, *, chroma_threshold: float = GRAY_CHROMA_THRESHOLD, max_share: float = GRAY_MAX_SHARE
) -> bool:
    """True when more than ``max_share`` of the pixels are neutral (chroma below ``chroma_threshold``).

    The seed-1 filter (it dropped images whose ab was exactly neutral on more than 40% of pixels),
    made tolerant of JPEG chroma noise and configurable. Training drops such images; evaluation
    skips them as references that carry no colour.
    """
    return neutral_share(image, chroma_threshold=chroma_threshold) > max_share


def _check_pair(prediction: np.ndarray, reference: np.ndarray) -> None:
    if prediction.shape != reference.shape:
        raise ValueError(f"prediction {prediction.shape} and reference {reference.shape} differ in shape")
    if prediction.dtype != np.uint8 or reference.dtype != np.uint8:
        raise ValueError("metrics are defined on uint8 RGB images (use as_rgb_uint8)")

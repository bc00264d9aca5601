"""Image-quality metrics, following the protocol of ``shared/data/README.md``.

Everything is scored on RGB uint8 at the image's full resolution: PSNR with ``data_range=255``,
SSIM with ``channel_axis=2`` and ``data_range=255`` (scikit-image), colourfulness
(Hasler & Suesstrunk 2003) with its gap to the reference's colourfulness, and the AuC of Zhang,
Isola & Efros, "Colorful Image Colorization" (ECCV 2016, section 3.1), raw and class-rebalanced.

AuC, exactly as computed here: both images are converted to CIELAB (``colorizers.color.rgb_to_lab``,
D65) and every pixel gets its ab error ``d = |ab_prediction - ab_reference|`` (L2, CIELAB units).
For each threshold t = 0, 1, ..., 150 the share of pixels with ``d <= t`` is taken; AuC is the mean
of those 151 shares, in percent (identical images: 100; ``d`` above 150 everywhere: 0). Per pixel
this is ``(151 - ceil(d)) / 151`` clipped to [0, 1], which is how it is computed. The
class-rebalanced AuC weights every pixel by the inverse of the frequency of its reference ab bin:
bins are 10 x 10 ab units centred on multiples of 10 (ab rounded to the nearest multiple of 10,
the grid of Zhang et al.'s colour classes, so neutral colours sit in the middle of one bin), their
frequencies are counted over every pixel of the reference images being scored together (a whole
evaluation set, see ``AucAccumulator``), with no smoothing toward uniform. Since the weights are
``1 / frequency``, this equals the mean, over the ab bins that occur in the references, of the raw
AuC of the pixels in that bin: every colour present counts equally, however rare.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from colorizers.image_processing_colorizer import image_to_array
from colorizers.processing.upsampling import BAND_PIXELS, row_bands


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


AUC_MAX_THRESHOLD = 150  # ab units: thresholds 0, 1, ..., 150 as in Zhang et al. (2016)
AB_BIN_SIZE = 10  # ab units: the side of the bins of the class-rebalanced AuC
_AB_BIN_OFFSET = 13  # round(ab / 10) + 13 maps the CIELAB range of sRGB (-108..98) well inside 0..25
_AB_BINS = 2 * _AB_BIN_OFFSET


def ab_error(prediction: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per-pixel L2 distance in CIELAB ab between two uint8 RGB images, float64 (H, W)."""
    from colorizers.color import rgb_to_lab

    _check_pair(prediction, reference)
    difference = rgb_to_lab(prediction)[..., 1:].astype(np.float64) - rgb_to_lab(reference)[..., 1:]
    return np.hypot(difference[..., 0], difference[..., 1])


def auc_per_pixel(error: np.ndarray) -> np.ndarray:
    """Each pixel's share of the thresholds 0..150 its ab error is within: ``(151 - ceil(d)) / 151`` in [0, 1]."""
    steps = AUC_MAX_THRESHOLD + 1
    return np.clip(steps - np.ceil(np.asarray(error, np.float64)), 0, steps) / steps


def auc(prediction: np.ndarray, reference: np.ndarray) -> float:
    """Raw AuC (percent, 0..100) of one uint8 RGB prediction: see the module docstring."""
    return float(100.0 * auc_per_pixel(ab_error(prediction, reference)).mean())


def _ab_bin(ab: np.ndarray) -> np.ndarray:
    cells = np.floor(np.asarray(ab, np.float64) / AB_BIN_SIZE + 0.5).astype(np.int64) + _AB_BIN_OFFSET
    cells = np.clip(cells, 0, _AB_BINS - 1)
    return (cells[..., 0] * _AB_BINS + cells[..., 1]).ravel()


MIN_CORRELATION_STD = 1.0  # ab units: below this spread a set's a* (or b*) is gray, and correlating it means nothing


def correlations_from_moments(count: float, moments) -> dict[str, float | None]:
    """``{"corr_a", "corr_b"}`` from ``count`` pixels and, per channel (a* then b*), the sums of x, y, x², y², xy
    (x predicted, y true): ``None`` without pixels or where either side's spread is below ``MIN_CORRELATION_STD``."""
    result: dict[str, float | None] = {}
    for channel, name in enumerate(("corr_a", "corr_b")):
        if count <= 0:
            result[name] = None
            continue
        sx, sy, sxx, syy, sxy = (float(value) for value in moments[channel])
        covariance = sxy / count - (sx / count) * (sy / count)
        var_x, var_y = sxx / count - (sx / count) ** 2, syy / count - (sy / count) ** 2
        gray = min(var_x, var_y) < MIN_CORRELATION_STD**2
        result[name] = None if gray else float(covariance / math.sqrt(var_x * var_y))
    return result


class AucAccumulator:
    """Raw and class-rebalanced AuC over a whole set of (prediction, reference) pairs.

    ``add`` each pair (uint8 RGB of equal shape; images may differ in size from pair to pair), then
    read ``result()``. Both numbers are over every pixel of the set pooled (a large image weighs
    more than a small one); the rebalanced one weights each pixel by the inverse frequency of its
    reference ab bin counted over all the set's references, which is the mean over occupied bins
    of each bin's raw AuC (module docstring). Only per-bin sums are kept, so memory stays constant.
    """

    def __init__(self) -> None:
        self._pixels = np.zeros(_AB_BINS * _AB_BINS, np.float64)
        self._scores = np.zeros(_AB_BINS * _AB_BINS, np.float64)
        # pooled Pearson correlation of predicted with true a* and b*: per channel the sums of x, y, x², y², xy
        self._moments = np.zeros((2, 5), np.float64)

    def add(self, prediction: np.ndarray, reference: np.ndarray) -> float:
        """Add one pair; returns its own raw AuC (percent)."""
        from colorizers.color import rgb_to_lab

        _check_pair(prediction, reference)
        reference_ab = rgb_to_lab(reference)[..., 1:].astype(np.float64)
        predicted_ab = rgb_to_lab(prediction)[..., 1:].astype(np.float64)
        difference = predicted_ab - reference_ab
        per_pixel = auc_per_pixel(np.hypot(difference[..., 0], difference[..., 1]))
        return self.add_lab(per_pixel, reference_ab, predicted_ab)

    def add_lab(
        self, per_pixel: np.ndarray, reference_ab: np.ndarray, predicted_ab: np.ndarray | None = None
    ) -> float:
        """Add pixels given their ``auc_per_pixel`` values and reference ab (..., 2); returns their raw AuC.

        ``predicted_ab`` (same shape as ``reference_ab``) also feeds the pooled a*/b* correlations."""
        bins = _ab_bin(reference_ab)
        per_pixel = np.asarray(per_pixel, np.float64).ravel()
        if per_pixel.size != bins.size or per_pixel.size == 0:
            raise ValueError(f"got {per_pixel.size} pixel scores for {bins.size} reference pixels")
        self._pixels += np.bincount(bins, minlength=self._pixels.size)
        self._scores += np.bincount(bins, weights=per_pixel, minlength=self._scores.size)
        if predicted_ab is not None:
            if predicted_ab.shape != reference_ab.shape:
                raise ValueError(f"predicted ab {predicted_ab.shape} and reference ab {reference_ab.shape} differ")
            for channel in range(2):
                x = predicted_ab[..., channel].ravel().astype(np.float64)
                y = reference_ab[..., channel].ravel().astype(np.float64)
                self._moments[channel] += (x.sum(), y.sum(), x @ x, y @ y, x @ y)
        return float(100.0 * per_pixel.mean())

    def correlations(self) -> dict[str, float | None]:
        """``{"corr_a", "corr_b"}``: Pearson correlation of predicted with true a* (b*) over every pixel of the set
        pooled (Zhang et al.'s colour question: does the model know green from red, blue from yellow?). ``None``
        before any pair or where either side has no colour to speak of (a standard deviation below
        ``MIN_CORRELATION_STD`` ab units: a gray image's 8-bit rounding alone leaves a few tenths)."""
        return correlations_from_moments(float(self._pixels.sum()), self._moments)

    @property
    def num_pixels(self) -> int:
        return int(self._pixels.sum())

    def result(self) -> dict[str, float | None]:
        """``{"auc": raw, "auc_rebalanced": rebalanced}`` in percent and the pooled ``corr_a``, ``corr_b``;
        ``None`` before any pair."""
        if not self.num_pixels:
            return {"auc": None, "auc_rebalanced": None, "corr_a": None, "corr_b": None}
        occupied = self._pixels > 0
        return {
            "auc": float(100.0 * self._scores.sum() / self._pixels.sum()),
            "auc_rebalanced": float(100.0 * np.mean(self._scores[occupied] / self._pixels[occupied])),
            **self.correlations(),
        }


def score(
    prediction: Any, reference: Any | None = None, *, accumulator: AucAccumulator | None = None
) -> dict[str, float | None]:
    """All metrics of one prediction; PSNR/SSIM, AuC and the gap are ``None`` without a colour reference.

    ``accumulator``: also add the pair to this set-level ``AucAccumulator`` (the Lab conversion is shared).
    Images above ``BAND_PIXELS`` are scored in bands of rows (an RGB PIL prediction is never copied whole):
    the same numbers to float rounding, in a few megabytes instead of gigabytes.
    """
    if not (isinstance(prediction, Image.Image) and prediction.mode == "RGB"):
        prediction = as_rgb_uint8(prediction)
    reference = None if reference is None else as_rgb_uint8(reference)
    width, height = prediction.size if isinstance(prediction, Image.Image) else prediction.shape[1::-1]
    if height * width > BAND_PIXELS:
        return _score_in_bands(prediction, reference, height, width, accumulator)
    prediction = as_rgb_uint8(prediction)
    result: dict[str, float | None] = {
        "psnr": None,
        "ssim": None,
        "auc": None,
        "colorfulness": colorfulness(prediction),
        "reference_colorfulness": None,
        "colorfulness_gap": None,
    }
    if reference is not None:
        result["psnr"] = psnr(prediction, reference)
        result["ssim"] = ssim(prediction, reference)
        result["auc"] = (accumulator or AucAccumulator()).add(prediction, reference)
        result["reference_colorfulness"] = colorfulness(reference)
        result["colorfulness_gap"] = result["reference_colorfulness"] - result["colorfulness"]
    return result


def _rows(image: Image.Image | np.ndarray, start: int, stop: int) -> np.ndarray:
    if isinstance(image, Image.Image):
        return np.asarray(image.crop((0, start, image.width, stop)))
    return image[start:stop]


def _colorfulness_in_bands(image, height: int, width: int) -> float:
    """:func:`colorfulness` over bands of rows: means first, then the deviations from them."""

    def opponents(start, stop):
        rgb = _rows(image, start, stop).astype(np.float64)
        return np.abs(rgb[..., 0] - rgb[..., 1]), np.abs((rgb[..., 0] + rgb[..., 1]) / 2.0 - rgb[..., 2])

    count, bands = height * width, row_bands(height, width)
    sums = np.zeros(2)
    for start, stop in bands:
        sums += [plane.sum() for plane in opponents(start, stop)]
    means = sums / count
    squares = np.zeros(2)
    for start, stop in bands:
        squares += [((plane - mean) ** 2).sum() for plane, mean in zip(opponents(start, stop), means)]
    deviations = np.sqrt(squares / count)
    return float(math.hypot(*deviations) + 0.3 * math.hypot(*means))


def _ssim_map(reference: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """scikit-image's SSIM map (7x7 uniform window, sample covariance, ``data_range=255``) of uint8 RGB, with
    OpenCV's box filter (several times faster). Only pixels 3 or more from the border are meaningful, and
    there it equals scikit-image's to float rounding (border handling differs, and is cropped by both)."""
    try:
        import cv2
    except ImportError:  # pragma: no cover - a dependency; without it scikit-image computes the same map
        return structural_similarity(reference, prediction, channel_axis=2, data_range=255, full=True)[1]
    c1, c2, norm = (0.01 * 255) ** 2, (0.03 * 255) ** 2, 49 / 48
    planes = []
    for channel in range(3):
        x, y = reference[..., channel].astype(np.float64), prediction[..., channel].astype(np.float64)
        ux, uy, uxx, uyy, uxy = (
            cv2.boxFilter(plane, cv2.CV_64F, (7, 7), borderType=cv2.BORDER_REFLECT)
            for plane in (x, y, x * x, y * y, x * y)
        )
        vx, vy, vxy = norm * (uxx - ux * ux), norm * (uyy - uy * uy), norm * (uxy - ux * uy)
        planes.append(((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2)))
    return np.stack(planes, axis=-1)


def _score_in_bands(prediction, reference, height, width, accumulator) -> dict[str, float | None]:
    result: dict[str, float | None] = {
        "psnr": None,
        "ssim": None,
        "auc": None,
        "colorfulness": _colorfulness_in_bands(prediction, height, width),
        "reference_colorfulness": None,
        "colorfulness_gap": None,
    }
    if reference is None:
        return result
    if reference.shape != (height, width, 3):
        raise ValueError(f"prediction {(height, width, 3)} and reference {reference.shape} differ in shape")
    accumulator = accumulator or AucAccumulator()
    squared_error, ssim_sum, ssim_count, auc_sum = 0, 0.0, 0, 0.0
    pad = 3  # scikit-image's 7x7 window: SSIM is averaged over pixels at least 3 from the border
    for start, stop in row_bands(height, width):
        low, high = max(0, start - pad), min(height, stop + pad)
        ours, theirs = _rows(prediction, low, high), reference[low:high]
        inner = slice(start - low, stop - low)
        difference = ours[inner].astype(np.int64) - theirs[inner]
        squared_error += int((difference * difference).sum())
        local = _ssim_map(theirs, ours)
        first, last = max(start, pad) - low, min(stop, height - pad) - low
        if last > first:
            ssim_sum += float(local[first:last, pad : width - pad].sum(dtype=np.float64))
            ssim_count += (last - first) * max(0, width - 2 * pad) * 3
        auc_sum += accumulator.add(np.ascontiguousarray(ours[inner]), np.ascontiguousarray(theirs[inner])) * (
            stop - start
        )
    mse = squared_error / (height * width * 3)
    result["psnr"] = math.inf if squared_error == 0 else float(10 * math.log10(255.0**2 / mse))
    result["ssim"] = ssim_sum / ssim_count
    result["auc"] = auc_sum / height
    result["reference_colorfulness"] = _colorfulness_in_bands(reference, height, width)
    result["colorfulness_gap"] = result["reference_colorfulness"] - result["colorfulness"]
    return result


# Measured on 6,000 tiny-imagenet training images: chroma < 2 on more than 90% of the pixels flags
# 2.2% of them, among which every one of the 1.8% stored as PIL mode "L"; the rest are RGB files
# with no visible colour.
GRAY_CHROMA_THRESHOLD = 2.0
GRAY_MAX_SHARE = 0.9


def neutral_share(image: Any, *, chroma_threshold: float = GRAY_CHROMA_THRESHOLD) -> float:
    """Share of pixels whose chroma |ab| is below ``chroma_threshold`` (CIELAB units)."""
    from colorizers.color import rgb_to_lab

    array = image_to_array(image)
    if array.ndim == 2:
        return 1.0
    height, width = array.shape[:2]
    neutral = 0
    for start, stop in row_bands(height, width) if height * width > BAND_PIXELS else [(0, height)]:
        lab = rgb_to_lab(array[start:stop])
        neutral += int((np.hypot(lab[..., 1], lab[..., 2]) < chroma_threshold).sum())
    return neutral / (height * width)


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

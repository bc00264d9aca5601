import math

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from colorizers import metrics


@pytest.fixture
def pair(rng):
    reference = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    noise = rng.integers(-20, 21, reference.shape)
    prediction = np.clip(reference.astype(int) + noise, 0, 255).astype(np.uint8)
    return prediction, reference


def test_scores_match_scikit_image(pair):
    prediction, reference = pair
    result = metrics.score(prediction, reference)
    assert result["psnr"] == pytest.approx(peak_signal_noise_ratio(reference, prediction, data_range=255))
    assert result["ssim"] == pytest.approx(structural_similarity(reference, prediction, channel_axis=2, data_range=255))
    assert result["colorfulness_gap"] == pytest.approx(result["reference_colorfulness"] - result["colorfulness"])


def test_identical_images_give_infinite_psnr(pair):
    _, reference = pair
    result = metrics.score(reference, reference.copy())
    assert math.isinf(result["psnr"]) and result["ssim"] == pytest.approx(1.0)


def test_colorfulness_known_values():
    assert metrics.colorfulness(np.full((8, 8, 3), 128, np.uint8)) == 0.0
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 255
    # rg = 255, yb = 127.5, no spread: 0.3 * hypot(255, 127.5)
    assert metrics.colorfulness(red) == pytest.approx(0.3 * math.hypot(255, 127.5))


def test_without_reference_only_colorfulness(pair):
    result = metrics.score(pair[0])
    assert result["psnr"] is None and result["ssim"] is None and result["colorfulness"] > 0


def test_errors_name_the_problem(pair):
    prediction, reference = pair
    with pytest.raises(ValueError, match="differ in shape"):
        metrics.psnr(prediction[:10], reference)
    with pytest.raises(ValueError, match="at least 7x7"):
        metrics.ssim(prediction[:5, :5], reference[:5, :5])


def test_grayscale_detection(pair):
    gray = np.repeat(pair[1][..., :1], 3, axis=-1)
    assert metrics.is_grayscale(gray)
    assert not metrics.is_grayscale(pair[1])

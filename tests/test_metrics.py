import math

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from colorizers.evaluation import metrics


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
    assert result["ssim"] == pytest.approx(
        structural_similarity(reference, prediction, channel_axis=2, data_range=255)
    )
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


# ---------------------------------------------------------------------------------------------
# AuC (Zhang et al. 2016): thresholds 0..150 on the ab error, raw and class-rebalanced
# ---------------------------------------------------------------------------------------------

GRAY, RED, GREEN, MAGENTA = (128, 128, 128), (255, 0, 0), (0, 255, 0), (255, 0, 255)


def _image(*colours):
    """A 1 x N uint8 RGB image of the given pixels."""
    return np.array([colours], np.uint8)


def test_auc_per_pixel_known_values():
    # d = 0 is within every threshold 0..150; d = 5 within 146 of the 151; d = 150 within one; above 150 none
    values = metrics.auc_per_pixel(np.array([0.0, 5.0, 4.2, 150.0, 150.5, 300.0]))
    np.testing.assert_array_equal(values * 151, [151, 146, 146, 1, 0, 0])


def test_auc_identical_images_is_100(pair):
    _, reference = pair
    assert metrics.auc(reference, reference.copy()) == 100.0
    assert metrics.score(reference, reference.copy())["auc"] == 100.0


def test_auc_known_constant_offsets():
    # red against the gray of (almost) the same L: ab error 104.55 (scikit-image: a 80.09, b 67.20), so
    # within the thresholds 105..150, 46 of 151
    assert metrics.auc(_image(*[GRAY] * 6), _image(*[RED] * 6)) == pytest.approx(100 * 46 / 151, abs=1e-9)
    # green against magenta: ab error 234 > 150 everywhere
    assert metrics.auc(_image(GREEN, GREEN), _image(MAGENTA, MAGENTA)) == 0.0
    # one pixel exact, three off by 104.55
    assert metrics.auc(_image(GRAY, GRAY, GRAY, RED), _image(RED, RED, RED, RED)) == pytest.approx(
        100 * (1 + 3 * 46 / 151) / 4, abs=1e-9
    )


def test_auc_rebalanced_over_a_set():
    accumulator = metrics.AucAccumulator()
    assert accumulator.result() == {"auc": None, "auc_rebalanced": None, "corr_a": None, "corr_b": None}
    # image 1: four gray pixels, all exact; image 2: three exact gray pixels and one magenta predicted green
    assert accumulator.add(_image(GRAY, GRAY, GRAY, GRAY), _image(GRAY, GRAY, GRAY, GRAY)) == 100.0
    assert accumulator.add(_image(GRAY, GRAY, GRAY, GREEN), _image(GRAY, GRAY, GRAY, MAGENTA)) == 75.0
    result = accumulator.result()
    assert result["auc"] == pytest.approx(100 * 7 / 8)  # pooled over the 8 pixels of the set
    # the gray bin (7 pixels, all exact) and the magenta bin (1 pixel, AuC 0) count equally
    assert result["auc_rebalanced"] == pytest.approx(50.0)
    assert accumulator.num_pixels == 8


def test_auc_rebalanced_weights_by_inverse_bin_frequency(rng):
    # the closed form (mean over occupied bins) equals the explicit inverse-frequency weighting
    from colorizers.color import rgb_to_lab

    references = [rng.integers(0, 256, (6, 9, 3), dtype=np.uint8) for _ in range(3)]
    predictions = [
        np.clip(r.astype(int) + rng.integers(-60, 61, r.shape), 0, 255).astype(np.uint8) for r in references
    ]
    accumulator = metrics.AucAccumulator()
    for prediction, reference in zip(predictions, references):
        accumulator.add(prediction, reference)
    ab = np.concatenate([rgb_to_lab(r)[..., 1:].reshape(-1, 2) for r in references])
    scores = np.concatenate(
        [metrics.auc_per_pixel(metrics.ab_error(p, r)).ravel() for p, r in zip(predictions, references)]
    )
    keys = [tuple(k) for k in np.floor(ab / 10 + 0.5).astype(int)]
    counts = {k: keys.count(k) for k in set(keys)}
    weights = np.array([1.0 / counts[k] for k in keys])
    assert accumulator.result()["auc_rebalanced"] == pytest.approx(100 * (weights * scores).sum() / weights.sum())
    assert accumulator.result()["auc"] == pytest.approx(100 * scores.mean())


def test_score_feeds_an_accumulator(pair):
    prediction, reference = pair
    accumulator = metrics.AucAccumulator()
    result = metrics.score(prediction, reference, accumulator=accumulator)
    assert result["auc"] == pytest.approx(metrics.auc(prediction, reference))
    assert accumulator.result()["auc"] == pytest.approx(result["auc"])
    assert metrics.score(prediction)["auc"] is None


def test_pooled_correlations_of_a_and_b():
    from colorizers.color import lab_to_rgb

    rng = np.random.default_rng(0)
    lab = np.dstack([np.full((16, 16), 60.0), rng.uniform(-40, 40, (16, 16)), rng.uniform(-40, 40, (16, 16))])
    reference = (np.clip(lab_to_rgb(lab), 0, 1) * 255 + 0.5).astype(np.uint8)
    swapped = lab.copy()
    swapped[..., 1] = -lab[..., 1]  # a* mirrored (green for red), b* kept
    prediction = (np.clip(lab_to_rgb(swapped), 0, 1) * 255 + 0.5).astype(np.uint8)

    same = metrics.AucAccumulator()
    same.add(reference, reference)
    assert same.correlations() == {"corr_a": pytest.approx(1.0), "corr_b": pytest.approx(1.0)}
    mirrored = metrics.AucAccumulator()
    mirrored.add(prediction, reference)
    result = mirrored.result()
    assert result["corr_a"] == pytest.approx(-1.0, abs=0.01) and result["corr_b"] == pytest.approx(1.0, abs=0.01)
    gray = metrics.AucAccumulator()
    gray.add(np.full_like(reference, 128), reference)
    assert gray.correlations() == {"corr_a": None, "corr_b": None}  # no variance: no correlation, not 0 or NaN
    assert metrics.AucAccumulator().result() == {"auc": None, "auc_rebalanced": None, "corr_a": None, "corr_b": None}

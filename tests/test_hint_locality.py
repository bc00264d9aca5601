"""A colour hint colours its own region and stops at strong lightness edges (colorizers.processing.hint_locality)."""

import numpy as np
import torch
from conftest import tiny_model

import colorizers
from colorizers.color import normalize_lightness, rgb_to_lab
from colorizers.processing.hint_locality import hint_weight, localize_hints


def _square_scene(size: int = 128) -> np.ndarray:
    """L* plane: a uniform bright square (L 80) in the middle of a dark surround (L 20)."""
    lightness = np.full((size, size), 20.0)
    lightness[size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 80.0
    return lightness


def test_a_hint_fills_its_uniform_region_and_stops_at_a_strong_edge():
    lightness = _square_scene()
    mask = np.zeros_like(lightness)
    mask[64, 64] = 1
    weight, nearest = hint_weight(lightness, mask)
    assert weight[64, 64] == 1.0 and np.all(nearest == 64 * 128 + 64)
    assert weight[36, 36] > 0.5 and weight[36, 64] > 0.7  # near the square's far corner and side: still coloured
    assert weight[:20].max() < 0.02 and weight[:, :20].max() < 0.02  # across the edge


def test_each_pixel_takes_the_colour_of_its_own_regions_hint_and_unhinted_images_are_untouched():
    lightness = np.full((1, 1, 64, 64), 25.0, np.float32)
    lightness[..., 32:] = 85.0
    pixel_values = torch.from_numpy(normalize_lightness(np.concatenate([lightness, lightness])))
    auto = torch.randn(2, 2, 64, 64) * 0.1
    hinted = auto + 0.05
    hint_ab, hint_mask = torch.zeros(2, 2, 64, 64), torch.zeros(2, 1, 64, 64)
    hint_ab[0, :, 30, 10], hint_mask[0, :, 30, 10] = torch.tensor([0.5, 0.4]), 1
    hint_ab[0, :, 30, 50], hint_mask[0, :, 30, 50] = torch.tensor([-0.5, 0.1]), 1
    result = localize_hints(auto, hinted, pixel_values, hint_ab, hint_mask)
    assert torch.equal(result[1], auto[1])  # no hints: the automatic prediction bit for bit
    assert torch.allclose(result[0, :, 30, 10], torch.tensor([0.5, 0.4]))
    # near each hint, its own region takes its colour; the other region is out of its reach
    assert torch.allclose(result[0, :, 34, 14], torch.tensor([0.5, 0.4]), atol=0.05)
    assert torch.allclose(result[0, :, 34, 46], torch.tensor([-0.5, 0.1]), atol=0.05)
    assert result[0, 0, 30, 28] > 0.2 and result[0, 0, 30, 35] < -0.2  # each side of the edge: its own hint's a*


def test_colorize_keeps_automatic_output_for_unhinted_images_in_a_hinted_batch():
    model = tiny_model("chroma").eval()
    image = (np.random.default_rng(0).random((40, 60)) * 255).astype(np.uint8)
    plain = np.asarray(colorizers.colorize(image, model))
    both = colorizers.colorize([image, image], model, hints=[None, [{"x": 30, "y": 20, "hex": "#f00"}]])
    assert np.array_equal(np.asarray(both[0]), plain)
    assert not np.array_equal(np.asarray(both[1]), plain)


def test_chroma_hint_colours_its_half_and_not_the_other_half_across_a_strong_edge():
    torch.set_num_threads(2)
    model = colorizers.load_model("chroma")
    image = np.full((256, 256), 200, np.uint8)
    image[:, :128] = 60  # dark left half, bright right half: one strong vertical edge
    hint = {"x": 108, "y": 128, "ab": [60.0, 50.0]}  # on the left half, 20 px from the edge
    plain = rgb_to_lab(np.asarray(colorizers.colorize(image, model)))
    hinted = rgb_to_lab(np.asarray(colorizers.colorize(image, model, hints=[hint])))
    delta = np.linalg.norm(hinted[..., 1:] - plain[..., 1:], axis=-1)
    rows, columns = np.mgrid[0:256, 0:256]
    far = np.hypot(columns - hint["x"], rows - hint["y"]) > 64
    assert delta[:, 128:][far[:, 128:]].mean() < 5  # across the edge, beyond 64 px (measured 0.00)
    assert delta[:, :128].mean() > 20  # the hint's own half (measured 32; 10 before the blend)
    assert delta[:, :128][far[:, :128]].mean() > 10  # even beyond 64 px (measured 22; 0.02 before)

"""Pinned outputs of every shipped model (transformers' ``expected_slice`` integration tests).

Each preset with weights in ``colorizers/pretrained/`` is run on one fixed, deterministic input and
compared with values recorded here:

* ``EXPECTED_AB``: ``colorizers.predicted_ab(model(pixel_values=fixed_lightness()))[0, :, 10:13, 20:23]``,
  the normalised ab of a 3x3 patch (atol 1e-4);
* ``EXPECTED_PIXELS``: RGB pixels of ``colorizers.colorize(fixed_image(), name)`` at ``PIXELS`` (uint8, +-1),
  which covers the shipped image processor and the post-processing too.

A failure means the shipped weights, a model's forward pass, or pre/post-processing changed what users
get. If that change is deliberate (retrained weights, a fixed colour conversion, a new resize), update
the pins: run ``PYTHONPATH=. python tests/test_pretrained_pins.py [preset ...]`` from the repository root;
it prints the new ``EXPECTED_AB`` / ``EXPECTED_PIXELS`` entries to paste below (all shipped presets when
none is named). Say in the commit why the outputs moved.

A preset that ships weights without a pin fails ``test_shipped_model_outputs_are_pinned``: add its pin
the same way, so that no shipped model goes unpinned.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

import colorizers

SHIPPED = colorizers.list_models(with_weights=True)
AB_SLICE = (0, slice(None), slice(10, 13), slice(20, 23))
# (row, column) of the colorize() pixels that are pinned: corners, the bright square, the ramp.
PIXELS = [(2, 3), (8, 50), (24, 32), (30, 22), (40, 10), (45, 61)]

# Recorded with this file's __main__ block (see the module docstring).
EXPECTED_AB = {
    "ae-baseline": [
        [[0.037220, 0.037220, 0.036525], [0.037220, 0.037220, 0.036525], [0.037673, 0.037673, 0.036059]],
        [[0.085564, 0.085564, 0.078004], [0.085564, 0.085564, 0.078004], [0.079524, 0.079524, 0.067156]],
    ],
    "ae-vgg16": [
        [[0.039635, 0.039635, 0.039250], [0.039635, 0.039635, 0.039250], [0.043530, 0.043530, 0.043237]],
        [[0.102867, 0.102867, 0.103361], [0.102867, 0.102867, 0.103361], [0.103774, 0.103774, 0.104227]],
    ],
    "chroma": [
        [[-0.022595, -0.022553, -0.022048], [-0.019497, -0.019412, -0.018937], [-0.016399, -0.016270, -0.015826]],
        [[0.120634, 0.118361, 0.118911], [0.111212, 0.108944, 0.109156], [0.101790, 0.099528, 0.099402]],
    ],
    "cifar-ae": [
        [[0.018257, 0.017489, 0.016269], [-0.007189, -0.010817, -0.011751], [-0.022996, -0.024679, -0.025054]],
        [[0.093053, 0.090107, 0.085759], [0.124286, 0.124291, 0.123606], [0.134362, 0.134632, 0.136263]],
    ],
    "koalarization": [
        [[0.015598, 0.015598, 0.016498], [0.015598, 0.015598, 0.016498], [0.016832, 0.016832, 0.018399]],
        [[0.031440, 0.031440, 0.035409], [0.031440, 0.031440, 0.035409], [0.029698, 0.029698, 0.034051]],
    ],
    "koalarization-small": [
        [[0.021299, 0.021299, 0.028452], [0.021299, 0.021299, 0.028452], [0.016844, 0.016844, 0.020966]],
        [[0.047568, 0.047568, 0.038683], [0.047568, 0.047568, 0.038683], [0.036429, 0.036429, 0.032041]],
    ],
    "resnet18": [
        [[0.015844, 0.015844, 0.013643], [0.015844, 0.015844, 0.013643], [-0.000750, -0.000750, -0.002949]],
        [[0.071274, 0.071274, 0.074345], [0.071274, 0.071274, 0.074345], [0.075845, 0.075845, 0.079741]],
    ],
    "strided-unet": [
        [[0.025275, 0.022955, 0.025800], [-0.005068, 0.004750, -0.005638], [-0.022050, -0.056832, -0.021785]],
        [[0.053254, 0.042756, 0.041622], [0.019304, 0.025139, 0.023783], [0.030293, -0.009000, 0.039464]],
    ],
    "unet-gan": [
        [[0.032306, 0.023395, 0.020504], [0.014738, 0.011817, 0.010684], [-0.002504, -0.000971, -0.000243]],
        [[0.066916, 0.056069, 0.051417], [0.058506, 0.050377, 0.049840], [0.037997, 0.027409, 0.025571]],
    ],
    "gan": [
        [[0.021759, 0.021212, 0.025694], [0.015867, 0.019673, 0.018785], [0.012426, 0.024046, 0.021827]],
        [[0.126674, 0.120594, 0.114163], [0.121718, 0.126539, 0.121691], [0.111617, 0.108517, 0.108530]],
    ],
    "unet": [
        [[0.033824, 0.031666, 0.031215], [0.016881, 0.015395, 0.015282], [0.014408, 0.013466, 0.013270]],
        [[0.050120, 0.046946, 0.046516], [0.041940, 0.039074, 0.039892], [0.056443, 0.055754, 0.056593]],
    ],
    "vanilla-v1": [
        [[0.054841, 0.055111, 0.055966], [0.031302, 0.030947, 0.030901], [-0.000538, -0.001517, -0.002125]],
        [[0.040937, 0.039292, 0.040035], [0.036970, 0.035380, 0.035449], [0.035577, 0.034054, 0.033191]],
    ],
    "vanilla-v2": [
        [[0.032873, 0.032591, 0.029059], [0.026435, 0.027256, 0.022101], [0.003759, 0.003463, -0.002925]],
        [[0.053945, 0.052465, 0.040301], [0.059449, 0.057641, 0.045993], [0.065149, 0.064800, 0.049679]],
    ],
}

EXPECTED_PIXELS = {
    "ae-baseline": [[17, 12, 12], [158, 166, 188], [204, 199, 198], [213, 197, 188], [33, 29, 29], [20, 16, 17]],
    "ae-vgg16": [[21, 11, 0], [179, 164, 148], [215, 197, 181], [215, 197, 181], [39, 28, 16], [26, 15, 0]],
    "chroma": [[18, 11, 11], [211, 156, 79], [213, 199, 171], [213, 198, 173], [42, 26, 26], [24, 14, 14]],
    "cifar-ae": [[19, 11, 5], [175, 166, 136], [209, 201, 163], [211, 199, 169], [38, 28, 19], [24, 15, 7]],
    "koalarization": [[16, 12, 12], [171, 165, 161], [207, 199, 194], [217, 197, 179], [33, 29, 30], [19, 16, 16]],
    "koalarization-small": [
        [18, 11, 16],
        [171, 164, 167],
        [206, 199, 197],
        [207, 198, 194],
        [33, 29, 29],
        [22, 16, 14],
    ],
    "resnet18": [[19, 11, 8], [156, 166, 191], [198, 200, 203], [211, 198, 187], [34, 29, 27], [21, 16, 13]],
    "strided-unet": [[15, 12, 18], [157, 167, 182], [192, 201, 209], [197, 201, 200], [34, 28, 35], [21, 16, 18]],
    "unet-gan": [[15, 13, 12], [164, 166, 169], [198, 200, 202], [197, 200, 205], [31, 30, 31], [18, 17, 16]],
    "gan": [[14, 13, 12], [166, 166, 166], [200, 200, 201], [200, 200, 200], [33, 29, 28], [17, 17, 18]],
    "unet": [[14, 13, 14], [161, 166, 182], [200, 200, 203], [204, 199, 195], [33, 29, 27], [19, 17, 16]],
    "vanilla-v1": [[16, 12, 14], [173, 165, 151], [202, 200, 190], [205, 200, 184], [36, 28, 26], [21, 16, 17]],
    "vanilla-v2": [[16, 12, 10], [171, 165, 154], [201, 200, 194], [205, 200, 186], [36, 28, 27], [21, 16, 12]],
}


def fixed_lightness() -> torch.Tensor:
    """A 1x1x40x56 normalised L in [-1, 1]: a diagonal ramp with a ripple and a bright square, no randomness."""
    y = torch.linspace(0, 1, 40)[:, None]
    x = torch.linspace(0, 1, 56)[None, :]
    lightness = 0.8 * (x + y) - 0.8 + 0.2 * torch.sin(6 * torch.pi * x) * torch.cos(4 * torch.pi * y)
    lightness[12:24, 16:30] = 0.7
    return lightness.clamp(-1, 1)[None, None]


def fixed_image() -> np.ndarray:
    """A 48x64 uint8 gray pattern: a wrapping diagonal ramp with a light rectangle and a dark bar."""
    y, x = np.mgrid[0:48, 0:64]
    image = (x * 3 + y * 2) % 256
    image[16:32, 20:44] = 200
    image[36:42, 4:60] = 30
    return image.astype(np.uint8)


def current_ab(name: str) -> torch.Tensor:
    model = colorizers.load_model(name)
    with torch.no_grad():
        return colorizers.predicted_ab(model(pixel_values=fixed_lightness()))[AB_SLICE]


def current_pixels(name: str) -> np.ndarray:
    result = np.asarray(colorizers.colorize(fixed_image(), name))
    return np.stack([result[row, column] for row, column in PIXELS])


def _missing_pin_message(name: str) -> str:
    return (
        f"preset {name!r} ships weights but its outputs are not pinned: run "
        f"`PYTHONPATH=. python tests/test_pretrained_pins.py {name}` and paste the printed entries into "
        "EXPECTED_AB and EXPECTED_PIXELS in tests/test_pretrained_pins.py"
    )


def test_pins_are_only_for_shipped_models():
    stale = sorted((set(EXPECTED_AB) | set(EXPECTED_PIXELS)) - set(SHIPPED))
    assert not stale, f"pinned presets that no longer ship weights: {stale}; remove their pins"


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_outputs_are_pinned(name):
    if name not in EXPECTED_AB:
        pytest.fail(_missing_pin_message(name))
    expected = torch.tensor(EXPECTED_AB[name])
    torch.testing.assert_close(current_ab(name), expected, rtol=0, atol=1e-4)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_colorize_is_pinned(name):
    if name not in EXPECTED_PIXELS:
        pytest.fail(_missing_pin_message(name))
    expected = np.array(EXPECTED_PIXELS[name], dtype=np.int16)
    actual = current_pixels(name).astype(np.int16)
    assert np.abs(actual - expected).max() <= 1, f"colorize() at {PIXELS}: {actual.tolist()} != {expected.tolist()}"


def _print_pins(names: list[str]) -> None:
    print("EXPECTED_AB = {")
    for name in names:
        rows = ",\n".join(
            "        [" + ", ".join("[" + ", ".join(f"{v:.6f}" for v in row) + "]" for row in channel) + "]"
            for channel in current_ab(name).tolist()
        )
        print(f'    "{name}": [\n{rows},\n    ],')
    print("}\n\nEXPECTED_PIXELS = {")
    for name in names:
        print(f'    "{name}": {current_pixels(name).tolist()},')
    print("}")


if __name__ == "__main__":
    _print_pins(sys.argv[1:] or SHIPPED)

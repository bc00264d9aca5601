"""How far one colour hint reaches: its a*b* effect inside its region and beyond 64 px across edges.

    python benchmarks/hint_locality.py [--model chroma]

Two images, each colorized without hints and with one hint (``colorizers.colorize``), compared in
CIELAB (mean |Δab| = mean Euclidean distance of a*b* between the hinted and the automatic result):

* ``edge``: 256x256, left half dark (L 25), right half bright (L 80), a strong vertical edge; one hint
  on the left half 20 px from the edge. ``same side`` = left-half pixels; ``across edge`` = right-half
  pixels more than 64 px from the hint (the bar: below 5).
* ``rocket`` (``skimage.data.rocket``, a real photo): one sunset-orange hint (ab 30, 40) on the sky. ``sky`` = sky
  pixels (blue in the original photo, above the horizon) more than 64 px from the hint; ``not sky, >64 px`` = the rest
  more than 64 px from the hint. Then the same with a hint of the photo's own colour there (ideally
  no change anywhere).

``--no-locality`` measures the model's own hinted prediction (no blending), as before
``colorizers.processing.hint_locality``.
"""

from __future__ import annotations

import argparse

import numpy as np

import colorizers
from colorizers.color import rgb_to_lab

FAR = 64  # full-resolution pixels


def edge_image(size: int = 256) -> np.ndarray:
    """A gray uint8 image, dark left half and bright right half (L about 25 and 80)."""
    image = np.full((size, size), 200, np.uint8)
    image[:, : size // 2] = 60
    return image


def edge_hint(size: int = 256) -> dict:
    return {"x": size // 2 - 20, "y": size // 2, "ab": [60.0, 50.0]}


def delta_ab(image, model, hints) -> np.ndarray:
    """Per-pixel |Δab| between ``image`` colorized with ``hints`` and without."""
    plain = rgb_to_lab(np.asarray(colorizers.colorize(image, model)))
    hinted = rgb_to_lab(np.asarray(colorizers.colorize(image, model, hints=hints)))
    return np.linalg.norm(hinted[..., 1:] - plain[..., 1:], axis=-1)


def distance_from(shape: tuple[int, int], x: float, y: float) -> np.ndarray:
    rows, columns = np.mgrid[0 : shape[0], 0 : shape[1]]
    return np.hypot(columns - x, rows - y)


def edge_numbers(model) -> tuple[float, float]:
    """(mean |Δab| on the hint's side, mean |Δab| across the edge beyond 64 px) on the edge image."""
    image, hint = edge_image(), edge_hint()
    delta = delta_ab(image, model, [hint])
    far = distance_from(image.shape, hint["x"], hint["y"]) > FAR
    right = np.zeros(image.shape, bool)
    right[:, image.shape[1] // 2 :] = True
    return float(delta[~right].mean()), float(delta[right & far].mean())


def rocket_numbers(model, hint_ab: tuple[float, float] | None = (30.0, 40.0)) -> tuple[float, float]:
    """(mean |Δab| on the sky beyond 64 px, mean |Δab| off the sky beyond 64 px) on skimage's rocket,
    the hint's colour ``hint_ab`` (``None``: the photo's own colour at the hint)."""
    import skimage.data

    photo = skimage.data.rocket()
    x, y = 120, 60  # in the sky, left of the rocket
    lab = rgb_to_lab(photo)
    sky = lab[..., 2] < -15  # the dusk sky is dark blue (L 10..40, b* about -20)
    sky[340:] = False  # below the horizon
    colour = {"ab": list(hint_ab)} if hint_ab is not None else {"rgb": [int(v) for v in photo[y, x]]}
    delta = delta_ab(photo, model, [{"x": x, "y": y, **colour}])
    far = distance_from(sky.shape, x, y) > FAR
    return float(delta[sky & far].mean()), float(delta[~sky & far].mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="chroma", help="a hint-capable model: preset, folder or Hub id")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-locality", action="store_true", help="use the hinted prediction as it is")
    args = parser.parse_args()
    if args.no_locality:
        from colorizers import pipelines

        pipelines.localize_hints = lambda auto, hinted, *rest: hinted

    import torch

    torch.set_num_threads(args.threads)
    model = colorizers.load_model(args.model)
    same, across = edge_numbers(model)
    print(f"edge image: same side mean |Δab| {same:.2f}; across the edge, >{FAR} px from the hint: {across:.2f}")
    sky, other = rocket_numbers(model)
    print(f"rocket, orange hint: sky >{FAR} px from the hint mean |Δab| {sky:.2f}; not sky, >{FAR} px: {other:.2f}")
    sky, other = rocket_numbers(model, None)
    print(f"rocket, true-colour hint: sky >{FAR} px mean |Δab| {sky:.2f}; not sky, >{FAR} px: {other:.2f}")


if __name__ == "__main__":
    main()

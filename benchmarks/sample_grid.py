"""Pictures of a model's colour for the README and cards: a sample grid and before/after pairs.

    python benchmarks/sample_grid.py --model chroma [--compare resnet18] [--out docs/quality]

* ``<out>/sample_grid.jpg``: rows of (black-and-white input | each model | the true colour) for
  scikit-image's colour photos and a few kodak24 images (downscaled to 256 px high), each model at its
  own working size and default temperature;
* ``<out>/vividness.jpg``: one photo at temperatures 1.0, 0.6, 0.38 and 0.2 (distribution models);
* ``docs/samples/<name>-colorized.png``: the bundled black-and-white samples, colorized at full size.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

import colorizers
from colorizers.evaluation.evaluate import gray_prediction, load_references
from colorizers.pipelines import has_color_distribution

ROOT = Path(__file__).resolve().parents[1]
ROW_HEIGHT = 256


def _fit(image: np.ndarray) -> Image.Image:
    picture = Image.fromarray(np.asarray(image))
    return picture.resize((round(picture.width * ROW_HEIGHT / picture.height), ROW_HEIGHT), Image.Resampling.LANCZOS)


def _labelled_row(cells: list[np.ndarray], labels: list[str]) -> Image.Image:
    pictures = [_fit(cell) for cell in cells]
    row = Image.new("RGB", (sum(p.width for p in pictures) + 4 * (len(pictures) - 1), ROW_HEIGHT + 18), "white")
    x = 0
    draw = ImageDraw.Draw(row)
    for picture, label in zip(pictures, labels):
        row.paste(picture, (x, 18))
        draw.text((x + 4, 3), label, fill=(0, 0, 0))
        x += picture.width + 4
    return row


def _stack(rows: list[Image.Image]) -> Image.Image:
    grid = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows) + 6 * (len(rows) - 1)), "white")
    y = 0
    for row in rows:
        grid.paste(row, (0, y))
        y += row.height + 6
    return grid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--compare", nargs="*", default=[], help="other models shown beside it")
    parser.add_argument("--kodak", nargs="*", default=["kodim03.png", "kodim05.png", "kodim23.png"])
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "quality"))
    args = parser.parse_args()

    import skimage.data

    photos = {name: getattr(skimage.data, name)() for name in ("astronaut", "coffee", "chelsea", "rocket")}
    kodak = load_references(Path(args.data_root) / "eval" / "kodak24").references
    photos.update({name: kodak[name] for name in args.kodak if name in kodak})
    names = [args.model, *args.compare]
    models = {name: colorizers.load_model(name) for name in names}
    rows = []
    for title, photo in photos.items():
        cells = [gray_prediction(photo)] + [np.asarray(colorizers.colorize(photo, models[n])) for n in names] + [photo]
        rows.append(_labelled_row(cells, [f"{title}: black-and-white input", *names, "true colour"]))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    _stack(rows).save(out / "sample_grid.jpg", quality=85, optimize=True)

    main_model = models[args.model]
    if has_color_distribution(main_model):
        photo = photos["coffee"]
        temperatures = (1.0, 0.6, 0.38, 0.2)
        cells = [np.asarray(colorizers.colorize(photo, main_model, temperature=t)) for t in temperatures]
        _labelled_row(cells, [f"temperature {t:g}" for t in temperatures]).save(
            out / "vividness.jpg", quality=85, optimize=True
        )

    for sample in sorted((ROOT / "docs" / "samples").glob("*-gray.jpg")):
        with Image.open(sample) as image:
            colorizers.colorize(image, main_model).save(
                sample.with_name(sample.name.replace("-gray.jpg", "-colorized.png"))
            )
    print(f"wrote {out / 'sample_grid.jpg'}, {out / 'vividness.jpg'} and docs/samples/*-colorized.png")


if __name__ == "__main__":
    main()

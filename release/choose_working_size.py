"""Choose each shipped preset's default working size by measurement, on the tuning sets only.

    python release/choose_working_size.py [--presets resnet18 unet ...] [--sizes 64 96 128 192 256] [--write]

Colour is predicted at a working size (the longest edge the model sees) and upsampled to the photo's
full resolution. Models trained on 64 px crops often do better on large photos when they see them small,
close to the scale they learned at, so the size is measured, not assumed. For every preset with weights,
each size is scored on the leaderboard's two tuning sets, never on kodak24 or cbsd68 (reported): the
full-resolution photos bundled with scikit-image, matplotlib and gradio, and 64x64 tiny-imagenet images
(a working size far above an image's own size upsamples it, which small images pay for), with the
leaderboard's merit averaged over the two

    S = (PSNR - PSNR of the gray prediction) + min(CF, reference CF) / 10

and the best size wins (sizes within 0.02 of the best S tie, and the smallest, fastest of them wins). ``--write`` stores it in the preset's
``preprocessor_config.json`` (``size.longest_edge``) and ``config.json`` (``image_size``); run
``release/leaderboard.py`` afterwards to re-score the presets and re-render their cards, and update
the output pins of ``tests/test_pretrained_pins.py`` that the new size changes. Models that predict a
colour distribution (``chroma``) are left out: ``release/choose_decoding.py`` chooses their working size
together with their decoding settings.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

import colorizers
from colorizers.evaluation.evaluate import gray_prediction
from colorizers.pipelines import has_color_distribution
from colorizers.registry import get_preset

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))  # the scoring the benchmarks print
from colour_quality import TUNING_SETS, load_set, merit, score_set  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TIE = 0.02  # S points: closer than this, two sizes are equally good


def write_size(preset: str, size: int) -> None:
    folder = get_preset(preset).weights_dir
    for name, update in (
        ("preprocessor_config.json", lambda data: data.update(size={"longest_edge": size})),
        ("config.json", lambda data: data.update(image_size=size)),
    ):
        path = folder / name
        data = json.loads(path.read_text())
        update(data)
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=None, help="default: every preset with weights")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 96, 128, 192, 256])
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--tiny-images", type=int, default=150, help="tiny-tune images (64x64)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--write", action="store_true", help="store each chosen size in the preset's folder")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    presets = args.presets or colorizers.list_models(with_weights=True)
    sets = {name: load_set(name, Path(args.data_root), args.tiny_images) for name in TUNING_SETS}
    gray = {name: score_set(images, gray_prediction) for name, images in sets.items()}
    print(f"tuning photos: {', '.join(sets['photos'])}; tiny-tune: {len(sets['tiny-tune'])} images")
    print("| preset | " + " | ".join(f"{size} px S (photos dPSNR, CF)" for size in args.sizes) + " | chosen | was |")
    print("|---|" + "---:|" * (len(args.sizes) + 2))
    for preset in presets:
        model = colorizers.load_model(preset)
        was = model.config.image_size
        if has_color_distribution(model):  # its size is chosen together with its decoding
            print(f"| {preset} | " + " | ".join("–" for _ in args.sizes) + f" | see choose_decoding.py | {was} |")
            continue
        scores = {}
        for size in args.sizes:
            summaries = {
                name: score_set(images, lambda image, s=size: colorizers.colorize(image, model, size=s))
                for name, images in sets.items()
            }
            scores[size] = (
                sum(merit(summaries[n], gray[n]) for n in sets) / len(sets),
                summaries["photos"]["psnr"] - gray["photos"]["psnr"],
                summaries["photos"]["colorfulness"],
            )
        best = max(score for score, _, _ in scores.values())
        chosen = min(size for size in args.sizes if scores[size][0] >= best - TIE)  # ties: the smaller, faster
        cells = " | ".join(f"{s:.2f} ({d:+.2f}, {c:.1f})" for s, d, c in scores.values())
        print(f"| {preset} | {cells} | {chosen} | {was} |", flush=True)
        if args.write and chosen != was:
            write_size(preset, chosen)


if __name__ == "__main__":
    main()

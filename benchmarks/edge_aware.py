"""Edge-aware (guided-filter) upsampling of the predicted ab against plain bilinear: speed and quality.

    python benchmarks/edge_aware.py [--eval-root ../shared/data/eval] [--model resnet18] [--runs 50]
    python benchmarks/edge_aware.py --tune    # how GUIDED_RADIUS / GUIDED_EPS were chosen

Default mode prints

* timing on a 768x512 photo: ``post_process_colorization`` (upsampling + Lab -> RGB) with
  ``edge_aware`` on and off, and the upsampling step alone, for ab at the default working size
  (256 px longest edge) and at a quarter of it, as wall-clock and CPU time;
* on each evaluation set (kodak24, cbsd68): PSNR and SSIM (the project protocol: RGB uint8, full
  resolution, ``data_range=255``) over the whole image and near edges, edge_aware on and off, for
  three kinds of "prediction": the ground-truth ab shrunk to 1/4 and to 1/8 of the image size (this
  isolates the upsampling: a perfect low-resolution colorizer) and a shipped model through
  ``colorizers.colorize``. "Near edges" is the Canny edge map (sigma 2) of the reference's L,
  dilated by a disk of radius 3 px; edge PSNR is the MSE over those pixels (3 channels), edge SSIM
  the mean of scikit-image's SSIM map over them. Every number is a mean over the set's images;
* a side-by-side crop (bilinear | guided | reference, zoomed at the edge where guided gains most)
  written to ``docs/edge_aware/crop.png``.

``--tune`` scores a grid of radius / eps, for the textbook fast guided filter and for the
kept-prediction form post-processing uses (``guided_upsample``), on scikit-image's bundled colour
photos (never the evaluation sets, which stay held out) with the ground-truth ab at 1/4 and 1/8,
and prints the kept-prediction pair with the best mean of whole-image PSNR and edge PSNR.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage
from skimage.feature import canny
from skimage.metrics import structural_similarity

import colorizers
from colorizers.color import denormalize_ab, lightness_ab_to_rgb_uint8, normalize_ab, rgb_to_lab
from colorizers.evaluation.evaluate import load_references
from colorizers.image_processing_colorizer import (
    ColorizerImageProcessor,
    guided_upsample,
    resize_plane,
    working_size,
)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from latency import photo_768x512  # noqa: E402

SETS = ("kodak24", "cbsd68")
FACTORS = (4, 8)
TUNING_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "stereo_motorcycle")
CROP = ROOT / "docs" / "edge_aware" / "crop.png"


def edge_mask(lightness: np.ndarray, *, sigma: float = 2.0, dilation: int = 3) -> np.ndarray:
    """Pixels within ``dilation`` px of a Canny edge of L (L scaled to [0, 1])."""
    edges = canny(lightness / 100.0, sigma=sigma)
    yy, xx = np.mgrid[-dilation : dilation + 1, -dilation : dilation + 1]
    return ndimage.binary_dilation(edges, structure=xx**2 + yy**2 <= dilation**2)


def _psnr(error: np.ndarray) -> float:
    mse = float(np.mean(error * error)) if error.size else 0.0
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def scores(prediction: np.ndarray, reference: np.ndarray, mask: np.ndarray, *, with_ssim: bool = True) -> dict:
    error = prediction.astype(np.float64) - reference
    result = {"psnr": _psnr(error), "edge_psnr": _psnr(error[mask])}
    if with_ssim:
        mean, ssim_map = structural_similarity(reference, prediction, channel_axis=2, data_range=255, full=True)
        result.update(ssim=float(mean), edge_ssim=float(ssim_map[mask].mean()))
    return result


def shrunk_ab(lab: np.ndarray, factor: int) -> np.ndarray:
    """Ground-truth ab at 1/factor of the image size (PIL bilinear, antialiased), normalised, (2, h, w)."""
    height, width = lab.shape[:2]
    size = max(1, round(height / factor)), max(1, round(width / factor))
    return np.stack([normalize_ab(resize_plane(lab[..., c], *size)) for c in (1, 2)])


def post(processor, ab, lightness, edge_aware: bool) -> np.ndarray:
    return processor.post_process_colorization([ab], [lightness], output_type="np", edge_aware=edge_aware)[0]


def interleaved(functions: dict, runs: int) -> dict[str, tuple[float, float]]:
    """Median wall-clock and CPU ms (``time.process_time``, all threads) of each function.

    Runs are interleaved so that load from other processes hits every function alike; on a shared
    machine CPU time is the steadier measure of the work done.
    """
    times = {name: ([], []) for name in functions}
    for function in functions.values():
        function()
    for _ in range(runs):
        for name, function in functions.items():
            wall, cpu = time.perf_counter(), time.process_time()
            function()
            times[name][0].append((time.perf_counter() - wall) * 1e3)
            times[name][1].append((time.process_time() - cpu) * 1e3)
    return {name: (statistics.median(wall), statistics.median(cpu)) for name, (wall, cpu) in times.items()}


def timing(runs: int) -> None:
    processor = ColorizerImageProcessor()
    rgb = np.asarray(photo_768x512())
    lab = rgb_to_lab(rgb)
    lightness = lab[..., 0]
    work = working_size(*lightness.shape, processor.size)
    print(
        f"timing on a {rgb.shape[1]}x{rgb.shape[0]} photo, medians of {runs} interleaved runs, wall / CPU ms, "
        f"radius {processor.guided_radius}, eps {processor.guided_eps:g}:"
    )
    print(
        "| ab size | post-process, bilinear | post-process, guided | upsampling alone, bilinear | upsampling alone, guided |"
    )
    print("|---|---:|---:|---:|---:|")
    for label, (height, width) in (("working size", work), ("1/4 of working size", (work[0] // 4, work[1] // 4))):
        ab = np.stack([normalize_ab(resize_plane(lab[..., c], height, width)) for c in (1, 2)])
        ms = interleaved(
            {
                "off": lambda: post(processor, ab, lightness, False),
                "on": lambda: post(processor, ab, lightness, True),
                "up_off": lambda: [denormalize_ab(resize_plane(plane, *lightness.shape)) for plane in ab],
                "up_on": lambda: guided_upsample(
                    denormalize_ab(ab), lightness, radius=processor.guided_radius, eps=processor.guided_eps
                ),
            },
            runs,
        )
        cells = " | ".join(f"{ms[k][0]:.1f} / {ms[k][1]:.1f}" for k in ("off", "on", "up_off", "up_on"))
        print(f"| {label} ({width}x{height}) | {cells} |")


def evaluate_sets(eval_root: Path, model_name: str, *, sets=SETS, with_scores: bool = True) -> dict:
    processor = ColorizerImageProcessor()
    model = colorizers.load_model(model_name)
    model_processor = colorizers.load_processor(model)
    kinds = [f"ground truth ab at 1/{f}" for f in FACTORS] + [
        f"`{model_name}` (working size {dict(model_processor.size)})"
    ]
    results, crop_candidates = {}, []
    for set_name in sets:
        data = load_references(eval_root / set_name)
        rows = {(kind, flag): [] for kind in kinds for flag in (False, True)}
        for name, reference in data.references.items():
            lab = rgb_to_lab(reference)
            outputs = {}
            for factor, kind in zip(FACTORS, kinds):
                ab = shrunk_ab(lab, factor)
                for flag in (False, True):
                    outputs[kind, flag] = post(processor, ab, lab[..., 0], flag)
            for flag in (False, True):
                outputs[kinds[-1], flag] = np.asarray(
                    colorizers.colorize(reference, model, processor=model_processor, edge_aware=flag)
                )
            if with_scores:
                mask = edge_mask(lab[..., 0])
                for key, prediction in outputs.items():
                    rows[key].append(scores(prediction, reference, mask))
            if set_name == "kodak24":
                crop_candidates.append(
                    (name, reference, {k: outputs[k] for k in outputs if k[0] in (kinds[1], kinds[-1])})
                )
        results[set_name] = {
            key: {metric: float(np.mean([r[metric] for r in values])) for metric in values[0]}
            for key, values in rows.items()
            if values
        }
        results[set_name]["num_images"] = len(data.references)
    write_crop(crop_candidates, kinds[1], kinds[-1])
    return {"kinds": kinds, "sets": results}


def print_quality(summary: dict) -> None:
    for set_name in SETS:
        result = summary["sets"][set_name]
        print(f"\n{set_name} ({result['num_images']} images), bilinear -> guided:")
        print("| prediction | PSNR | SSIM | edge PSNR | edge SSIM |")
        print("|---|---:|---:|---:|---:|")
        for kind in summary["kinds"]:
            off, on = result[kind, False], result[kind, True]
            print(
                f"| {kind} | {off['psnr']:.2f} -> {on['psnr']:.2f} | {off['ssim']:.4f} -> {on['ssim']:.4f} "
                f"| {off['edge_psnr']:.2f} -> {on['edge_psnr']:.2f} | {off['edge_ssim']:.4f} -> {on['edge_ssim']:.4f} |"
            )


def write_crop(candidates: list, truth_kind: str, model_kind: str, *, side: int = 64, zoom: int = 3) -> None:
    """The side x side window where guided upsampling of the 1/8 ground truth gains most over bilinear."""
    best = None
    for name, reference, outputs in candidates:
        ref = reference.astype(np.float32)
        gain = np.abs(outputs[truth_kind, False] - ref).sum(-1) - np.abs(outputs[truth_kind, True] - ref).sum(-1)
        window = ndimage.uniform_filter(gain, side, mode="constant")
        half = side // 2
        window[:half], window[-half:], window[:, :half], window[:, -half:] = -np.inf, -np.inf, -np.inf, -np.inf
        y, x = np.unravel_index(np.argmax(window), window.shape)
        if best is None or window[y, x] > best[0]:
            best = (window[y, x], name, reference, outputs, y - half, x - half)
    _, name, reference, outputs, top, left = best
    panels = [
        [outputs[truth_kind, False], outputs[truth_kind, True], reference],
        [outputs[model_kind, False], outputs[model_kind, True], reference],
    ]
    cell, gap, label_height = side * zoom, 4, 18
    sheet = Image.new("RGB", (3 * cell + 2 * gap, 2 * (cell + label_height) + gap), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=13)
    model = model_kind.split()[0].strip("`")
    titles = [
        ["bilinear, true ab at 1/8", "guided, true ab at 1/8", "reference"],
        [f"bilinear, {model}", f"guided, {model}", "reference"],
    ]
    for row, images in enumerate(panels):
        for column, image in enumerate(images):
            crop = Image.fromarray(np.ascontiguousarray(image[top : top + side, left : left + side]))
            x, y = column * (cell + gap), row * (cell + label_height + gap)
            draw.text((x + 2, y + 1), titles[row][column], fill="black", font=font)
            sheet.paste(crop.resize((cell, cell), Image.Resampling.NEAREST), (x, y + label_height))
    CROP.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(CROP, optimize=True)
    print(
        f"\ncrop: {name} at x={left}, y={top} ({side}x{side} px, zoom {zoom}) -> {CROP.relative_to(ROOT)} "
        f"({CROP.stat().st_size / 1024:.0f} KB)"
    )


def tune() -> None:
    from skimage import data

    photos = {}
    for name in TUNING_PHOTOS:
        image = getattr(data, name)()
        photos[name] = image[0] if isinstance(image, tuple) else image
    radii, epsilons = (1, 2, 3, 4), (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
    processor = ColorizerImageProcessor()
    prepared = []
    for rgb in photos.values():
        lab = rgb_to_lab(rgb)
        prepared.append((rgb, lab[..., 0], edge_mask(lab[..., 0]), {f: shrunk_ab(lab, f) for f in FACTORS}))

    def render(ab, lightness, settings):
        if settings is None:
            return post(processor, ab, lightness, False)
        a, b = guided_upsample(denormalize_ab(ab), lightness, **settings)
        return lightness_ab_to_rgb_uint8(lightness, a, b)

    def mean_scores(settings) -> dict:
        rows = {f: [] for f in FACTORS}
        for rgb, lightness, mask, abs_ in prepared:
            for factor in FACTORS:
                rows[factor].append(scores(render(abs_[factor], lightness, settings), rgb, mask, with_ssim=False))
        return {f: {m: float(np.mean([r[m] for r in rows[f]])) for m in ("psnr", "edge_psnr")} for f in FACTORS}

    print(f"tuning on scikit-image photos: {', '.join(photos)}; ground-truth ab at 1/{FACTORS[0]} and 1/{FACTORS[1]}")
    header = " | ".join(f"1/{f} PSNR | 1/{f} edge PSNR" for f in FACTORS)
    print(f"| upsampling | radius | eps | {header} | criterion |\n|---|---|---|" + "---:|" * (2 * len(FACTORS) + 1))

    def line(label, settings):
        result = mean_scores(settings)
        criterion = statistics.mean(v for f in FACTORS for v in result[f].values())
        cells = " | ".join(f"{result[f]['psnr']:.2f} | {result[f]['edge_psnr']:.2f}" for f in FACTORS)
        radius, eps = (settings["radius"], f"{settings['eps']:g}") if settings else ("-", "-")
        print(f"| {label} | {radius} | {eps} | {cells} | {criterion:.3f} |", flush=True)
        return criterion

    line("bilinear", None)
    best = None
    for keep, radius, eps in itertools.product((False, True), radii, epsilons):
        label = "guided, prediction kept" if keep else "guided, textbook"
        criterion = line(label, {"radius": radius, "eps": eps, "keep_prediction": keep})
        if keep and (best is None or criterion > best[0]):
            best = (criterion, radius, eps)
    print(
        f"\nbest kept-prediction setting (mean of whole-image and edge PSNR at both factors): "
        f"radius {best[1]}, eps {best[2]:g}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval-root", type=Path, default=ROOT.parent / "shared" / "data" / "eval")
    parser.add_argument("--model", default="resnet18", help="a shipped preset, folder or Hub id")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--tune", action="store_true", help="choose radius / eps on scikit-image's photos")
    parser.add_argument("--skip-quality", action="store_true", help="timing only")
    parser.add_argument("--crop-only", action="store_true", help="only write the crop (kodak24, no scores, no timing)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.tune:
        tune()
        return 0
    if args.crop_only:
        evaluate_sets(args.eval_root, args.model, sets=("kodak24",), with_scores=False)
        return 0
    timing(args.runs)
    if not args.skip_quality:
        print_quality(evaluate_sets(args.eval_root, args.model))
    return 0


if __name__ == "__main__":
    sys.exit(main())

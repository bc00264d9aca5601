"""Score colorizers on a folder of colour photos, per the protocol of ``shared/data/README.md``.

Each reference is reduced to its lightness, colorized at full resolution through the same
``colorize()`` users call, and compared with the original on RGB uint8: PSNR and SSIM
(``data_range=255``), colourfulness and its gap to the reference's (means of per-image scores), and
the raw and class-rebalanced AuC of Zhang et al. (2016) over all the set's pixels
(``colorizers.evaluation.metrics``). The "gray" baseline (ab = 0, the input shown as is) is scored alongside,
so every number has its floor next to it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from colorizers.color import lab_to_rgb_uint8
from colorizers.evaluation.metrics import AucAccumulator, as_rgb_uint8, is_grayscale, score
from colorizers.image_io import ImageReadError, has_image_suffix, read_image
from colorizers.image_processing_colorizer import image_to_array, image_to_lightness
from colorizers.processing.upsampling import BAND_PIXELS, row_bands

GRAY_BASELINE = "gray"
SCORES = ("psnr", "ssim", "colorfulness", "reference_colorfulness", "colorfulness_gap")  # per-image means
SET_SCORES = ("auc", "auc_rebalanced", "corr_a", "corr_b")  # over every pixel of the set (AucAccumulator)


@dataclass
class EvaluationSet:
    """The usable references of a folder, and what was skipped and why."""

    folder: Path
    references: dict[str, np.ndarray] = field(default_factory=dict)  # relative path -> RGB uint8
    skipped: list[dict[str, str]] = field(default_factory=list)


def load_references(folder: str | Path) -> EvaluationSet:
    """Every readable colour image under ``folder`` (recursively), sorted by path."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ValueError(f"evaluation data folder {folder} does not exist or is not a folder")
    result = EvaluationSet(folder)
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and has_image_suffix(p)):
        name = str(path.relative_to(folder))
        try:
            rgb = as_rgb_uint8(read_image(path).image)
        except ImageReadError as error:
            result.skipped.append({"file": name, "reason": f"unreadable: {error.reason}"})
            continue
        if is_grayscale(rgb):
            result.skipped.append({"file": name, "reason": "grayscale: no colour to compare with"})
            continue
        result.references[name] = rgb
    if not result.references:
        raise ValueError(f"no usable colour image in {folder} ({len(result.skipped)} skipped)")
    return result


def gray_prediction(reference: np.ndarray) -> np.ndarray:
    """The input as the model sees it, shown with ab = 0 (large images in bands of rows)."""
    array = image_to_array(reference)
    height, width = array.shape[:2]
    gray = np.empty((height, width, 3), np.uint8)
    for start, stop in row_bands(height, width) if height * width > BAND_PIXELS else [(0, height)]:
        rows = image_to_lightness(array[start:stop])
        gray[start:stop] = lab_to_rgb_uint8(np.dstack([rows, np.zeros(rows.shape + (2,), np.float32)]))
    return gray


def _summarise(
    name: str, rows: list[dict[str, float]], auc: AucAccumulator, seconds: float, extra: dict[str, Any]
) -> dict[str, Any]:
    summary: dict[str, Any] = {"model": name, "num_images": len(rows)}
    for key in SCORES:
        values = [row[key] for row in rows]
        summary[key] = float(np.mean(values)) if all(math.isfinite(v) for v in values) else math.inf
    summary.update(auc.result())
    summary["seconds"] = seconds
    summary["images_per_second"] = len(rows) / seconds if seconds > 0 else math.inf
    summary.update(extra)
    return summary


def evaluate(
    models: list[Any],
    data: EvaluationSet,
    *,
    size: int | None = None,
    include_gray: bool = True,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """One summary per model (and the gray baseline first): mean scores, images/s, parameters.

    ``models`` are preset names, folders, Hub ids or loaded models. Images are colorized one at
    a time (as a user's photos would be), so images/s is end-to-end latency, colour conversion
    included.
    """
    from tqdm.auto import tqdm

    from colorizers.model_io.loading import load_model, load_processor
    from colorizers.pipelines import colorize

    summaries = []
    if include_gray:
        rows, auc, elapsed = [], AucAccumulator(), 0.0
        for reference in data.references.values():
            start = time.perf_counter()
            prediction = gray_prediction(reference)
            elapsed += time.perf_counter() - start
            rows.append(score(prediction, reference, accumulator=auc))
        summaries.append(_summarise(GRAY_BASELINE, rows, auc, elapsed, {"parameters": 0}))
    for entry in models:
        model = load_model(entry, device=device)
        processor = load_processor(model)
        name = entry if isinstance(entry, str) else getattr(model, "name_or_path", type(model).__name__)
        colorize(next(iter(data.references.values())), model, processor=processor, size=size)  # warm-up
        rows, auc, elapsed = [], AucAccumulator(), 0.0
        for reference in tqdm(data.references.values(), desc=str(name), disable=not progress, leave=False):
            start = time.perf_counter()
            prediction = colorize(reference, model, processor=processor, size=size)
            elapsed += time.perf_counter() - start
            rows.append(score(prediction, reference, accumulator=auc))
        extra = {
            "parameters": sum(p.numel() for p in model.parameters()),
            "size": size or dict(processor.size),
            "untrained": bool(getattr(model, "colorizers_untrained", False)),
        }
        summaries.append(_summarise(str(name), rows, auc, elapsed, extra))
    return summaries


def markdown_table(summaries: list[dict[str, Any]], title: str | None = None) -> str:
    lines = [f"**{title}**", ""] if title else []
    lines += [
        "| model | PSNR (dB) | SSIM | AuC (%) | AuC rebal. (%) | colourfulness | CF gap | images/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in summaries:
        label = s["model"] + (" (untrained)" if s.get("untrained") else "")
        psnr = "inf" if math.isinf(s["psnr"]) else f"{s['psnr']:.2f}"
        lines.append(
            f"| {label} | {psnr} | {s['ssim']:.3f} | {s['auc']:.2f} | {s['auc_rebalanced']:.2f} "
            f"| {s['colorfulness']:.2f} | {s['colorfulness_gap']:.2f} "
            f"| {s['images_per_second']:.1f} |"
        )
    return "\n".join(lines)


__all__ = ["EvaluationSet", "evaluate", "gray_prediction", "load_references", "markdown_table"]

"""How good each shipped preset measured, read from its ``eval_results.json`` (JSON only: no torch).

``python -m colorizers list`` and the app's model dropdowns show each preset's kodak24 PSNR against the gray
prediction's (ab = 0) and its colourfulness, best first, so that nobody picks a preset that is worse than leaving
the photo gray without being told. Everything is read when asked (a preset's weights and scores may be replaced
while the package is installed); nothing is cached and no figure is written here but the protocol's gray PSNR.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from colorizers.hub.eval_results import EvalResultsError, read_eval_results

PRETRAINED_DIR = Path(__file__).resolve().parent.parent / "pretrained"
QUALITY_SET = "kodak24"
# The shared data protocol (README): the gray prediction's kodak24 PSNR, used when a file has no gray baseline there
GRAY_KODAK24_PSNR = 22.46
UNTRAINED = "untrained: random weights"
BELOW_GRAY = "⚠ below gray"


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _names_set(entry, dataset: str) -> bool:
    return isinstance(entry, dict) and dataset in (entry.get("dataset_name"), entry.get("dataset_type"))


def read_quality(folder: str | os.PathLike, dataset: str = QUALITY_SET) -> dict | None:
    """``{"delta_psnr", "psnr", "gray_psnr", "colorfulness"}`` on ``dataset`` from ``folder``'s eval_results.json
    (the gray PSNR from its own gray baseline on that set, else the protocol's), or None when the folder has no
    readable PSNR on that set. ``colorfulness`` is None when not measured."""
    try:
        results = read_eval_results(folder)
    except (EvalResultsError, OSError, UnicodeDecodeError):
        return None
    if not results:
        return None
    measured = [entry for entry in results.get("evaluations") or [] if _names_set(entry, dataset)]
    psnr = _number(measured[-1].get("psnr")) if measured else None  # the last written is the latest
    if psnr is None:
        return None
    gray = (results.get("baselines") or {}).get("gray") or []
    gray_entries = [entry for entry in (gray if isinstance(gray, list) else [gray]) if _names_set(entry, dataset)]
    gray_psnr = _number(gray_entries[-1].get("psnr")) if gray_entries else None
    if gray_psnr is None:
        gray_psnr = GRAY_KODAK24_PSNR
    return {
        "delta_psnr": psnr - gray_psnr,
        "psnr": psnr,
        "gray_psnr": gray_psnr,
        "colorfulness": _number(measured[-1].get("colorfulness")),
    }


def preset_quality(name: str, pretrained_dir: str | os.PathLike | None = None) -> dict | None:
    """:func:`read_quality` of the preset's shipped folder (``pretrained_dir``, default this package's)."""
    return read_quality(Path(pretrained_dir or PRETRAINED_DIR) / name)


def below_gray(quality: dict | None) -> bool:
    return quality is not None and quality["delta_psnr"] < 0


def describe(quality: dict | None, dataset: str = QUALITY_SET) -> str:
    """E.g. ``kodak24 +0.72 dB vs gray, colourfulness 28``; ``not measured on kodak24`` without scores."""
    if quality is None:
        return f"not measured on {dataset}"
    text = f"{dataset} {quality['delta_psnr']:+.2f} dB vs gray"
    if quality["colorfulness"] is not None:
        text += f", colourfulness {quality['colorfulness']:.0f}"
    return text


def choice_label(name: str, quality: dict | None, trained: bool = True) -> str:
    """A dropdown's label for a preset: its name, its measured quality and a warning when it is below gray.
    A preset without shipped weights is only labelled untrained (scores of weights it does not ship mean nothing)."""
    if not trained:
        return f"{name} ({UNTRAINED})"
    if below_gray(quality):
        return f"{name} — {BELOW_GRAY}: {describe(quality)}"
    return f"{name} — {describe(quality)}"


def rank_presets(
    names: Iterable[str], trained: Callable[[str], bool], pretrained_dir: str | os.PathLike | None = None
) -> list[tuple[str, bool, dict | None]]:
    """(name, trained, quality) of each preset, best first: trained and measured by ΔPSNR vs gray, then trained but not
    measured, then untrained; ties keep the given order."""
    rows = []
    for name in names:
        has_weights = bool(trained(name))
        quality = preset_quality(name, pretrained_dir) if has_weights else None
        rows.append((name, has_weights, quality))
    rows.sort(key=lambda row: (not row[1], row[2] is None, -(row[2] or {}).get("delta_psnr", 0.0)))
    return rows


def preset_choices(
    names: Iterable[str], trained: Callable[[str], bool], pretrained_dir: str | os.PathLike | None = None
) -> list[tuple[str, str]]:
    """(label, name) choices for a dropdown, best first (see :func:`rank_presets` and :func:`choice_label`)."""
    return [
        (choice_label(name, quality, has_weights), name)
        for name, has_weights, quality in rank_presets(names, trained, pretrained_dir)
    ]


__all__ = [
    "BELOW_GRAY",
    "GRAY_KODAK24_PSNR",
    "QUALITY_SET",
    "UNTRAINED",
    "below_gray",
    "choice_label",
    "describe",
    "preset_choices",
    "preset_quality",
    "rank_presets",
    "read_quality",
]

"""The one schema of ``eval_results.json``: what a model folder measured about itself.

Training (``train/train.py``), shipping (``release/ship.py``), the leaderboard
(``release/leaderboard.py``) and the model cards (``colorizers.hub.model_card``) all read and write it
through this module::

    {"evaluations": [{"dataset_name": "kodak24", "dataset_type": "kodak24", "split": "test",
                      "num_images": 24, "size": 256 or null, "psnr": 23.1, "ssim": 0.93,
                      "colorfulness": 18.2, "reference_colorfulness": 36.57, "colorfulness_gap": -18.4}],
     "baselines": {"gray": {"dataset_name": "kodak24", "num_images": 24, "psnr": 22.0, ...}},
     "training": {"command": "...", "preset": "unet", "dataset": "...", "steps": 20000, ...}}

An evaluation names its set (``dataset_name`` and/or ``dataset_type``) and may say its ``split``,
``num_images`` and working ``size``; every other key is a metric: a number (``NaN`` and infinities
included) or ``null``. The metrics are an open set, so a new one (``auc``, ...) flows from the
evaluation code to the card without a change here. ``training`` is free-form; other top-level keys
are kept as they are.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypedDict

RESULTS_FILE = "eval_results.json"

# The keys of an evaluation that describe the set rather than measure the model; all others are metrics.
DESCRIPTIVE_KEYS = ("dataset_name", "dataset_type", "split", "num_images", "size")


class Evaluation(TypedDict, total=False):
    """One evaluation set's scores; keys other than these five are metrics (``psnr``, ``ssim``, ...)."""

    dataset_name: str
    dataset_type: str
    split: str | None
    num_images: int | None
    size: int | None  # the working size (longest edge, px); None: the processor's default


class EvalResults(TypedDict, total=False):
    evaluations: list[Evaluation]
    baselines: dict[str, Evaluation | list[Evaluation]]  # e.g. {"gray": {...}}
    training: dict[str, Any]  # the run's command, dataset, steps, preset, ...


class EvalResultsError(ValueError):
    """An ``eval_results.json`` (or the object about to be written as one) does not follow the schema."""


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def metrics_of(entry: Mapping[str, Any]) -> dict[str, float | None]:
    """The metrics of an evaluation (every key but ``DESCRIPTIVE_KEYS``), in the order they were written."""
    return {key: value for key, value in entry.items() if key not in DESCRIPTIVE_KEYS}


def _check_evaluation(entry, where: str, *, needs_name: bool = True) -> None:
    if not isinstance(entry, dict):
        raise EvalResultsError(f"{where} must be an object")
    if needs_name and not entry.get("dataset_name") and not entry.get("dataset_type"):
        raise EvalResultsError(f"{where} names no dataset ('dataset_name' / 'dataset_type')")
    for key in ("dataset_name", "dataset_type", "split"):
        if entry.get(key) is not None and not isinstance(entry[key], str):
            raise EvalResultsError(f"{where}: {key!r} must be a string, got {entry[key]!r}")
    for key in ("num_images", "size"):
        if entry.get(key) is not None and not _is_number(entry[key]):
            raise EvalResultsError(f"{where}: {key!r} must be a number or null, got {entry[key]!r}")
    for key, value in metrics_of(entry).items():
        if value is not None and not _is_number(value):
            raise EvalResultsError(f"{where}: metric {key!r} must be a number or null, got {value!r}")


def validate_eval_results(results, source: str | os.PathLike = RESULTS_FILE) -> EvalResults:
    """``results`` if it follows the schema, else ``EvalResultsError`` naming ``source`` and the problem."""
    if not isinstance(results, dict):
        raise EvalResultsError(f"{source} must hold a JSON object with 'evaluations' and/or 'training'")
    evaluations = results.get("evaluations") or []
    if not isinstance(evaluations, list) or not all(isinstance(item, dict) for item in evaluations):
        raise EvalResultsError(f"{source}: 'evaluations' must be a list of objects")
    for index, item in enumerate(evaluations):
        _check_evaluation(item, f"{source}: evaluation {index}")
    baselines = results.get("baselines")
    if baselines is not None:
        if not isinstance(baselines, dict):
            raise EvalResultsError(f"{source}: 'baselines' must be an object (e.g. {{'gray': {{...}}}})")
        for name, entries in baselines.items():
            for index, item in enumerate(entries if isinstance(entries, list) else [entries]):
                _check_evaluation(item, f"{source}: baseline {name!r} {index}", needs_name=False)
    training = results.get("training")
    if training is not None and not isinstance(training, dict):
        raise EvalResultsError(f"{source}: 'training' must be an object")
    return results


def read_eval_results(folder: str | os.PathLike) -> EvalResults | None:
    """The folder's measured results (``eval_results.json``), or ``None`` when it has none."""
    file = Path(folder) / RESULTS_FILE
    if not file.is_file():
        return None
    try:
        results = json.loads(file.read_text(encoding="utf-8"), parse_constant=float)
    except (OSError, json.JSONDecodeError) as error:
        raise EvalResultsError(f"{file} is not valid JSON: {error}") from error
    return validate_eval_results(results, file)


def write_eval_results(folder: str | os.PathLike, results: EvalResults) -> Path:
    """Check ``results`` and write them to ``<folder>/eval_results.json``; return the file's path."""
    file = Path(folder) / RESULTS_FILE
    validate_eval_results(results, file)
    file.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return file


def evaluation_entry(
    dataset_name: str,
    scores: Mapping[str, float | None],
    *,
    split: str | None = None,
    num_images: int | None = None,
    size: int | None = None,
    dataset_type: str | None = None,
) -> Evaluation:
    """An evaluation of set ``dataset_name``: the descriptive keys, then ``scores`` (any metrics)."""
    entry = {
        "dataset_name": dataset_name,
        "dataset_type": dataset_type or dataset_name,
        "split": split,
        "num_images": num_images,
        "size": size,
        **scores,
    }
    _check_evaluation(entry, f"evaluation of {dataset_name!r}")
    return entry


def replace_evaluations(results: EvalResults | None, entries: list[Evaluation]) -> EvalResults:
    """``results`` with ``entries`` in place of earlier evaluations of the same sets (appended last)."""
    results = dict(results or {})
    names = {entry.get("dataset_name") for entry in entries}
    kept = [item for item in results.get("evaluations") or [] if item.get("dataset_name") not in names]
    results["evaluations"] = kept + list(entries)
    return results


__all__ = [
    "DESCRIPTIVE_KEYS",
    "RESULTS_FILE",
    "EvalResults",
    "EvalResultsError",
    "Evaluation",
    "evaluation_entry",
    "metrics_of",
    "read_eval_results",
    "replace_evaluations",
    "validate_eval_results",
    "write_eval_results",
]

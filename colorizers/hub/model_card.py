"""Model cards: ``render_model_card(folder)`` / ``write_model_card(folder)`` render the card of a saved
model folder from ``colorizers/hub/cards/model_card.md`` with ``huggingface_hub.ModelCard``.

Text comes from ``colorizers/hub/cards/common.yaml`` and ``colorizers/hub/cards/<family>.yaml``; every number (the
``model-index`` eval results and the results tables) comes from the folder's ``eval_results.json``
(``colorizers.hub.eval_results``), and a folder without one gets a card that says "not evaluated".
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from colorizers.hub.eval_results import EvalResults, EvalResultsError, metrics_of, read_eval_results
from colorizers.hub.model_folder import HubError, ModelFolder, inspect_model_folder, parameter_summary

CARDS_DIR = Path(os.environ.get("COLORIZERS_HUB_CARDS", Path(__file__).parent / "cards"))
CARD_TEMPLATE = "model_card.md"
SAMPLE_IMAGES = ("samples.png", "sample_grid.png")
LOSS_IMAGES = ("loss_curves.png",)

# Config fields that are transformers' bookkeeping, not architecture: left out of the card's table.
_CONFIG_NOISE = {
    "architectures",
    "auto_map",
    "dtype",
    "torch_dtype",
    "transformers_version",
    "model_type",
    "id2label",
    "label2id",
    "return_dict",
    "output_hidden_states",
    "output_attentions",
    "chunk_size_feed_forward",
    "problem_type",
    "tie_word_embeddings",
}


def _load_yaml(file: Path) -> dict:
    import yaml

    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HubError(f"model card source {file} is missing (colorizers/hub/cards/ holds one per family)") from None
    except yaml.YAMLError as error:
        raise HubError(f"model card source {file} is not valid YAML: {error}") from error
    return data or {}


def card_source(family: str) -> dict:
    """The card text of a family: ``colorizers/hub/cards/common.yaml`` overlaid with ``colorizers/hub/cards/<family>.yaml``."""
    return {**_load_yaml(CARDS_DIR / "common.yaml"), **_load_yaml(CARDS_DIR / f"{family}.yaml")}


def _finite(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


# The metrics a card's model-index reports, with their display names; metrics of eval_results.json
# that describe the reference set rather than the model stay in the tables only. Any other metric
# (a new one such as ``auc``) is reported under its own key.
METRICS = (
    ("psnr", "PSNR (dB)"),
    ("ssim", "SSIM"),
    ("colorfulness", "Colourfulness (Hasler & Süsstrunk)"),
    ("auc", "AuC (%)"),
    ("auc_rebalanced", "AuC class-rebalanced (%)"),
    ("corr_a", "Pooled correlation of a* with the truth"),
    ("corr_b", "Pooled correlation of b* with the truth"),
    ("judge_top1", "Semantic judge top-1 (%)"),
)
TABLE_ONLY_METRICS = ("reference_colorfulness", "colorfulness_gap")


def _index_metrics(item: dict) -> list[tuple[str, str]]:
    labels = dict(METRICS)
    others = [key for key in metrics_of(item) if key not in labels and key not in TABLE_ONLY_METRICS]
    return [*METRICS, *((key, key) for key in others)]


def eval_results_from(results: EvalResults | None) -> list:
    """``EvalResult`` entries (the card's ``model-index``) for every finite measured metric of every set."""
    from huggingface_hub import EvalResult

    entries = []
    for item in (results or {}).get("evaluations") or []:
        dataset_type = str(item.get("dataset_type") or item.get("dataset_name"))
        dataset_name = str(item.get("dataset_name") or dataset_type)
        args = {key: item[key] for key in ("num_images", "size") if item.get(key) is not None}
        for metric, label in _index_metrics(item):
            value = _finite(item.get(metric))
            if value is None:
                continue
            entries.append(
                EvalResult(
                    task_type="image-to-image",
                    task_name="Image colorization",
                    dataset_type=dataset_type,
                    dataset_name=dataset_name,
                    dataset_split=item.get("split"),
                    dataset_args=args or None,
                    metric_type=metric,
                    metric_name=label,
                    metric_value=round(value, 4),
                )
            )
    return entries


def _format_number(value, digits: int) -> str:
    if value is None:
        return "not evaluated"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if math.isinf(value):
            return "∞" if value > 0 else "-∞"
        if math.isnan(value):
            return "not evaluated"
        return f"{value:.{digits}f}"
    return str(value)


def _evaluation_rows(results: EvalResults | None) -> list[dict]:
    rows = []
    for item in (results or {}).get("evaluations") or []:
        size = item.get("size")
        rows.append(
            {
                "dataset_name": item.get("dataset_name") or item.get("dataset_type"),
                "split": item.get("split") or "",
                "num_images": item.get("num_images", ""),
                "size": f"{size} px" if size else "processor default",
                "psnr": _format_number(item.get("psnr"), 2),
                "ssim": _format_number(item.get("ssim"), 4),
                "colorfulness": _format_number(item.get("colorfulness"), 2),
                "reference_colorfulness": _format_number(item.get("reference_colorfulness"), 2),
                "colorfulness_gap": _format_number(item.get("colorfulness_gap"), 2),
                **{
                    key: _format_number(item[key], 2) if item.get(key) is not None else "–"
                    for key in ("auc", "auc_rebalanced", "corr_a", "corr_b")
                },
                "judge_top1": _format_number(item["judge_top1"], 1) if item.get("judge_top1") is not None else "–",
            }
        )
    return rows


_TRAINING_LABELS = {
    "dataset": "dataset",
    "steps": "optimisation steps",
    "epochs": "epochs",
    "resolution": "training resolution (px)",
    "batch_size": "batch size",
    "loss": "loss",
    "optimizer": "optimizer",
    "learning_rate": "learning rate",
    "mixed_precision": "mixed precision",
    "hardware": "hardware",
    "duration": "duration",
    "seed": "seed",
}


def _training_rows(training: dict | None) -> list[tuple[str, str]]:
    """Every recorded training setting that reads well in a table (long nested values are left out)."""
    if not training:
        return []
    rows = [(label, training[key]) for key, label in _TRAINING_LABELS.items() if training.get(key) is not None]
    rows += [
        (key.replace("_", " "), value)
        for key, value in training.items()
        if key not in _TRAINING_LABELS and key not in ("command", "preset", "curve") and value is not None
    ]
    table = []
    for label, value in rows:
        if label == "dataset":
            value = _dataset_label(value)
        text = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
        if len(text) <= 100:
            table.append((label, text.replace("|", "\\|").replace("\n", " ")))
    return table


def _curve_rows(training: dict | None) -> list[dict]:
    """The run's validation curve (``training.curve``: scores against images seen) as table rows; none for a
    run validated fewer than twice (its one point is the results table)."""
    points = [point for point in (training or {}).get("curve") or [] if isinstance(point, dict)]
    if len(points) < 2:
        return []
    digits = {"loss": 4, "psnr": 2, "colorfulness": 1, "corr_a": 2, "corr_b": 2}
    rows = []
    for point in points:
        row = {
            key: "–" if point.get(key) is None else _format_number(point[key], places)
            for key, places in digits.items()
        }
        row["step"] = f"{point.get('step', 0):,}"
        row["images"] = f"{point.get('images', 0):,}"
        rows.append(row)
    return rows


def _is_local_path(value: str) -> bool:
    return value.startswith(("/", ".", "~")) or value.count("/") > 1 or "\\" in value


def _dataset_label(value) -> str:
    """A training dataset as a card shows it: a Hub id as is, a local path by its last component."""
    value = str(value)
    return f"{Path(value.rstrip('/')).name} (a local copy)" if _is_local_path(value) else value


def _baseline_rows(results: EvalResults | None) -> list[dict]:
    """The run's own measurements of the trivial gray prediction (``baselines.gray``), if recorded."""
    gray = ((results or {}).get("baselines") or {}).get("gray")
    items = gray if isinstance(gray, list) else [gray] if isinstance(gray, dict) else []
    by_name = {item.get("dataset_name"): item for item in (results or {}).get("evaluations") or []}
    rows = []
    for item in items:
        if isinstance(item, dict):  # split and working size as the model's own evaluation of that set
            model_eval = by_name.get(item.get("dataset_name"), {})
            rows.append({"split": model_eval.get("split"), "size": model_eval.get("size"), **item})
    return _evaluation_rows({"evaluations": rows})


def _shortfalls(results: EvalResults | None, reference_points: list[dict]) -> list[str]:
    """Where the model's measured PSNR falls below the gray prediction's on a standard set, in words."""
    gray = {point.get("dataset"): _finite(float(point["psnr"])) for point in reference_points if "psnr" in point}
    lines = []
    for item in (results or {}).get("evaluations") or []:
        name, psnr = item.get("dataset_name"), _finite(item.get("psnr"))
        if psnr is not None and gray.get(name) is not None and psnr < gray[name]:
            lines.append(f"{name}: {gray[name] - psnr:.2f} dB below it ({psnr:.2f} vs {gray[name]:.2f} dB)")
    return lines


def _config_rows(config: dict) -> list[tuple[str, str]]:
    rows = []
    for key, value in sorted(config.items()):
        if key in _CONFIG_NOISE or key.startswith("_"):
            continue
        if isinstance(value, dict):  # a sub-config (e.g. the Koalarization classifier): its kind and size
            summary = {k: value[k] for k in ("model_type", "hidden_sizes", "depths", "num_labels") if k in value}
            value = summary or value
        text = json.dumps(value, ensure_ascii=False)
        rows.append((key, text if len(text) <= 120 else text[:117] + "..."))
    return rows


def _model_name(folder: ModelFolder, repo_id: str | None) -> str:
    if repo_id:
        return repo_id.split("/")[-1]
    return f"colorizers-{folder.preset.name}" if folder.preset else f"colorizers-{folder.family}"


def render_model_card(
    folder: str | os.PathLike,
    preset_name: str | None = None,
    *,
    repo_id: str | None = None,
    revision: str | None = None,
):
    """The ``huggingface_hub.ModelCard`` of a saved model folder (nothing is written).

    Args:
        folder: a saved colorizer (``config.json`` + ``model.safetensors``), optionally with
            ``eval_results.json``, ``samples.png`` / ``sample_grid.png`` and ``loss_curves.png``.
        preset_name: the preset the model is an instance of; by default the one its config matches.
        repo_id: the Hub repository the card is for (used in the usage snippets); by default the
            snippets name the local folder.
        revision: a branch the snippets should pin.
    """
    from huggingface_hub import ModelCard, ModelCardData

    model = inspect_model_folder(folder, preset_name)
    source = card_source(model.family)
    try:
        results = read_eval_results(model.path)
    except EvalResultsError as error:
        raise HubError(str(error)) from error
    training = (results or {}).get("training") or None
    model_name = _model_name(model, repo_id)
    preset = model.preset
    preset_text = (source.get("presets") or {}).get(preset.name, {}) if preset else {}
    output = source.get("output", "ab")
    parameters, dtypes = parameter_summary(model)
    sample = next((name for name in SAMPLE_IMAGES if (model.path / name).is_file()), None)
    loss_image = next((name for name in LOSS_IMAGES if (model.path / name).is_file()), None)
    dataset = str(training["dataset"]) if training and training.get("dataset") else None
    datasets = [dataset] if dataset and not _is_local_path(dataset) else None  # metadata names Hub ids only
    eval_results = eval_results_from(results)

    tags = list(dict.fromkeys([*source.get("base_tags", []), f"colorizers-{model.family}", *source.get("tags", [])]))
    if preset is not None:
        tags.append(f"colorizers-{preset.name}")
        if preset.config.get("training_objective") == "gan":
            tags.append("gan")
    card_data = ModelCardData(
        model_name=model_name,
        license=source.get("license", "apache-2.0"),
        library_name="transformers",
        pipeline_tag="image-to-image",
        tags=tags,
        datasets=datasets,
        metrics=[metric for metric, _ in METRICS],
        eval_results=eval_results or None,
    )
    image_size = model.config.get("image_size")
    card = {
        "model_name": model_name,
        "title": source.get("title", model.family),
        "summary": source.get("summary", ""),
        "how_it_works": source.get("how_it_works", ""),
        "family": model.family,
        "model_type": model.model_type,
        "architecture_class": model.model_class.__name__,
        "preset": preset.name if preset else "custom",
        "preset_description": preset.description if preset else "a configuration that matches no preset",
        "preset_reference": preset.reference if preset else "custom configuration",
        "seed_report": source.get("seed_report", "not recorded"),
        "reproduced_in": preset_text.get("reproduced_in"),
        "faithfulness_line": preset_text.get("in_one_line")
        or "A custom configuration of this family, not one of the presets (see its config below).",
        "faithfulness": preset_text.get("faithfulness")
        or (preset.reference if preset else "A custom configuration of this family: see its config below."),
        "parameters": parameters,
        "weights_dtype": dtypes,
        "working_size": f"{image_size} px (longest edge)" if image_size else "the processor's default",
        "output": output,
        "output_description": (
            "RGB at the model's working size, converted to a*b* and joined with the input's own L"
            if output == "rgb"
            else "normalised a*b* (ab / 110), joined with the input's own full-resolution L"
        ),
        "license": source.get("license", "apache-2.0"),
        "architecture": source.get("architecture", ""),
        "config_rows": _config_rows(model.config),
        "intended_use": source.get("intended_use", ""),
        "limitations": [*source.get("limitations", []), *source.get("common_limitations", [])],
        "seed_training_data": source.get("seed_training_data", "not recorded"),
        "training": training,
        "training_rows": _training_rows(training),
        "curve": _curve_rows(training),
        "evaluation_protocol": source.get("evaluation_protocol", ""),
        "evaluations": _evaluation_rows(results),
        "baselines": _baseline_rows(results),
        "training_dataset": _dataset_label(dataset) if dataset else None,
        "reference_points": source.get("reference_points", []),
        "shortfalls": _shortfalls(results, source.get("reference_points", [])),
        "why_short": preset_text.get("why_below_gray", ""),
        "sample_image": sample,
        "loss_image": loss_image,
        "repo_id": repo_id or str(model.path),
        "revision": revision,
        "citation": (source.get("citation") or "").strip(),
        "citation_note": source.get("citation_note"),
    }
    template = CARDS_DIR / CARD_TEMPLATE
    if not template.is_file():
        raise HubError(f"model card template {template} is missing")
    return ModelCard.from_template(card_data, template_path=str(template), card=card)


def write_model_card(
    folder: str | os.PathLike,
    preset_name: str | None = None,
    *,
    repo_id: str | None = None,
    revision: str | None = None,
) -> Path:
    """Render the folder's model card into ``<folder>/README.md`` and return its path."""
    card = render_model_card(folder, preset_name, repo_id=repo_id, revision=revision)
    target = Path(folder).expanduser() / "README.md"
    card.save(target)
    return target


__all__ = [
    "CARDS_DIR",
    "METRICS",
    "card_source",
    "eval_results_from",
    "render_model_card",
    "write_model_card",
]

"""Publishing colorizers on the Hugging Face Hub: model cards, push, and safe pulls.

* ``render_model_card(folder)`` / ``write_model_card(folder)``: the model card of a saved model folder,
  rendered from ``hub_cards/model_card.md`` with ``huggingface_hub.ModelCard``. Text comes from
  ``hub_cards/common.yaml`` and ``hub_cards/<family>.yaml``; every number (the ``model-index`` eval
  results and the results table) comes from the folder's ``eval_results.json``, and a folder without
  one gets a card that says "not evaluated".
* ``push_to_hub(folder, repo_id)`` (``python -m colorizers push``): checks the folder is a saved
  colorizer, stages a copy in a temporary folder (the user's folder is never modified) with the card,
  the family's self-contained modeling/configuration code, the image processor's code and the
  ``auto_map`` entries that make ``trust_remote_code=True`` loading work without colorizers, then
  ``create_repo(exist_ok=True)`` and ``upload_folder`` with allow/ignore patterns.
* ``safetensors_refusal(name_or_path)`` / ``load_from_hub(...)``: explain why a repository or folder
  that offers only pickled weights (``.bin``, ``.pt``, ...) is refused.

``eval_results.json`` (written by evaluation and training code) looks like::

    {"evaluations": [{"dataset_name": "kodak24", "dataset_type": "kodak24", "split": "test",
                      "num_images": 24, "size": 256 or null, "psnr": 23.1, "ssim": 0.93,
                      "colorfulness": 18.2, "reference_colorfulness": 36.57, "colorfulness_gap": -18.4}],
     "training": {"command": "...", "dataset": "...", "steps": 20000, "resolution": 64, "loss": "mse", ...}}
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import os
import shutil
import struct
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# hub_cards/ lives at the top of the repository; colorizers/hub_cards links to it so wheels carry it too.
CARDS_DIR = Path(os.environ.get("COLORIZERS_HUB_CARDS", Path(__file__).parent / "hub_cards"))
CARD_TEMPLATE = "model_card.md"
RESULTS_FILE = "eval_results.json"
SAMPLE_IMAGES = ("samples.png", "sample_grid.png")
LOSS_IMAGES = ("loss_curves.png",)

# What a push uploads, and what it never uploads even if it matched.
ALLOW_PATTERNS = [
    "config.json",
    "*.safetensors",
    "model.safetensors.index.json",
    "preprocessor_config.json",
    "README.md",
    "*.py",
    "*.png",
    RESULTS_FILE,
]
IGNORE_PATTERNS = [
    "checkpoints/*",
    "*/checkpoints/*",
    "checkpoint-*",
    "checkpoint_*",
    "optimizer*",
    "scheduler*",
    "scaler*",
    "random_states*",
    "*.bin",
    "*.pt",
    "*.pth",
    "*.pkl",
    "*.pickle",
    "*.ckpt",
]
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")

# Modules the uploaded code may import besides its own files (checked before every push).
# cv2 is optional there: the image processor imports it inside try/except and falls back to NumPy and PIL.
REMOTE_CODE_PACKAGES = {"torch", "transformers", "huggingface_hub", "safetensors", "numpy", "PIL", "cv2"}

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


class HubError(ValueError):
    """A push or card could not be made; the message says what is wrong and how to fix it."""


class NotASavedModelError(HubError):
    """The folder is not a saved colorizer (config.json + model.safetensors of a registered family)."""


class MissingTokenError(HubError):
    """No Hugging Face token in the standard places."""


class InvalidRepoIdError(HubError):
    """The repository id is not a valid Hub repo id."""


# ---------------------------------------------------------------------------------------------
# What a folder holds
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelFolder:
    """A validated saved colorizer folder."""

    path: Path
    config: dict
    family: str
    model_type: str
    config_class: type
    model_class: type
    preset: Any  # colorizers.registry.Preset | None


def _families() -> dict:
    from .models import FAMILIES

    return FAMILIES


def colorizer_model_types() -> dict[str, tuple[str, type, type]]:
    """``model_type`` -> ``(family, config class, model class)`` for every family that has presets."""
    from .registry import get_preset, list_models

    preset_configs = {get_preset(name).config_class for name in list_models()}
    types = {}
    for family, module in _families().items():
        for config_class, model_class in module.AUTO_CLASSES:
            if config_class in preset_configs:
                types[config_class.model_type] = (family, config_class, model_class)
    return types


def _same(value, expected) -> bool:
    if isinstance(value, (list, tuple)) and isinstance(expected, (list, tuple)):
        return list(value) == list(expected)
    if isinstance(expected, dict):  # a sub-config: the values the preset sets, among all saved ones
        if not isinstance(value, dict):
            return False
        # transformers saves num_labels as the length of id2label
        saved = {**value, "num_labels": value.get("num_labels", len(value.get("id2label") or {}) or None)}
        return all(_same(saved.get(key), item) for key, item in expected.items())
    return value == expected


# Preset values that tune a model without making it another preset (a unet trained at 64 px or
# with an L1 loss is still the unet): they rank candidates but never exclude one.
_SOFT_PRESET_KEYS = {"image_size", "loss_type", "huber_delta", "gan_l1_weight"}


def match_preset(config: dict, preset_name: str | None = None):
    """The preset a saved config is an instance of, or ``None``.

    A preset matches when every value it sets (other than ``_SOFT_PRESET_KEYS``) equals the config's;
    the most specific match wins, then the one matching the most soft values. ``preset_name`` forces
    one (it must be of the config's model type).
    """
    from .registry import get_preset, list_models

    model_type = config.get("model_type")
    if preset_name is not None:
        try:
            preset = get_preset(preset_name)
        except KeyError as error:
            raise HubError(error.args[0]) from None
        if preset.config_class.model_type != model_type:
            raise HubError(
                f"preset {preset_name!r} is a {preset.config_class.model_type!r} model but the folder holds a "
                f"{model_type!r} model"
            )
        return preset
    best, best_score = None, None
    for name in list_models():
        preset = get_preset(name)
        if preset.config_class.model_type != model_type:
            continue
        hard = {key: value for key, value in preset.config.items() if key not in _SOFT_PRESET_KEYS}
        if not all(_same(config.get(key), value) for key, value in hard.items()):
            continue
        soft = sum(_same(config.get(key), value) for key, value in preset.config.items() if key in _SOFT_PRESET_KEYS)
        score = (len(hard), soft)
        if best_score is None or score > best_score:
            best, best_score = preset, score
    return best


def inspect_model_folder(folder: str | os.PathLike, preset_name: str | None = None) -> ModelFolder:
    """Check that ``folder`` is a saved colorizer and say what it holds; raise ``NotASavedModelError``."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise NotASavedModelError(f"{path} is not a folder: give the folder a model was saved to with save_pretrained")
    config_file = path / "config.json"
    if not config_file.is_file():
        raise NotASavedModelError(f"{path} is not a saved model folder: it has no config.json")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise NotASavedModelError(f"{config_file} is not valid JSON: {error}") from error
    types = colorizer_model_types()
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if model_type not in types:
        raise NotASavedModelError(
            f"{path} does not hold a colorizer: its config.json has model_type {model_type!r}, not one of "
            f"{', '.join(sorted(types))}"
        )
    weights = _weight_files(path)
    if not weights:
        pickles = sorted(item.name for item in path.iterdir() if item.name.endswith(PICKLE_SUFFIXES))
        found = f" (it holds only {', '.join(pickles)}: pickles are never published)" if pickles else ""
        raise NotASavedModelError(f"{path} is not a saved model folder: it has no model.safetensors{found}")
    for weight_file in weights:
        _safetensors_header(weight_file)  # a truncated or foreign file fails here, with its name
    family, config_class, model_class = types[model_type]
    architectures = config.get("architectures") or []
    family_module = _families()[family]
    for name in architectures:
        candidate = getattr(sys.modules[model_class.__module__], name, None) or getattr(family_module, name, None)
        if isinstance(candidate, type):
            model_class = candidate
            break
    if preset_name is None:  # the run may say which preset it trained (eval_results.json "training.preset")
        recorded = ((_read_json_quietly(path / RESULTS_FILE) or {}).get("training") or {}).get("preset")
        if isinstance(recorded, str) and recorded in _preset_names_of(model_type):
            preset_name = recorded
    return ModelFolder(path, config, family, model_type, config_class, model_class, match_preset(config, preset_name))


def _read_json_quietly(file: Path):
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _preset_names_of(model_type: str) -> list[str]:
    from .registry import get_preset, list_models

    return [name for name in list_models() if get_preset(name).config_class.model_type == model_type]


def _weight_files(path: Path) -> list[Path]:
    index = path / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (OSError, json.JSONDecodeError, KeyError, AttributeError) as error:
            raise NotASavedModelError(f"{index} is not a valid safetensors index: {error}") from error
        missing = [shard for shard in shards if not (path / shard).is_file()]
        if missing:
            raise NotASavedModelError(f"{path} is missing weight shards listed in its index: {', '.join(missing)}")
        return [path / shard for shard in shards]
    single = path / "model.safetensors"
    return [single] if single.is_file() else []


def _safetensors_header(file: Path) -> dict:
    try:
        with open(file, "rb") as stream:
            (length,) = struct.unpack("<Q", stream.read(8))
            if length > 100_000_000:
                raise ValueError("header too large")
            header = json.loads(stream.read(length))
    except (OSError, ValueError, struct.error) as error:
        raise NotASavedModelError(f"{file} is not a readable safetensors file: {error}") from error
    return header


def _parameter_summary(folder: ModelFolder) -> tuple[str, str]:
    """(parameter count, dtypes) read from the safetensors headers, without loading the weights."""
    total, dtypes = 0, set()
    for weight_file in _weight_files(folder.path):
        for name, info in _safetensors_header(weight_file).items():
            if name == "__metadata__" or name.endswith(_BUFFER_SUFFIXES):
                continue
            total += math.prod(info["shape"])
            dtypes.add(str(info["dtype"]).lower())
    scaled = f"{total / 1e6:.2f}M" if total >= 1e6 else f"{total / 1e3:.1f}k"
    return f"{total:,} ({scaled})", ", ".join(sorted(dtypes)) or "unknown dtype"


# Tensors of a state dict that are buffers (batch-norm statistics), not parameters.
_BUFFER_SUFFIXES = ("running_mean", "running_var", "num_batches_tracked")


# ---------------------------------------------------------------------------------------------
# Model cards
# ---------------------------------------------------------------------------------------------


def _load_yaml(file: Path) -> dict:
    import yaml

    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HubError(f"model card source {file} is missing (hub_cards/ holds one per family)") from None
    except yaml.YAMLError as error:
        raise HubError(f"model card source {file} is not valid YAML: {error}") from error
    return data or {}


def card_source(family: str) -> dict:
    """The card text of a family: ``hub_cards/common.yaml`` overlaid with ``hub_cards/<family>.yaml``."""
    return {**_load_yaml(CARDS_DIR / "common.yaml"), **_load_yaml(CARDS_DIR / f"{family}.yaml")}


def read_eval_results(folder: str | os.PathLike) -> dict | None:
    """The folder's measured results (``eval_results.json``), or ``None`` when it has none."""
    file = Path(folder) / RESULTS_FILE
    if not file.is_file():
        return None
    try:
        results = json.loads(file.read_text(encoding="utf-8"), parse_constant=float)
    except (OSError, json.JSONDecodeError) as error:
        raise HubError(f"{file} is not valid JSON: {error}") from error
    if not isinstance(results, dict):
        raise HubError(f"{file} must hold a JSON object with 'evaluations' and/or 'training'")
    evaluations = results.get("evaluations") or []
    if not isinstance(evaluations, list) or not all(isinstance(item, dict) for item in evaluations):
        raise HubError(f"{file}: 'evaluations' must be a list of objects")
    for index, item in enumerate(evaluations):
        if not item.get("dataset_name") and not item.get("dataset_type"):
            raise HubError(f"{file}: evaluation {index} names no dataset ('dataset_name' / 'dataset_type')")
    training = results.get("training")
    if training is not None and not isinstance(training, dict):
        raise HubError(f"{file}: 'training' must be an object")
    return results


def _finite(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


METRICS = (("psnr", "PSNR (dB)"), ("ssim", "SSIM"), ("colorfulness", "Colourfulness (Hasler & Süsstrunk)"),
           ("auc", "AuC (%)"), ("auc_rebalanced", "AuC class-rebalanced (%)"))


def eval_results_from(results: dict | None, model_name: str) -> list:
    """``EvalResult`` entries (the card's ``model-index``) for every finite measured metric of every set."""
    from huggingface_hub import EvalResult

    entries = []
    for item in (results or {}).get("evaluations") or []:
        dataset_type = str(item.get("dataset_type") or item.get("dataset_name"))
        dataset_name = str(item.get("dataset_name") or dataset_type)
        args = {key: item[key] for key in ("num_images", "size") if item.get(key) is not None}
        for metric, label in METRICS:
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


def _evaluation_rows(results: dict | None) -> list[dict]:
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
                **{key: _format_number(item[key], 2) if item.get(key) is not None else "–" for key in ("auc", "auc_rebalanced")},
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
        if key not in _TRAINING_LABELS and key not in ("command", "preset") and value is not None
    ]
    table = []
    for label, value in rows:
        if label == "dataset":
            value = _dataset_label(value)
        text = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
        if len(text) <= 100:
            table.append((label, text.replace("|", "\\|").replace("\n", " ")))
    return table


def _is_local_path(value: str) -> bool:
    return value.startswith(("/", ".", "~")) or value.count("/") > 1 or "\\" in value


def _dataset_label(value) -> str:
    """A training dataset as a card shows it: a Hub id as is, a local path by its last component."""
    value = str(value)
    return f"{Path(value.rstrip('/')).name} (a local copy)" if _is_local_path(value) else value


def _baseline_rows(results: dict | None) -> list[dict]:
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
    results = read_eval_results(model.path)
    training = (results or {}).get("training") or None
    model_name = _model_name(model, repo_id)
    preset = model.preset
    preset_text = (source.get("presets") or {}).get(preset.name, {}) if preset else {}
    output = source.get("output", "ab")
    parameters, dtypes = _parameter_summary(model)
    sample = next((name for name in SAMPLE_IMAGES if (model.path / name).is_file()), None)
    loss_image = next((name for name in LOSS_IMAGES if (model.path / name).is_file()), None)
    dataset = str(training["dataset"]) if training and training.get("dataset") else None
    datasets = [dataset] if dataset and not _is_local_path(dataset) else None  # metadata names Hub ids only
    eval_results = eval_results_from(results, model_name)

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
        "evaluation_protocol": source.get("evaluation_protocol", ""),
        "evaluations": _evaluation_rows(results),
        "baselines": _baseline_rows(results),
        "training_dataset": _dataset_label(dataset) if dataset else None,
        "reference_points": source.get("reference_points", []),
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


# ---------------------------------------------------------------------------------------------
# Remote code
# ---------------------------------------------------------------------------------------------


def _module_file(cls: type) -> Path:
    return Path(sys.modules[cls.__module__].__file__).resolve()


def remote_code_files(model: ModelFolder) -> dict[str, Path]:
    """The ``.py`` files a repo needs for ``trust_remote_code`` loading: name -> source file.

    The family's configuration and modeling modules, the image processor module and everything they
    import relatively, all from one folder level. Checked to import nothing but their siblings and
    ``REMOTE_CODE_PACKAGES`` (plus the standard library), so they run without colorizers installed.
    """
    from transformers.dynamic_module_utils import get_relative_import_files

    from .image_processing_colorizer import ColorizerImageProcessor

    files: dict[str, Path] = {}
    for cls in (model.config_class, model.model_class, ColorizerImageProcessor):
        source = _module_file(cls)
        for file in [source, *map(Path, get_relative_import_files(str(source)))]:
            file = file.resolve()
            if files.setdefault(file.name, file) != file:
                raise HubError(f"two remote-code files are both named {file.name}: {files[file.name]} and {file}")
    for name, file in files.items():
        _check_self_contained(file, set(files))
    return files


def _check_self_contained(file: Path, names: set[str]) -> None:
    stdlib = set(sys.stdlib_module_names)
    tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            if node.level > 1 or not node.module or f"{node.module.split('.')[0]}.py" not in names:
                raise HubError(
                    f"{file} cannot travel as remote code: its relative import "
                    f"'{'.' * node.level}{node.module or ''}' reaches outside its own folder"
                )
            continue
        modules = (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module]
            if isinstance(node, ast.ImportFrom)
            else []
        )
        for module in modules:
            top = (module or "").split(".")[0]
            if top and top not in stdlib and top not in REMOTE_CODE_PACKAGES:
                raise HubError(
                    f"{file} cannot travel as remote code: it imports {module!r} (allowed: its own folder, the "
                    f"standard library and {', '.join(sorted(REMOTE_CODE_PACKAGES))})"
                )


def _auto_map(model: ModelFolder) -> dict[str, str]:
    config_ref = f"{_module_file(model.config_class).stem}.{model.config_class.__name__}"
    model_ref = f"{_module_file(model.model_class).stem}.{model.model_class.__name__}"
    return {"AutoConfig": config_ref, "AutoModel": model_ref, "AutoModelForImageToImage": model_ref}


def _processor_config(model: ModelFolder) -> dict:
    from .image_processing_colorizer import ColorizerImageProcessor

    file = model.path / "preprocessor_config.json"
    if file.is_file():
        try:
            config = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise NotASavedModelError(f"{file} is not valid JSON: {error}") from error
        kind = config.get("image_processor_type")
        if kind not in (None, ColorizerImageProcessor.__name__):
            raise NotASavedModelError(f"{file} is for a {kind}, not the colorizers image processor")
    else:  # the processor every model of this config uses when its folder ships none
        from transformers import AutoConfig

        from .registry import create_processor

        model_config = AutoConfig.from_pretrained(str(model.path), local_files_only=True)
        config = json.loads(create_processor(model_config).to_json_string())
    config["image_processor_type"] = ColorizerImageProcessor.__name__
    module = _module_file(ColorizerImageProcessor).stem
    config["auto_map"] = {**config.get("auto_map", {}), "AutoImageProcessor": f"{module}.{ColorizerImageProcessor.__name__}"}
    return config


def stage_for_hub(
    folder: str | os.PathLike,
    staging_dir: str | os.PathLike,
    *,
    preset_name: str | None = None,
    repo_id: str | None = None,
    revision: str | None = None,
) -> Path:
    """Copy what a Hub repo of ``folder`` holds into ``staging_dir`` and make it remote-code ready.

    Copies the top-level files that match ``ALLOW_PATTERNS`` and none of ``IGNORE_PATTERNS`` (no
    sub-folders, never the user's own ``.py`` files), adds the remote code, writes ``auto_map`` into
    ``config.json`` and ``preprocessor_config.json`` (creating the latter if the folder has none) and
    renders ``README.md``. ``folder`` itself is only read.
    """
    from fnmatch import fnmatch

    model = inspect_model_folder(folder, preset_name)
    staging = Path(staging_dir)
    staging.mkdir(parents=True, exist_ok=True)
    for item in sorted(model.path.iterdir()):
        if not item.is_file() or item.name.endswith(".py") or item.name == "README.md":
            continue
        if any(fnmatch(item.name, pattern) for pattern in ALLOW_PATTERNS) and not any(
            fnmatch(item.name, pattern) for pattern in IGNORE_PATTERNS
        ):
            shutil.copy2(item, staging / item.name)
    for name, source in remote_code_files(model).items():
        shutil.copyfile(source, staging / name)

    config = dict(model.config)
    config["auto_map"] = {**(config.get("auto_map") or {}), **_auto_map(model)}
    (staging / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    processor_config = _processor_config(model)
    (staging / "preprocessor_config.json").write_text(
        json.dumps(processor_config, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    card = render_model_card(model.path, model.preset.name if model.preset else None, repo_id=repo_id, revision=revision)
    card.save(staging / "README.md")
    return staging


# ---------------------------------------------------------------------------------------------
# Push
# ---------------------------------------------------------------------------------------------


def resolve_token(token: str | None = None) -> str:
    """``token``, else the standard places (``HF_TOKEN``, the ``hf auth login`` token file); else raise."""
    from huggingface_hub import get_token

    token = token or get_token()
    if not token:
        raise MissingTokenError(
            "no Hugging Face token found: pushing needs a token with write access. Set the HF_TOKEN environment "
            "variable or run `hf auth login` (tokens: https://huggingface.co/settings/tokens)."
        )
    return token


def check_repo_id(repo_id: str) -> str:
    """A valid ``name`` or ``namespace/name`` repo id, or ``InvalidRepoIdError``."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if not isinstance(repo_id, str) or not repo_id.strip():
        raise InvalidRepoIdError("the repository id is empty: give one like 'your-name/colorizers-unet'")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise InvalidRepoIdError(
            f"{repo_id!r} is not a valid Hub repository id ('namespace/name' of letters, digits, '-', '_' and '.', "
            f"at most 96 characters): {error}"
        ) from None
    if repo_id.count("/") > 1:
        raise InvalidRepoIdError(f"{repo_id!r} is not a valid Hub repository id: use 'namespace/name'")
    return repo_id


def push_to_hub(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    private: bool | None = None,
    revision: str | None = None,
    commit_message: str | None = None,
    commit_description: str | None = None,
    token: str | None = None,
    preset_name: str | None = None,
    endpoint: str | None = None,
):
    """Publish a saved model folder to the Hub: card, weights, processor config, remote code, images.

    Creates the repository if needed (``private`` applies only then) and, when ``revision`` names a
    branch that does not exist yet, creates it from the default branch. Returns the
    ``huggingface_hub.CommitInfo`` of the upload. ``folder`` is never modified.

    Raises:
        InvalidRepoIdError, MissingTokenError, NotASavedModelError (all ``HubError``, a ``ValueError``),
        or ``HubError`` when the Hub refuses the token or the upload.
    """
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled
    from huggingface_hub.utils import httpx

    from . import __version__

    check_repo_id(repo_id)
    model = inspect_model_folder(folder, preset_name)
    token = resolve_token(token)
    if constants.is_offline_mode():
        raise HubError("offline mode is on (HF_HUB_OFFLINE=1): unset it to push to the Hub")
    api = HfApi(endpoint=endpoint, token=token)
    what = model.preset.name if model.preset else model.model_type
    try:
        repo_url = api.create_repo(repo_id, private=private, exist_ok=True)
        repo_id = getattr(repo_url, "repo_id", None) or repo_id
        if revision is not None:
            _ensure_branch(api, repo_id, revision)
        with tempfile.TemporaryDirectory(prefix="colorizers-push-") as staging:
            stage_for_hub(
                model.path,
                staging,
                preset_name=model.preset.name if model.preset else None,
                repo_id=repo_id,
                revision=revision,
            )
            return api.upload_folder(
                repo_id=repo_id,
                folder_path=staging,
                revision=revision,
                commit_message=commit_message or f"Upload {what} colorizer (colorizers {__version__})",
                commit_description=commit_description,
                allow_patterns=ALLOW_PATTERNS,
                ignore_patterns=IGNORE_PATTERNS,
            )
    except HfHubHTTPError as error:
        status = getattr(getattr(error, "response", None), "status_code", None)
        if status in (401, 403):
            raise HubError(
                f"the Hub refused the token for {repo_id} (HTTP {status}): check that HF_TOKEN / `hf auth login` "
                f"holds a token with write access to that namespace. {_first_line(error)}"
            ) from error
        raise HubError(f"pushing {model.path} to {repo_id} failed: {_first_line(error)}") from error
    except (httpx.TransportError, OfflineModeIsEnabled) as error:
        raise HubError(f"could not reach the Hub at {api.endpoint} to push {repo_id}: {_first_line(error)}") from error


def _ensure_branch(api, repo_id: str, revision: str) -> None:
    refs = api.list_repo_refs(repo_id)
    if any(branch.name == revision for branch in refs.branches):
        return
    if any(tag.name == revision for tag in refs.tags) or revision.startswith("refs/"):
        raise HubError(f"cannot push to {revision!r} of {repo_id}: it is a tag or a special ref, not a branch")
    if len(revision) == 40 and all(char in "0123456789abcdef" for char in revision.lower()):
        raise HubError(f"cannot push to {revision!r}: that is a commit sha; name a branch instead")
    api.create_branch(repo_id, branch=revision, exist_ok=True)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def add_push_command(commands) -> argparse.ArgumentParser:
    """Register ``push`` on the CLI's sub-command parsers (``colorizers.cli.build_parser``)."""
    push = commands.add_parser(
        "push",
        help="publish a saved model folder on the Hugging Face Hub (card, weights, remote code)",
        description="Upload a saved model folder: config.json, model.safetensors, preprocessor_config.json, a "
        "rendered README.md model card, sample images and the code that loads it with trust_remote_code. "
        "Checkpoints, optimizer states and pickles are never uploaded. The token comes from HF_TOKEN or "
        "`hf auth login`.",
    )
    push.add_argument("folder", help="a folder written by save_pretrained (config.json + model.safetensors)")
    push.add_argument("--repo-id", required=True, help="target repository, e.g. your-org/colorizers-unet")
    push.add_argument("--private", action="store_true", default=None, help="create the repository as private")
    push.add_argument("--revision", default=None, help="branch to push to (created from main if it does not exist)")
    push.add_argument("--commit-message", default=None, help="commit message (default: what was uploaded)")
    push.add_argument("--preset", default=None, help="preset the model is an instance of (default: from its config)")
    push.set_defaults(handler=run_push)
    return push


def run_push(args: argparse.Namespace) -> int:
    """The ``push`` sub-command: exit status 0 on success, 2 with a one-line reason otherwise."""
    try:
        commit = push_to_hub(
            args.folder,
            args.repo_id,
            private=args.private,
            revision=args.revision,
            commit_message=args.commit_message,
            preset_name=args.preset,
        )
    except (HubError, KeyError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"error: {message}", file=sys.stderr)
        return 2
    print(f"pushed {args.folder} to {commit.commit_url}")
    return 0


# ---------------------------------------------------------------------------------------------
# Pull: safetensors only
# ---------------------------------------------------------------------------------------------


def _listing(
    name_or_path: str, *, revision: str | None, token: str | bool | None, local_files_only: bool | None
) -> list[str] | None:
    """Top-level file names of a local folder or a Hub repo (or its cached snapshot), or None if unknown."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return sorted(item.name for item in path.iterdir() if item.is_file())
    from huggingface_hub import HfApi, constants, snapshot_download

    if not (local_files_only or constants.is_offline_mode()):
        try:
            return [name for name in HfApi(token=token).list_repo_files(name_or_path, revision=revision) if "/" not in name]
        except Exception:  # noqa: BLE001 - unknown repo, no network...: the caller's own error stands
            return None
    try:
        snapshot = Path(snapshot_download(name_or_path, revision=revision, local_files_only=True))
    except Exception:  # noqa: BLE001
        return None
    return sorted(item.name for item in snapshot.iterdir() if item.is_file())


def safetensors_refusal(
    name_or_path: str,
    *,
    revision: str | None = None,
    token: str | bool | None = None,
    local_files_only: bool | None = None,
) -> str | None:
    """Why ``name_or_path`` cannot be loaded when it offers only pickled weights; ``None`` otherwise."""
    files = _listing(str(name_or_path), revision=revision, token=token, local_files_only=local_files_only)
    if not files or any(name.endswith(".safetensors") for name in files):
        return None
    pickles = [name for name in files if name.endswith(PICKLE_SUFFIXES)]
    if not pickles:
        return None
    at = f" at revision {revision!r}" if revision else ""
    return (
        f"{name_or_path}{at} offers its weights only as pickle files ({', '.join(pickles)}), and colorizers "
        "loads weights only from safetensors: unpickling a .bin/.pt file can run arbitrary code on your machine. "
        "Ask its author to publish model.safetensors (for example `model.save_pretrained(folder)` with current "
        "transformers, then `python -m colorizers push folder --repo-id ...`), or convert it yourself only if you "
        "trust its source."
    )


def load_from_hub(
    name_or_path: str,
    *,
    revision: str | None = None,
    local_files_only: bool | None = None,
    token: str | bool | None = None,
    **kwargs,
):
    """``colorizers.load_model`` for a Hub id or folder, refusing pickle-only weights with the reason.

    A Hub repository is checked *before* loading: given a repo without safetensors at ``main``,
    ``transformers`` would otherwise ask the Hub's safetensors-conversion service to convert the
    pickle (sending the token along) and wait for its pull request.
    """
    from .loading import ModelLoadError, load_model
    from .registry import list_models

    is_hub_id = str(name_or_path) not in list_models() and not Path(str(name_or_path)).expanduser().exists()
    if is_hub_id:
        reason = safetensors_refusal(name_or_path, revision=revision, token=token, local_files_only=local_files_only)
        if reason:
            raise ModelLoadError(reason)
    try:
        return load_model(name_or_path, revision=revision, local_files_only=local_files_only, token=token, **kwargs)
    except ModelLoadError as error:
        reason = safetensors_refusal(name_or_path, revision=revision, token=token, local_files_only=local_files_only)
        if reason:
            raise ModelLoadError(reason) from error
        raise


__all__ = [
    "ALLOW_PATTERNS",
    "IGNORE_PATTERNS",
    "HubError",
    "InvalidRepoIdError",
    "MissingTokenError",
    "NotASavedModelError",
    "add_push_command",
    "card_source",
    "check_repo_id",
    "eval_results_from",
    "inspect_model_folder",
    "load_from_hub",
    "match_preset",
    "push_to_hub",
    "read_eval_results",
    "remote_code_files",
    "render_model_card",
    "resolve_token",
    "safetensors_refusal",
    "stage_for_hub",
    "write_model_card",
]

"""What a saved colorizer folder holds: ``inspect_model_folder`` checks a folder written by
``save_pretrained`` and says which family, classes and preset it is; its weights are read through the
``safetensors`` library (names, shapes and dtypes only, never the tensors).

Model cards (``colorizers.hub.model_card``), remote-code packaging (``colorizers.hub.remote_code``) and the
Hub push (``colorizers.hub.publish``) all start from the ``ModelFolder`` this returns.
"""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from colorizers.hub.eval_results import EvalResultsError, read_eval_results
from colorizers.model_io.checks import BrokenModelError
from colorizers.model_io.checks import weight_files as checked_weight_files
from colorizers.model_io.loading import PICKLE_SUFFIXES
from colorizers.models import FAMILIES
from colorizers.registry import PresetMismatchError, get_preset, list_models, match_preset, preset_names_of


class HubError(ValueError):
    """A push or card could not be made; the message says what is wrong and how to fix it."""


class NotASavedModelError(HubError):
    """The folder is not a saved colorizer (config.json + model.safetensors of a registered family)."""


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


def colorizer_model_types() -> dict[str, tuple[str, type, type]]:
    """``model_type`` -> ``(family, config class, model class)`` for every family that has presets."""
    preset_configs = {get_preset(name).config_class for name in list_models()}
    types = {}
    for family, module in FAMILIES.items():
        for config_class, model_class in module.AUTO_CLASSES:
            if config_class in preset_configs:
                types[config_class.model_type] = (family, config_class, model_class)
    return types


def inspect_model_folder(folder: str | os.PathLike, preset_name: str | None = None) -> ModelFolder:
    """Check that ``folder`` is a saved colorizer and say what it holds; raise ``NotASavedModelError``.

    The preset is ``preset_name`` when given, else the one the run recorded (``eval_results.json``
    ``training.preset``) when it fits the config, else the one the config matches (``match_preset``).
    """
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
    weights = weight_files(path)
    if not weights:
        pickles = sorted(item.name for item in path.iterdir() if item.name.endswith(PICKLE_SUFFIXES))
        found = f" (it holds only {', '.join(pickles)}: pickles are never published)" if pickles else ""
        raise NotASavedModelError(f"{path} is not a saved model folder: it has no model.safetensors{found}")
    for weight_file in weights:
        tensor_infos(weight_file)  # a truncated or foreign file fails here, with its name
    family, config_class, model_class = types[model_type]
    family_module = FAMILIES[family]
    for name in config.get("architectures") or []:
        candidate = getattr(sys.modules[model_class.__module__], name, None) or getattr(family_module, name, None)
        if isinstance(candidate, type):
            model_class = candidate
            break
    if preset_name is None:  # the run may say which preset it trained (eval_results.json "training.preset")
        recorded = (_recorded_training(path) or {}).get("preset")
        if isinstance(recorded, str) and recorded in preset_names_of(model_type):
            preset_name = recorded
    try:
        preset = match_preset(config, preset_name)
    except PresetMismatchError as error:
        raise HubError(str(error)) from None
    return ModelFolder(path, config, family, model_type, config_class, model_class, preset)


def _recorded_training(path: Path) -> dict | None:
    try:
        return (read_eval_results(path) or {}).get("training")
    except EvalResultsError:  # the card reports it; the preset is then matched from the config
        return None


def weight_files(path: Path) -> list[Path]:
    """The folder's safetensors files (``model_io.checks.weight_files``: the shards of its index, or
    ``model.safetensors``), each of which must exist: a push uploads them all."""
    try:
        files = checked_weight_files(path)
    except BrokenModelError as error:
        raise NotASavedModelError(str(error)) from None
    missing = [file.name for file in files if not file.is_file()]
    if missing:
        raise NotASavedModelError(f"{path} is missing weight shards listed in its index: {', '.join(missing)}")
    return files


def tensor_infos(file: Path) -> dict[str, tuple[list[int], str]]:
    """``name -> (shape, dtype)`` of every tensor in a safetensors file, read from its header only."""
    from safetensors import safe_open

    try:
        with safe_open(str(file), framework="pt") as handle:
            infos = {}
            for name in handle.keys():
                tensor = handle.get_slice(name)
                infos[name] = (list(tensor.get_shape()), str(tensor.get_dtype()))
    except Exception as error:  # noqa: BLE001 - safetensors raises its own SafetensorError, OSError, ...
        raise NotASavedModelError(f"{file} is not a readable safetensors file: {error}") from error
    return infos


# Tensors of a state dict that are buffers (batch-norm statistics), not parameters.
_BUFFER_SUFFIXES = ("running_mean", "running_var", "num_batches_tracked")


def parameter_summary(folder: ModelFolder) -> tuple[str, str]:
    """(parameter count, dtypes) read from the safetensors headers, without loading the weights."""
    total, dtypes = 0, set()
    for weight_file in weight_files(folder.path):
        for name, (shape, dtype) in tensor_infos(weight_file).items():
            if name.endswith(_BUFFER_SUFFIXES):
                continue
            total += math.prod(shape)
            dtypes.add(dtype.lower())
    scaled = f"{total / 1e6:.2f}M" if total >= 1e6 else f"{total / 1e3:.1f}k"
    return f"{total:,} ({scaled})", ", ".join(sorted(dtypes)) or "unknown dtype"


__all__ = [
    "HubError",
    "ModelFolder",
    "NotASavedModelError",
    "colorizer_model_types",
    "inspect_model_folder",
    "parameter_summary",
    "tensor_infos",
    "weight_files",
]

"""Named presets: a preset is data (a config class plus its values), not a subclass.

Each family package (``colorizers/models/<family>/__init__.py``) lists its presets in ``PRESETS``;
``colorizers.models`` collects them here when the package is imported.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedConfig, PreTrainedModel

from colorizers.image_processing_colorizer import ColorizerImageProcessor, nominal_edge

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"


@dataclass(frozen=True)
class Preset:
    """A named model: its config class and values, where it comes from, and its trained weights.

    Attributes:
        name: the name users type (`colorizers.load_model("unet")`, `--model unet`).
        config_class: the family's `PreTrainedConfig` subclass.
        config: values that differ from the config class defaults.
        description: one line for `list` and the app.
        reference: the seed report (and model) this preset reproduces.
    """

    name: str
    config_class: type[PreTrainedConfig]
    config: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    reference: str = ""

    def make_config(self, **overrides) -> PreTrainedConfig:
        return self.config_class(**{**self.config, **overrides})

    @property
    def weights_dir(self) -> Path:
        """Where the trained weights of this preset ship (a Hub-layout folder), if they exist."""
        return PRETRAINED_DIR / self.name

    @property
    def has_weights(self) -> bool:
        # one file, or shards with their index (files over 20 MB are split so that no tracked file is larger)
        return any(
            (self.weights_dir / name).is_file() for name in ("model.safetensors", "model.safetensors.index.json")
        )


_PRESETS: dict[str, Preset] = {}


def register_preset(preset: Preset) -> None:
    if preset.name in _PRESETS and _PRESETS[preset.name] != preset:
        raise ValueError(f"a different preset named {preset.name!r} is already registered")
    _PRESETS[preset.name] = preset


def list_models(*, with_weights: bool = False) -> list[str]:
    """Names of every preset, in registration order (only those with shipped weights if asked)."""
    return [name for name, preset in _PRESETS.items() if preset.has_weights or not with_weights]


def preset_model_types() -> set[str]:
    """The ``model_type`` of every family that has a preset: the configs colorizers can run."""
    return {preset.config_class.model_type for preset in _PRESETS.values()}


def get_preset(name: str) -> Preset:
    try:
        return _PRESETS[name]
    except KeyError:
        close = difflib.get_close_matches(name, _PRESETS, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"unknown model preset {name!r}.{hint} Known presets: {', '.join(_PRESETS)}") from None


class PresetMismatchError(ValueError):
    """A preset was named for a saved config it cannot describe (unknown name, other model type)."""


def preset_names_of(model_type: str) -> list[str]:
    """Names of the presets whose config class has ``model_type``."""
    return [name for name, preset in _PRESETS.items() if preset.config_class.model_type == model_type]


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
SOFT_PRESET_KEYS = {"image_size", "loss_type", "huber_delta", "gan_l1_weight"}


def match_preset(config: dict, preset_name: str | None = None) -> Preset | None:
    """The preset a saved config (``config.json`` as a dict) is an instance of, or ``None``.

    A preset matches when every value it sets (other than ``SOFT_PRESET_KEYS``) equals the config's;
    the most specific match wins, then the one matching the most soft values. ``preset_name`` forces
    one (it must be of the config's model type, else ``PresetMismatchError``).
    """
    model_type = config.get("model_type")
    if preset_name is not None:
        try:
            preset = get_preset(preset_name)
        except KeyError as error:
            raise PresetMismatchError(error.args[0]) from None
        if preset.config_class.model_type != model_type:
            raise PresetMismatchError(
                f"preset {preset_name!r} is a {preset.config_class.model_type!r} model but the folder holds a "
                f"{model_type!r} model"
            )
        return preset
    best, best_score = None, None
    for preset in _PRESETS.values():
        if preset.config_class.model_type != model_type:
            continue
        hard = {key: value for key, value in preset.config.items() if key not in SOFT_PRESET_KEYS}
        if not all(_same(config.get(key), value) for key, value in hard.items()):
            continue
        soft = sum(_same(config.get(key), value) for key, value in preset.config.items() if key in SOFT_PRESET_KEYS)
        score = (len(hard), soft)
        if best_score is None or score > best_score:
            best, best_score = preset, score
    return best


def model_class_for(config: PreTrainedConfig) -> type[PreTrainedModel]:
    """The model class registered with ``AutoModel`` for ``config`` (``KeyError`` for a config no family has)."""
    from transformers import MODEL_MAPPING  # the mapping AutoModel.register fills (public, unlike AutoModel's own)

    return MODEL_MAPPING[type(config)]


def create_model(name: str, **config_overrides) -> PreTrainedModel:
    """A freshly initialised (untrained) model of preset ``name``; overrides change config values."""
    preset = get_preset(name)
    config = preset.make_config(**config_overrides)
    return model_class_for(config)(config)


def create_processor(config: PreTrainedConfig) -> ColorizerImageProcessor:
    """The image processor a model of ``config`` uses when its folder ships none."""
    return ColorizerImageProcessor(size={"longest_edge": int(getattr(config, "image_size", 256))})


def count_parameters(name: str) -> int:
    """Parameter count of a preset, computed on the meta device (no memory, no init time)."""
    preset = get_preset(name)
    config = preset.make_config()
    with torch.device("meta"):
        model = model_class_for(config)(config)
    return sum(parameter.numel() for parameter in model.parameters())


FALLBACK_DEFAULT = "unet"


def default_model() -> str:
    """The preset ``colorize()`` uses when none is named: the leaderboard's pick among the presets
    with shipped weights (``release/leaderboard.py`` writes it), else the U-Net."""
    board = PRETRAINED_DIR / "leaderboard.json"
    if board.is_file():
        name = json.loads(board.read_text()).get("default")
        if name in _PRESETS and _PRESETS[name].has_weights:
            return name
    return FALLBACK_DEFAULT


def default_working_size(name: str) -> int:
    """The longest edge colour is predicted at for preset ``name`` when no size is asked for: its
    shipped processor's size when it has weights, else its config's ``image_size``."""
    preset = get_preset(name)
    processor_config = preset.weights_dir / "preprocessor_config.json"
    if preset.has_weights and processor_config.is_file():
        edge = nominal_edge(json.loads(processor_config.read_text()).get("size", {}))
        if edge:
            return edge
    return int(preset.make_config().image_size)


def default_temperature(name: str) -> float | None:
    """The annealed-mean temperature preset ``name`` decodes with by default (its shipped config's, else its
    config class's), or ``None`` for presets that predict a single colour."""
    preset = get_preset(name)
    config_file = preset.weights_dir / "config.json"
    config = (
        json.loads(config_file.read_text())
        if preset.has_weights and config_file.is_file()
        else preset.make_config().to_dict()
    )
    if config.get("objective", "regression") == "regression":
        return None
    return float(config.get("default_temperature", 1.0))

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

from .image_processing_colorizer import ColorizerImageProcessor, nominal_edge

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
        model_class: the class to build; `None` means the one registered with `AutoModel`.
    """

    name: str
    config_class: type[PreTrainedConfig]
    config: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    reference: str = ""
    model_class: type[PreTrainedModel] | None = None

    def make_config(self, **overrides) -> PreTrainedConfig:
        return self.config_class(**{**self.config, **overrides})

    @property
    def weights_dir(self) -> Path:
        """Where the trained weights of this preset ship (a Hub-layout folder), if they exist."""
        return PRETRAINED_DIR / self.name

    @property
    def has_weights(self) -> bool:
        return (self.weights_dir / "model.safetensors").is_file()


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


def model_class_for(config: PreTrainedConfig, preset: Preset | None = None) -> type[PreTrainedModel]:
    if preset is not None and preset.model_class is not None:
        return preset.model_class
    from transformers import AutoModel

    return AutoModel._model_mapping[type(config)]


def create_model(name: str, **config_overrides) -> PreTrainedModel:
    """A freshly initialised (untrained) model of preset ``name``; overrides change config values."""
    preset = get_preset(name)
    config = preset.make_config(**config_overrides)
    return model_class_for(config, preset)(config)


def create_processor(config: PreTrainedConfig) -> ColorizerImageProcessor:
    """The image processor a model of ``config`` uses when its folder ships none."""
    return ColorizerImageProcessor(size={"longest_edge": int(getattr(config, "image_size", 256))})


def count_parameters(name: str) -> int:
    """Parameter count of a preset, computed on the meta device (no memory, no init time)."""
    preset = get_preset(name)
    config = preset.make_config()
    with torch.device("meta"):
        model = model_class_for(config, preset)(config)
    return sum(parameter.numel() for parameter in model.parameters())


FALLBACK_DEFAULT = "unet"


def default_model() -> str:
    """The preset ``colorize()`` uses when none is named: the leaderboard's pick among the presets
    with shipped weights (``benchmarks/leaderboard.py`` writes it), else the U-Net."""
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

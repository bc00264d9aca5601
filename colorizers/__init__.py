"""colorizers: automatic colorization of black-and-white photos, the Hugging Face way.

Importing the package registers every model family with transformers' Auto classes, so
``AutoModel.from_pretrained`` loads any colorizer without ``trust_remote_code``.
"""

from . import models  # noqa: F401  (registers every family with the Auto classes)
from .color import (
    AB_SCALE,
    denormalize_ab,
    denormalize_lightness,
    lab_to_rgb,
    lab_to_rgb_torch,
    normalize_ab,
    normalize_lightness,
    rgb_to_lab,
    rgb_to_lab_torch,
)
from .hints import Hint, HintError
from .image_processing_colorizer import ColorizerImageProcessor, image_to_lab, image_to_lightness
from .loading import ModelLoadError, load_model, load_processor
from .pipeline import colorize, predicted_ab, suggest_colors
from .registry import Preset, count_parameters, create_model, create_processor, default_model, get_preset, list_models
from .version import __version__

_LAZY = {
    "colorize_video": "video",
    "VideoError": "video_io",
    "VideoResult": "video",
}  # PyAV and OpenCV load on first use


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# The preset colorize() uses when no model is named: chosen by the leaderboard (benchmarks/leaderboard.py).
DEFAULT_MODEL = default_model()

__all__ = [
    "AB_SCALE",
    "DEFAULT_MODEL",
    "ColorizerImageProcessor",
    "Hint",
    "HintError",
    "ModelLoadError",
    "Preset",
    "VideoError",
    "VideoResult",
    "colorize",
    "colorize_video",
    "count_parameters",
    "create_model",
    "create_processor",
    "denormalize_ab",
    "denormalize_lightness",
    "get_preset",
    "image_to_lab",
    "image_to_lightness",
    "lab_to_rgb",
    "lab_to_rgb_torch",
    "list_models",
    "load_model",
    "load_processor",
    "normalize_ab",
    "normalize_lightness",
    "predicted_ab",
    "rgb_to_lab",
    "rgb_to_lab_torch",
    "suggest_colors",
]

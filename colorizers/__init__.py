"""colorizers: automatic colorization of black-and-white photos, the Hugging Face way.

Importing the package registers every model family with transformers' Auto classes, so
``AutoModel.from_pretrained`` loads any colorizer without ``trust_remote_code``, and the
``"image-colorization"`` task (``colorizers.ImageColorizationPipeline``) with transformers' pipelines.

The one exception is the ``colorizers`` command itself (``python -m colorizers``, the installed ``colorizers``
script): there the package imports nothing heavy, so that ``--help``, ``list`` and argument errors answer at
once instead of after torch and transformers; each subcommand imports what it uses (registering the families
first), and every public name below still resolves on first use (PEP 562 ``__getattr__``).
"""

import sys

from colorizers.version import __version__

# Each public name and the module that defines it (DEFAULT_MODEL is computed: see below).
_EXPORTS = {
    **dict.fromkeys(
        (
            "AB_SCALE",
            "denormalize_ab",
            "denormalize_lightness",
            "lab_to_rgb",
            "lab_to_rgb_torch",
            "normalize_ab",
            "normalize_lightness",
            "rgb_to_lab",
            "rgb_to_lab_torch",
        ),
        "color",
    ),
    **dict.fromkeys(("Hint", "HintError"), "processing.hints"),
    **dict.fromkeys(("ColorizerImageProcessor", "image_to_lab", "image_to_lightness"), "image_processing_colorizer"),
    **dict.fromkeys(("ModelLoadError", "load_model", "load_processor"), "model_io.loading"),
    **dict.fromkeys(
        ("ImageColorizationPipeline", "colorize", "pipeline", "predicted_ab", "suggest_colors"), "pipelines"
    ),
    **dict.fromkeys(
        (
            "Preset",
            "count_parameters",
            "create_model",
            "create_processor",
            "default_model",
            "get_preset",
            "list_models",
        ),
        "registry",
    ),
    "colorize_video": "video.colorize",  # PyAV and OpenCV load on first use, whichever way the package was imported
    "VideoError": "video.io",
    "VideoResult": "video.colorize",
}
_LAZY = {"colorize_video", "VideoError", "VideoResult"}


def _started_as_command() -> bool:
    """Whether this import is the ``colorizers`` command starting: Python's runpy locating ``colorizers`` (or its
    ``__main__`` or ``cli``) to run as ``__main__`` (``python -m colorizers``, ``runpy.run_module``), or the
    installed script. Anything else (``import colorizers``, ``python -m`` of another module, even one of this
    package's or one whose package imports this one) is not: the package then imports as it always did."""
    try:
        frame = sys._getframe(2)  # the code importing the package
    except (AttributeError, ValueError):  # no frames on this Python: import as usual
        return False
    while frame is not None and str(frame.f_globals.get("__name__", "")).startswith("importlib"):
        frame = frame.f_back  # the import machinery
    if frame is None:
        return False
    importer = frame.f_globals.get("__name__")
    if importer == "runpy":
        return frame.f_locals.get("mod_name") in (__name__, f"{__name__}.__main__", f"{__name__}.commands.main")
    script = str(frame.f_globals.get("__file__") or "")
    return importer == "__main__" and script.replace("\\", "/").rsplit("/", 1)[-1] in ("colorizers", "colorizers.exe")


def _load(name: str):
    import importlib

    # registers every family with the Auto classes, and the image-colorization task with transformers' pipelines
    from colorizers import models, pipelines  # noqa: F401

    if name == "DEFAULT_MODEL":
        from colorizers.registry import default_model

        value = default_model()
    else:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    if name not in _LAZY:
        globals()[name] = value
    return value


def __getattr__(name: str):
    if name in _EXPORTS or name == "DEFAULT_MODEL":
        return _load(name)
    if _COMMAND and not name.startswith("_"):  # under the command, a sub-module that nothing imported yet
        import importlib.util

        if importlib.util.find_spec(f"{__name__}.{name}") is not None:
            return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


_COMMAND = _started_as_command()
if not _COMMAND:
    from colorizers import models  # noqa: F401  (registers every family with the Auto classes)
    from colorizers.color import (
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
    from colorizers.image_processing_colorizer import ColorizerImageProcessor, image_to_lab, image_to_lightness
    from colorizers.model_io.loading import ModelLoadError, load_model, load_processor
    from colorizers.pipelines import ImageColorizationPipeline, colorize, pipeline, predicted_ab, suggest_colors
    from colorizers.processing.hints import Hint, HintError
    from colorizers.registry import (
        Preset,
        count_parameters,
        create_model,
        create_processor,
        default_model,
        get_preset,
        list_models,
    )

    # The preset colorize() uses when no model is named: chosen by the leaderboard (release/leaderboard.py).
    DEFAULT_MODEL = default_model()

__all__ = [
    "AB_SCALE",
    "DEFAULT_MODEL",
    "ColorizerImageProcessor",
    "Hint",
    "HintError",
    "ImageColorizationPipeline",
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
    "pipeline",
    "predicted_ab",
    "rgb_to_lab",
    "rgb_to_lab_torch",
    "suggest_colors",
]

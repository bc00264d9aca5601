"""Turn what a user names (a preset, a local folder, a Hub id, or a model object) into a model and
its image processor. Weights are only ever read from safetensors: a folder or repository that offers
only pickled weights (``.bin``, ``.pt``, ...) is refused with the reason (``safetensors_refusal``)."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import torch
from transformers import AutoImageProcessor, AutoModel, PreTrainedModel

from .image_processing_colorizer import ColorizerImageProcessor
from .registry import create_model, create_processor, get_preset, list_models

logger = logging.getLogger(__name__)

# Weight files that are pickles: never loaded (unpickling can run arbitrary code), never published.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


class ModelLoadError(ValueError):
    """A model could not be loaded; the message says what was tried and why it failed."""


def load_model(
    name_or_path: str | PreTrainedModel,
    *,
    revision: str | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    local_files_only: bool | None = None,
    token: str | bool | None = None,
    progress: bool = False,
) -> PreTrainedModel:
    """Load a colorizer by preset name, local folder or Hub id, in eval mode.

    A preset whose trained weights ship with the package loads them (offline); a preset without
    them is built with random weights, and ``model.colorizers_untrained`` is set so callers can say
    so. Weights load in float32 unless ``dtype`` says otherwise (CPUs run half precision slowly).
    transformers' weight-loading progress bars are shown only with ``progress=True``.
    """
    if isinstance(name_or_path, PreTrainedModel):
        model = name_or_path
    else:
        name = str(name_or_path)
        if name in list_models():
            preset = get_preset(name)
            if preset.has_weights:
                model = _from_pretrained(str(preset.weights_dir), dtype=dtype, local_files_only=True, progress=progress)
            else:
                logger.warning("preset %r has no trained weights yet: it colorizes with random weights", name)
                model = create_model(name)
                model.colorizers_untrained = True
        elif Path(name).expanduser().is_dir():
            folder = Path(name).expanduser()
            if not (folder / "config.json").is_file():
                raise ModelLoadError(f"{folder} is not a saved model folder: it has no config.json")
            _refuse_pickles(str(folder), local_files_only=True)
            model = _from_pretrained(str(folder), dtype=dtype, local_files_only=True, progress=progress)
        else:
            if Path(name).expanduser().exists():
                raise ModelLoadError(f"{name} is a file, not a model folder, preset name or Hub id")
            # checked first: given a pickle-only repo, transformers would ask the Hub's conversion
            # service to convert it (sending the token along) instead of failing
            _refuse_pickles(name, revision=revision, token=token, local_files_only=local_files_only)
            model = _from_pretrained(
                name, revision=revision, dtype=dtype, local_files_only=local_files_only, token=token, progress=progress
            )
    if device is not None:
        model.to(device)
    return model.eval()


def _refuse_pickles(name: str, **kwargs) -> None:
    reason = safetensors_refusal(name, **kwargs)
    if reason:
        raise ModelLoadError(reason)


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


@contextlib.contextmanager
def _progress_bars(shown: bool):
    """transformers' progress bars on or off for the duration (restored afterwards)."""
    from transformers.utils import logging as transformers_logging

    before = transformers_logging.is_progress_bar_enabled()
    (transformers_logging.enable_progress_bar if shown else transformers_logging.disable_progress_bar)()
    try:
        yield
    finally:
        (transformers_logging.enable_progress_bar if before else transformers_logging.disable_progress_bar)()


def _from_pretrained(name: str, *, dtype=None, progress: bool = False, **kwargs) -> PreTrainedModel:
    try:
        with _progress_bars(progress):
            return AutoModel.from_pretrained(name, use_safetensors=True, dtype=dtype or torch.float32, **kwargs)
    except (OSError, ValueError) as error:
        reason = str(error).strip().splitlines()[0]
        if Path(name).expanduser().is_dir():
            raise ModelLoadError(f"could not load the model folder {name}: {reason}") from error
        known = ", ".join(list_models())
        raise ModelLoadError(
            f"could not load model {name!r}: it is not a preset ({known}), not a local folder, and loading "
            f"it as a Hub repository failed: {reason}"
        ) from error


def load_processor(model: PreTrainedModel) -> ColorizerImageProcessor:
    """The processor saved next to ``model``'s weights, or the default one for its config."""
    source = getattr(model, "name_or_path", "") or ""
    saved_beside_weights = bool(source) and (Path(source) / "preprocessor_config.json").is_file()
    cached_from_hub = "/" in source and not Path(source).exists()  # an "owner/name" id in the Hub cache
    if saved_beside_weights or cached_from_hub:
        try:
            processor = AutoImageProcessor.from_pretrained(source, local_files_only=True)
        except (OSError, ValueError):
            processor = None
        if isinstance(processor, ColorizerImageProcessor):
            return processor
    return create_processor(model.config)

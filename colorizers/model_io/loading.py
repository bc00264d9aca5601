"""Turn what a user names (a preset, a local folder, a Hub id, or a model object) into a model and
its image processor. Weights are only ever read from safetensors: a folder or repository that offers
only pickled weights (``.bin``, ``.pt``, ...) is refused with the reason (``safetensors_refusal``).

Every failure is a ``ModelLoadError`` with one clear message: before any weight is allocated, the
config is validated, the model is sized on the meta device (``max_parameters``, else the memory
available) and the safetensors headers are checked against it (``colorizers.model_io.checks``); a Hub
repository's weights are sized before they are downloaded when ``max_weight_bytes`` is given. Once loaded,
every weight must be finite (``check_finite``).

No code from a model folder or repository is ever run: transformers is always called with
``trust_remote_code=False`` (a colorizers model loads with our own classes, whatever ``auto_map`` its
config.json carries), and a ``preprocessor_config.json`` that asks for another processor's code is refused
(``read_processor``); one that names ours loads ours, its ``auto_map`` ignored, every setting validated."""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path

import torch
from transformers import AutoModel, PreTrainedModel

from colorizers.image_processing_colorizer import ColorizerImageProcessor
from colorizers.limits import shorten
from colorizers.model_io.checks import (
    PICKLE_SUFFIXES,
    BrokenModelError,
    ModelLoadError,
    build_on_meta,
    check_finite,
    check_hub_weights,
    check_model_size,
    check_weights,
    error_reason,
    load_config,
    local_path,
    weight_files,
)
from colorizers.model_io.checksums import ChecksumError, verify_checksums
from colorizers.registry import create_model, create_processor, get_preset, list_models

logger = logging.getLogger(__name__)

PROCESSOR_CONFIG = "preprocessor_config.json"
MAX_PROCESSOR_CONFIG_BYTES = 1 << 20  # ours are under 1 kB


def load_model(
    name_or_path: str | PreTrainedModel,
    *,
    revision: str | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    local_files_only: bool | None = None,
    token: str | bool | None = None,
    progress: bool = False,
    max_parameters: int | None = None,
    max_weight_bytes: int | None = None,
) -> PreTrainedModel:
    """Load a colorizer by preset name, local folder or Hub id, in eval mode.

    A preset whose trained weights ship with the package loads them (offline); a preset without
    them is built with random weights, and ``model.colorizers_untrained`` is set so callers can say
    so. Weights load in float32 unless ``dtype`` says otherwise (CPUs run half precision slowly).
    transformers' weight-loading progress bars are shown only with ``progress=True``.

    Raises ``ModelLoadError`` for every failure: a name that is none of the above, a broken config,
    truncated, empty or mis-shaped weights, weights holding NaN or infinite values, a model of more than
    ``max_parameters`` parameters (by default: more than the memory available holds), a Hub repository
    whose weights exceed ``max_weight_bytes`` (checked before downloading), a folder whose
    preprocessor_config.json is invalid or asks to run custom code (``read_processor``).
    """
    if isinstance(name_or_path, PreTrainedModel):
        model = name_or_path
    else:
        name = str(name_or_path)
        options = dict(dtype=dtype, progress=progress, max_parameters=max_parameters)
        path = None if name in list_models() else local_path(name)
        if name in list_models():
            preset = get_preset(name)
            if preset.has_weights:
                try:  # weights damaged on disk are refused by name, never run
                    verify_checksums(preset.weights_dir, name)
                except ChecksumError as error:
                    raise ModelLoadError(str(error)) from None
                model = _load_folder(preset.weights_dir, **options)
            else:
                logger.warning("preset %r has no trained weights yet: it colorizes with random weights", name)
                model = create_model(name)
                model.colorizers_untrained = True
        elif path is not None and path.is_dir():
            if not (path / "config.json").is_file():
                raise ModelLoadError(f"{path} is not a saved model folder: it has no config.json")
            _refuse_pickles(str(path), local_files_only=True)
            model = _load_folder(path, **options)
        elif path is not None:
            raise ModelLoadError(f"{shorten(name)} is a file, not a model folder, preset name or Hub id")
        else:
            model = _load_hub(
                name,
                revision=revision,
                token=token,
                local_files_only=local_files_only,
                max_weight_bytes=max_weight_bytes,
                **options,
            )
    if device is not None:
        model.to(device)
    return model.eval()


def _load_folder(folder: Path, *, max_parameters: int | None, **options) -> PreTrainedModel:
    where = str(folder)
    meta = build_on_meta(load_config(str(folder), where, local_files_only=True), where)
    check_model_size(meta, where, max_parameters)
    check_weights(weight_files(folder), meta, where)
    if (folder / PROCESSOR_CONFIG).is_file():
        read_processor(folder / PROCESSOR_CONFIG, where)  # refused now rather than when colorizing
    model = _from_pretrained(str(folder), local_files_only=True, **options)
    check_finite(model, where)
    return model


def _load_hub(
    name: str, *, revision, token, local_files_only, max_weight_bytes, max_parameters, **options
) -> PreTrainedModel:
    from huggingface_hub import constants

    where = f"model {shorten(name)!r}"
    # checked first: given a pickle-only repo, transformers would ask the Hub's conversion
    # service to convert it (sending the token along) instead of failing
    _refuse_pickles(name, revision=revision, token=token, local_files_only=local_files_only)
    hub = dict(revision=revision, token=token, local_files_only=bool(local_files_only))
    if max_weight_bytes is not None and not (local_files_only or constants.is_offline_mode()):
        check_hub_weights(name, max_weight_bytes, revision=revision, token=token)  # before any download
    _hub_file(name, "config.json", **hub)
    meta = build_on_meta(load_config(name, where, **hub), where)
    check_model_size(meta, where, max_parameters)
    check_weights(_hub_weights(name, **hub), meta, where)
    model = _from_pretrained(name, **hub, **options)
    check_finite(model, where)
    return model


def _hub_file(name: str, filename: str, **hub) -> Path:
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(name, filename, **hub))
    except Exception as error:  # noqa: BLE001 - not found, offline, invalid id...
        raise _not_found(name, error) from None


def _hub_weights(name: str, **hub) -> list[Path]:
    """The repository's safetensors files, downloaded (or from the cache): model.safetensors, or the index's shards."""
    try:
        return [_hub_file(name, "model.safetensors", **hub)]
    except ModelLoadError as missing:
        try:
            index = _hub_file(name, "model.safetensors.index.json", **hub)
        except ModelLoadError:
            raise missing from None
    return [_hub_file(name, shard.name, **hub) for shard in weight_files(index.parent)]


def _not_found(name: str, error: BaseException) -> ModelLoadError:
    known = ", ".join(list_models())
    return ModelLoadError(
        f"could not load model {shorten(name)!r}: it is not a preset ({known}), not a local folder, and loading "
        f"it as a Hub repository failed: {error_reason(error)}"
    )


def _refuse_pickles(name: str, **kwargs) -> None:
    reason = safetensors_refusal(name, **kwargs)
    if reason:
        raise ModelLoadError(reason)


def _listing(
    name_or_path: str, *, revision: str | None, token: str | bool | None, local_files_only: bool | None
) -> list[str] | None:
    """Top-level file names of a local folder or a Hub repo (or its cached snapshot), or None if unknown."""
    path = local_path(name_or_path)
    if path is not None and path.is_dir():
        return sorted(item.name for item in path.iterdir() if item.is_file())
    from huggingface_hub import HfApi, constants, snapshot_download

    if not (local_files_only or constants.is_offline_mode()):
        try:
            return [
                name for name in HfApi(token=token).list_repo_files(name_or_path, revision=revision) if "/" not in name
            ]
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
            return AutoModel.from_pretrained(
                name, use_safetensors=True, dtype=dtype or torch.float32, trust_remote_code=False, **kwargs
            )
    except MemoryError:
        raise ModelLoadError(f"not enough memory to load {shorten(name)}") from None
    except Exception as error:  # noqa: BLE001 - whatever transformers raises, the user gets one line
        if local_path(name) is not None:
            raise ModelLoadError(f"could not load the model folder {name}: {error_reason(error)}") from error
        raise _not_found(name, error) from error


def load_processor(model: PreTrainedModel) -> ColorizerImageProcessor:
    """The processor saved next to ``model``'s weights (a local folder, or a Hub id's file in the cache), or the
    default one for its config. ``ModelLoadError`` when that file is invalid or asks to run custom code
    (``read_processor``)."""
    source = getattr(model, "name_or_path", "") or ""
    file = _processor_file(source)
    processor = read_processor(file, source) if file is not None else None
    if processor is not None:
        return processor
    try:
        return create_processor(model.config)
    except ValueError as error:  # an image_size no processor may work at
        raise BrokenModelError(
            f"{shorten(source) or 'the model'}: no image processor fits its config: {error}"
        ) from None


def _processor_file(source: str) -> Path | None:
    """``preprocessor_config.json`` beside a local folder's weights, or a Hub id's copy in the cache; None if neither."""
    if not source:
        return None
    path = local_path(source)
    if path is not None:
        return path / PROCESSOR_CONFIG if (path / PROCESSOR_CONFIG).is_file() else None
    if "/" not in source:  # a Hub id is "owner/name"
        return None
    from huggingface_hub import try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(source, PROCESSOR_CONFIG)
    except Exception:  # noqa: BLE001 - not a valid repo id: there is nothing cached for it
        return None
    return Path(cached) if isinstance(cached, str) else None


def read_processor(file: Path, where: str) -> ColorizerImageProcessor | None:
    """The colorizers image processor a ``preprocessor_config.json`` describes, its every setting validated
    (``colorizers.image_processing_colorizer.check_settings``); None when it describes another kind of processor.

    No code is ever run: a file whose ``auto_map`` points at custom code is refused unless its
    ``image_processor_type`` is ours (as in the repositories ``colorizers push`` publishes, whose ``auto_map``
    serves transformers without colorizers): then ours is built and the ``auto_map`` ignored. Raises
    ``BrokenModelError`` (a ``ModelLoadError``) with one line naming the problem."""
    try:
        too_large = file.stat().st_size > MAX_PROCESSOR_CONFIG_BYTES
        settings = None if too_large else json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as error:  # unreadable, not UTF-8, not JSON, nested too deep
        raise BrokenModelError(f"{where}: its {PROCESSOR_CONFIG} is not valid JSON: {error_reason(error)}") from None
    if too_large:
        raise BrokenModelError(f"{where}: its {PROCESSOR_CONFIG} is too large to be a processor config")
    if not isinstance(settings, dict):
        raise BrokenModelError(f"{where}: its {PROCESSOR_CONFIG} is not a JSON object")
    ours = ColorizerImageProcessor.__name__
    kind = settings.get("image_processor_type")
    if settings.get("auto_map") and kind != ours:
        code = shorten(json.dumps(settings["auto_map"]), 200)
        raise BrokenModelError(
            f"{where}: its {PROCESSOR_CONFIG} asks to run custom code for its image processor (auto_map {code}), "
            f"and colorizers never runs code from a model folder or repository; remove its auto_map, or set "
            f'"image_processor_type": "{ours}" to use the colorizers image processor'
        )
    if kind not in (None, ours):  # another library's processor: the model's default one is used
        return None
    known = set(ColorizerImageProcessor.valid_kwargs.__annotations__)
    try:
        return ColorizerImageProcessor(**{key: value for key, value in settings.items() if key in known})
    except (TypeError, ValueError) as error:
        raise BrokenModelError(
            f"{where}: its {PROCESSOR_CONFIG} is not a valid colorizers processor config: {error_reason(error)}"
        ) from None

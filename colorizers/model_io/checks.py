"""What a model must pass before any of its weights is allocated, so that every failure to load is one
clear ``ModelLoadError`` (never a traceback, never an out-of-memory kill):

* :func:`local_path`: a name as an existing path, or None; never raises (names too long for the file
  system, NUL bytes, ``~unknown-user``);
* :func:`load_config`: ``config.json`` parsed and validated (the family's own checks, with their message);
* :func:`build_on_meta` and :func:`check_model_size`: the model built on the meta device (no memory), at most
  ``MAX_MODULES`` modules, and its parameter count against a limit or the memory available;
* :func:`check_weights`: every safetensors file readable (not truncated, not empty, not foreign), each
  tensor of the shape the config gives it, no parameter missing; files in the Hugging Face cache are also
  checked against the checksum the Hub gave (:func:`verify_cached_file`);
* :func:`hub_weight_sizes`: a Hub repository's weight files and their sizes, before any download;
* :func:`check_finite`: once the weights are loaded, none of them NaN or infinite.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from pathlib import Path

import torch

from colorizers.limits import available_memory_bytes, shorten
from colorizers.registry import model_class_for

MAX_MODULES = 5_000  # the largest preset has about 300; a config asking for more is refused while being built
BYTES_PER_PARAMETER = 4  # weights load in float32
MEMORY_SHARE = 0.8  # of the available memory one model may take


# Weight files that are pickles: never loaded (unpickling can run arbitrary code), never published.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


class ModelLoadError(ValueError):
    """A model could not be loaded; the message says what was tried and why it failed."""


class BrokenModelError(ModelLoadError):
    """The model was found but cannot be used: its config or weights are broken, or it is too large."""


def local_path(name: str) -> Path | None:
    """``name`` as an existing file or folder (``~`` expanded), else None. Never raises."""
    if not isinstance(name, str) or not name or "\x00" in name or len(name) > 4096:
        return None
    try:
        path = Path(name).expanduser()
        return path if path.exists() else None
    except (OSError, RuntimeError, ValueError):  # too long, unknown ~user, ...
        return None


def error_reason(error: BaseException) -> str:
    """The informative line of an exception (the inner message of a config validation error)."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    last = lines[-1]
    for prefix in ("ValueError: ", "TypeError: ", "KeyError: "):
        if last.startswith(prefix) and len(lines) > 1:
            return shorten(last[len(prefix) :], 400)
    return shorten(lines[0], 400)


def load_config(source: str, where: str, **kwargs):
    """The validated config of a folder or Hub id (``kwargs`` go to ``AutoConfig.from_pretrained``).

    Never runs code from the folder or repository (``trust_remote_code=False``, so transformers neither asks
    nor runs it): a config whose ``model_type`` is a colorizer loads with our class whatever its ``auto_map``
    says; one that could only load through its ``auto_map`` is refused."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(source, **kwargs, trust_remote_code=False)
    except MemoryError:
        raise BrokenModelError(f"{where}: its config.json is too large to read") from None
    except Exception as error:  # noqa: BLE001 - invalid JSON, unknown model_type, a family's own validation
        if "trust_remote_code" in str(error):
            raise BrokenModelError(
                f"{where}: its config.json asks to run custom code (auto_map) for a model type colorizers does not "
                "know, and colorizers never runs code from a model folder or repository"
            ) from None
        raise BrokenModelError(
            f"{where}: its config.json is not a valid colorizer config: {error_reason(error)}"
        ) from None


class _TooManyModules(Exception):
    pass


_building = threading.local()


def _count_registrations(module, name, submodule):
    left = getattr(_building, "modules_left", None)
    if left is not None:
        if left <= 0:
            raise _TooManyModules
        _building.modules_left = left - 1


torch.nn.modules.module.register_module_module_registration_hook(_count_registrations)


@contextlib.contextmanager
def _module_budget(count: int):
    _building.modules_left = count
    try:
        yield
    finally:
        _building.modules_left = None


def build_on_meta(config, where: str):
    """The model of ``config`` on the meta device: shapes only, no memory, at most ``MAX_MODULES`` modules."""
    try:
        model_class = model_class_for(config)
    except KeyError:
        raise BrokenModelError(
            f"{where}: its config is a {getattr(config, 'model_type', '?')!r} model, not a colorizer"
        ) from None
    try:
        with _module_budget(MAX_MODULES), torch.device("meta"):
            return model_class(config)
    except _TooManyModules:
        raise BrokenModelError(f"{where}: its config.json asks for more than {MAX_MODULES:,} layers") from None
    except Exception as error:  # noqa: BLE001 - a config the family's validation let through but cannot build
        raise BrokenModelError(f"{where}: no model can be built from its config.json: {error_reason(error)}") from None


def check_model_size(model, where: str, max_parameters: int | None = None) -> int:
    """The parameter count of a (meta) model; ModelLoadError above ``max_parameters`` or the memory available."""
    count = sum(parameter.numel() for parameter in model.parameters())
    if max_parameters is not None and count > max_parameters:
        raise BrokenModelError(
            f"{where} has {count:,} parameters, above the limit of {max_parameters:,} (max_parameters)"
        )
    available = available_memory_bytes()
    needed = count * BYTES_PER_PARAMETER
    if available is not None and needed > MEMORY_SHARE * available:
        raise BrokenModelError(
            f"{where} would need {needed / 1e9:,.1f} GB for its {count:,} parameters, more than the "
            f"{available / 1e9:,.1f} GB of memory available here"
        )
    return count


def weight_files(folder: Path) -> list[Path]:
    """The safetensors files of a folder: the shards its index names, or ``model.safetensors`` (may be [])."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise BrokenModelError(f"{index} is not a valid safetensors index: {error_reason(error)}") from None
        if not all(isinstance(shard, str) and "/" not in shard and shard not in ("", ".", "..") for shard in shards):
            raise BrokenModelError(f"{index} names weight files outside its folder")
        return [folder / shard for shard in shards]
    single = folder / "model.safetensors"
    return [single] if single.is_file() else []


def _fix_for(file: Path) -> str:
    cached = cache_blob(file)
    if cached is not None:
        return (
            f"It is a damaged download in the Hugging Face cache: delete {cached} (or the model with "
            "`hf cache delete`) and load the model again to download a fresh copy."
        )
    return "Save the model again (model.save_pretrained(folder)) or copy the folder again from its source."


def tensor_shapes(file: Path) -> dict[str, list[int]]:
    """``name -> shape`` of every tensor in a safetensors file, from its header (ModelLoadError when unreadable)."""
    from safetensors import safe_open

    if not file.is_file():
        raise BrokenModelError(f"{file} is missing")
    try:
        with safe_open(str(file), framework="pt") as handle:
            return {name: list(handle.get_slice(name).get_shape()) for name in handle.keys()}
    except Exception as error:  # noqa: BLE001 - SafetensorError, OSError, ...
        reason = "the file is empty" if file.stat().st_size == 0 else error_reason(error)
        raise BrokenModelError(
            f"{file} is not a readable safetensors file ({reason}): it is truncated or corrupt. {_fix_for(file)}"
        ) from None


def check_weights(files: list[Path], model, where: str) -> None:
    """Every file readable and checksum-clean, every tensor of the model's shape, no parameter missing."""
    if not files:
        raise BrokenModelError(f"{where} has no model.safetensors")
    shapes: dict[str, list[int]] = {}
    for file in files:
        shapes.update(tensor_shapes(file))  # a truncated file says so; then the checksum catches any other damage
        verify_cached_file(file)
    expected = {name: list(tensor.shape) for name, tensor in model.state_dict().items()}
    wrong = [name for name, shape in shapes.items() if name in expected and shape != expected[name]]
    if wrong:
        first = wrong[0]
        more = f" (and {len(wrong) - 1} more)" if len(wrong) > 1 else ""
        raise BrokenModelError(
            f"{files[0] if len(files) == 1 else where} does not fit its config.json: {first} is {shapes[first]} in the "
            f"weights but {expected[first]} in the model the config describes{more}; the weights and config.json "
            "come from different models"
        )
    missing = [name for name, _ in model.named_parameters() if name not in shapes]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise BrokenModelError(f"{where}: its weights lack {missing[0]}{more} of the model its config.json describes")


def check_finite(model, where: str) -> None:
    """Every floating-point parameter and buffer of a loaded model finite; ``BrokenModelError`` naming the first
    tensor holding NaN or infinite values otherwise (a diverged training run saved, or damaged weights)."""
    with torch.no_grad():
        for name, tensor in (*model.named_parameters(), *model.named_buffers()):
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                bad = int((~torch.isfinite(tensor)).sum())
                raise BrokenModelError(
                    f"{where}: its weights are damaged: {name} holds {bad:,} NaN or infinite value{'s' * (bad != 1)} "
                    f"(of {tensor.numel():,}); train or save the model again, or copy it again from its source"
                )


def cache_blob(file: Path) -> Path | None:
    """The blob a Hugging Face cache snapshot file links to, or None for a file outside the cache."""
    try:
        target = file.resolve()
    except (OSError, RuntimeError):
        return None
    if target.parent.name == "blobs" and (target.parent.parent / "snapshots").is_dir():
        return target
    return None


_verified: dict[tuple[str, int, int], bool] = {}


def verify_cached_file(file: Path) -> None:
    """For a file in the Hugging Face cache: its content must match the checksum its blob is named after
    (sha256 for LFS files, the git blob sha1 otherwise). ModelLoadError naming the file and the fix otherwise."""
    blob = cache_blob(file)
    if blob is None:
        return
    name = blob.name
    if not (len(name) in (40, 64) and all(c in "0123456789abcdef" for c in name)):
        return
    stat = blob.stat()
    key = (str(blob), stat.st_size, stat.st_mtime_ns)
    if key in _verified:
        return
    digest = hashlib.sha256() if len(name) == 64 else hashlib.sha1(b"blob %d\0" % stat.st_size)
    with open(blob, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != name:
        raise BrokenModelError(
            f"{file} is corrupt: its content does not match the checksum the Hub gave for it. {_fix_for(file)}"
        )
    _verified[key] = True


def hub_weight_sizes(repo_id: str, *, revision: str | None = None, token=None) -> dict[str, int]:
    """``file name -> bytes`` of a Hub repository's top-level weight files (safetensors and pickles), before
    any download. Raises ModelLoadError when the Hub does not answer for it."""
    from huggingface_hub import HfApi

    try:
        info = HfApi(token=token).model_info(repo_id, revision=revision, files_metadata=True)
    except Exception as error:  # noqa: BLE001 - not found, gated, no network...
        raise ModelLoadError(f"could not look up {repo_id!r} on the Hugging Face Hub: {error_reason(error)}") from None
    return {
        sibling.rfilename: int(sibling.size or 0)
        for sibling in info.siblings or []
        if "/" not in sibling.rfilename and sibling.rfilename.endswith((".safetensors", *PICKLE_SUFFIXES))
    }


def check_hub_weights(repo_id: str, max_bytes: int | None, *, revision: str | None = None, token=None) -> None:
    """A Hub repository must offer safetensors weights of at most ``max_bytes`` in all (checked before downloading)."""
    sizes = hub_weight_sizes(repo_id, revision=revision, token=token)
    safetensors = {name: size for name, size in sizes.items() if name.endswith(".safetensors")}
    if not safetensors:
        raise BrokenModelError(
            f"{repo_id} offers no safetensors weights (colorizers loads weights only from safetensors)"
        )
    total = sum(safetensors.values())
    if max_bytes is not None and total > max_bytes:
        raise BrokenModelError(
            f"{repo_id}'s weights are {_size(total)}, above the limit of {_size(max_bytes)} (max_weight_mb)"
        )


def _size(count: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:,.1f} {unit}"
    return f"{count} bytes"


__all__ = [
    "MAX_MODULES",
    "BrokenModelError",
    "ModelLoadError",
    "build_on_meta",
    "cache_blob",
    "check_finite",
    "check_hub_weights",
    "check_model_size",
    "check_weights",
    "error_reason",
    "hub_weight_sizes",
    "load_config",
    "local_path",
    "tensor_shapes",
    "verify_cached_file",
    "weight_files",
]

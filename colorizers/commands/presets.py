"""What the command line knows about the presets without importing torch or transformers.

``colorizers list`` and the check of a ``--model`` name answer in a fraction of a second because they read
the presets from source instead of importing the model families (which imports torch, then transformers:
seconds):

* :func:`preset_infos`: each preset's name, description and shipped weights, parsed (never executed) from
  the ``PRESETS = [Preset(...), ...]`` list of every family package, in the order ``colorizers.models``
  registers them; where the families are already imported, the live registry instead;
* :func:`shipped_parameters`: a preset's parameter count read from its shipped safetensors headers (each
  tensor's shape; the buffers BatchNorm and ``register_buffer`` keep there are left out);
* :func:`run_list`: each preset with its measured kodak24 PSNR against the gray prediction and colourfulness (read
  from its ``eval_results.json`` by :mod:`colorizers.hub.preset_quality`), those below gray marked;
* :func:`model_name_problem`: a ``--model`` that looks like a mistyped preset name (no ``/``, no such file or
  folder, close to a preset's name) fails at once instead of waiting on the Hub;
* :func:`batch_size_argument`: ``--batch-size`` within 1..:data:`MAX_BATCH_SIZE`, an argparse usage error otherwise.

Whatever cannot be read this way (a preset written as other than literals, a preset without weights) falls back
to the registry itself, slower but exact; ``tests/test_cli_startup.py`` checks that both agree.
"""

from __future__ import annotations

import ast
import difflib
import json
import math
import re
import struct
import sys
from argparse import ArgumentTypeError
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from colorizers.hub import preset_quality

PACKAGE_DIR = Path(__file__).resolve().parent.parent
MODELS_DIR = PACKAGE_DIR / "models"
PRETRAINED_DIR = PACKAGE_DIR / "pretrained"
# what torch's BatchNorm layers save besides their parameters
BATCHNORM_BUFFERS = frozenset({"running_mean", "running_var", "num_batches_tracked"})
_BUFFER_CALL = re.compile(r"register_buffer\(\s*[\"'](\w+)[\"']")
_PRESET_FIELDS = ("name", "config_class", "config", "description")  # Preset's leading fields, in order
MAX_HEADER_BYTES = 100_000_000


MAX_BATCH_SIZE = 256  # images per forward pass: more only adds memory (and a typo of 10000 would exhaust it)


def batch_size_argument(text: str) -> int:
    """``--batch-size``: a whole number in 1..MAX_BATCH_SIZE (argparse reports anything else as a usage error)."""
    try:
        value = int(text)
    except ValueError:
        raise ArgumentTypeError(f"must be a whole number, got {text[:40]!r}") from None
    if not 1 <= value <= MAX_BATCH_SIZE:
        raise ArgumentTypeError(f"must be between 1 and {MAX_BATCH_SIZE}, got {value}")
    return value


@dataclass(frozen=True)
class PresetInfo:
    name: str
    description: str
    weights_dir: Path

    @property
    def has_weights(self) -> bool:  # the rule of colorizers.registry.Preset.has_weights
        return any(
            (self.weights_dir / name).is_file() for name in ("model.safetensors", "model.safetensors.index.json")
        )


def _families_loaded() -> bool:
    return "colorizers.models" in sys.modules and "colorizers.registry" in sys.modules


def _presets_in(source: str) -> list[tuple[str, str]] | None:
    """(name, description) of each ``Preset(...)`` in a family's ``PRESETS`` list, or None if not all literal."""
    tree = ast.parse(source)
    uses = [node for node in ast.walk(tree) if isinstance(node, ast.Name) and node.id == "PRESETS"]
    assignments = [
        node
        for node in tree.body
        if isinstance(node, ast.Assign) and [getattr(target, "id", None) for target in node.targets] == ["PRESETS"]
    ]
    if len(uses) != 1 or len(assignments) != 1 or not isinstance(assignments[0].value, ast.List):
        return None  # PRESETS built, extended or reassigned: only importing the family tells
    found = []
    for call in assignments[0].value.elts:
        function = getattr(call, "func", None)
        if getattr(function, "id", getattr(function, "attr", None)) != "Preset":
            return None
        fields = dict(zip(_PRESET_FIELDS, call.args))
        fields.update({keyword.arg: keyword.value for keyword in call.keywords if keyword.arg})
        try:
            name = ast.literal_eval(fields["name"])
            description = ast.literal_eval(fields["description"]) if "description" in fields else ""
        except (KeyError, ValueError, TypeError, SyntaxError):
            return None
        if not isinstance(name, str) or not isinstance(description, str):
            return None
        found.append((name, description))
    return found


@lru_cache(maxsize=1)
def _static_presets() -> tuple[PresetInfo, ...] | None:
    # the families colorizers.models imports: its sub-packages, by name (pkgutil.iter_modules, sorted)
    families = sorted(
        path
        for path in MODELS_DIR.iterdir()
        if path.is_dir() and path.name.isidentifier() and (path / "__init__.py").is_file()
    )
    infos: list[PresetInfo] = []
    for family in families:
        try:
            presets = _presets_in((family / "__init__.py").read_text(encoding="utf-8"))
        except (OSError, SyntaxError, ValueError):
            return None
        if presets is None:
            return None
        infos.extend(PresetInfo(name, description, PRETRAINED_DIR / name) for name, description in presets)
    names = [info.name for info in infos]
    return tuple(infos) if infos and len(set(names)) == len(names) else None


def preset_infos() -> list[PresetInfo]:
    """Every preset in registration order: the live registry once imported, else read from the source."""
    static = None if _families_loaded() else _static_presets()
    if static is not None:
        return list(static)
    from colorizers import models  # noqa: F401  (registers every family's presets)
    from colorizers.registry import get_preset, list_models

    return [
        PresetInfo(name, preset.description, preset.weights_dir)
        for name, preset in ((name, get_preset(name)) for name in list_models())
    ]


@lru_cache(maxsize=1)
def buffer_names() -> frozenset[str]:
    """Names of the tensors the package's models save that are not parameters (BatchNorm statistics, the names
    passed to ``register_buffer`` anywhere in the package)."""
    names = set(BATCHNORM_BUFFERS)
    for path in PACKAGE_DIR.rglob("*.py"):
        try:
            names.update(_BUFFER_CALL.findall(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError):
            continue
    return frozenset(names)


def safetensors_header(path: Path) -> dict:
    """The JSON header of a safetensors file: {tensor name: {"dtype", "shape", "data_offsets"}, "__metadata__"}."""
    with open(path, "rb") as file:
        (size,) = struct.unpack("<Q", file.read(8))
        if size > MAX_HEADER_BYTES:
            raise ValueError(f"{path}: a {size}-byte safetensors header")
        header = json.loads(file.read(size))
    if not isinstance(header, dict):
        raise ValueError(f"{path}: the safetensors header is not a JSON object")
    return header


def shipped_parameters(weights_dir: Path) -> int | None:
    """The parameters of the weights shipped in ``weights_dir`` (one file, or the shards its index names), counted
    from the safetensors headers without loading a tensor; None when there are none or they cannot be read."""
    index = weights_dir / "model.safetensors.index.json"
    try:
        if index.is_file():
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
            files = [weights_dir / shard for shard in shards]
        else:
            files = [weights_dir / "model.safetensors"]
        total, buffers = 0, buffer_names()
        for file in files:
            for name, tensor in safetensors_header(file).items():
                if name != "__metadata__" and name.rsplit(".", 1)[-1] not in buffers:
                    total += math.prod(int(size) for size in tensor["shape"])
        return total
    except (OSError, ValueError, KeyError, TypeError, AttributeError, struct.error):
        return None


def parameter_count(info: PresetInfo) -> int:
    """What ``list`` shows: the shipped weights' parameters, else the preset's own (built on torch's meta device)."""
    counted = shipped_parameters(info.weights_dir) if info.has_weights else None
    if counted is not None:
        return counted
    from colorizers import models  # noqa: F401
    from colorizers.registry import count_parameters

    return count_parameters(info.name)


def _quality_cells(info: PresetInfo) -> tuple[str, str]:
    """``list``'s kodak24 figures: ΔPSNR vs the gray prediction (marked when below it) and colourfulness."""
    quality = preset_quality.preset_quality(info.name) if info.has_weights else None
    if quality is None:
        return "-", "-"
    delta = f"{quality['delta_psnr']:+.2f} dB" + (" (below gray)" if preset_quality.below_gray(quality) else "")
    colorfulness = quality["colorfulness"]
    return delta, "-" if colorfulness is None else f"{colorfulness:.1f}"


def _printable(text: str) -> str:
    """``text`` as the console can print it (``Δ`` spelled ``d`` where its encoding lacks it)."""
    try:
        text.encode(getattr(sys.stdout, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return text.replace("Δ", "d").encode("ascii", "replace").decode("ascii")
    return text


def run_list(args=None) -> int:
    """Each preset, its parameters, whether it ships weights, its measured kodak24 ΔPSNR vs gray and colourfulness."""
    rows = [
        (
            info.name,
            f"{parameter_count(info) / 1e6:.2f}M",
            "trained" if info.has_weights else "untrained",
            *_quality_cells(info),
            info.description,
        )
        for info in preset_infos()
    ]
    header = (
        "preset",
        "params",
        "weights",
        f"{preset_quality.QUALITY_SET} ΔPSNR vs gray",
        "colourfulness",
        "description",
    )
    widths = [max(len(row[i]) for row in [*rows, header]) for i in range(5)]
    for name, params, weights, delta, colorfulness, description in [header, *rows]:
        line = (
            f"{name:<{widths[0]}}  {params:>{widths[1]}}  {weights:<{widths[2]}}  {delta:<{widths[3]}}  "
            f"{colorfulness:>{widths[4]}}  {description}"
        )
        print(_printable(line))
    return 0


def model_name_problem(name: str | None) -> str | None:
    """Why ``--model name`` cannot be meant, when it looks like a mistyped preset: no ``/`` (so not a Hub id
    ``owner/name``), not an existing file or folder, not a preset, but close to a preset's name. Any other name
    is left to ``load_model`` (a legacy Hub id without an owner, such as ``gpt2``, still goes to the Hub)."""
    if not name or "/" in name or "\\" in name:
        return None
    names = [info.name for info in preset_infos()]
    if name in names:
        return None
    try:
        if Path(name).expanduser().exists():
            return None
    except (OSError, RuntimeError, ValueError):
        pass
    close = difflib.get_close_matches(name, names, n=3)
    if not close:
        return None
    return (
        f"unknown model {name!r}: not a preset, a local folder or a Hub id (owner/name). "
        f"Did you mean {' or '.join(close)}? Presets: {', '.join(names)}"
    )

"""Checksums of the weights that ship with the package: ``colorizers/pretrained/<preset>/checksums.json``.

``release/ship.py`` records the SHA-256 of every weight file (``model.safetensors`` or its shards and index) when it
ships a preset; loading a preset verifies them first, so weights damaged on disk (a flipped bit, a truncated copy,
an edit) are refused by name instead of colorizing garbage. Only the standard library: the command line's ``list``
may import this without torch.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

CHECKSUMS_FILE = "checksums.json"
WEIGHT_PATTERNS = ("model.safetensors", "model-*.safetensors", "model.safetensors.index.json")


class ChecksumError(ValueError):
    """A shipped preset's weights do not match the checksums recorded when it was shipped."""


def sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with open(file, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weight_files(folder: Path) -> list[Path]:
    return sorted({file for pattern in WEIGHT_PATTERNS for file in Path(folder).glob(pattern) if file.is_file()})


def record_checksums(folder: Path) -> dict[str, str]:
    """Write ``checksums.json`` (file name -> SHA-256) for the weight files of ``folder``; returns it."""
    checksums = {file.name: sha256(file) for file in weight_files(folder)}
    (Path(folder) / CHECKSUMS_FILE).write_text(json.dumps(checksums, indent=1, sort_keys=True) + "\n")
    return checksums


def verify_checksums(folder: Path, name: str) -> None:
    """Raise ``ChecksumError`` (one line naming the preset and the file) unless every weight file of ``folder``
    matches ``checksums.json``, and no weight file is missing from it or from the folder."""
    folder = Path(folder)
    try:
        recorded = json.loads((folder / CHECKSUMS_FILE).read_text())
    except FileNotFoundError:
        raise ChecksumError(f"preset {name!r} ships no {CHECKSUMS_FILE}: its weights cannot be verified") from None
    except (OSError, ValueError) as error:
        raise ChecksumError(f"preset {name!r}: {CHECKSUMS_FILE} is unreadable ({error})") from None
    present = {file.name: file for file in weight_files(folder)}
    if not isinstance(recorded, dict) or set(recorded) != set(present):
        raise ChecksumError(
            f"preset {name!r}: its weight files ({', '.join(sorted(present)) or 'none'}) are not the ones "
            f"{CHECKSUMS_FILE} records; reinstall colorizers"
        )
    for file_name, file in present.items():
        if sha256(file) != recorded[file_name]:
            raise ChecksumError(
                f"preset {name!r}: {file_name} is damaged (its SHA-256 differs from the one recorded when it "
                "shipped); reinstall colorizers"
            )


__all__ = ["CHECKSUMS_FILE", "ChecksumError", "record_checksums", "verify_checksums"]

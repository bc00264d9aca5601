"""Reading and writing image files safely: one place that decides what is too large, truncated or not
an image, and the one writer that never leaves a half-written file.

Used by the CLI, the evaluation command and the app, so each reports the same problem the same way.
PIL's global ``Image.MAX_IMAGE_PIXELS`` is left alone: the limit is checked here, from the header,
before any pixel is decoded.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

# PIL's own decompression-bomb threshold (2 x its 89.5 MP warning level).
DEFAULT_MAX_PIXELS = 178_956_970


def has_image_suffix(path: str | Path) -> bool:
    """Whether a file's extension is one PIL registers for an image format (``.png``, ``.JPG``, ...).

    How folders are scanned for images everywhere (CLI, evaluation, training data): files with other
    extensions are not images; files with these that fail to decode are reported as such.
    """
    return Path(path).suffix.lower() in _IMAGE_SUFFIXES


_IMAGE_SUFFIXES = {suffix.lower() for suffix in Image.registered_extensions()}
# The suffixes PIL can also write, and the format each one means (".jpg" -> "JPEG").
SAVE_FORMAT_BY_SUFFIX = {suffix: fmt for suffix, fmt in Image.registered_extensions().items() if fmt in Image.SAVE}
# The permissions open() would give a new file (mkstemp's are 0600). Read once, at import: os.umask
# can only be read by setting it, which would race with other threads creating files.
_UMASK = os.umask(0o022)
os.umask(_UMASK)
_NEW_FILE_MODE = 0o666 & ~_UMASK


class ImageReadError(ValueError):
    """A file could not be used as an image; ``reason`` says why in a few words."""

    def __init__(self, path: str | Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


@dataclass
class ReadImage:
    image: Image.Image  # decoded, first frame, detached from the file
    notes: list[str] = field(default_factory=list)  # what was done that the user may want to know


def read_image(path: str | Path, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> ReadImage:
    """Open and fully decode ``path``; animated files give their first frame (with a note).

    Raises ``ImageReadError`` for a file that is not an image, is truncated or corrupt, or whose
    header announces more than ``max_pixels`` pixels (checked before decoding: no decompression bomb
    ever allocates its pixels).
    """
    notes = []
    try:
        with Image.open(path) as image:
            width, height = image.size
            if max_pixels is not None and width * height > max_pixels:
                raise ImageReadError(
                    path,
                    f"{width}x{height} is {width * height / 1e6:.1f} megapixels, above the limit of "
                    f"{max_pixels / 1e6:g} megapixels",
                )
            frames = getattr(image, "n_frames", 1) if getattr(image, "is_animated", False) else 1
            if frames > 1:
                image.seek(0)
                notes.append(f"animated ({frames} frames): only the first frame was used")
            image.load()
            return ReadImage(image.copy(), notes)
    except ImageReadError:
        raise
    except Image.UnidentifiedImageError:
        raise ImageReadError(path, "not an image file PIL can read") from None
    except Image.DecompressionBombError as error:  # PIL refuses at open, before our own check
        found = re.search(r"\((\d+) pixels\)", str(error))
        size = f"{int(found.group(1)) / 1e6:.1f} megapixels" if found else "too many pixels"
        raise ImageReadError(path, f"{size}, above the limit of {DEFAULT_MAX_PIXELS / 1e6:.0f} megapixels (a possible decompression bomb)") from None
    except FileNotFoundError:
        raise ImageReadError(path, "no such file") from None
    except (OSError, SyntaxError, EOFError, ValueError) as error:  # truncated or corrupt data
        raise ImageReadError(path, f"truncated or corrupt image data ({error})") from None


def save_image(image: Image.Image | np.ndarray, path: str | Path, **options) -> Path:
    """Write ``image`` to ``path`` atomically: into a temporary file beside it, then renamed.

    An interrupted run (or a reader racing the writer) never sees a half-written file. The format
    follows the suffix (PNG when PIL cannot write that suffix); JPEG is written at quality 95 unless
    ``options`` (passed to ``Image.save``) say otherwise. Parent folders are created; the file gets
    the permissions a plain ``open()`` would give it.
    """
    path = Path(path)
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    fmt = SAVE_FORMAT_BY_SUFFIX.get(path.suffix.lower(), "PNG")
    if fmt == "JPEG":
        options = {"quality": 95, **options}
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            image.save(stream, format=fmt, **options)
        os.chmod(temporary, _NEW_FILE_MODE)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path

"""Reading and writing image files safely: one place that decides what is too large, truncated or not
an image, and the one writer that never leaves a half-written file.

Used by the CLI, the evaluation command and the app, so each reports the same problem the same way.
PIL's global ``Image.MAX_IMAGE_PIXELS`` is left alone: the limit is checked here, from the header,
before any pixel is decoded.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from colorizers.limits import shorten

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
    image: Image.Image  # decoded, first frame, detached from the file (which is closed)
    notes: list[str] = field(default_factory=list)  # what was done that the user may want to know


def read_image(
    path: str | Path,
    *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    before_decode: Callable[[int, int], None] | None = None,
) -> ReadImage:
    """Open and fully decode ``path``; animated files give their first frame (with a note).

    Raises ``ImageReadError`` (and nothing else) for a file that cannot be read (permissions, a folder),
    is not an image, is truncated or corrupt (whatever the decoder raises), or whose header announces
    more than ``max_pixels`` pixels (checked before decoding: no decompression bomb ever allocates its
    pixels). ``before_decode(width, height)`` is called between reading the header and decoding; what
    it raises propagates (a server waits there for room, ``colorizers.limits.admit_pixels``).
    """
    notes = []
    _refuse_special_file(path)
    try:
        with Image.open(path) as image:
            width, height = image.size
            if max_pixels is not None and width * height > max_pixels:
                raise ImageReadError(
                    path,
                    f"{width}x{height} is {width * height / 1e6:.1f} megapixels, above the limit of "
                    f"{max_pixels / 1e6:g} megapixels",
                )
            _check_plausible_size(image, path)
            frames = getattr(image, "n_frames", 1) if getattr(image, "is_animated", False) else 1
            if frames > 1:
                image.seek(0)
                notes.append(f"animated ({frames} frames): only the first frame was used")
            if before_decode is not None:
                try:
                    before_decode(width, height)
                except BaseException as error:  # the caller's own, passed through untouched
                    raise _CallerError(error) from None
            image.load()
            _drop_corrupt_exif(image, notes)
            # leaving the block closes the file and keeps the decoded pixels; only pixels mapped from the
            # file itself (uncompressed formats) are copied, so that the image never depends on the file
            detached = image.copy() if getattr(image, "map", None) is not None or image.readonly else image
        return ReadImage(detached, notes)
    except ImageReadError:
        raise
    except _CallerError as wrapped:
        raise wrapped.error from None
    except Image.UnidentifiedImageError:
        raise ImageReadError(path, "not an image file PIL can read") from None
    except Image.DecompressionBombError as error:  # PIL refuses at open, before our own check
        found = re.search(r"\((\d+) pixels\)", str(error))
        size = f"{int(found.group(1)) / 1e6:.1f} megapixels" if found else "too many pixels"
        raise ImageReadError(
            path,
            f"{size}, above the limit of {DEFAULT_MAX_PIXELS / 1e6:.0f} megapixels (a possible decompression bomb)",
        ) from None
    except FileNotFoundError:
        raise ImageReadError(path, "no such file") from None
    except OSError as error:
        if error.errno is not None:  # the file system's refusal (permissions, a folder, I/O), not the data's
            raise ImageReadError(path, f"cannot read the file ({error.strerror or error})") from None
        raise ImageReadError(path, f"truncated or corrupt image data ({shorten(error, 200)})") from None
    except MemoryError:
        raise ImageReadError(path, "too large to decode in the memory available") from None
    except Exception as error:  # noqa: BLE001 - a decoder failing in any other way (struct.error, TypeError...)
        raise ImageReadError(
            path, f"truncated or corrupt image data ({type(error).__name__}: {shorten(error, 200)})"
        ) from None


def _refuse_special_file(path: str | Path) -> None:
    """A named pipe, device or socket is refused before it is opened (opening a pipe waits for a writer)."""
    if not isinstance(path, (str, os.PathLike)):
        return
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return  # missing, unreadable: said by the reader itself
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise ImageReadError(path, "not a regular file (a named pipe, device or socket)")


class _CallerError(Exception):
    def __init__(self, error: BaseException):
        super().__init__(str(error))
        self.error = error


# The fewest bytes a Huffman-coded JPEG can hold per pixel: each 8x8 block of each scan's first component
# costs at least one bit of DC code. A file below this was cut short (libjpeg fills the rest with gray).
_JPEG_MIN_BYTES_PER_PIXEL = 1 / 512
_ARITHMETIC_SOF = {0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _check_plausible_size(image: Image.Image, path: str | Path) -> None:
    if image.format != "JPEG" or image.width * image.height < 1_000_000:
        return
    try:
        size = os.fstat(image.fp.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        return
    if size < image.width * image.height * _JPEG_MIN_BYTES_PER_PIXEL and not _arithmetic_coded(image):
        raise ImageReadError(
            path,
            f"truncated or corrupt image data ({size:,} bytes cannot hold the {image.width}x{image.height} pixels its header announces)",
        )


def _arithmetic_coded(image: Image.Image) -> bool:
    """Whether a JPEG uses arithmetic coding (which can go below one bit per block), from its SOF marker."""
    fp = image.fp
    position = fp.tell()
    try:
        fp.seek(0)
        data = fp.read(1 << 16)
    finally:
        fp.seek(position)
    index = 2
    while index + 4 <= len(data) and data[index] == 0xFF:
        marker, length = data[index + 1], int.from_bytes(data[index + 2 : index + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return marker in _ARITHMETIC_SOF
        index += 2 + length
    return False


def _drop_corrupt_exif(image: Image.Image, notes: list[str]) -> None:
    """EXIF that cannot be parsed is dropped (with a note), so that later uses of the image never fail on it."""
    try:
        image.getexif().get(0x0112)
    except Exception:  # noqa: BLE001 - any parse failure of the EXIF block
        image.info.pop("exif", None)
        image._exif = None  # PIL caches the parse; reset it so getexif() starts over from the cleaned info
        notes.append("its EXIF metadata is corrupt and was ignored")


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

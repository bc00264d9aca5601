"""What one batch run is asked to do, typed: the command line builds a :class:`BatchJob` from its arguments once
(``colorizers.commands.colorize``) and the batch engine (``colorizers.batch.engine.run``) carries it out; no
library module sees the argparse namespace. Only the standard library here: the command line's parser reads
the defaults below before anything heavy is imported."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_BATCH_SIZE = 4
DEFAULT_WORKERS = 2
DEFAULT_SHARD_SIZE = 1000
# --precision: the torch dtype autocast runs in, by name (torch is imported where used)
PRECISIONS = {"fp32": None, "fp16": "float16", "bf16": "bfloat16"}


@dataclass(frozen=True)
class VideoOptions:
    """How video files are colorized."""

    stabilize: bool = True  # carry colour along motion within each shot (False: each frame on its own)
    start: float | None = None  # seconds: colorize from this time
    duration: float | None = None  # seconds: colorize this long a part


@dataclass(frozen=True)
class ArchiveOptions:
    """An archive run: resumable, each input recorded in a manifest, on as many processes as ``accelerate launch``
    starts, in fixed chunks of ``batch_size`` inputs (``colorizers.batch.run``)."""

    manifest: Path | None = None  # the JSONL record of each input; None: OUTPUT/manifest.jsonl
    retry_failed: bool = False  # colorize again the inputs the manifest records as failed
    precision: str | None = None  # a key of PRECISIONS; None: the accelerate config's mixed_precision, else fp32
    workers: int = DEFAULT_WORKERS  # threads writing outputs while the model runs (0: decode, colorize, write in turn)

    def manifest_path(self, output: Path) -> Path:
        return self.manifest if self.manifest is not None else output / "manifest.jsonl"


@dataclass(frozen=True)
class DatasetOptions:
    """A ``datasets`` dataset in, the same rows with a ``colorized`` image column out (``colorizers.batch.datasets``)."""

    name: str  # a Hub id or a local folder or file
    split: str = "train"
    image_column: str = "image"
    streaming: bool = False
    shard_size: int = DEFAULT_SHARD_SIZE  # rows per output parquet file
    push_to_hub: str | None = None  # ORG/NAME: upload the result as a Hub dataset


@dataclass(frozen=True)
class BatchJob:
    """One run: what to colorize, where the results go, with which model and settings, and how outputs that
    exist already are treated.

    ``inputs`` are image and video files and folders (searched recursively; none for a dataset); ``output`` is the
    output folder (sub-folders mirrored), or the output file for a single video. ``model`` is a preset name, local
    folder or Hub id (at ``revision``), loaded once into an ``ImageColorizationPipeline`` whose defaults are
    ``size``, ``temperature`` and ``batch_size``. ``hints`` are colour hints (JSON text or file) for a hint-capable
    model. Existing outputs are kept unless ``overwrite``; an input is never replaced unless ``overwrite``.
    ``archive`` makes the run resumable with a manifest (None: a plain run, each outcome said as it happens);
    ``dataset`` colorizes a dataset instead of files (always an archive run)."""

    inputs: tuple[str, ...]
    output: Path
    model: str
    revision: str | None = None
    device: str | None = None  # torch device; None: where the model loads (an archive run: accelerate's)
    size: int | None = None  # working resolution (longest edge, pixels); None: the model's own
    batch_size: int = DEFAULT_BATCH_SIZE  # images per forward pass (archive runs: inputs per fixed chunk)
    temperature: float | None = None
    hints: str | None = None
    output_format: str = "png"  # "png", or "same": each image in its input's format (videos keep their container)
    overwrite: bool = False
    max_pixels: int | None = None  # refuse larger images (None: no limit)
    quiet: bool = False  # no progress bars
    video: VideoOptions = field(default_factory=VideoOptions)
    archive: ArchiveOptions | None = None
    dataset: DatasetOptions | None = None

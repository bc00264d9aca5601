"""Comparing colorizers on one uploaded photo: the rules a server applies to a request.

* :func:`read_upload` decodes an uploaded file with size limits, refusing bad files with a precise
  reason.
* :func:`parse_working_size` reads the working resolution a user asked for.
* :func:`metric_reference` decides what the outputs are scored against: a separate colour reference
  (resized to the photo), else the photo itself when it is in colour, else nothing.
* :func:`run_model` colorizes the photo with one model, timed; :func:`compare` runs every model
  asked for, scores each output and writes the notes a user reads next to the results.

Refusals are :class:`colorizers.serving.policy.RequestError`, with messages meant for the user.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from colorizers.evaluation.evaluate import gray_prediction
from colorizers.evaluation.metrics import as_rgb_uint8, is_grayscale, score
from colorizers.image_io import ImageReadError, read_image
from colorizers.image_processing_colorizer import image_to_array
from colorizers.limits import PRIVATE, LimitError, admit_pixels, check_deadline, compute, shorten
from colorizers.objectives import VIVID_TEMPERATURE
from colorizers.pipelines import colorize, has_color_distribution
from colorizers.serving.policy import LoadedModel, RequestError

MAX_PIXELS = PRIVATE.max_pixels  # larger uploads are refused (decompression bombs included); public mode: fewer
MIN_SIDE = 8  # SSIM needs 7x7; the models need a few pixels to downsample


@dataclass
class Upload:
    """A decoded upload: the pixels colorizers works on, the file's name, and notes for the user."""

    array: np.ndarray  # what image_to_array gives: (H, W) gray or (H, W, 3), uint8 or float in [0, 1]
    name: str
    notes: list[str] = field(default_factory=list)

    @property
    def height(self) -> int:
        return self.array.shape[0]

    @property
    def width(self) -> int:
        return self.array.shape[1]


def read_upload(
    path: str | Path,
    name: str | None = None,
    *,
    what: str = "image",
    max_pixels: int = MAX_PIXELS,
    min_side: int = MIN_SIDE,
) -> Upload:
    """Decode the file at ``path`` (called ``name`` in messages; ``what`` says which upload it is).

    Raises :class:`RequestError` for a file that is not an image, is truncated or corrupt, has more
    than ``max_pixels`` pixels (limit ``max_megapixels``) or a side shorter than ``min_side``. Inside a
    request (``colorizers.limits.Gate``) it waits, between the header and the decoding, for room for its pixels
    (reserved from the header: a file's bytes say nothing of the memory it decodes to).
    """
    name = shorten(name or Path(path).name, 80)
    try:
        read = read_image(
            path, max_pixels=max_pixels, before_decode=lambda width, height: admit_pixels(width * height)
        )
    except ImageReadError as error:
        limit = " (limit max_megapixels)" if "above the limit" in error.reason else ""
        raise RequestError(f"The {what} {name!r} cannot be used: {error.reason}{limit}.") from None
    width, height = read.image.size
    if min(width, height) < min_side:
        raise RequestError(
            f"The {what} {name!r} is only {width}x{height} pixels: both sides must be at least {min_side} pixels."
        )
    try:
        array = image_to_array(read.image)
    except MemoryError:
        raise RequestError(f"The {what} {name!r} is too large to decode in the memory available.") from None
    except Exception as error:  # noqa: BLE001 - a damaged file PIL decoded but cannot convert
        raise RequestError(f"The {what} {name!r} cannot be used: {shorten(error, 200)}.") from None
    return Upload(array, name, [f"The {what} is {note}." for note in read.notes])


def parse_working_size(value: Any, *, minimum: int = 32, maximum: int = 1024) -> int | None:
    """The working resolution (longest edge, pixels) a user asked for; None (each model's own) for
    None, "", "auto" or 0. Raises :class:`RequestError` for anything else outside [minimum, maximum]
    (NaN and infinity included)."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "auto")):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise RequestError(
            f"The working resolution must be a number of pixels or empty for auto, got {shorten(repr(value), 40)}."
        ) from None
    if number == 0:
        return None
    if not (math.isfinite(number) and minimum <= number <= maximum):
        raise RequestError(
            f"The working resolution must be between {minimum} and {maximum} pixels "
            f"(or 0 / empty for each model's own; limit max_working_size = {maximum}), got {shorten(value, 40)}."
        )
    return int(round(number))


@dataclass
class MetricReference:
    """What the outputs of one photo are scored against, and a note (Markdown) saying which."""

    rgb: np.ndarray | None  # RGB uint8 at the photo's size; None: no colour to score against
    note: str


def metric_reference(image: Upload, reference: Upload | None = None) -> MetricReference:
    """The colour reference for the metrics of ``image``'s outputs.

    A separate ``reference`` wins, resized (Lanczos) to the photo's size when the sizes differ; else
    the photo itself when it is in colour (the models only see its lightness); else none, and only
    the metrics that need no reference (colourfulness, time) can be computed.
    """
    size = f"{image.width}x{image.height}"
    if reference is not None:
        rgb = as_rgb_uint8(reference.array)
        notes = ["Metrics are computed against the separate colour reference.", *reference.notes]
        if (reference.width, reference.height) != (image.width, image.height):
            rgb = np.asarray(Image.fromarray(rgb).resize((image.width, image.height), Image.Resampling.LANCZOS))
            notes.append(
                f"**Note:** the colour reference is {reference.width}x{reference.height}, the input {size}: the "
                f"reference was resized to {size} for the metrics, which blurs or distorts it a little."
            )
        if is_grayscale(rgb):
            notes.append(
                "**Note:** the colour reference looks black-and-white, so the metrics against it say little about colour."
            )
        return MetricReference(rgb, " ".join(notes))
    if not is_grayscale(image.array):
        return MetricReference(
            as_rgb_uint8(image.array),
            "Metrics are computed against the uploaded photo itself (it is in colour); the models only saw its "
            "black-and-white version.",
        )
    return MetricReference(
        None,
        "**No colour reference:** the photo is black-and-white and no separate colour reference was uploaded, so "
        "PSNR, SSIM and the colourfulness gap cannot be computed; the table shows time and colourfulness only. "
        "Upload a colour reference (or a colour photo) to score the models.",
    )


# The app's "vividness" (0..100) is the annealed-mean temperature, from 1.0 (the distribution's mean:
# safe, muted) down to 0.2 (close to the mode of the rebalanced distribution: vivid, sometimes wrong; below
# a model's default temperature its prior correction fades out, see ColorDistributionHead.decoding_logits).
MOST_MUTED_TEMPERATURE, MOST_VIVID_TEMPERATURE = 1.0, VIVID_TEMPERATURE


def temperature_for_vividness(value: Any) -> float | None:
    """Vividness 0..100 -> temperature 1.0..0.2; ``None`` (or an empty value) keeps each model's default."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        vividness = float(value)
    except (TypeError, ValueError):
        raise RequestError(f"Vividness must be a number from 0 to 100, got {str(value)[:40]!r}.") from None
    if not (math.isfinite(vividness) and 0 <= vividness <= 100):
        raise RequestError(f"Vividness must be a number from 0 to 100, got {str(value)[:40]}.")
    return round(MOST_MUTED_TEMPERATURE - (MOST_MUTED_TEMPERATURE - MOST_VIVID_TEMPERATURE) * vividness / 100, 4)


def vividness_for_temperature(temperature: float) -> float:
    """The inverse of :func:`temperature_for_vividness`, clipped to 0..100 (for the slider's default)."""
    span = MOST_MUTED_TEMPERATURE - MOST_VIVID_TEMPERATURE
    return float(min(100.0, max(0.0, round(100 * (MOST_MUTED_TEMPERATURE - temperature) / span))))


@contextlib.contextmanager
def model_failures(loaded: LoadedModel) -> Iterator[None]:
    """Inside: a model at work on a request's image. Its failure becomes :class:`RequestError` naming the model,
    with the first line of its error (running out of memory suggests a smaller working resolution); the
    server's own refusals (``LimitError``) pass as they are."""
    try:
        yield
    except LimitError:
        raise
    except MemoryError:
        raise RequestError(
            f"Model {loaded.name!r} ran out of memory on this image; try a smaller working resolution."
        ) from None
    except (RuntimeError, ValueError, TypeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise RequestError(f"Model {loaded.name!r} failed on this image: {shorten(first, 300)}") from None


def run_model(
    loaded: LoadedModel, array: np.ndarray, *, size: int | None = None, **options: Any
) -> tuple[Image.Image, float]:
    """Colorize ``array`` with ``loaded`` at working resolution ``size`` (None: the model's own);
    other per-request ``options`` go to :func:`colorizers.colorize` as they are.

    Returns the output (the input's size) and the time it took in milliseconds (waiting for a compute slot
    included). A model that fails on this image raises :class:`RequestError` with the first line of its error
    (:func:`model_failures`). Inside a request (``colorizers.limits.Gate``) the work holds one of the server's
    compute slots.
    """
    if options.get("temperature") is not None and not has_color_distribution(loaded.model):
        options = {k: v for k, v in options.items() if k != "temperature"}  # vividness is for distribution models
    start = time.perf_counter()
    check_deadline()
    with compute(), model_failures(loaded):  # inside a request: one of the server's compute slots
        output = colorize(array, loaded.model, processor=loaded.processor, size=size, **options)
    return output, (time.perf_counter() - start) * 1000.0


@dataclass
class ModelRun:
    """One model's output for the photo, its scores (``colorizers.evaluation.metrics.score``) and its time."""

    name: str
    output: Image.Image | Any  # what ``compare``'s ``on_output`` returned for it, when given
    scores: dict[str, float | None]
    ms: float


def _cell(value: float | None, digits: int) -> float | str | None:
    """A metric as a table holds it: rounded, and infinity as the text "inf" (JSON has no infinity)."""
    if value is None:
        return None
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return round(float(value), digits)


def table_row(run: ModelRun) -> list:
    """One run as a row of the metrics table: ``model, psnr, ssim, colorfulness, colorfulness_gap, ms``."""
    scores = run.scores
    return [
        run.name,
        _cell(scores["psnr"], 3),
        _cell(scores["ssim"], 4),
        _cell(scores["colorfulness"], 2),
        _cell(scores["colorfulness_gap"], 2),
        int(round(run.ms)),
    ]


@dataclass
class Comparison:
    runs: list[ModelRun]  # in the order the models were given
    gray: np.ndarray  # the photo as every model sees it (ab = 0), RGB uint8
    notes: list[str]  # for the user (Markdown): the reference used, the upload's notes, sizes, untrained models


def compare(
    image: Upload,
    models: list[LoadedModel],
    *,
    reference: Upload | None = None,
    size: int | None = None,
    on_output: Callable[[str, Image.Image], Any] | None = None,
    **options: Any,
) -> Comparison:
    """Colorize ``image`` with every model (see :func:`run_model` for ``size`` and ``options``) and
    score each output against :func:`metric_reference`.

    ``on_output(name, image)``, when given, receives each output as soon as it is scored, and the run
    keeps what it returns (a saved file's path, say) instead of the image: a comparison of many models
    on a large photo then holds one output at a time.
    """
    against = metric_reference(image, reference)
    runs = []
    for loaded in models:
        output, ms = run_model(loaded, image.array, size=size, **options)
        scores = score(output, against.rgb)
        runs.append(ModelRun(loaded.name, on_output(loaded.name, output) if on_output else output, scores, ms))
        del output
        check_deadline()
    sizes = ", ".join(f"{loaded.name} {size or loaded.default_size} px" for loaded in models)
    notes = [against.note, *image.notes]
    notes.append(
        f"Working resolution (longest edge): {sizes}. Every output keeps the input's {image.width}x{image.height} pixels."
    )
    untrained = [loaded.name for loaded in models if loaded.untrained]
    if untrained:
        notes.append(
            f"**Untrained, random weights:** {', '.join(untrained)}: no trained weights exist for "
            f"{'this model' if len(untrained) == 1 else 'these models'} yet, so the colours are arbitrary."
        )
    return Comparison(runs, gray_prediction(image.array), notes)


# The app's examples: scikit-image's bundled photos (nothing is downloaded). (label, photo, colour reference)
EXAMPLES = [
    ("astronaut", "astronaut", None),
    ("coffee", "coffee", None),
    ("cat (chelsea)", "chelsea", None),
    ("rocket", "rocket", None),
    ("coffee, b&w + colour reference", "coffee-black-and-white", "coffee"),
    ("cameraman (b&w, no reference)", "camera", None),
]


def example_photos(folder: Path) -> list[tuple[str, list[str | None]]]:
    """(label, [image, reference]) rows of :data:`EXAMPLES`; the photos are written to ``folder`` on first use."""
    from skimage import data

    from colorizers.image_io import save_image

    photos = {
        "astronaut": data.astronaut,
        "coffee": data.coffee,
        "chelsea": data.chelsea,
        "rocket": data.rocket,
        "coffee-black-and-white": lambda: np.asarray(Image.fromarray(data.coffee()).convert("L")),
        "camera": data.camera,
    }
    for key, photo in photos.items():
        if not (folder / f"{key}.png").is_file():
            save_image(photo(), folder / f"{key}.png")  # atomic: servers starting together may race
    return [
        (label, [str(folder / f"{image}.png"), reference and str(folder / f"{reference}.png")])
        for label, image, reference in EXAMPLES
    ]


__all__ = [
    "EXAMPLES",
    "MAX_PIXELS",
    "MIN_SIDE",
    "Comparison",
    "MetricReference",
    "ModelRun",
    "Upload",
    "compare",
    "example_photos",
    "metric_reference",
    "model_failures",
    "parse_working_size",
    "read_upload",
    "run_model",
    "table_row",
    "temperature_for_vividness",
    "vividness_for_temperature",
]

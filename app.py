"""The colorizers Gradio app: compare colorization models side by side, with live PSNR/SSIM.

``python app.py`` serves it on 127.0.0.1:7860 (``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT`` change
that); it is also the entry point of the Hugging Face Space described in README.md.

Stable API (``gradio_client``):

* ``/colorize``: (image, model name or id) -> the colorized image, a PNG file at the input's size.
* ``/compare``: (image, list of model names/ids, optional colour reference image, working resolution
  or None for each model's own) -> (gallery of (PNG, model name), metrics table with the columns
  ``model, psnr, ssim, colorfulness, colorfulness_gap, ms``). PSNR of identical images is the text
  ``"inf"``; metrics that need a colour reference are empty (None) when there is none.

Only UI code lives here: decoding rules, colour science, models and metrics come from ``colorizers``.
"""

from __future__ import annotations

import html
import logging
import math
import os
import re
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse

import gradio as gr
import numpy as np
import torch
from PIL import Image

import colorizers
from colorizers import ModelLoadError, colorize, get_preset, list_models, load_model, load_processor
from colorizers.evaluation import gray_prediction
from colorizers.registry import default_working_size
from colorizers.image_io import ImageReadError
from colorizers.image_io import read_image as read_image_file
from colorizers.image_processing_colorizer import image_to_array
from colorizers.metrics import as_rgb_uint8, is_grayscale, score

# ---------------------------------------------------------------------------------------------------
# Limits and settings
# ---------------------------------------------------------------------------------------------------

MAX_PIXELS = 40_000_000  # larger uploads are refused (decompression bombs included)
MIN_SIDE = 8  # SSIM needs 7x7; the models need a few pixels to downsample
MAX_MODELS_PER_REQUEST = 8
MIN_RESOLUTION, MAX_RESOLUTION = 32, 1024  # working resolution (longest edge); 0 / None = auto
CONCURRENCY = int(os.environ.get("COLORIZERS_APP_CONCURRENCY", "2"))  # inferences at once
QUEUE_SIZE = int(os.environ.get("COLORIZERS_APP_QUEUE", "64"))
MODEL_CACHE_SIZE = int(os.environ.get("COLORIZERS_APP_MAX_MODELS", "4"))
OUTPUT_TTL_S = 3600  # our per-request PNG folders older than this are deleted
CACHE_ROOT = Path(os.environ.get("COLORIZERS_APP_CACHE", Path(tempfile.gettempdir()) / "colorizers-app"))
COLUMNS = ["model", "psnr", "ssim", "colorfulness", "colorfulness_gap", "ms"]
UNTRAINED = "untrained: random weights"

logger = logging.getLogger("colorizers.app")


class UserError(gr.Error):
    """A ``gr.Error`` for bad input: shown to the user, logged in one line instead of a traceback."""

    def __init__(self, message: str):
        super().__init__(message, duration=20, print_exception=False)
        logger.warning("request refused: %s", message)


# Tests (and embedders) may register models here: name -> model object or a zero-argument factory.
MODEL_OVERRIDES: dict[str, Any] = {}

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


# ---------------------------------------------------------------------------------------------------
# Models: resolution of names, a bounded LRU cache, labels
# ---------------------------------------------------------------------------------------------------


@dataclass
class LoadedModel:
    name: str
    model: torch.nn.Module
    processor: Any
    untrained: bool

    @property
    def default_size(self) -> int:
        size = dict(self.processor.size)
        return int(size.get("longest_edge") or max(size.get("height") or 0, size.get("width") or 0) or 256)


def _colorizer_model_types() -> set[str]:
    return {get_preset(name).config_class.model_type for name in list_models()}


_hub_probe: dict[str, Any] = {"at": -1e9, "ok": False}
_hub_probe_lock = threading.Lock()


def hub_reachable(timeout: float = 2.0) -> bool:
    """Whether the Hub answers a TCP connection (cached for a minute; False in offline mode)."""
    from huggingface_hub import constants

    if constants.is_offline_mode():
        return False
    with _hub_probe_lock:
        if time.monotonic() - _hub_probe["at"] < 60:
            return _hub_probe["ok"]
        parsed = urlparse(constants.ENDPOINT)
        try:
            socket.create_connection((parsed.hostname, parsed.port or 443), timeout=timeout).close()
            ok = True
        except OSError:
            ok = False
        _hub_probe.update(at=time.monotonic(), ok=ok)
        return ok


def _load_untrained_preset(name: str):
    # Random weights, but the same ones on every start: seed a private copy of the RNG.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return load_model(name)


def unknown_model(name: str) -> UserError | None:
    """The error for a name that is no preset, override, existing path or Hub id; None if it is one."""
    if name in MODEL_OVERRIDES or name in list_models() or _HUB_ID.match(name) or Path(name).expanduser().exists():
        return None
    import difflib

    close = difflib.get_close_matches(name, list_models(), n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    return UserError(
        f"Unknown model {name!r}: it is not a preset, a local folder or a Hub id (owner/name).{hint} "
        f"Presets: {', '.join(list_models())}."
    )


def resolve_model(name: str) -> LoadedModel:
    """Load what a user typed: a preset, a registered override, a local folder or a Hub id."""
    if name in MODEL_OVERRIDES:
        entry = MODEL_OVERRIDES[name]
        model = entry() if callable(entry) and not isinstance(entry, torch.nn.Module) else entry
        model.eval()
        return LoadedModel(name, model, load_processor(model), bool(getattr(model, "colorizers_untrained", False)))
    if name in list_models():
        preset = get_preset(name)
        model = load_model(name) if preset.has_weights else _load_untrained_preset(name)
        return LoadedModel(name, model, load_processor(model), not preset.has_weights)
    path = Path(name).expanduser()
    if path.exists():
        try:
            model = load_model(str(path))
        except ModelLoadError as error:
            raise UserError(f"Model {name!r}: {error}") from None
    elif _HUB_ID.match(name):
        try:
            model = load_model(name, local_files_only=True)
        except ModelLoadError:
            if not hub_reachable():
                raise UserError(
                    f"Model {name!r} is not available offline: it is not a preset or a local folder, it is not "
                    "in this server's Hugging Face cache, and the Hub cannot be reached from here "
                    "(offline mode or no network). Pick a preset instead."
                ) from None
            try:
                model = load_model(name)
            except ModelLoadError as error:
                raise UserError(f"Model {name!r} could not be loaded from the Hugging Face Hub: {error}") from None
    else:
        raise unknown_model(name)
    model_type = getattr(model.config, "model_type", "?")
    if model_type not in _colorizer_model_types():
        raise UserError(f"Model {name!r} is a {model_type!r} model, not a colorizer this app can run.")
    return LoadedModel(name, model, load_processor(model), bool(getattr(model, "colorizers_untrained", False)))


class ModelCache:
    """Bounded LRU of loaded models; each model is loaded once even when requests race for it."""

    def __init__(self, capacity: int, loader: Callable[[str], LoadedModel]):
        self.capacity = max(1, capacity)
        self.loader = loader
        self._models: OrderedDict[str, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self.loads = 0  # how many times a model was actually loaded (tests check the caching)

    def get(self, name: str) -> LoadedModel:
        with self._lock:
            if name in self._models:
                self._models.move_to_end(name)
                return self._models[name]
            key_lock = self._key_locks.setdefault(name, threading.Lock())
        with key_lock:
            with self._lock:
                if name in self._models:
                    self._models.move_to_end(name)
                    return self._models[name]
            try:
                loaded = self.loader(name)
            except BaseException:
                with self._lock:
                    self._key_locks.pop(name, None)
                raise
            with self._lock:  # publish the model and retire its lock in one step
                self.loads += 1
                self._models[name] = loaded
                while len(self._models) > self.capacity:
                    self._models.popitem(last=False)
                self._key_locks.pop(name, None)
            return loaded

    def clear(self) -> None:
        with self._lock:
            self._models.clear()


MODELS = ModelCache(MODEL_CACHE_SIZE, resolve_model)


def ordered_presets() -> list[str]:
    """Every preset: those with trained weights first, each group in registration order."""
    names = list_models()
    return [n for n in names if get_preset(n).has_weights] + [n for n in names if not get_preset(n).has_weights]


def preset_label(name: str) -> str:
    return name if get_preset(name).has_weights else f"{name} ({UNTRAINED})"


def default_models() -> list[str]:
    trained = list_models(with_weights=True)
    if colorizers.DEFAULT_MODEL in list_models() and (not trained or colorizers.DEFAULT_MODEL in trained):
        return [colorizers.DEFAULT_MODEL]
    return trained[:1] or list_models()[:1]


def preset_size(name: str) -> int | None:
    try:
        return default_working_size(name)
    except (KeyError, AttributeError, TypeError, ValueError):
        return None


# ---------------------------------------------------------------------------------------------------
# Input decoding
# ---------------------------------------------------------------------------------------------------


@dataclass
class Decoded:
    array: np.ndarray  # what image_to_array gives: (H, W) gray or (H, W, 3), uint8 or float in [0, 1]
    name: str
    notes: list[str]

    @property
    def height(self) -> int:
        return self.array.shape[0]

    @property
    def width(self) -> int:
        return self.array.shape[1]


def _payload_path(payload: Any) -> tuple[str, str]:
    if isinstance(payload, dict):
        path = payload.get("path")
        if not path:
            raise UserError("The upload carries no file (try uploading it again).")
        return path, payload.get("orig_name") or Path(path).name
    if isinstance(payload, (str, Path)):
        return str(payload), Path(payload).name
    raise UserError(f"Expected an image file, got {type(payload).__name__}.")


def read_image(payload: Any, what: str = "image") -> Decoded:
    """Decode an upload (a Gradio file payload or a path) with a specific error for every bad case."""
    path, name = _payload_path(payload)
    try:
        read = read_image_file(path, max_pixels=MAX_PIXELS)
    except ImageReadError as error:
        raise UserError(f"The {what} {name!r} cannot be used: {error.reason}.") from None
    width, height = read.image.size
    if min(width, height) < MIN_SIDE:
        raise UserError(
            f"The {what} {name!r} is only {width}x{height} pixels: both sides must be at least {MIN_SIDE} pixels."
        )
    try:
        array = image_to_array(read.image)
    except ValueError as error:
        raise UserError(f"The {what} {name!r} cannot be used: {error}.") from None
    return Decoded(array, name, [f"The {what} is {note}." for note in read.notes])


# ---------------------------------------------------------------------------------------------------
# Work
# ---------------------------------------------------------------------------------------------------


def _safe_name(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("._") or "model"


def _request_dir() -> Path:
    root = CACHE_ROOT / "outputs"
    root.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in root.iterdir():
        try:
            if now - old.stat().st_mtime > OUTPUT_TTL_S:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass
    folder = root / uuid.uuid4().hex
    folder.mkdir()
    return folder


def _save_png(image: Image.Image | np.ndarray, path: Path) -> str:
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    image.save(path, format="PNG", compress_level=3)
    return str(path)


def _parse_models(models: Any) -> list[str]:
    if models is None:
        models = []
    elif isinstance(models, str):
        models = [models]
    names, seen = [], set()
    for item in models:
        name = str(item).strip()
        if name and name not in seen:
            seen.add(name)
            names.append(name)
    if not names:
        raise UserError("Pick at least one model (a preset, a Hub id or a local folder).")
    if len(names) > MAX_MODELS_PER_REQUEST:
        raise UserError(f"Pick at most {MAX_MODELS_PER_REQUEST} models at once (got {len(names)}).")
    for name in names:  # refuse unknown names before loading anything
        error = unknown_model(name)
        if error is not None:
            raise error
    return names


def _parse_resolution(resolution: Any) -> int | None:
    if resolution is None or resolution == "" or str(resolution).lower() == "auto":
        return None
    try:
        value = float(resolution)
    except (TypeError, ValueError):
        raise UserError(f"The working resolution must be a number of pixels or empty for auto, got {resolution!r}.") from None
    if not math.isfinite(value) or value == 0:
        return None
    if not MIN_RESOLUTION <= value <= MAX_RESOLUTION:
        raise UserError(
            f"The working resolution must be between {MIN_RESOLUTION} and {MAX_RESOLUTION} pixels "
            f"(or 0 / empty for each model's own), got {resolution}."
        )
    return int(round(value))


def _run_model(loaded: LoadedModel, array: np.ndarray, size: int | None) -> tuple[Image.Image, float]:
    start = time.perf_counter()
    try:
        output = colorize(array, loaded.model, processor=loaded.processor, size=size)
    except (RuntimeError, ValueError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"Model {loaded.name!r} failed on this image: {first}") from None
    return output, (time.perf_counter() - start) * 1000.0


def _round(value: float | None, digits: int) -> float | str | None:
    if value is None:
        return None
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return round(float(value), digits)


def _reference(decoded: Decoded, reference_payload: Any) -> tuple[np.ndarray | None, str]:
    """The colour reference the metrics use (RGB uint8 at the input's size) and a note saying which."""
    size = f"{decoded.width}x{decoded.height}"
    if reference_payload is not None:
        ref = read_image(reference_payload, "colour reference")
        rgb = as_rgb_uint8(ref.array)
        notes = list(ref.notes)
        if (ref.width, ref.height) != (decoded.width, decoded.height):
            rgb = np.asarray(Image.fromarray(rgb).resize((decoded.width, decoded.height), Image.Resampling.LANCZOS))
            notes.append(
                f"**Note:** the colour reference is {ref.width}x{ref.height}, the input {size}: the reference was "
                f"resized to {size} for the metrics, which blurs or distorts it a little."
            )
        if is_grayscale(rgb):
            notes.append(
                "**Note:** the colour reference looks black-and-white, so the metrics against it say little about colour."
            )
        return rgb, " ".join(["Metrics are computed against the separate colour reference."] + notes)
    if not is_grayscale(decoded.array):
        return as_rgb_uint8(decoded.array), (
            "Metrics are computed against the uploaded photo itself (it is in colour); the models only saw its "
            "black-and-white version."
        )
    return None, (
        "**No colour reference:** the photo is black-and-white and no separate colour reference was uploaded, so "
        "PSNR, SSIM and the colourfulness gap cannot be computed; the table shows time and colourfulness only. "
        "Upload a colour reference (or a colour photo) to score the models."
    )


def compare(image: Any, models: Any, reference: Any = None, resolution: Any = None):
    """``/compare``: every model on one image; returns (gallery, metrics table, UI state)."""
    if image is None:
        raise UserError("Upload an image first (or pick one of the examples).")
    names = _parse_models(models)
    size = _parse_resolution(resolution)
    decoded = read_image(image)
    reference_rgb, reference_note = _reference(decoded, reference)
    loaded = [MODELS.get(name) for name in names]

    folder = _request_dir()
    gallery, rows, outputs = [], [], []
    for item in loaded:
        output, ms = _run_model(item, decoded.array, size)
        metrics = score(output, reference_rgb)
        path = _save_png(output, folder / f"{_safe_name(item.name)}-colorized.png")
        gallery.append((path, item.name))
        outputs.append((item.name, path))
        rows.append(
            [
                item.name,
                _round(metrics["psnr"], 3),
                _round(metrics["ssim"], 4),
                _round(metrics["colorfulness"], 2),
                _round(metrics["colorfulness_gap"], 2),
                int(round(ms)),
            ]
        )

    before = _save_png(gray_prediction(decoded.array), folder / "input-black-and-white.png")  # what models see
    sizes = ", ".join(f"{item.name} {size or item.default_size} px" for item in loaded)
    notes = [reference_note, *decoded.notes]
    notes.append(
        f"Working resolution (longest edge): {sizes}. Every output keeps the input's {decoded.width}x{decoded.height} pixels."
    )
    untrained = [item.name for item in loaded if item.untrained]
    if untrained:
        notes.append(
            f"**Untrained, random weights:** {', '.join(untrained)}: no trained weights exist for "
            f"{'this model' if len(untrained) == 1 else 'these models'} yet, so the colours are arbitrary."
        )
    state = {"before": before, "outputs": outputs, "notes": "\n\n".join(notes)}
    return gallery, rows, state


def colorize_one(image: Any, model: Any):
    """``/colorize``: one model, one image -> the colorized PNG file (input's size)."""
    if image is None:
        raise UserError("Upload an image first.")
    names = _parse_models(model)
    if len(names) != 1:
        raise UserError("/colorize takes one model; use /compare for several.")
    decoded = read_image(image)
    loaded = MODELS.get(names[0])
    output, _ = _run_model(loaded, decoded.array, None)
    return _save_png(output, _request_dir() / f"{_safe_name(loaded.name)}-colorized.png")


# UI-only follow-ups (not part of the API) --------------------------------------------------------------


def show_details(state: dict | None):
    if not state:
        return gr.update(), gr.update(), None, None
    outputs = state["outputs"]
    first_name, first_path = outputs[0]
    return (
        state["notes"],
        gr.update(choices=[name for name, _ in outputs], value=first_name, interactive=len(outputs) > 1),
        (state["before"], first_path),
        [path for _, path in outputs],
    )


def choose(name: str, state: dict | None):
    if not state:
        return None
    paths = dict(state["outputs"])
    return (state["before"], paths.get(name, state["outputs"][0][1]))


def select_from_gallery(state: dict | None, event: gr.SelectData):
    if not state or event.index is None:
        return gr.update(), gr.update()
    name, path = state["outputs"][event.index]
    return gr.update(value=name), (state["before"], path)


def resolution_info(models: Any) -> dict:
    names = [str(m) for m in (models or []) if str(m).strip()]
    parts = []
    for name in names:
        size = preset_size(name) if name in list_models() else None
        parts.append(f"{name}: {size} px" if size else f"{name}: its own")
    own = "; ".join(parts) if parts else "each model's own"
    return gr.update(info=f"0 = auto ({own}). Outputs always keep the input's resolution.")


# ---------------------------------------------------------------------------------------------------
# Examples (scikit-image's bundled photos; nothing is downloaded)
# ---------------------------------------------------------------------------------------------------


def _write_atomically(array: np.ndarray, path: Path) -> None:
    if path.is_file():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".png")
    with os.fdopen(handle, "wb") as stream:
        Image.fromarray(array).save(stream, format="PNG")
    os.replace(temporary, path)


def example_files() -> list[tuple[str, list[str | None]]]:
    """(label, [image, reference]) rows, written to the cache folder on first use."""
    from skimage import data

    folder = CACHE_ROOT / "examples"
    rows = []
    for key, label in [
        ("astronaut", "astronaut"),
        ("coffee", "coffee"),
        ("chelsea", "cat (chelsea)"),
        ("rocket", "rocket"),
    ]:
        path = folder / f"{key}.png"
        _write_atomically(getattr(data, key)(), path)
        rows.append((label, [str(path), None]))
    coffee = data.coffee()
    gray_path = folder / "coffee-black-and-white.png"
    _write_atomically(np.asarray(Image.fromarray(coffee).convert("L")), gray_path)
    rows.append(("coffee, b&w + colour reference", [str(gray_path), str(folder / "coffee.png")]))
    camera = folder / "camera.png"
    _write_atomically(data.camera(), camera)
    rows.append(("cameraman (b&w, no reference)", [str(camera), None]))
    return rows


# ---------------------------------------------------------------------------------------------------
# The Blocks app
# ---------------------------------------------------------------------------------------------------

CSS = """
.gradio-container { max-width: 1280px !important; margin: 0 auto !important; }
#app-title h1 { margin-bottom: 0.1em; }
#untrained-banner { border-left: 4px solid #f59e0b; padding: 0.4em 0.9em; background: rgba(245, 158, 11, 0.10);
  border-radius: 6px; }
#notes { padding: 0.3em 0.2em; }
#metrics table { font-variant-numeric: tabular-nums; }
"""

THEME = gr.themes.Soft(primary_hue="orange", secondary_hue="slate", neutral_hue="slate")

# launch() arguments shared by ``python app.py`` and the tests (theme and CSS live in launch()).
LAUNCH_KWARGS: dict[str, Any] = {
    "theme": THEME,
    "css": CSS,
    "max_file_size": "100mb",
    "allowed_paths": [str(CACHE_ROOT)],
    "footer_links": ["api", "gradio"],
}


def _models_markdown() -> str:
    lines = ["| preset | weights | working size | description |", "|---|---|---|---|"]
    for name in ordered_presets():
        preset = get_preset(name)
        status = "trained" if preset.has_weights else f"**{UNTRAINED}**"
        size = preset_size(name)
        lines.append(
            f"| `{name}` | {status} | {size or '?'} px | {html.escape(preset.description or '')} |"
        )
    return "\n".join(lines)


def build_demo() -> gr.Blocks:
    presets = ordered_presets()
    untrained = [name for name in presets if not get_preset(name).has_weights]
    examples = example_files()

    with gr.Blocks(title="colorizers: compare colorization models", delete_cache=(3600, 3600)) as demo:
        gr.Markdown(
            "# colorizers: compare colorization models\n"
            "Upload a photo (colour or black-and-white), pick one or more models and press **Colorize**. "
            "Each model sees only the photo's black-and-white version; outputs keep its full resolution and "
            "are scored live (PSNR, SSIM, colourfulness) against a colour reference.",
            elem_id="app-title",
        )
        if untrained:
            everything = len(untrained) == len(presets)
            gr.Markdown(
                ("⚠️ **No preset has trained weights yet**" if everything else
                 f"⚠️ **{len(untrained)} presets have no trained weights yet**")
                + f": they are labelled *{UNTRAINED}* and colorize with random, untrained weights, so their "
                "colours are arbitrary. The app, the metrics and the API work the same.",
                elem_id="untrained-banner",
            )
        with gr.Row(equal_height=False):
            with gr.Column(scale=5):
                image = gr.Image(
                    label="Photo to colorize",
                    type="filepath",
                    image_mode=None,
                    sources=["upload", "clipboard"],
                    format="png",
                    height=340,
                    elem_id="input-image",
                )
                with gr.Accordion("Colour reference (optional)", open=False, elem_id="reference-accordion"):
                    reference = gr.Image(
                        label="Colour reference for the metrics",
                        type="filepath",
                        image_mode=None,
                        sources=["upload", "clipboard"],
                        format="png",
                        height=220,
                        elem_id="reference-image",
                    )
                    gr.Markdown(
                        "Used for PSNR/SSIM when the photo is black-and-white (a colour photo is its own "
                        "reference). Resized to the photo's size if the sizes differ."
                    )
            with gr.Column(scale=4):
                models = gr.Dropdown(
                    choices=[(preset_label(name), name) for name in presets],
                    value=default_models(),
                    multiselect=True,
                    allow_custom_value=True,
                    max_choices=MAX_MODELS_PER_REQUEST,
                    label="Models",
                    info="Pick presets, or type a Hub id (owner/name) or a local model folder and press Enter.",
                    elem_id="models",
                )
                resolution = gr.Slider(
                    0,
                    MAX_RESOLUTION,
                    value=0,
                    step=32,
                    label="Working resolution (longest edge, px)",
                    info=resolution_info(default_models())["info"],
                    elem_id="resolution",
                )
                run = gr.Button("Colorize", variant="primary", size="lg", elem_id="colorize-button")
                gr.Examples(
                    examples=[row for _, row in examples],
                    example_labels=[label for label, _ in examples],
                    inputs=[image, reference],
                    label="Examples (scikit-image's photos)",
                    examples_per_page=6,
                )
        notes = gr.Markdown(elem_id="notes")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                gallery = gr.Gallery(
                    label="Colorized",
                    format="png",
                    columns=3,
                    height=400,
                    object_fit="contain",
                    buttons=["download", "fullscreen"],
                    interactive=False,
                    elem_id="gallery",
                )
            with gr.Column(scale=2):
                chosen = gr.Dropdown(label="Before / after for", choices=[], interactive=False, elem_id="chosen")
                slider = gr.ImageSlider(
                    label="Black-and-white input | colorized",
                    type="filepath",
                    format="png",
                    interactive=False,
                    max_height=360,
                    elem_id="before-after",
                )
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                table = gr.Dataframe(
                    headers=COLUMNS,
                    datatype=["str", "number", "number", "number", "number", "number"],
                    label="Metrics",
                    interactive=False,
                    wrap=True,
                    elem_id="metrics",
                )
                gr.Markdown(
                    "PSNR in dB and SSIM against the colour reference (RGB uint8, full resolution; higher is "
                    "better, PSNR `inf` = identical); colourfulness after Hasler & Süsstrunk and its gap to the "
                    "reference's (reference − output); ms = inference time.",
                    elem_id="metrics-legend",
                )
            with gr.Column(scale=2):
                downloads = gr.File(label="Download PNGs", file_count="multiple", interactive=False, elem_id="downloads")
        with gr.Accordion("About the models", open=False):
            gr.Markdown(_models_markdown())

        state = gr.State()
        # /colorize has no UI of its own: hidden components carry its API.
        with gr.Row(visible=False):
            api_image = gr.Image(label="image", type="filepath", image_mode=None, format="png")
            api_model = gr.Textbox(label="model")
            api_output = gr.Image(label="colorized", type="filepath", format="png")
            api_button = gr.Button()

        run.click(
            compare,
            inputs=[image, models, reference, resolution],
            outputs=[gallery, table, state],
            api_name="compare",
            api_description="Colorize an image with several models; returns the gallery and the metrics table.",
            preprocess=False,  # decoding (and its error messages) is ours
            concurrency_limit=CONCURRENCY,
            concurrency_id="inference",
        ).success(
            show_details, inputs=[state], outputs=[notes, chosen, slider, downloads], api_visibility="private"
        )
        api_button.click(
            colorize_one,
            inputs=[api_image, api_model],
            outputs=[api_output],
            api_name="colorize",
            api_description="Colorize an image with one model; returns a PNG at the input's size.",
            preprocess=False,
            concurrency_limit=CONCURRENCY,
            concurrency_id="inference",
        )
        gallery.select(select_from_gallery, inputs=[state], outputs=[chosen, slider], api_visibility="private")
        chosen.input(choose, inputs=[chosen, state], outputs=[slider], api_visibility="private")
        models.change(resolution_info, inputs=[models], outputs=[resolution], api_visibility="private")

    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=CONCURRENCY)
    return demo


demo = build_demo()


def main() -> None:
    # Each of the CONCURRENCY inferences gets its share of the cores instead of all of them.
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // CONCURRENCY))
    demo.launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        **LAUNCH_KWARGS,
    )


if __name__ == "__main__":
    main()

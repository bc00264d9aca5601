"""The app's "Compare models" tab and the ``/colorize`` endpoint: every chosen model on one photo, side by side,
with a before/after slider and live PSNR/SSIM/colourfulness against a colour reference.

Built inside ``app.build_demo``'s Blocks (``build_compare_tab``); the rules (which names are models, what an
upload may be, what the outputs are scored against) are the library's (``colorizers.serving.policy``,
``colorizers.serving.comparison``), and their refusals become ``gr.Error`` through the ``refuse`` callable app.py
passes in. Stable API: see app.py's docstring (``/compare``, ``/colorize``).
"""

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
from gradio import FileData
from PIL import Image

import colorizers
from colorizers import get_preset, list_models
from colorizers.app.context import ServerContext
from colorizers.hub import preset_quality
from colorizers.image_io import save_image
from colorizers.limits import Limits
from colorizers.registry import default_temperature, default_working_size
from colorizers.serving import comparison
from colorizers.serving import policy as serving
from colorizers.serving.comparison import parse_working_size
from colorizers.serving.policy import RequestError

COLUMNS = ["model", "psnr", "ssim", "colorfulness", "colorfulness_gap", "ms"]
UNTRAINED = preset_quality.UNTRAINED


def ordered_presets() -> list[str]:
    """Every preset, best first: trained ones by their measured kodak24 PSNR against gray (unmeasured after them),
    then those without trained weights; ties in registration order (colorizers.hub.preset_quality)."""
    return [name for name, _, _ in preset_quality.rank_presets(list_models(), _has_weights)]


def preset_choices(names: list[str] | None = None) -> list[tuple[str, str]]:
    """(label, name) of each preset, best first: ``chroma — kodak24 +0.72 dB vs gray, colourfulness 28``, those
    worse than gray marked, untrained ones labelled so. The value stays the plain name (the API takes names)."""
    return preset_quality.preset_choices(list_models() if names is None else names, _has_weights)


def _has_weights(name: str) -> bool:
    return get_preset(name).has_weights


def preset_label(name: str) -> str:
    has_weights = _has_weights(name)
    quality = preset_quality.preset_quality(name) if has_weights else None
    return preset_quality.choice_label(name, quality, has_weights)


def default_vividness() -> float:
    """The slider's start: the default model's own temperature, as vividness."""
    return comparison.vividness_for_temperature(default_temperature(colorizers.DEFAULT_MODEL) or 1.0)


DEFAULT_VIVIDNESS = default_vividness()  # where every vividness slider of the app starts (Compare and Guide tabs)


def default_models() -> list[str]:
    trained = list_models(with_weights=True)
    if colorizers.DEFAULT_MODEL in list_models() and (not trained or colorizers.DEFAULT_MODEL in trained):
        return [colorizers.DEFAULT_MODEL]
    return trained[:1] or list_models()[:1]


def _models_markdown() -> str:
    lines = ["| preset | weights | measured | working size | description |", "|---|---|---|---|---|"]
    for name, has_weights, quality in preset_quality.rank_presets(list_models(), _has_weights):
        status = "trained" if has_weights else f"**{UNTRAINED}**"
        measured = preset_quality.describe(quality) if has_weights else "-"
        if preset_quality.below_gray(quality):
            measured = f"**{preset_quality.BELOW_GRAY}**: {measured}"
        description = html.escape(get_preset(name).description)
        lines.append(f"| `{name}` | {status} | {measured} | {default_working_size(name)} px | {description} |")
    return "\n".join(lines)


# Handlers of the API endpoints -------------------------------------------------------------------------


def save_png(image: Image.Image | np.ndarray, path: Path) -> str:
    return str(save_image(image, path, compress_level=3))


@dataclass(frozen=True)
class Endpoints:
    """The API handlers, bound to the server they serve in (its limits, model resolver, upload reader and
    per-request output folders)."""

    context: ServerContext

    def compare(self, image: Any, models: Any, reference: Any = None, resolution: Any = None, vividness: Any = None):
        """``/compare``: every model on one image; returns (gallery, metrics table, UI state)."""
        if image is None:
            raise RequestError("Upload an image first (or pick one of the examples).")
        context, limits = self.context, self.context.limits
        names = context.models.names(models)
        size = parse_working_size(resolution, minimum=limits.min_working_size, maximum=limits.max_working_size)
        temperature = comparison.temperature_for_vividness(vividness)
        upload = context.read_payload(image)
        against = None if reference is None else context.read_payload(reference, "colour reference")
        loaded, folder = [context.models.load(name) for name in names], context.outputs.new()  # names checked first

        def save(name: str, output) -> str:  # each output is written as soon as it is scored, then let go
            return save_png(output, folder / f"{serving.safe_filename(name)}-colorized.png")

        result = comparison.compare(
            upload, loaded, reference=against, size=size, temperature=temperature, on_output=save
        )
        outputs = [(run.name, run.output) for run in result.runs]
        before = save_png(result.gray, folder / "input-black-and-white.png")  # what the models see
        state = {"before": before, "outputs": outputs, "notes": "\n\n".join(result.notes)}
        return [(path, name) for name, path in outputs], [comparison.table_row(run) for run in result.runs], state

    def colorize_one(self, image: Any, model: Any, vividness: Any = None) -> str:
        """``/colorize``: one model, one image -> the path of the colorized PNG (input's size)."""
        if image is None:
            raise RequestError("Upload an image first.")
        context = self.context
        name = context.models.one(
            model,
            limit=context.limits.models_per_request,
            refusal="/colorize takes one model; use /compare for several.",
        )
        upload = context.read_payload(image)
        loaded = context.models.load(name)
        temperature = comparison.temperature_for_vividness(vividness)
        output, _ = comparison.run_model(loaded, upload.array, temperature=temperature)
        return save_png(output, context.outputs.new() / f"{serving.safe_filename(loaded.name)}-colorized.png")


# UI-only follow-ups (not part of the API) --------------------------------------------------------------


def show_details(state: dict | None):
    if not state:
        return gr.update(), gr.update(), None, None
    outputs = state["outputs"]
    first_name, first_path = outputs[0]
    choices = gr.update(choices=[name for name, _ in outputs], value=first_name, interactive=len(outputs) > 1)
    return state["notes"], choices, (state["before"], first_path), [path for _, path in outputs]


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
    parts = [
        f"{name}: {default_working_size(name)} px" if name in list_models() else f"{name}: its own"
        for name in map(str, models or [])
        if name.strip()
    ]
    own = "; ".join(parts) or "each model's own"
    return gr.update(info=f"0 = auto ({own}). Outputs always keep the input's resolution.")


# The tab -----------------------------------------------------------------------------------------------

UPLOAD = dict(type="filepath", image_mode=None, sources=["upload", "clipboard"], format="png")
RESULT = dict(type="filepath", format="png", interactive=False)  # a colorized image: lossless, read-only


@dataclass
class CompareControls:
    """The tab's components the events read and write."""

    image: gr.Image
    reference: gr.Image
    models: gr.Dropdown
    resolution: gr.Slider
    vividness: gr.Slider
    run: gr.Button
    notes: gr.Markdown
    gallery: gr.Gallery
    chosen: gr.Dropdown
    slider: gr.ImageSlider
    table: gr.Dataframe
    downloads: gr.File
    state: gr.State


def photo_column() -> tuple[gr.Image, gr.Image]:
    """The photo, and the optional colour reference under it."""
    image = gr.Image(label="Photo to colorize", height=340, elem_id="input-image", **UPLOAD)
    with gr.Accordion("Colour reference (optional)", open=False, elem_id="reference-accordion"):
        reference = gr.Image(label="Colour reference for the metrics", height=220, elem_id="reference-image", **UPLOAD)
        gr.Markdown(
            "Used for PSNR/SSIM when the photo is black-and-white (a colour photo is its own "
            "reference). Resized to the photo's size if the sizes differ."
        )
    return image, reference


def model_picker(limits: Limits) -> gr.Dropdown:
    """The models to compare: presets best first (plus the allowed Hub ids in public mode), up to the limit."""
    typed = "." if limits.public else ", or type a Hub id (owner/name) or a local model folder and press Enter."
    return gr.Dropdown(
        preset_choices() + list(limits.hub_allowlist if limits.public else []),  # (label, name), best first
        value=default_models(),
        multiselect=True,
        allow_custom_value=not limits.public,
        max_choices=limits.models_per_request,
        label="Models",
        elem_id="models",
        info="Pick presets" + typed,
    )


def options_column(limits: Limits) -> tuple[gr.Dropdown, gr.Slider, gr.Slider, gr.Button]:
    """Models, working resolution, vividness and the Colorize button."""
    models = model_picker(limits)
    resolution = gr.Slider(
        0,
        limits.max_working_size,
        value=0,
        step=32,
        elem_id="resolution",
        label="Working resolution (longest edge, px)",
        info=resolution_info(default_models())["info"],
    )
    vividness = gr.Slider(
        0,
        100,
        value=DEFAULT_VIVIDNESS,
        step=5,
        elem_id="vividness",
        label="Vividness",
        info="Models that predict a colour distribution (chroma): 0 = its mean "
        "(safe, muted), 100 = its mode (vivid, sometimes wrong).",
    )
    run = gr.Button("Colorize", variant="primary", size="lg", elem_id="colorize-button")
    return models, resolution, vividness, run


def examples_table(examples: list, image: gr.Image, reference: gr.Image) -> None:
    gr.Examples(
        [row for _, row in examples],
        inputs=[image, reference],
        examples_per_page=6,
        example_labels=[label for label, _ in examples],
        label="Examples (scikit-image's photos)",
    )


def outputs_row() -> tuple[gr.Gallery, gr.Dropdown, gr.ImageSlider]:
    """The gallery of outputs, and the before/after slider for one of them."""
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            gallery = gr.Gallery(
                label="Colorized",
                format="png",
                columns=3,  # fewer models, fewer columns: one model fills the width
                height="auto",  # grows with its rows: no photo is cut off (app.CSS keeps each one's shape)
                object_fit="contain",
                buttons=["download", "fullscreen"],
                interactive=False,
                elem_id="gallery",
            )
        with gr.Column(scale=2):
            chosen = gr.Dropdown(label="Before / after for", choices=[], interactive=False, elem_id="chosen")
            slider = gr.ImageSlider(
                label="Black-and-white input | colorized", max_height=360, elem_id="before-after", **RESULT
            )
    return gallery, chosen, slider


def metrics_row() -> tuple[gr.Dataframe, gr.File]:
    """The metrics table with its legend, and the PNGs to download."""
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            table = gr.Dataframe(
                headers=COLUMNS,
                datatype=["str"] + ["number"] * 5,
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
    return table, downloads


def compare_layout(limits: Limits, examples: list) -> CompareControls:
    """The tab's components, top to bottom (call inside its ``gr.Tab``)."""
    with gr.Row(equal_height=False):
        with gr.Column(scale=5):
            image, reference = photo_column()
        with gr.Column(scale=4):
            models, resolution, vividness, run = options_column(limits)
            examples_table(examples, image, reference)
    notes = gr.Markdown(elem_id="notes")
    gallery, chosen, slider = outputs_row()
    table, downloads = metrics_row()
    with gr.Accordion("About the models", open=False):
        gr.Markdown(_models_markdown())
    return CompareControls(
        image,
        reference,
        models,
        resolution,
        vividness,
        run,
        notes,
        gallery,
        chosen,
        slider,
        table,
        downloads,
        gr.State(),
    )


def compare_events(ui: CompareControls, endpoints: Endpoints) -> None:
    """``/compare`` on the button, then the UI-only follow-ups (details, gallery selection, resolution hint)."""
    context = endpoints.context
    ui.run.click(
        context.guard(endpoints.compare),
        inputs=[ui.image, ui.models, ui.reference, ui.resolution, ui.vividness],
        outputs=[ui.gallery, ui.table, ui.state],
        api_name="compare",
        api_description="Colorize an image with several models; returns the gallery and the metrics table.",
        preprocess=False,  # decoding (and its error messages) is ours
        **context.inference,
    ).success(
        show_details,
        inputs=[ui.state],
        outputs=[ui.notes, ui.chosen, ui.slider, ui.downloads],
        api_visibility="private",
    )
    ui.gallery.select(select_from_gallery, inputs=[ui.state], outputs=[ui.chosen, ui.slider], api_visibility="private")
    ui.chosen.input(choose, inputs=[ui.chosen, ui.state], outputs=[ui.slider], api_visibility="private")
    ui.models.change(resolution_info, inputs=[ui.models], outputs=[ui.resolution], api_visibility="private")


def colorize_api(endpoints: Endpoints) -> None:
    """``/colorize``: one model, one image (no UI of its own)."""

    @endpoints.context.guard
    def colorize(image: FileData, model: str, vividness: float | None = None) -> FileData:
        return FileData(path=endpoints.colorize_one(image, model, vividness))

    gr.api(
        colorize,
        api_name="colorize",
        **endpoints.context.inference,
        api_description="Colorize an image with one model; returns a PNG at the input's size.",
    )


def build_compare_tab(context: ServerContext, examples: list | None = None) -> None:
    """The tab's layout and events, and the ``/compare`` and ``/colorize`` endpoints (call inside a ``gr.Blocks``),
    serving in ``context``; ``examples`` are (label, [photo, reference]) rows (default: scikit-image's photos
    written under the context's cache folder)."""
    if examples is None:
        examples = comparison.example_photos(context.cache_root / "examples")
    endpoints = Endpoints(context)
    with gr.Tab("Compare models", id="compare"):
        ui = compare_layout(context.limits, examples)
        compare_events(ui, endpoints)
        colorize_api(endpoints)

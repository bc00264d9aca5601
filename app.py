"""The colorizers Gradio app: compare colorization models side by side, with live PSNR/SSIM.

``python app.py`` serves it on 127.0.0.1:7860 (``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT`` change
that); it is also the entry point of the Hugging Face Space described in README.md.

Stable API (``gradio_client``):

* ``/colorize``: (image, model name or id, optional vividness 0..100) -> the colorized image, a PNG file at
  the input's size.
* ``/compare``: (image, list of model names/ids, optional colour reference image, working resolution
  or None for each model's own, optional vividness 0..100 or None for each model's own) -> (gallery of
  (PNG, model name), metrics table with the columns
  ``model, psnr, ssim, colorfulness, colorfulness_gap, ms``). PSNR of identical images is the text
  ``"inf"``; metrics that need a colour reference are empty (None) when there is none.

Layout, events and messages live here; the rules (which names are models, what an upload may be,
what the outputs are scored against) live in ``colorizers.serving`` and ``colorizers.comparison``,
and their refusals become ``gr.Error`` here.
"""

import functools
import html
import logging
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import gradio as gr
import numpy as np
import torch
from gradio import FileData
from PIL import Image

import colorizers
from app_guide import build_guide_tab
from app_video import build_video_tab
from colorizers import comparison, get_preset, list_models
from colorizers.comparison import Upload, parse_working_size, read_upload
from colorizers.image_io import save_image
from colorizers.registry import default_temperature, default_working_size
from colorizers.serving import LoadedModel, ModelCache, RequestError, RequestFolders, parse_model_names
from colorizers.serving import resolve_model, safe_filename

MAX_MODELS_PER_REQUEST = 8
MIN_RESOLUTION, MAX_RESOLUTION = 32, 1024  # working resolution (longest edge); 0 / None = auto
CONCURRENCY = int(os.environ.get("COLORIZERS_APP_CONCURRENCY", "2"))  # inferences at once
QUEUE_SIZE = int(os.environ.get("COLORIZERS_APP_QUEUE", "64"))
MODEL_CACHE_SIZE = int(os.environ.get("COLORIZERS_APP_MAX_MODELS", "4"))
CACHE_ROOT = Path(os.environ.get("COLORIZERS_APP_CACHE", Path(tempfile.gettempdir()) / "colorizers-app"))
OUTPUTS = RequestFolders(CACHE_ROOT / "outputs", ttl_s=3600)  # one folder of PNGs per request
COLUMNS = ["model", "psnr", "ssim", "colorfulness", "colorfulness_gap", "ms"]
UNTRAINED = "untrained: random weights"

logger = logging.getLogger("colorizers.app")


class UserError(gr.Error):
    """A ``gr.Error`` for bad input: shown to the user, logged in one line instead of a traceback."""

    def __init__(self, message: str):
        super().__init__(message, duration=20, print_exception=False)
        logger.warning("request refused: %s", message)


def refusals_as_user_errors(fn: Callable) -> Callable:
    """Turn the library's refusals (``RequestError``) into messages the user sees."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except RequestError as error:
            raise UserError(str(error)) from None

    return wrapper


def read_payload(payload: Any, what: str = "image") -> Upload:
    """Decode an uploaded file (a Gradio file payload). Only files uploaded to Gradio are read: a request
    naming any other path on the server is refused."""
    if not isinstance(payload, dict):
        raise UserError(f"Expected an image file, got {type(payload).__name__}.")
    if not payload.get("path"):
        raise UserError("The upload carries no file (try uploading it again).")
    if not Path(payload["path"]).resolve().is_relative_to(Path(gr.utils.get_upload_folder()).resolve()):
        raise UserError(f"The {what} must be a file uploaded to this app (gradio_client: handle_file(path)).")
    return read_upload(payload["path"], payload.get("orig_name"), what=what)


def ordered_presets() -> list[str]:
    """Every preset: those with trained weights first, each group in registration order."""
    return sorted(list_models(), key=lambda name: not get_preset(name).has_weights)


def preset_label(name: str) -> str:
    return name if get_preset(name).has_weights else f"{name} ({UNTRAINED})"


def default_vividness() -> float:
    """The slider's start: the default model's own temperature, as vividness."""
    return comparison.vividness_for_temperature(default_temperature(colorizers.DEFAULT_MODEL) or 1.0)


def default_models() -> list[str]:
    trained = list_models(with_weights=True)
    if colorizers.DEFAULT_MODEL in list_models() and (not trained or colorizers.DEFAULT_MODEL in trained):
        return [colorizers.DEFAULT_MODEL]
    return trained[:1] or list_models()[:1]


# Handlers of the API endpoints -------------------------------------------------------------------------


def save_png(image: Image.Image | np.ndarray, path: Path) -> str:
    return str(save_image(image, path, compress_level=3))


def _cell(value: float | None, digits: int) -> float | str | None:
    """A metric as the table holds it: rounded, and infinity as the text "inf" (JSON has no infinity)."""
    if value is None:
        return None
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return round(float(value), digits)


def _row(run: comparison.ModelRun) -> list:
    scores = run.scores
    return [run.name, _cell(scores["psnr"], 3), _cell(scores["ssim"], 4), _cell(scores["colorfulness"], 2),
            _cell(scores["colorfulness_gap"], 2), int(round(run.ms))]


@refusals_as_user_errors
def compare(cache: ModelCache, image: Any, models: Any, reference: Any = None, resolution: Any = None,
            vividness: Any = None):
    """``/compare``: every model on one image; returns (gallery, metrics table, UI state)."""
    if image is None:
        raise UserError("Upload an image first (or pick one of the examples).")
    names = parse_model_names(models, limit=MAX_MODELS_PER_REQUEST)  # all checked before any loads
    size = parse_working_size(resolution, minimum=MIN_RESOLUTION, maximum=MAX_RESOLUTION)
    temperature = comparison.temperature_for_vividness(vividness)
    upload = read_payload(image)
    against = None if reference is None else read_payload(reference, "colour reference")
    result = comparison.compare(upload, [cache.get(name) for name in names], reference=against, size=size,
                                temperature=temperature)
    folder = OUTPUTS.new()
    outputs = [(run.name, save_png(run.output, folder / f"{safe_filename(run.name)}-colorized.png"))
               for run in result.runs]
    before = save_png(result.gray, folder / "input-black-and-white.png")  # what the models see
    state = {"before": before, "outputs": outputs, "notes": "\n\n".join(result.notes)}
    return [(path, name) for name, path in outputs], [_row(run) for run in result.runs], state


@refusals_as_user_errors
def colorize_one(cache: ModelCache, image: Any, model: Any, vividness: Any = None) -> str:
    """``/colorize``: one model, one image -> the path of the colorized PNG (input's size)."""
    if image is None:
        raise UserError("Upload an image first.")
    names = parse_model_names(model, limit=MAX_MODELS_PER_REQUEST)
    if len(names) != 1:
        raise UserError("/colorize takes one model; use /compare for several.")
    upload = read_payload(image)
    loaded = cache.get(names[0])
    output, _ = comparison.run_model(loaded, upload.array, temperature=comparison.temperature_for_vividness(vividness))
    return save_png(output, OUTPUTS.new() / f"{safe_filename(loaded.name)}-colorized.png")


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
    parts = [f"{name}: {default_working_size(name)} px" if name in list_models() else f"{name}: its own"
             for name in map(str, models or []) if name.strip()]
    own = "; ".join(parts) or "each model's own"
    return gr.update(info=f"0 = auto ({own}). Outputs always keep the input's resolution.")


# The Blocks app ----------------------------------------------------------------------------------------

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
LAUNCH_KWARGS: dict[str, Any] = dict(theme=THEME, css=CSS, max_file_size="100mb", allowed_paths=[str(CACHE_ROOT)],
                                     footer_links=["api", "gradio"])


def _models_markdown() -> str:
    lines = ["| preset | weights | working size | description |", "|---|---|---|---|"]
    for name in ordered_presets():
        preset = get_preset(name)
        status = "trained" if preset.has_weights else f"**{UNTRAINED}**"
        lines.append(f"| `{name}` | {status} | {default_working_size(name)} px | {html.escape(preset.description)} |")
    return "\n".join(lines)


def _untrained_banner(untrained: list[str], presets: list[str]) -> str:
    count = "No preset has" if len(untrained) == len(presets) else f"{len(untrained)} presets have no"
    return (f"⚠️ **{count} trained weights yet**: they are labelled *{UNTRAINED}* and colorize with random, "
            "untrained weights, so their colours are arbitrary. The app, the metrics and the API work the same.")


def build_demo(loader: Callable[[str], LoadedModel] = resolve_model) -> gr.Blocks:
    """The app. ``loader`` turns a model name (a preset, an existing path or an owner/name id) into a
    ``LoadedModel``; the app keeps the last ``COLORIZERS_APP_MAX_MODELS`` it loaded."""
    cache = ModelCache(MODEL_CACHE_SIZE, loader)
    presets = ordered_presets()
    untrained = [name for name in presets if not get_preset(name).has_weights]
    examples = comparison.example_photos(CACHE_ROOT / "examples")
    upload = dict(type="filepath", image_mode=None, sources=["upload", "clipboard"], format="png")

    with gr.Blocks(title="colorizers: compare colorization models", delete_cache=(3600, 3600)) as demo:
        gr.Markdown(
            "# colorizers: compare colorization models\n"
            "Upload a photo (colour or black-and-white), pick one or more models and press **Colorize**. "
            "Each model sees only the photo's black-and-white version; outputs keep its full resolution and "
            "are scored live (PSNR, SSIM, colourfulness) against a colour reference.",
            elem_id="app-title",
        )
        if untrained:
            gr.Markdown(_untrained_banner(untrained, presets), elem_id="untrained-banner")
        with gr.Tab("Compare models", id="compare"):
            with gr.Row(equal_height=False):
                with gr.Column(scale=5):
                    image = gr.Image(label="Photo to colorize", height=340, elem_id="input-image", **upload)
                    with gr.Accordion("Colour reference (optional)", open=False, elem_id="reference-accordion"):
                        reference = gr.Image(label="Colour reference for the metrics", height=220,
                                             elem_id="reference-image", **upload)
                        gr.Markdown(
                            "Used for PSNR/SSIM when the photo is black-and-white (a colour photo is its own "
                            "reference). Resized to the photo's size if the sizes differ."
                        )
                with gr.Column(scale=4):
                    models = gr.Dropdown(
                        [(preset_label(name), name) for name in presets], value=default_models(), multiselect=True,
                        allow_custom_value=True, max_choices=MAX_MODELS_PER_REQUEST, label="Models", elem_id="models",
                        info="Pick presets, or type a Hub id (owner/name) or a local model folder and press Enter.",
                    )
                    resolution = gr.Slider(0, MAX_RESOLUTION, value=0, step=32, elem_id="resolution",
                                           label="Working resolution (longest edge, px)",
                                           info=resolution_info(default_models())["info"])
                    vividness = gr.Slider(0, 100, value=default_vividness(), step=5, elem_id="vividness", label="Vividness",
                                          info="Models that predict a colour distribution (chroma): 0 = its mean "
                                          "(safe, muted), 100 = its mode (vivid, sometimes wrong).")
                    run = gr.Button("Colorize", variant="primary", size="lg", elem_id="colorize-button")
                    gr.Examples([row for _, row in examples], inputs=[image, reference], examples_per_page=6,
                                example_labels=[label for label, _ in examples], label="Examples (scikit-image's photos)")
            notes = gr.Markdown(elem_id="notes")
            with gr.Row(equal_height=False):
                with gr.Column(scale=3):
                    gallery = gr.Gallery(label="Colorized", format="png", columns=3, height=400, object_fit="contain",
                                         buttons=["download", "fullscreen"], interactive=False, elem_id="gallery")
                with gr.Column(scale=2):
                    chosen = gr.Dropdown(label="Before / after for", choices=[], interactive=False, elem_id="chosen")
                    slider = gr.ImageSlider(label="Black-and-white input | colorized", type="filepath", format="png",
                                            interactive=False, max_height=360, elem_id="before-after")
            with gr.Row(equal_height=False):
                with gr.Column(scale=3):
                    table = gr.Dataframe(headers=COLUMNS, datatype=["str"] + ["number"] * 5, label="Metrics",
                                         interactive=False, wrap=True, elem_id="metrics")
                    gr.Markdown(
                        "PSNR in dB and SSIM against the colour reference (RGB uint8, full resolution; higher is "
                        "better, PSNR `inf` = identical); colourfulness after Hasler & Süsstrunk and its gap to the "
                        "reference's (reference − output); ms = inference time.",
                        elem_id="metrics-legend",
                    )
                with gr.Column(scale=2):
                    downloads = gr.File(label="Download PNGs", file_count="multiple", interactive=False,
                                        elem_id="downloads")
            with gr.Accordion("About the models", open=False):
                gr.Markdown(_models_markdown())
        state = gr.State()

        inference = dict(concurrency_limit=CONCURRENCY, concurrency_id="inference")  # shared by both endpoints
        run.click(
            functools.partial(compare, cache), inputs=[image, models, reference, resolution, vividness],
            outputs=[gallery, table, state], api_name="compare",
            api_description="Colorize an image with several models; returns the gallery and the metrics table.",
            preprocess=False, **inference,  # decoding (and its error messages) is ours
        ).success(show_details, inputs=[state], outputs=[notes, chosen, slider, downloads], api_visibility="private")
        gallery.select(select_from_gallery, inputs=[state], outputs=[chosen, slider], api_visibility="private")
        chosen.input(choose, inputs=[chosen, state], outputs=[slider], api_visibility="private")
        models.change(resolution_info, inputs=[models], outputs=[resolution], api_visibility="private")

        def colorize(image: FileData, model: str, vividness: float | None = None) -> FileData:  # no UI of its own
            return FileData(path=colorize_one(cache, image, model, vividness))

        gr.api(colorize, api_name="colorize", **inference,
               api_description="Colorize an image with one model; returns a PNG at the input's size.")
        build_guide_tab(cache, read_payload, refusals_as_user_errors, OUTPUTS, inference)
        build_video_tab(cache, refusals_as_user_errors, OUTPUTS, inference)

    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=CONCURRENCY)
    return demo


demo = build_demo()


def main() -> None:
    # Each of the CONCURRENCY inferences gets its share of the cores instead of all of them.
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // CONCURRENCY))
    host, port = os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), int(os.environ.get("GRADIO_SERVER_PORT", "7860"))
    demo.launch(server_name=host, server_port=port, **LAUNCH_KWARGS)


if __name__ == "__main__":
    main()

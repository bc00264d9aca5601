"""The colorizers Gradio app: compare colorization models side by side, with live PSNR/SSIM.

``python app.py`` serves it on 127.0.0.1:7860 (``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT`` change
that); it is also the entry point of the Hugging Face Space described in README.md. On a Space (``SPACE_ID``
set), with ``COLORIZERS_PUBLIC=1`` or ``python app.py --public`` it runs in public mode: only its listed
models, tighter limits (``colorizers.limits``).

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

import argparse
import functools
import html
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import torch
from gradio import FileData
from PIL import Image

import colorizers
from app_guide import build_guide_tab
from app_video import build_video_tab
from colorizers import comparison, get_preset, list_models, serving
from colorizers import limits as resource_limits
from colorizers.comparison import Upload, parse_working_size, read_upload
from colorizers.image_io import save_image
from colorizers.limits import Gate, Limits, shorten
from colorizers.registry import default_temperature, default_working_size
from colorizers.serving import LoadedModel, ModelCache, ModelPolicy, parse_model_names

LIMITS = resource_limits.current()  # public mode and every limit, from the environment (colorizers.limits)
resource_limits.limit_allocator_arenas()  # a server's threads share two malloc arenas: less idle memory
MODEL_CACHE_SIZE = int(os.environ.get("COLORIZERS_APP_MAX_MODELS", "4"))
CACHE_ROOT = Path(os.environ.get("COLORIZERS_APP_CACHE", Path(tempfile.gettempdir()) / "colorizers-app"))
OUTPUTS = serving.RequestFolders(CACHE_ROOT / "outputs", ttl_s=3600)  # one folder of PNGs per request
COLUMNS = ["model", "psnr", "ssim", "colorfulness", "colorfulness_gap", "ms"]
UNTRAINED = "untrained: random weights"

logger = logging.getLogger("colorizers.app")


class UserError(gr.Error):
    """A ``gr.Error`` for bad input: shown to the user, logged in one line (user strings cut short), no traceback."""

    def __init__(self, message: str):
        super().__init__(shorten(message, 2000), duration=20, print_exception=False)
        logger.warning("request refused: %s", shorten(message, LIMITS.log_chars))


def client_id() -> str | None:
    """Who sent the request being served (its address; on a Space, the first X-Forwarded-For hop)."""
    try:
        from gradio.context import LocalContext

        request = LocalContext.request.get(None)
        forwarded = request.headers.get("x-forwarded-for", "") if request is not None and os.environ.get("SPACE_ID") else ""
        return forwarded.split(",")[0].strip() or getattr(getattr(request, "client", None), "host", None)
    except Exception:  # noqa: BLE001 - Gradio internals moved: no per-client rate limit
        return None


def read_payload(payload: Any, what: str = "image", limits: Limits = LIMITS) -> Upload:
    """Decode an uploaded file (a Gradio file payload). Only files uploaded to Gradio are read: a request
    naming any other path on the server is refused."""
    if not isinstance(payload, dict):
        raise UserError(f"Expected an image file, got {type(payload).__name__}.")
    if not isinstance(payload.get("path"), str) or not payload["path"] or "\x00" in payload["path"]:
        raise UserError("The upload carries no file (try uploading it again).")
    path = Path(payload["path"]).resolve()
    if not path.is_relative_to(Path(gr.utils.get_upload_folder()).resolve()):
        raise UserError(f"The {what} must be a file uploaded to this app (gradio_client: handle_file(path)).")
    if path.is_file() and path.stat().st_size > limits.upload_bytes:
        raise UserError(f"The {what} is {path.stat().st_size / 1e6:.1f} MB, above the limit of {limits.upload_mb:g} MB (upload_mb).")
    name = payload.get("orig_name") if isinstance(payload.get("orig_name"), str) else None
    return read_upload(path, name, what=what, max_pixels=limits.max_pixels)


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


def compare(cache: ModelCache, image: Any, models: Any, reference: Any = None, resolution: Any = None,
            vividness: Any = None, limits: Limits = LIMITS):
    """``/compare``: every model on one image; returns (gallery, metrics table, UI state)."""
    if image is None:
        raise UserError("Upload an image first (or pick one of the examples).")
    names = parse_model_names(models, limit=limits.models_per_request, policy=ModelPolicy.from_limits(limits))
    size = parse_working_size(resolution, minimum=limits.min_working_size, maximum=limits.max_working_size)
    temperature = comparison.temperature_for_vividness(vividness)
    upload = read_payload(image, limits=limits)
    against = None if reference is None else read_payload(reference, "colour reference", limits=limits)
    loaded, folder = [cache.get(name) for name in names], OUTPUTS.new()  # all names checked before any loads

    def save(name: str, output) -> str:  # each output is written as soon as it is scored, then let go
        return save_png(output, folder / f"{serving.safe_filename(name)}-colorized.png")

    result = comparison.compare(upload, loaded, reference=against, size=size, temperature=temperature, on_output=save)
    outputs = [(run.name, run.output) for run in result.runs]
    before = save_png(result.gray, folder / "input-black-and-white.png")  # what the models see
    state = {"before": before, "outputs": outputs, "notes": "\n\n".join(result.notes)}
    return [(path, name) for name, path in outputs], [comparison.table_row(run) for run in result.runs], state


def colorize_one(cache: ModelCache, image: Any, model: Any, vividness: Any = None, limits: Limits = LIMITS) -> str:
    """``/colorize``: one model, one image -> the path of the colorized PNG (input's size)."""
    if image is None:
        raise UserError("Upload an image first.")
    names = parse_model_names(model, limit=limits.models_per_request, policy=ModelPolicy.from_limits(limits))
    if len(names) != 1:
        raise UserError("/colorize takes one model; use /compare for several.")
    upload = read_payload(image, limits=limits)
    loaded = cache.get(names[0])
    output, _ = comparison.run_model(loaded, upload.array, temperature=comparison.temperature_for_vividness(vividness))
    return save_png(output, OUTPUTS.new() / f"{serving.safe_filename(loaded.name)}-colorized.png")


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



def launch_kwargs(limits: Limits = LIMITS) -> dict[str, Any]:
    """launch() arguments shared by ``python app.py`` and the tests (theme and CSS live in launch())."""
    return dict(theme=THEME, css=CSS, max_file_size=f"{limits.upload_mb:g}mb", allowed_paths=[str(CACHE_ROOT)],
                footer_links=["api", "gradio"])


LAUNCH_KWARGS = launch_kwargs()


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


def build_demo(loader: Callable[[str], LoadedModel] | None = None, limits: Limits = LIMITS) -> gr.Blocks:
    """The app under ``limits`` (public mode among them). ``loader`` turns a model name (a preset, an existing
    path or an owner/name id) into a ``LoadedModel`` (default: ``resolve_model`` under the limits' policy);
    the app keeps the last ``COLORIZERS_APP_MAX_MODELS`` it loaded."""
    policy = ModelPolicy.from_limits(limits)
    cache = ModelCache(MODEL_CACHE_SIZE, loader or functools.partial(serving.resolve_model, policy=policy))
    guard = serving.guarded(Gate(limits), UserError, client_id)  # rate, room, deadline; every refusal a UserError
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
                        [(preset_label(name), name) for name in presets] + list(limits.hub_allowlist if limits.public else []),
                        value=default_models(), multiselect=True, allow_custom_value=not limits.public,
                        max_choices=limits.models_per_request, label="Models", elem_id="models",
                        info="Pick presets" + ("." if limits.public else
                                               ", or type a Hub id (owner/name) or a local model folder and press Enter."),
                    )
                    resolution = gr.Slider(0, limits.max_working_size, value=0, step=32, elem_id="resolution",
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

        inference = dict(concurrency_limit=limits.concurrency, concurrency_id="inference")  # shared by the endpoints
        run.click(
            guard(functools.partial(compare, cache, limits=limits)), inputs=[image, models, reference, resolution, vividness],
            outputs=[gallery, table, state], api_name="compare",
            api_description="Colorize an image with several models; returns the gallery and the metrics table.",
            preprocess=False, **inference,  # decoding (and its error messages) is ours
        ).success(show_details, inputs=[state], outputs=[notes, chosen, slider, downloads], api_visibility="private")
        gallery.select(select_from_gallery, inputs=[state], outputs=[chosen, slider], api_visibility="private")
        chosen.input(choose, inputs=[chosen, state], outputs=[slider], api_visibility="private")
        models.change(resolution_info, inputs=[models], outputs=[resolution], api_visibility="private")

        @guard
        def colorize(image: FileData, model: str, vividness: float | None = None) -> FileData:  # no UI of its own
            return FileData(path=colorize_one(cache, image, model, vividness, limits))

        gr.api(colorize, api_name="colorize", **inference,
               api_description="Colorize an image with one model; returns a PNG at the input's size.")
        build_guide_tab(cache, functools.partial(read_payload, limits=limits), guard, OUTPUTS, inference, policy)
        build_video_tab(cache, guard, OUTPUTS, inference)

    demo.queue(max_size=limits.queue_size, default_concurrency_limit=limits.concurrency)
    return demo


demo = build_demo()


def main(argv: list[str] | None = None) -> None:
    global demo
    parser = argparse.ArgumentParser(description="The colorizers app (see README.md, section App).")
    parser.add_argument("--public", action="store_true", help="public mode: only listed models, tighter limits")
    limits = resource_limits.current(public=True) if parser.parse_args(argv).public else LIMITS
    if limits is not LIMITS:
        demo = build_demo(limits=limits)
    logger.warning("serving in %s mode", "public" if limits.public else "private")
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // limits.concurrency))
    host, port = os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), int(os.environ.get("GRADIO_SERVER_PORT", "7860"))
    demo.launch(server_name=host, server_port=port, **launch_kwargs(limits))


if __name__ == "__main__":
    main()

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

The page and its launch settings live here; each tab lives in ``colorizers.app`` and serves in one
``colorizers.app.context.ServerContext`` made here (the limits, the model resolver, the gate, the request folders
and the caches); the rules (which names are models, what an upload may be, what the outputs are scored against)
live in ``colorizers.serving``, and their refusals become ``gr.Error`` through the context's guard.
"""

import argparse
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
import torch
from starlette.middleware import Middleware

from colorizers import get_preset
from colorizers import limits as resource_limits
from colorizers.app.compare import UNTRAINED, build_compare_tab, ordered_presets
from colorizers.app.context import ServerContext
from colorizers.app.guide import build_guide_tab
from colorizers.app.video import build_video_tab
from colorizers.limits import Limits
from colorizers.serving.policy import LoadedModel
from colorizers.serving.request_cap import RequestSizeCap

LIMITS = resource_limits.current()  # public mode and every limit, from the environment (colorizers.limits)
resource_limits.limit_allocator_arenas()  # a server's threads share two malloc arenas: less idle memory
MODEL_CACHE_SIZE = int(os.environ.get("COLORIZERS_APP_MAX_MODELS", "4"))
CACHE_ROOT = Path(os.environ.get("COLORIZERS_APP_CACHE", Path(tempfile.gettempdir()) / "colorizers-app"))

logger = logging.getLogger("colorizers.app")


# The Blocks app ----------------------------------------------------------------------------------------

CSS = """
.gradio-container { max-width: 1280px !important; margin: 0 auto !important; }
#app-title h1 { margin-bottom: 0.1em; }
#untrained-banner { border-left: 4px solid #f59e0b; padding: 0.4em 0.9em; background: rgba(245, 158, 11, 0.10);
  border-radius: 6px; }
#notes { padding: 0.3em 0.2em; }
#metrics table { font-variant-numeric: tabular-nums; }
/* the gallery shows each whole photo at its own aspect ratio (Gradio's thumbnails are squares) */
#gallery .thumbnail-item { aspect-ratio: auto !important; height: auto !important; }
#gallery .thumbnail-item img { display: block; width: 100% !important; height: auto !important;
  object-fit: contain !important; }
/* Guide tab: numbered dots over the photo where the hints are (drawn by app_guide.MARKERS_JS) and swatches */
#guide-image { position: relative; }
#guide-image .hint-markers { position: absolute; left: 0; top: 0; width: 0; height: 0; overflow: visible;
  pointer-events: none; z-index: 5; }
#guide-image .hint-marker { position: absolute; width: 22px; height: 22px; transform: translate(-50%, -50%);
  border-radius: 50%; border: 2px solid #fff; box-shadow: 0 0 0 1px rgba(0, 0, 0, 0.55), 0 1px 3px rgba(0, 0, 0, 0.4);
  font: 600 11px/18px system-ui, sans-serif; text-align: center; box-sizing: border-box; }
#guide-swatches .swatches { display: flex; flex-wrap: wrap; gap: 8px; }
#guide-swatches .swatch { display: flex; flex-direction: column; align-items: center; gap: 3px; padding: 4px;
  border: 1px solid var(--border-color-primary); border-radius: 8px; background: var(--background-fill-primary);
  cursor: pointer; }
#guide-swatches .swatch:hover { border-color: var(--color-accent); }
#guide-swatches .swatch-colour { display: block; width: 56px; height: 36px; border-radius: 5px;
  box-shadow: inset 0 0 0 1px rgba(0, 0, 0, 0.2); }
#guide-swatches .swatch-label { font-size: 11px; font-variant-numeric: tabular-nums; }
#guide-swatches .swatch-empty { margin: 0; opacity: 0.7; font-size: 0.9em; }
"""

THEME = gr.themes.Soft(primary_hue="orange", secondary_hue="slate", neutral_hue="slate")


def launch_kwargs(limits: Limits = LIMITS) -> dict[str, Any]:
    """launch() arguments shared by ``python app.py`` and the tests (theme and CSS live in launch()). Requests
    waiting in the gate hold a thread each: Gradio gets that many threads beyond its usual 40."""
    return dict(
        theme=THEME,
        css=CSS,
        max_file_size=f"{limits.upload_mb:g}mb",
        allowed_paths=[str(CACHE_ROOT)],
        footer_links=["api", "gradio"],
        max_threads=40 + limits.admitted_requests,
        # in front of gradio: a request body over the cap is refused before gradio reads (or logs) it
        app_kwargs={"middleware": [Middleware(RequestSizeCap)]},
    )


LAUNCH_KWARGS = launch_kwargs()


def _untrained_banner(untrained: list[str], presets: list[str]) -> str:
    count = "No preset has" if len(untrained) == len(presets) else f"{len(untrained)} presets have no"
    return (
        f"⚠️ **{count} trained weights yet**: they are labelled *{UNTRAINED}* and colorize with random, "
        "untrained weights, so their colours are arbitrary. The app, the metrics and the API work the same."
    )


def server_context(loader: Callable[[str], LoadedModel] | None = None, limits: Limits = LIMITS) -> ServerContext:
    """The one context the tabs serve in: ``limits``, the model resolver (``loader``, default ``resolve_model``
    under the limits' policy, behind a cache of the last ``COLORIZERS_APP_MAX_MODELS`` models), the gate, the
    request folders and the caches under ``COLORIZERS_APP_CACHE``."""
    return ServerContext.create(limits, CACHE_ROOT, loader=loader, max_models=MODEL_CACHE_SIZE)


def build_demo(
    loader: Callable[[str], LoadedModel] | None = None, limits: Limits = LIMITS, context: ServerContext | None = None
) -> gr.Blocks:
    """The app under ``limits`` (public mode among them), its tabs serving in one :func:`server_context` (or
    ``context``, whose limits then apply). ``loader`` turns a model name (a preset, an existing path or an
    owner/name id) into a ``LoadedModel``."""
    context = context or server_context(loader, limits)
    presets = ordered_presets()
    untrained = [name for name in presets if not get_preset(name).has_weights]
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
        with gr.Tabs(elem_id="tabs"):  # one tab bar: each tab keeps its state and endpoints inside its gr.Tab
            build_compare_tab(context)
            build_guide_tab(context)
            build_video_tab(context)
    # Gradio lets requests in (admitted_requests at once); the gate inside bounds pixels and model work
    demo.queue(max_size=context.limits.queue_size, default_concurrency_limit=context.limits.admitted_requests)
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

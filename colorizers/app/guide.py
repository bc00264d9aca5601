"""The app's "Guide the colours" tab: click the photo to place a colour hint, pick its colour from the
model's suggestions or a colour picker, and the hint-capable model spreads it.

Built inside ``app.build_demo``'s Blocks (``build_guide_tab``); its rules (hint parsing, suggestions,
colorization) are the library's (``colorizers.processing.hints``, ``colorizers.suggest_colors``,
``colorizers.colorize``), and their refusals become ``gr.Error`` through the ``refuse`` callable app.py
passes in. Stable API: ``/guide`` (image, model, hints as a JSON list, vividness 0..100 or None) -> PNG;
``/suggest`` (image, model, x, y, hints) -> the model's likely colours at (x, y).
"""

import html
import json
import re
from collections.abc import Callable
from typing import Any

import gradio as gr
from gradio import FileData

from colorizers import get_preset
from colorizers.app.compare import DEFAULT_VIVIDNESS, ordered_presets, preset_choices
from colorizers.image_io import save_image
from colorizers.pipeline import suggest_colors
from colorizers.processing.hints import HintError, load_hints_file, parse_hints, parse_hints_json
from colorizers.serving.comparison import run_model, temperature_for_vividness
from colorizers.serving.policy import (
    PRIVATE_POLICY,
    ModelCache,
    ModelPolicy,
    RequestError,
    parse_model_names,
    safe_filename,
)

HINT_COLUMNS = ["x", "y", "colour", "radius"]
DEFAULT_COLOUR = "#c0392b"
HEX = re.compile(r"^#(?:[0-9a-fA-F]{3}){1,2}$")

# Clicking a swatch sends its colour to the server (a "click" event carrying {hex}).
SWATCH_JS = """
element.addEventListener('click', (event) => {
  const swatch = event.target.closest('[data-hex]');
  if (swatch) trigger('click', {hex: swatch.dataset.hex});
});
"""

# Numbered dots in each hint's colour, drawn over the displayed photo (#guide-image) wherever it is shown and
# however it is scaled; redrawn when the hints change, the photo changes or the layout moves. Run in the
# browser with the hints table's value (rows of x, y, colour, radius).
MARKERS_JS = """
(rows) => {
  const data = Array.isArray(rows) ? rows : (rows && rows.data) || [];
  const number = (v) => v !== null && v !== '' && v !== undefined && Number.isFinite(Number(v));
  const g = (window.colorizersHintMarkers = window.colorizersHintMarkers || {});
  g.hints = data.filter((r) => r && number(r[0]) && number(r[1]))
    .map((r) => ({x: Number(r[0]), y: Number(r[1]), colour: String(r[2] || '#c0392b')}));
  if (!g.draw) {
    const ink = (colour) => {
      let hex = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.test(colour) ? colour.slice(1) : 'c0392b';
      if (hex.length === 3) hex = hex.split('').map((c) => c + c).join('');
      const [r, gr, b] = [0, 2, 4].map((i) => parseInt(hex.slice(i, i + 2), 16));
      return 0.299 * r + 0.587 * gr + 0.114 * b > 150 ? '#111' : '#fff';
    };
    g.draw = () => {
      const root = document.getElementById('guide-image');
      if (!root) return;
      let layer = root.querySelector('.hint-markers');
      if (!layer) {
        layer = document.createElement('div');
        layer.className = 'hint-markers';
        root.appendChild(layer);
      }
      if (g.root !== root) {  // watch this photo: a new image, a resize, a tab shown again
        g.root = root;
        const own = (node) => node === layer || layer.contains(node);
        new MutationObserver((records) => {
          if (records.some((r) => !own(r.target) && ![...r.addedNodes, ...r.removedNodes].every(own))) g.schedule();
        }).observe(root, {childList: true, subtree: true, attributes: true, attributeFilter: ['src']});
        new ResizeObserver(() => g.schedule()).observe(root);
      }
      layer.replaceChildren();
      const img = [...root.querySelectorAll('img')].find((i) => i.getBoundingClientRect().width > 0);
      if (!img) return;
      if (!img.complete || !img.naturalWidth) { img.addEventListener('load', () => g.schedule(), {once: true}); return; }
      const box = img.getBoundingClientRect(), outer = root.getBoundingClientRect();
      const fit = getComputedStyle(img).objectFit;
      let sx = box.width / img.naturalWidth, sy = box.height / img.naturalHeight;
      if (fit !== 'fill') {
        const contain = Math.min(sx, sy);
        sx = sy = fit === 'cover' ? Math.max(sx, sy) : fit === 'none' ? 1 : fit === 'scale-down' ? Math.min(1, contain) : contain;
      }
      const left = box.left - outer.left - root.clientLeft + (box.width - img.naturalWidth * sx) / 2;
      const top = box.top - outer.top - root.clientTop + (box.height - img.naturalHeight * sy) / 2;
      g.hints.forEach((hint, i) => {
        const dot = document.createElement('div');
        dot.className = 'hint-marker';
        dot.textContent = String(i + 1);
        dot.title = `hint ${i + 1}: (${hint.x}, ${hint.y}) ${hint.colour}`;
        dot.dataset.x = hint.x;
        dot.dataset.y = hint.y;
        dot.style.left = `${left + hint.x * sx}px`;
        dot.style.top = `${top + hint.y * sy}px`;
        dot.style.background = '#c0392b';
        dot.style.background = hint.colour;  // ignored by the browser when it is not a CSS colour
        dot.style.color = ink(hint.colour);
        layer.appendChild(dot);
      });
    };
    g.schedule = () => {
      if (g.pending) return;
      g.pending = true;
      requestAnimationFrame(() => { g.pending = false; g.draw(); });
    };
  }
  g.schedule();
  return [];
}
"""


def hint_capable_presets() -> list[str]:
    """Presets that take colour hints, best first (app_compare.ordered_presets: measured kodak24 PSNR vs gray)."""
    return [name for name in ordered_presets() if getattr(get_preset(name).make_config(), "use_hints", False)]


def rows_to_hints(rows: Any) -> list[dict]:
    """The hints table (rows of x, y, colour, radius) -> hint dicts for ``colorizers.colorize``."""
    if rows is None:
        return []
    if isinstance(rows, dict):  # a Dataframe payload
        rows = rows.get("data") or []
    if hasattr(rows, "values"):  # a pandas DataFrame
        rows = rows.values.tolist()
    hints = []
    for row in rows:
        if not row or all(cell in (None, "") for cell in row):
            continue
        x, y, colour, *rest = list(row) + [None] * (4 - len(row))
        hint = {"x": x, "y": y, "color": colour}
        if rest and rest[0] not in (None, ""):
            hint["radius"] = rest[0]
        hints.append(hint)
    return hints


def swatches_html(suggestions: list[dict]) -> str:
    """The model's suggested colours as clickable swatches (a coloured block, its hex code and probability)."""
    if not suggestions:
        return '<p class="swatch-empty">Click the photo: the model\'s likely colours at that point show here.</p>'
    items = []
    for suggestion in suggestions:
        hex_code = str(suggestion.get("hex", ""))
        if not HEX.match(hex_code):
            continue
        share = f"{100 * float(suggestion.get('probability', 0)):.0f}%"
        items.append(
            f'<button type="button" class="swatch" data-hex="{hex_code}" title="Use {hex_code} ({share})">'
            f'<span class="swatch-colour" style="background:{hex_code}"></span>'
            f'<span class="swatch-label">{html.escape(hex_code)} · {share}</span></button>'
        )
    return '<div class="swatches">' + "".join(items) + "</div>"


def hints_to_rows(hints: list[dict]) -> list[list]:
    return [
        [h["x"], h["y"], h.get("color") or h.get("hex") or h.get("rgb") or h.get("ab"), h.get("radius")] for h in hints
    ]


def _parse_json_hints(hints: Any) -> list[dict]:
    if isinstance(hints, str):
        try:  # size and nesting are checked before the text is parsed
            hints = parse_hints_json(hints) if hints.strip() else []
        except HintError as error:
            raise RequestError(str(error)) from None
    if isinstance(hints, dict) and set(hints) == {"hints"}:
        hints = hints["hints"]
    if hints is not None and not isinstance(hints, list):
        raise RequestError("The hints must be a JSON list of {x, y, color, radius} objects.")
    return hints or []


def build_guide_tab(
    cache: ModelCache,
    read_payload: Callable,
    refuse: Callable,
    outputs,
    concurrency: dict,
    policy: ModelPolicy = PRIVATE_POLICY,
) -> None:
    """The tab's layout and events (call inside a ``gr.Blocks``). ``read_payload`` decodes an uploaded file
    payload (refusing other paths), ``refuse`` wraps handlers so library refusals reach the user (and applies
    the server's limits), ``outputs`` hands out per-request folders for result files, and ``policy`` says
    which model names may be loaded."""
    presets = hint_capable_presets()

    def load(image: Any, model: Any):
        if image is None:
            raise RequestError("Upload a photo first.")
        names = parse_model_names(model, limit=1, policy=policy)
        if len(names) != 1:
            raise RequestError("Pick one model.")
        return read_payload(image), cache.get(names[0])

    @refuse
    def guide(image: Any, model: Any, hints: list[dict], vividness: Any = None) -> tuple[str, str]:
        upload, loaded = load(image, model)
        try:
            parse_hints(hints, upload.width, upload.height)
        except HintError as error:
            raise RequestError(str(error)) from None
        output, _ = run_model(loaded, upload.array, temperature=temperature_for_vividness(vividness), hints=hints)
        folder = outputs.new()
        path = save_image(output, folder / f"{safe_filename(loaded.name)}-guided.png", compress_level=3)
        hints_file = folder / "hints.json"
        hints_file.write_text(json.dumps({"hints": hints}, indent=1))
        return str(path), str(hints_file)

    @refuse
    def suggest(image: Any, model: Any, x: Any, y: Any, hints: list[dict]) -> list[dict]:
        upload, loaded = load(image, model)
        try:
            return suggest_colors(upload.array, loaded.model, float(x), float(y), hints=hints or None)
        except (HintError, ValueError, TypeError) as error:
            raise RequestError(str(error)) from None

    def add_hint(image, model, rows, colour, radius, vividness, event: gr.SelectData):
        x, y = (int(v) for v in event.index)
        hints = rows_to_hints(rows)
        found = suggest(image, model, x, y, hints)
        hints.append({"x": x, "y": y, "color": colour or DEFAULT_COLOUR, "radius": radius})
        result, hints_file = guide(image, model, hints, vividness)
        return hints_to_rows(hints), swatches_html(found), result, hints_file

    def pick_swatch(event: gr.EventData):
        picked = getattr(event, "_data", None) or {}
        hex_code = picked.get("hex") if isinstance(picked, dict) else None
        return hex_code if isinstance(hex_code, str) and HEX.match(hex_code) else gr.update()

    def recolour_last(image, model, rows, colour, vividness):
        hints = rows_to_hints(rows)
        if not hints or not colour or image is None:
            return gr.update(), gr.update(), gr.update()
        hints[-1]["color"] = colour
        result, hints_file = guide(image, model, hints, vividness)
        return hints_to_rows(hints), result, hints_file

    def redraw(image, model, rows, vividness):
        if image is None:
            return gr.update(), gr.update()
        return guide(image, model, rows_to_hints(rows), vividness)

    @refuse
    def load_hints(file: Any) -> list[list]:
        path = (
            file
            if isinstance(file, str)
            else (file or {}).get("path")
            if isinstance(file, dict)
            else getattr(file, "name", None)
        )
        try:
            data = load_hints_file(str(path))
        except HintError as error:
            raise RequestError(str(error)) from None
        if not isinstance(data, list):
            raise RequestError('The hints file must hold a list of hints (or {"hints": [...]}).')
        return hints_to_rows(data)

    @refuse
    def guide_api(image: FileData, model: str, hints: str | None = None, vividness: float | None = None) -> FileData:
        return FileData(path=guide(image, model, _parse_json_hints(hints), vividness)[0])

    @refuse
    def suggest_api(image: FileData, model: str, x: float, y: float, hints: str | None = None) -> list[dict]:
        return suggest(image, model, x, y, _parse_json_hints(hints))

    with gr.Tab("Guide the colours", id="guide"):
        gr.Markdown(
            "Click the photo to place a hint (a numbered dot); choose its colour from the model's suggested "
            "swatches or the picker (it applies to the last hint). Hints are listed below: edit or delete rows, "
            "remove the last one or clear them all."
        )
        with gr.Row(equal_height=False):
            with gr.Column(scale=5):
                photo = gr.Image(
                    label="Photo (click to add a hint)",
                    type="filepath",
                    image_mode=None,
                    height=380,
                    sources=["upload", "clipboard"],
                    format="png",
                    elem_id="guide-image",
                )
                result = gr.Image(
                    label="Guided colorization",
                    type="filepath",
                    format="png",
                    interactive=False,
                    height=380,
                    elem_id="guide-result",
                )
            with gr.Column(scale=4):
                model = gr.Dropdown(
                    preset_choices(presets),  # (label, name): the value and the API stay plain names
                    value=presets[0] if presets else None,
                    label="Hint-capable model",
                    allow_custom_value=not policy.public,
                    elem_id="guide-model",
                )
                gr.Markdown(
                    "**Suggested colours at the last click** (click one to use it)", elem_id="guide-swatches-title"
                )
                swatches = gr.HTML(swatches_html([]), js_on_load=SWATCH_JS, elem_id="guide-swatches")
                colour = gr.ColorPicker(DEFAULT_COLOUR, label="Hint colour", elem_id="guide-colour")
                radius = gr.Slider(
                    1, 60, value=6, step=1, label="Hint radius (px of the photo)", elem_id="guide-radius"
                )
                vividness = gr.Slider(
                    0, 100, value=DEFAULT_VIVIDNESS, step=5, label="Vividness", elem_id="guide-vividness"
                )
                rows = gr.Dataframe(
                    headers=HINT_COLUMNS,
                    datatype=["number", "number", "str", "number"],
                    row_count=0,
                    column_count=4,
                    interactive=True,
                    label="Hints",
                    elem_id="guide-hints",
                )
                with gr.Row():
                    undo = gr.Button("Remove last hint", elem_id="guide-undo")
                    clear = gr.Button("Clear hints", elem_id="guide-clear")
                    upload_hints = gr.UploadButton("Load hints (JSON)", file_types=[".json"], elem_id="guide-load")
                hints_file = gr.File(label="Hints (JSON)", interactive=False, elem_id="guide-hints-file")

        raw = dict(preprocess=False, api_visibility="private")  # payloads are decoded (and checked) by the library
        photo.select(
            add_hint,
            inputs=[photo, model, rows, colour, radius, vividness],
            outputs=[rows, swatches, result, hints_file],
            **raw,
            **concurrency,
        )
        swatches.click(pick_swatch, outputs=[colour], api_visibility="private")
        colour.change(  # change, not input: typing a hex code or taking a suggestion must recolour the hint too
            recolour_last,
            inputs=[photo, model, rows, colour, vividness],
            outputs=[rows, result, hints_file],
            **raw,
            **concurrency,
        )
        for control in (rows, vividness, model):
            control.input(
                redraw, inputs=[photo, model, rows, vividness], outputs=[result, hints_file], **raw, **concurrency
            )
        undo.click(
            lambda table: hints_to_rows(rows_to_hints(table)[:-1]),
            inputs=[rows],
            outputs=[rows],
            api_visibility="private",
        ).then(redraw, inputs=[photo, model, rows, vividness], outputs=[result, hints_file], **raw)
        clear.click(lambda: ([], swatches_html([])), outputs=[rows, swatches], api_visibility="private").then(
            redraw, inputs=[photo, model, rows, vividness], outputs=[result, hints_file], **raw
        )
        for event in (rows.change, photo.change):  # the dots follow the hints table and the photo shown
            event(None, inputs=[rows], js=MARKERS_JS, api_visibility="private")
        upload_hints.upload(load_hints, inputs=[upload_hints], outputs=[rows], api_visibility="private").then(
            redraw, inputs=[photo, model, rows, vividness], outputs=[result, hints_file], **raw
        )
        gr.api(
            guide_api,
            api_name="guide",
            **concurrency,
            api_description="Colorize an image guided by colour hints (a JSON list of {x, y, color, radius}); returns a PNG.",
        )
        gr.api(
            suggest_api,
            api_name="suggest",
            **concurrency,
            api_description="The model's likely colours at pixel (x, y): [{ab, rgb, hex, probability}, ...].",
        )


__all__ = ["build_guide_tab", "hint_capable_presets", "rows_to_hints", "swatches_html"]

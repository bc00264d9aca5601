"""The app's "Guide the colours" tab: click the photo to place a colour hint, pick its colour from the
model's suggestions or a colour picker, and the hint-capable model spreads it.

Built inside ``app.build_demo``'s Blocks by ``build_guide_tab(context)`` (a ``ServerContext``: the server's
limits, model resolver, gate and caches). The handlers are :class:`GuideEndpoints`; the work is
``colorizers.serving.guided`` (the results of ``colorizers.colorize`` and ``colorizers.suggest_colors``, with the
photo decoded once per upload and one forward pass of the model per click), and refusals become ``gr.Error``
through the context's guard. Stable API: ``/guide`` (image, model, hints as a JSON list, vividness 0..100 or
None) -> PNG; ``/suggest`` (image, model, x, y, hints) -> the model's likely colours at (x, y).
"""

import html
import json
import re
from dataclasses import dataclass
from typing import Any

import gradio as gr
from gradio import FileData

from colorizers import get_preset
from colorizers.app.compare import DEFAULT_VIVIDNESS, RESULT, UPLOAD, ordered_presets, preset_choices
from colorizers.app.context import ServerContext, file_key
from colorizers.image_io import save_image
from colorizers.image_processing_colorizer import image_to_lightness
from colorizers.processing.hints import HintError, load_hints_file, parse_hints_json
from colorizers.serving.comparison import model_failures, temperature_for_vividness
from colorizers.serving.guided import GuidedPhoto, Hints
from colorizers.serving.policy import RequestError, safe_filename

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


# The handlers -------------------------------------------------------------------------------------------


def load_hints(file: Any) -> list[list]:
    """An uploaded hints file (JSON: a list of hints, or {"hints": [...]}) as rows of the hints table."""
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


def parsed_hints(photo: GuidedPhoto, hints: Any) -> Hints:
    try:
        return photo.parse(hints)
    except HintError as error:
        raise RequestError(str(error)) from None


def suggestion_hints(photo: GuidedPhoto, x: Any, y: Any, hints: Any) -> tuple[float, float, Hints]:
    """The point and the hints of a suggestion request, checked in ``suggest_colors``'s order."""
    try:
        x, y = float(x), float(y)
        photo.check_distribution()
        placed = photo.parse(hints or None)
        photo.check_hints(placed)
        photo.check_point(x, y)
    except (HintError, ValueError, TypeError) as error:
        raise RequestError(str(error)) from None
    return x, y, placed


class GuideEndpoints:
    """The tab's handlers, serving in a ``ServerContext``. ``guide``, ``suggest``, ``click`` and ``load_hints``
    are guarded (one request each: rate, room, deadline; refusals reach the user as ``gr.Error``).

    A photo is decoded once per upload and each click runs the model once (``colorizers.serving.guided``)."""

    def __init__(self, context: ServerContext):
        self.context = context
        self.guide = context.guard(self._guide)
        self.suggest = context.guard(self._suggest)
        self.click = context.guard(self._click)
        self.load_hints = context.guard(load_hints)

    def open(self, image: Any, model: Any) -> GuidedPhoto:
        """The uploaded photo under the named model (name checked first, then the file, then the model)."""
        if image is None:
            raise RequestError("Upload a photo first.")
        context = self.context
        name = context.models.one(model)
        path, shown = context.upload_file(image)
        return context.photos.get(
            file_key(path),
            lambda: context.models.load(name),
            name,
            lambda: image_to_lightness(context.decode(path, shown).array),
            max_working_size=context.limits.max_working_size,
        )

    def save(self, photo: GuidedPhoto, output: Any, hints: list[dict]) -> tuple[str, str]:
        """The result (PNG) and its hints (JSON), in a new folder of the request."""
        folder = self.context.outputs.new()
        path = save_image(output, folder / f"{safe_filename(photo.loaded.name)}-guided.png", compress_level=3)
        hints_file = folder / "hints.json"
        hints_file.write_text(json.dumps({"hints": hints}, indent=1))
        return str(path), str(hints_file)

    def _guide(self, image: Any, model: Any, hints: list[dict], vividness: Any = None) -> tuple[str, str]:
        photo = self.open(image, model)
        parsed = parsed_hints(photo, hints)
        temperature = temperature_for_vividness(vividness)
        with model_failures(photo.loaded):
            photo.check_hints(parsed)
            output = photo.colorize(parsed, temperature)
        return self.save(photo, output, hints)

    def _suggest(self, image: Any, model: Any, x: Any, y: Any, hints: list[dict]) -> list[dict]:
        photo = self.open(image, model)
        x, y, placed = suggestion_hints(photo, x, y, hints)
        return photo.suggest(x, y, placed)

    def _click(self, image: Any, model: Any, rows: Any, colour: Any, radius: Any, vividness: Any, x: Any, y: Any):
        """A click on the photo at (x, y): a hint there, the likely colours there and the new result, from one
        decoded photo and one forward pass. Returns (hints table, swatches, result, hints file)."""
        x, y = int(x), int(y)
        hints = rows_to_hints(rows)
        photo = self.open(image, model)
        _, _, placed = suggestion_hints(photo, x, y, hints)
        hints.append({"x": x, "y": y, "color": colour or DEFAULT_COLOUR, "radius": radius})
        guided = parsed_hints(photo, hints)
        temperature = temperature_for_vividness(vividness)
        with model_failures(photo.loaded):
            photo.check_hints(guided)
            found, output = photo.click(x, y, placed, guided, temperature)
        result, hints_file = self.save(photo, output, hints)
        return hints_to_rows(hints), swatches_html(found), result, hints_file

    def recolour_last(self, image: Any, model: Any, rows: Any, colour: Any, vividness: Any):
        """The colour picked applies to the last hint (nothing to do without one)."""
        hints = rows_to_hints(rows)
        if not hints or not colour or image is None:
            return gr.update(), gr.update(), gr.update()
        hints[-1]["color"] = colour
        result, hints_file = self.guide(image, model, hints, vividness)
        return hints_to_rows(hints), result, hints_file

    def redraw(self, image: Any, model: Any, rows: Any, vividness: Any):
        if image is None:
            return gr.update(), gr.update()
        return self.guide(image, model, rows_to_hints(rows), vividness)


def pick_swatch(event: gr.EventData):
    picked = getattr(event, "_data", None) or {}
    hex_code = picked.get("hex") if isinstance(picked, dict) else None
    return hex_code if isinstance(hex_code, str) and HEX.match(hex_code) else gr.update()


def remove_last(table: Any) -> list[list]:
    return hints_to_rows(rows_to_hints(table)[:-1])


def clear_hints() -> tuple[list, str]:
    return [], swatches_html([])


# The tab ----------------------------------------------------------------------------------------------------


@dataclass
class GuideControls:
    """The tab's components the events read and write."""

    photo: gr.Image
    result: gr.Image
    model: gr.Dropdown
    swatches: gr.HTML
    colour: gr.ColorPicker
    radius: gr.Slider
    vividness: gr.Slider
    rows: gr.Dataframe
    undo: gr.Button
    clear: gr.Button
    upload_hints: gr.UploadButton
    hints_file: gr.File


def photo_column() -> tuple[gr.Image, gr.Image]:
    """The photo to click on, and the guided result under it."""
    photo = gr.Image(label="Photo (click to add a hint)", height=380, elem_id="guide-image", **UPLOAD)
    result = gr.Image(label="Guided colorization", height=380, elem_id="guide-result", **RESULT)
    return photo, result


def colour_controls(public: bool) -> tuple[gr.Dropdown, gr.HTML, gr.ColorPicker, gr.Slider, gr.Slider]:
    """The model, the suggested swatches, the hint's colour and radius, and the vividness."""
    presets = hint_capable_presets()
    model = gr.Dropdown(
        preset_choices(presets),  # (label, name): the value and the API stay plain names
        value=presets[0] if presets else None,
        label="Hint-capable model",
        allow_custom_value=not public,
        elem_id="guide-model",
    )
    gr.Markdown("**Suggested colours at the last click** (click one to use it)", elem_id="guide-swatches-title")
    swatches = gr.HTML(swatches_html([]), js_on_load=SWATCH_JS, elem_id="guide-swatches")
    colour = gr.ColorPicker(DEFAULT_COLOUR, label="Hint colour", elem_id="guide-colour")
    radius = gr.Slider(1, 60, value=6, step=1, label="Hint radius (px of the photo)", elem_id="guide-radius")
    vividness = gr.Slider(0, 100, value=DEFAULT_VIVIDNESS, step=5, label="Vividness", elem_id="guide-vividness")
    return model, swatches, colour, radius, vividness


def hints_controls() -> tuple[gr.Dataframe, gr.Button, gr.Button, gr.UploadButton, gr.File]:
    """The hints table, its buttons (remove last, clear, load a JSON file) and the hints file to download."""
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
    return rows, undo, clear, upload_hints, hints_file


def guide_layout(public: bool) -> GuideControls:
    """The tab's components (call inside its ``gr.Tab``)."""
    gr.Markdown(
        "Click the photo to place a hint (a numbered dot); choose its colour from the model's suggested "
        "swatches or the picker (it applies to the last hint). Hints are listed below: edit or delete rows, "
        "remove the last one or clear them all."
    )
    with gr.Row(equal_height=False):
        with gr.Column(scale=5):
            photo, result = photo_column()
        with gr.Column(scale=4):
            model, swatches, colour, radius, vividness = colour_controls(public)
            rows, undo, clear, upload_hints, hints_file = hints_controls()
    return GuideControls(
        photo, result, model, swatches, colour, radius, vividness, rows, undo, clear, upload_hints, hints_file
    )


def guide_events(ui: GuideControls, endpoints: GuideEndpoints) -> None:
    """Clicks add hints; the colour, the table, the vividness, the model and the buttons redraw the result."""
    inference = endpoints.context.inference
    raw = dict(preprocess=False, api_visibility="private")  # payloads are decoded (and checked) by the library
    redraw = dict(inputs=[ui.photo, ui.model, ui.rows, ui.vividness], outputs=[ui.result, ui.hints_file], **raw)

    def add_hint(image, model, rows, colour, radius, vividness, event: gr.SelectData):
        return endpoints.click(image, model, rows, colour, radius, vividness, *event.index)

    ui.photo.select(
        add_hint,
        inputs=[ui.photo, ui.model, ui.rows, ui.colour, ui.radius, ui.vividness],
        outputs=[ui.rows, ui.swatches, ui.result, ui.hints_file],
        **raw,
        **inference,
    )
    ui.swatches.click(pick_swatch, outputs=[ui.colour], api_visibility="private")
    ui.colour.change(  # change, not input: typing a hex code or taking a suggestion must recolour the hint too
        endpoints.recolour_last,
        inputs=[ui.photo, ui.model, ui.rows, ui.colour, ui.vividness],
        outputs=[ui.rows, ui.result, ui.hints_file],
        **raw,
        **inference,
    )
    for control in (ui.rows, ui.vividness, ui.model):
        control.input(endpoints.redraw, **redraw, **inference)
    ui.undo.click(remove_last, inputs=[ui.rows], outputs=[ui.rows], api_visibility="private").then(
        endpoints.redraw, **redraw
    )
    ui.clear.click(clear_hints, outputs=[ui.rows, ui.swatches], api_visibility="private").then(
        endpoints.redraw, **redraw
    )
    for event in (ui.rows.change, ui.photo.change):  # the dots follow the hints table and the photo shown
        event(None, inputs=[ui.rows], js=MARKERS_JS, api_visibility="private")
    ui.upload_hints.upload(
        endpoints.load_hints, inputs=[ui.upload_hints], outputs=[ui.rows], api_visibility="private"
    ).then(endpoints.redraw, **redraw)


def guide_apis(endpoints: GuideEndpoints) -> None:
    """``/guide`` and ``/suggest``: hints as JSON text."""
    guard, inference = endpoints.context.guard, endpoints.context.inference

    @guard
    def guide_api(image: FileData, model: str, hints: str | None = None, vividness: float | None = None) -> FileData:
        return FileData(path=endpoints.guide(image, model, _parse_json_hints(hints), vividness)[0])

    @guard
    def suggest_api(image: FileData, model: str, x: float, y: float, hints: str | None = None) -> list[dict]:
        return endpoints.suggest(image, model, x, y, _parse_json_hints(hints))

    gr.api(
        guide_api,
        api_name="guide",
        **inference,
        api_description="Colorize an image guided by colour hints (a JSON list of {x, y, color, radius}); returns a PNG.",
    )
    gr.api(
        suggest_api,
        api_name="suggest",
        **inference,
        api_description="The model's likely colours at pixel (x, y): [{ab, rgb, hex, probability}, ...].",
    )


def build_guide_tab(context: ServerContext) -> GuideEndpoints:
    """The tab's layout and events, and the ``/guide`` and ``/suggest`` endpoints (call inside a ``gr.Blocks``),
    serving in ``context`` (its limits, policy, models, gate and caches). Returns the tab's handlers."""
    endpoints = GuideEndpoints(context)
    with gr.Tab("Guide the colours", id="guide"):
        ui = guide_layout(context.limits.public)
        guide_events(ui, endpoints)
        guide_apis(endpoints)
    return endpoints


__all__ = [
    "GuideEndpoints",
    "build_guide_tab",
    "hint_capable_presets",
    "load_hints",
    "rows_to_hints",
    "swatches_html",
]

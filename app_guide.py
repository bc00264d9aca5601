"""The app's "Guide the colours" tab: click the photo to place a colour hint, pick its colour from the
model's suggestions or a colour picker, and the hint-capable model spreads it.

Built inside ``app.build_demo``'s Blocks (``build_guide_tab``); its rules (hint parsing, suggestions,
colorization) are the library's (``colorizers.hints``, ``colorizers.suggest_colors``,
``colorizers.colorize``), and their refusals become ``gr.Error`` through the ``refuse`` callable app.py
passes in. Stable API: ``/guide`` (image, model, hints as a JSON list, vividness 0..100 or None) -> PNG;
``/suggest`` (image, model, x, y, hints) -> the model's likely colours at (x, y).
"""

import json
from collections.abc import Callable
from typing import Any

import gradio as gr
from gradio import FileData

from colorizers import get_preset, list_models
from colorizers.comparison import run_model, temperature_for_vividness
from colorizers.hints import HintError, load_hints_file, parse_hints
from colorizers.image_io import save_image
from colorizers.pipeline import suggest_colors
from colorizers.serving import PRIVATE_POLICY, ModelCache, ModelPolicy, RequestError, parse_model_names, safe_filename

HINT_COLUMNS = ["x", "y", "colour", "radius"]
DEFAULT_COLOUR = "#c0392b"


def hint_capable_presets() -> list[str]:
    """Presets that take colour hints, those with trained weights first."""
    names = [name for name in list_models() if getattr(get_preset(name).make_config(), "use_hints", False)]
    return sorted(names, key=lambda name: not get_preset(name).has_weights)


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


def hints_to_rows(hints: list[dict]) -> list[list]:
    return [
        [h["x"], h["y"], h.get("color") or h.get("hex") or h.get("rgb") or h.get("ab"), h.get("radius")] for h in hints
    ]


def _parse_json_hints(hints: Any) -> list[dict]:
    if isinstance(hints, str):
        try:
            hints = json.loads(hints) if hints.strip() else []
        except json.JSONDecodeError as error:
            raise RequestError(f"The hints are not valid JSON: {error}") from None
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
        choices = [(f"{s['hex']}  ({100 * s['probability']:.0f}%)", s["hex"]) for s in found]
        result, hints_file = guide(image, model, hints, vividness)
        return hints_to_rows(hints), gr.update(choices=choices, value=None), result, hints_file

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
            "Click the photo to place a hint; choose its colour from the model's suggestions or the picker "
            "(it applies to the last hint). Hints are listed below: edit or delete rows to change them."
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
                    presets,
                    value=presets[0] if presets else None,
                    label="Hint-capable model",
                    allow_custom_value=not policy.public,
                    elem_id="guide-model",
                )
                suggestions = gr.Radio(
                    label="Suggested colours at the last click", choices=[], elem_id="guide-suggestions"
                )
                colour = gr.ColorPicker(DEFAULT_COLOUR, label="Hint colour", elem_id="guide-colour")
                radius = gr.Slider(
                    1, 60, value=6, step=1, label="Hint radius (px of the photo)", elem_id="guide-radius"
                )
                vividness = gr.Slider(0, 100, value=50, step=5, label="Vividness", elem_id="guide-vividness")
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
                    clear = gr.Button("Clear hints", elem_id="guide-clear")
                    upload_hints = gr.UploadButton("Load hints (JSON)", file_types=[".json"], elem_id="guide-load")
                hints_file = gr.File(label="Hints (JSON)", interactive=False, elem_id="guide-hints-file")

        raw = dict(preprocess=False, api_visibility="private")  # payloads are decoded (and checked) by the library
        photo.select(
            add_hint,
            inputs=[photo, model, rows, colour, radius, vividness],
            outputs=[rows, suggestions, result, hints_file],
            **raw,
            **concurrency,
        )
        suggestions.input(
            lambda value: value or gr.update(), inputs=[suggestions], outputs=[colour], api_visibility="private"
        )
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
        clear.click(lambda: [], outputs=[rows], api_visibility="private").then(
            redraw, inputs=[photo, model, rows, vividness], outputs=[result, hints_file], **raw
        )
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


__all__ = ["build_guide_tab", "hint_capable_presets", "rows_to_hints"]

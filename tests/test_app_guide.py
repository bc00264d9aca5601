"""The app's "Guide the colours" endpoints (/guide, /suggest) through gradio_client and raw requests."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from app_server import served  # noqa: E402
from conftest import tiny_model  # noqa: E402

import colorizers  # noqa: E402
from colorizers.app import context as app_context  # noqa: E402
from colorizers.app import guide as app_guide  # noqa: E402
from colorizers.app.context import ServerContext, UserError  # noqa: E402
from colorizers.limits import PRIVATE  # noqa: E402
from colorizers.processing.hints import HintError  # noqa: E402
from colorizers.serving.comparison import temperature_for_vividness  # noqa: E402
from colorizers.serving.guided import GuidedPhoto  # noqa: E402
from colorizers.serving.policy import LoadedModel, resolve_model  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def guided_model():
    model = tiny_model("chroma").eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.2)
    return model


def loader(name: str) -> LoadedModel:
    return LoadedModel.from_model(name, guided_model()) if name == "test/chroma" else resolve_model(name)


@pytest.fixture(scope="module")
def client():
    with served(loader) as url:
        yield Client(url, verbose=False)


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("guide") / "photo.png"
    Image.fromarray((np.random.default_rng(0).random((40, 56)) * 255).astype(np.uint8)).save(path)
    return path


def test_guide_applies_hints_and_keeps_the_size(client, photo):
    plain = np.asarray(
        Image.open(client.predict(handle_file(str(photo)), "test/chroma", "[]", None, api_name="/guide"))
    )
    hints = json.dumps([{"x": 20, "y": 10, "color": "#ff0000", "radius": 8}])
    guided = np.asarray(
        Image.open(client.predict(handle_file(str(photo)), "test/chroma", hints, 80, api_name="/guide"))
    )
    assert plain.shape == guided.shape == (40, 56, 3)
    assert not np.array_equal(plain, guided)


@pytest.mark.parametrize(
    "hints, message",
    [
        ('[{"x": 99, "y": 1, "color": "#fff"}]', r"point \(99, 1\) is outside the 56x40 image"),
        ("[{", "The hints text is not valid JSON"),
        ('{"x": 1}', "The hints must be a JSON list"),
        ('[{"x": 1, "y": 1, "color": "blue-ish"}]', "is not #rrggbb or #rgb hex"),
    ],
)
def test_bad_hints_get_a_clear_message(client, photo, hints, message):
    with pytest.raises(AppError, match=message):
        client.predict(handle_file(str(photo)), "test/chroma", hints, None, api_name="/guide")


def test_models_without_hint_inputs_are_refused(client, photo):
    with pytest.raises(AppError, match="has no hint inputs"):
        client.predict(
            handle_file(str(photo)), "vanilla-v2", '[{"x": 1, "y": 1, "color": "#00f"}]', None, api_name="/guide"
        )


def test_suggest_returns_distinct_colours(client, photo):
    suggestions = client.predict(handle_file(str(photo)), "test/chroma", 10, 12, None, api_name="/suggest")
    assert 1 <= len(suggestions) <= 5
    assert {"ab", "rgb", "hex", "probability"} <= set(suggestions[0])
    assert len({s["hex"] for s in suggestions}) == len(suggestions)
    with pytest.raises(AppError, match=r"outside the 56x40 image"):
        client.predict(handle_file(str(photo)), "test/chroma", 56, 0, None, api_name="/suggest")


def test_hints_table_round_trip():
    rows = [[3, 4, "#112233", 5], [7, 8, "#445566", None], [None, None, None, None]]
    hints = app_guide.rows_to_hints(rows)
    assert hints == [{"x": 3, "y": 4, "color": "#112233", "radius": 5}, {"x": 7, "y": 8, "color": "#445566"}]
    assert app_guide.hints_to_rows(hints) == [[3, 4, "#112233", 5], [7, 8, "#445566", None]]
    assert app_guide.rows_to_hints({"headers": app_guide.HINT_COLUMNS, "data": rows[:1]}) == hints[:1]
    assert "chroma" in app_guide.hint_capable_presets()


def test_suggestions_show_as_clickable_swatches():
    html = app_guide.swatches_html(
        [
            {"hex": "#aa3322", "probability": 0.42},
            {"hex": "#1f5fe0", "probability": 0.07},
            {"hex": '"><img src=x>', "probability": 0.5},  # never from the library; skipped, not rendered
        ]
    )
    assert html.count('class="swatch"') == 2
    assert 'data-hex="#aa3322"' in html and "background:#aa3322" in html and "42%" in html
    assert 'data-hex="#1f5fe0"' in html and "7%" in html
    assert "<img" not in html
    assert "swatch-empty" in app_guide.swatches_html([])


# The handlers directly: one decoded photo and one forward pass per click ------------------------------------


class Counted:
    """A guided model whose forward passes are counted (the batch size of each), behind a server context whose
    upload decodes are counted."""

    def __init__(self, tmp_path, monkeypatch):
        self.model, self.forwards, self.decodes = guided_model(), [], []
        self.model.register_forward_pre_hook(
            lambda module, args, kwargs: self.forwards.append(kwargs["pixel_values"].shape[0]), with_kwargs=True
        )
        read = app_context.read_upload
        monkeypatch.setattr(app_context, "read_upload", lambda *a, **k: self.decodes.append(a[0]) or read(*a, **k))
        context = ServerContext.create(PRIVATE, tmp_path / "cache", loader=lambda name: self.loaded(name))
        self.endpoints = app_guide.GuideEndpoints(context)

    def loaded(self, name: str) -> LoadedModel:
        return LoadedModel.from_model(name, self.model)

    def counts(self) -> tuple[list[int], int]:
        counts = (list(self.forwards), len(self.decodes))
        self.forwards.clear()
        self.decodes.clear()
        return counts


@pytest.fixture
def uploaded(tmp_path, monkeypatch, photo):
    """The photo in a stand-in for Gradio's upload folder, as a file payload."""
    folder = tmp_path / "uploads"
    folder.mkdir()
    monkeypatch.setattr(app_guide.gr.utils, "get_upload_folder", lambda: str(folder))
    (folder / "photo.png").write_bytes(photo.read_bytes())
    return {"path": str(folder / "photo.png"), "orig_name": "photo.png"}


def test_a_click_decodes_the_photo_once_and_runs_the_model_once(tmp_path, monkeypatch, uploaded, photo):
    counted = Counted(tmp_path, monkeypatch)
    click = counted.endpoints.click
    rows, swatches, result, _ = click(uploaded, "test/chroma", [], "#aa3322", 6, 50, 20, 10)
    # before: two decodes and three forward passes (suggestions, hinted, automatic); now one of each, the first
    # click's covering the automatic prediction (no hints: also "the hints so far") and the hinted one together
    assert counted.counts() == ([2], 1)
    rows, swatches, result, _ = click(uploaded, "test/chroma", rows, "#1f5fe0", 4, 50, 40, 30)
    assert counted.counts() == ([1], 0)  # the photo is kept; the suggestions come from the last click's pass
    assert rows == [[20, 10, "#aa3322", 6], [40, 30, "#1f5fe0", 4]]
    # what the click shows is what the library gives: suggest_colors under the hints before it, colorize after it
    array = np.asarray(Image.open(photo))
    hints = app_guide.rows_to_hints(rows)
    expected = colorizers.suggest_colors(array, counted.model, 40, 30, hints=hints[:1])
    assert swatches == app_guide.swatches_html(expected)
    colorized = colorizers.colorize(array, counted.model, hints=hints, temperature=temperature_for_vividness(50))
    difference = np.abs(np.asarray(Image.open(result), np.int16) - np.asarray(colorized, np.int16))
    assert difference.max() <= 1  # batched and single forward passes round alike but for the last bit
    counted.counts()
    # undoing the last hint, and redrawing, run nothing: both predictions are kept
    assert counted.endpoints.redraw(uploaded, "test/chroma", rows[:1], 50)
    assert counted.endpoints.redraw(uploaded, "test/chroma", rows, 50)
    assert counted.counts() == ([], 0)
    # a new vividness is a new prediction, with the automatic one for it: one forward pass of two
    counted.endpoints.guide(uploaded, "test/chroma", hints, 80)
    assert counted.counts() == ([2], 0)
    suggestions = counted.endpoints.suggest(uploaded, "test/chroma", 5, 5, hints)  # the distribution is kept
    assert counted.counts() == ([], 0)
    expected = colorizers.suggest_colors(array, counted.model, 5, 5, hints=hints)
    assert [(s["hex"], s["ab"], s["rgb"]) for s in suggestions] == [(s["hex"], s["ab"], s["rgb"]) for s in expected]
    assert [s["probability"] for s in suggestions] == pytest.approx([s["probability"] for s in expected], rel=1e-5)


def test_a_click_is_refused_as_before(tmp_path, monkeypatch, uploaded):
    endpoints = Counted(tmp_path, monkeypatch).endpoints
    with pytest.raises(UserError, match=r"point \(99, 1\) is outside the 56x40 image"):
        endpoints.click(uploaded, "test/chroma", [], "#aa3322", 6, 50, 99, 1)
    with pytest.raises(UserError, match="Upload a photo first"):
        endpoints.click(None, "test/chroma", [], "#aa3322", 6, 50, 1, 1)
    with pytest.raises(UserError, match="Pick at most 1 models"):
        endpoints.click(uploaded, ["test/chroma", "chroma"], [], "#aa3322", 6, 50, 1, 1)
    with pytest.raises(UserError, match="must be a file uploaded to this app"):
        endpoints.click({"path": "/etc/passwd"}, "test/chroma", [], "#aa3322", 6, 50, 1, 1)


@pytest.mark.parametrize("name", ["vanilla-v2", "chroma"])
def test_guided_photos_refuse_as_the_library_does(name):
    from conftest import tiny_model

    model = tiny_model(name, objective="regression") if name == "chroma" else tiny_model(name)
    array = (np.random.default_rng(1).random((20, 30)) * 255).astype(np.uint8)
    photo = GuidedPhoto(
        colorizers.image_processing_colorizer.image_to_lightness(array), LoadedModel.from_model(name, model)
    )
    hint = {"x": 3, "y": 4, "color": "#ff0000"}
    with pytest.raises(ValueError) as ours:
        photo.check_distribution()
    with pytest.raises(ValueError) as theirs:
        colorizers.suggest_colors(array, model, 3, 4)
    assert str(ours.value) == str(theirs.value)
    if name == "vanilla-v2":
        with pytest.raises(HintError) as ours:
            photo.check_hints(photo.parse([hint]))
        with pytest.raises(HintError) as theirs:
            colorizers.colorize(array, model, hints=[hint])
        assert str(ours.value) == str(theirs.value)
    else:  # a hint-capable regression model: colorized as the library does, hints and all
        expected = np.asarray(colorizers.colorize(array, model, hints=[hint]), np.int16)
        assert np.abs(np.asarray(photo.colorize(photo.parse([hint])), np.int16) - expected).max() <= 1

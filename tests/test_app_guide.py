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

from colorizers.app import guide as app_guide  # noqa: E402
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

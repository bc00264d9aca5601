"""User colour hints: parsing, bounds, drawing at the working size, colorize(hints=...), suggestions."""

import json

import numpy as np
import pytest
import torch
from conftest import tiny_model
from skimage.color import rgb2lab

import colorizers
from colorizers.pipelines import suggest_colors
from colorizers.processing.hints import (
    MAX_JSON_DEPTH,
    Hint,
    HintError,
    color_to_ab,
    load_hints_file,
    parse_hints,
    parse_hints_json,
    render_hints,
)


def test_colours_in_every_notation_give_the_same_ab():
    red = color_to_ab("#ff0000")
    assert red == pytest.approx(tuple(rgb2lab(np.array([[[1.0, 0.0, 0.0]]]))[0, 0, 1:]), abs=1e-3)
    assert color_to_ab("#f00") == red
    assert color_to_ab([255, 0, 0]) == red
    assert color_to_ab({"rgb": [255, 0, 0]}) == red
    assert color_to_ab({"hex": "FF0000"}) == red
    assert color_to_ab({"ab": [12, -3.5]}) == (12.0, -3.5)
    assert color_to_ab("#808080") == pytest.approx((0.0, 0.0), abs=5e-3)  # float32 conversion


@pytest.mark.parametrize(
    "hints, message",
    [
        ([{"x": 70, "y": 0, "color": "#fff"}], r"hint 1: point \(70, 0\) is outside the 70x50 image"),
        ([{"x": 1, "y": -1, "color": "#fff"}], r"point \(1, -1\) is outside"),
        ([{"x": 1, "y": 1, "color": "#ggg"}], "is not #rrggbb or #rgb hex"),
        ([{"x": 1, "y": 1, "color": [300, 0, 0]}], r"components in 0\.\.255"),
        ([{"x": 1, "y": 1, "ab": [0, -111]}], r"outside \[-110, 110\]"),
        ([{"x": 1, "y": 1, "ab": [0, float("nan")]}], "finite numbers"),
        ([{"x": "a", "y": 1, "hex": "#fff"}], "x, y needs 2 numbers"),
        ([{"x": 1, "y": 1}], "needs exactly one colour"),
        ([{"x": 1, "y": 1, "hex": "#fff", "rgb": [1, 2, 3]}], "needs exactly one colour"),
        ([{"y": 1, "hex": "#fff"}], "needs 'x' and 'y'"),
        ([{"x": 1, "y": 1, "hex": "#fff", "size": 3}], r"unknown keys \['size'\]"),
        ([[1, 2]], "must be a Hint or a dict, got list"),
        ({"x": 1}, "hints must be a list of hints, got dict"),
        ([{"x": 1, "y": 1, "hex": "#fff"}] * 1001, "1001 hints given; at most 1000 are accepted"),
    ],
)
def test_bad_hints_get_a_clear_error(hints, message):
    with pytest.raises(HintError, match=message):
        parse_hints(hints, 70, 50)


def test_radius_is_clamped_and_none_means_automatic():
    (big, negative, auto) = parse_hints(
        [
            {"x": 1, "y": 1, "hex": "#fff", "radius": 1e9},
            {"x": 1, "y": 1, "hex": "#fff", "radius": -4},
            Hint(x=2, y=3, a=10, b=20),
        ],
        80,
        40,
    )
    assert big.radius == 20.0 and negative.radius == 0.0 and auto.radius is None
    assert auto.to_dict() == {"x": 2, "y": 3, "ab": [10, 20]}


def test_hints_are_drawn_as_discs_at_the_working_size():
    hints = parse_hints(
        [{"x": 50, "y": 20, "ab": [55, -22], "radius": 8}, {"x": 0, "y": 0, "ab": [11, 0], "radius": 0}], 100, 40
    )
    hint_ab, mask = render_hints(hints, (40, 100), (20, 50))
    assert hint_ab.shape == (2, 20, 50) and mask.shape == (1, 20, 50)
    assert mask[0, 10, 25] == 1 and hint_ab[:, 10, 25] == pytest.approx([0.5, -0.2])
    assert mask[0, 10, 21] == 1 and mask[0, 10, 20] == 0  # radius 8 original pixels = 4 working pixels
    assert mask[0, 0, 0] == 1 and hint_ab[0, 0, 0] == pytest.approx(0.1)  # a zero radius still covers its pixel
    assert mask.sum() == 1 + (mask[0, 5:16, 20:31] == 1).sum()
    assert np.all(hint_ab[:, mask[0] == 0] == 0)


def test_hints_file_formats(tmp_path):
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps([{"x": 1, "y": 2, "hex": "#00ff00"}]))
    assert load_hints_file(str(listed)) == [{"x": 1, "y": 2, "hex": "#00ff00"}]
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"hints": [{"x": 1, "y": 2, "hex": "#00ff00"}]}))
    assert load_hints_file(str(wrapped)) == [{"x": 1, "y": 2, "hex": "#00ff00"}]
    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    with pytest.raises(HintError, match="is not valid JSON"):
        load_hints_file(str(broken))
    with pytest.raises(HintError, match="cannot read hints file"):
        load_hints_file(str(tmp_path / "missing.json"))
    scalar = tmp_path / "scalar.json"
    scalar.write_text("3")
    with pytest.raises(HintError, match="must hold a list of hints"):
        load_hints_file(str(scalar))


def test_hints_json_is_capped_in_size_and_depth_before_it_is_parsed():
    deepest = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert parse_hints_json(deepest) == json.loads(deepest)
    assert parse_hints_json('[{"x": 1, "y": 2, "hex": "[[[[[[[[[[[[[[[[[[[[\\"[["}]')[0]["hex"].startswith("[[[")
    cases = [
        ("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), "The hints text is nested too deeply"),
        ("[" * 1_000_000, "The hints text is nested too deeply (more than 16 levels of [ ] and { })"),
        ("[" + "1," * 600_000 + "1]", "The hints text is 1,200,003 bytes, above the limit of 1,000,000 bytes"),
        (b"[\xff]", "The hints text is not valid JSON: 'utf-8' codec can't decode byte 0xff"),
        ("[{", "The hints text is not valid JSON: Expecting property name"),
    ]
    for text, message in cases:
        with pytest.raises(HintError) as refused:
            parse_hints_json(text)
        assert str(refused.value).startswith(message) and "\n" not in str(refused.value)


def test_a_hints_file_must_be_a_bounded_regular_file(tmp_path):
    import os
    import threading

    pipe = tmp_path / "pipe.json"
    os.mkfifo(pipe)
    refusals = {}

    def load(path: str, **kwargs) -> None:
        try:
            load_hints_file(path, **kwargs)
        except HintError as error:
            refusals[path] = str(error)

    big = tmp_path / "big.json"
    big.write_text(json.dumps([{"x": 1, "y": 2, "hex": "#00ff00"}] * 100))
    for path, kwargs in (("/dev/zero", {}), (str(pipe), {}), (str(tmp_path), {}), (str(big), {"max_bytes": 1000})):
        reader = threading.Thread(target=load, args=(path,), kwargs=kwargs, daemon=True)  # a pipe must not block
        reader.start()
        reader.join(10)
        assert not reader.is_alive(), path
    assert refusals == {
        "/dev/zero": "hints file /dev/zero is not a regular file (a named pipe, device or socket)",
        str(pipe): f"hints file {pipe} is not a regular file (a named pipe, device or socket)",
        str(tmp_path): f"hints file {tmp_path} is not a regular file (a folder)",
        str(big): f"hints file {big} is larger than the limit of 1,000 bytes",
    }
    nested = tmp_path / "nested.json"
    nested.write_text("[" * 100_000)
    with pytest.raises(HintError, match=f"hints file {nested} is nested too deeply"):
        load_hints_file(str(nested))


def _perturbed_chroma():
    model = tiny_model("chroma").eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.2)
    return model


def test_colorize_takes_hints_and_refuses_them_for_models_without_hint_inputs():
    model = _perturbed_chroma()
    image = (np.random.default_rng(0).random((40, 60)) * 255).astype(np.uint8)
    plain = np.asarray(colorizers.colorize(image, model))
    hinted = np.asarray(colorizers.colorize(image, model, hints=[{"x": 30, "y": 20, "color": "#ff0000", "radius": 6}]))
    assert hinted.shape == plain.shape == (40, 60, 3)
    assert not np.array_equal(plain, hinted)
    assert np.array_equal(plain, np.asarray(colorizers.colorize(image, model, hints=[])))
    both = colorizers.colorize([image, image], model, hints=[None, [{"x": 1, "y": 1, "hex": "#00f"}]])
    assert np.array_equal(np.asarray(both[0]), plain)
    with pytest.raises(HintError, match="for 2 images, hints must be a list of 2 hint lists"):
        colorizers.colorize([image, image], model, hints=[[]])
    with pytest.raises(HintError, match="model has no hint inputs: it cannot take colour hints"):
        colorizers.colorize(image, tiny_model("chroma", use_hints=False), hints=[{"x": 1, "y": 1, "hex": "#00f"}])


def test_suggestions_are_distinct_likely_colours_at_the_pixel_lightness():
    model = _perturbed_chroma()
    image = np.full((32, 48), 128, np.uint8)
    suggestions = suggest_colors(image, model, 10, 10, top_k=4)
    assert len(suggestions) == 4
    probabilities = [s["probability"] for s in suggestions]
    assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1
    centers = [np.array(s["ab"]) for s in suggestions]
    assert min(np.linalg.norm(a - b) for i, a in enumerate(centers) for b in centers[i + 1 :]) >= 20
    for suggestion in suggestions:
        assert suggestion["hex"] == "#" + "".join(f"{v:02x}" for v in suggestion["rgb"])
    with pytest.raises(HintError, match=r"point \(48, 0\) is outside the 48x32 image"):
        suggest_colors(image, model, 48, 0)
    with pytest.raises(ValueError, match="top_k must be an integer from 1 to 20"):
        suggest_colors(image, model, 1, 1, top_k=0)
    with pytest.raises(ValueError, match="has no colours to suggest"):
        suggest_colors(image, tiny_model("chroma", objective="regression"), 1, 1)

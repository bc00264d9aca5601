"""colorizers.serving.comparison: reading uploads, the working size, the metrics' colour reference, runs."""

import math

import numpy as np
import pytest
from conftest import tiny_model
from PIL import Image
from skimage import data

from colorizers.evaluation.evaluate import gray_prediction
from colorizers.evaluation.metrics import as_rgb_uint8, score
from colorizers.serving.comparison import compare, metric_reference, parse_working_size, read_upload, run_model
from colorizers.serving.policy import LoadedModel, RequestError

CAT = data.chelsea()[::4, ::4]  # 75x113 colour


@pytest.fixture
def files(tmp_path):
    paths = {}
    for name, image in [
        ("colour.png", Image.fromarray(CAT)),
        ("gray.png", Image.fromarray(CAT).convert("L")),
        ("large-reference.png", Image.fromarray(data.chelsea()[::2, ::2])),  # 150x226
        ("gray-reference.png", Image.fromarray(data.chelsea()[::2, ::2]).convert("L")),
        ("tiny.png", Image.new("RGB", (7, 20))),
    ]:
        paths[name] = tmp_path / name
        image.save(paths[name])
    paths["notes.txt"] = tmp_path / "notes.txt"
    paths["notes.txt"].write_text("not an image")
    frames = [Image.fromarray(CAT).convert("P"), Image.fromarray(255 - CAT).convert("P")]
    paths["animated.gif"] = tmp_path / "animated.gif"
    frames[0].save(paths["animated.gif"], save_all=True, append_images=frames[1:], duration=100)
    return paths


def loaded(name: str, preset: str = "vanilla-v1", untrained: bool = False) -> LoadedModel:
    model = tiny_model(preset)
    model.colorizers_untrained = untrained
    return LoadedModel.from_model(name, model)


# Uploads -------------------------------------------------------------------------------------------------


def test_an_upload_is_decoded_with_its_name(files):
    upload = read_upload(files["colour.png"], "holiday.png")
    assert upload.name == "holiday.png" and (upload.width, upload.height) == (113, 75)
    np.testing.assert_array_equal(upload.array, CAT)
    assert upload.notes == []
    assert read_upload(files["colour.png"]).name == "colour.png"


def test_an_animation_gives_its_first_frame_with_a_note(files):
    upload = read_upload(files["animated.gif"], what="colour reference")
    assert upload.notes == ["The colour reference is animated (2 frames): only the first frame was used."]


@pytest.mark.parametrize(
    "name, kwargs, message",
    [
        ("notes.txt", {}, r"^The image 'notes.txt' cannot be used: not an image file PIL can read\.$"),
        ("tiny.png", {}, r"^The image 'tiny.png' is only 7x20 pixels: both sides must be at least 8 pixels\.$"),
        (
            "colour.png",
            {"max_pixels": 8000},
            r"^The image 'colour.png' cannot be used: 113x75 is 0\.0 megapixels, "
            r"above the limit of 0\.008 megapixels \(limit max_megapixels\)\.$",
        ),
        ("colour.png", {"min_side": 100}, r"is only 113x75 pixels: both sides must be at least 100 pixels"),
    ],
)
def test_bad_uploads_are_refused_with_the_reason(files, name, kwargs, message):
    with pytest.raises(RequestError, match=message):
        read_upload(files[name], **kwargs)


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(RequestError, match=r"^The colour reference 'gone.png' cannot be used: no such file\.$"):
        read_upload(tmp_path / "gone.png", what="colour reference")


# Working size --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "", "auto", "AUTO", 0, 0.0, "0"])
def test_auto_working_size(value):
    assert parse_working_size(value) is None


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, "nan", "inf", -1, 10**400])
def test_not_a_finite_working_size_is_refused_like_minus_one(value):
    with pytest.raises(RequestError, match="must be between 32 and 1024 pixels|must be a number of pixels"):
        parse_working_size(value)


@pytest.mark.parametrize("value, expected", [(64, 64), ("64", 64), (64.4, 64), (32, 32), (1024, 1024)])
def test_working_size_in_range(value, expected):
    assert parse_working_size(value) == expected


def test_working_size_out_of_range_or_not_a_number():
    with pytest.raises(
        RequestError,
        match=r"^The working resolution must be between 32 and 1024 pixels "
        r"\(or 0 / empty for each model's own; limit max_working_size = 1024\), got 5000\.$",
    ):
        parse_working_size(5000)
    with pytest.raises(RequestError, match="between 64 and 128 pixels"):
        parse_working_size(32, minimum=64, maximum=128)
    with pytest.raises(
        RequestError,
        match=r"^The working resolution must be a number of pixels or empty for auto, "
        r"got 'big'\.$",
    ):
        parse_working_size("big")


# The metrics' colour reference ---------------------------------------------------------------------------


def test_a_colour_photo_is_its_own_reference(files):
    reference = metric_reference(read_upload(files["colour.png"]))
    np.testing.assert_array_equal(reference.rgb, CAT)
    assert reference.note.startswith("Metrics are computed against the uploaded photo itself (it is in colour)")


def test_a_gray_photo_without_reference_has_none(files):
    reference = metric_reference(read_upload(files["gray.png"]))
    assert reference.rgb is None
    assert reference.note.startswith("**No colour reference:** the photo is black-and-white")


def test_a_separate_reference_wins_and_is_resized_to_the_photo(files):
    photo = read_upload(files["colour.png"])
    reference = metric_reference(photo, read_upload(files["large-reference.png"]))
    expected = np.asarray(Image.open(files["large-reference.png"]).resize((113, 75), Image.Resampling.LANCZOS))
    np.testing.assert_array_equal(reference.rgb, expected)
    assert reference.note == (
        "Metrics are computed against the separate colour reference. **Note:** the colour reference is 226x150, the "
        "input 113x75: the reference was resized to 113x75 for the metrics, which blurs or distorts it a little."
    )


def test_a_same_size_reference_is_used_as_is_and_a_gray_one_is_flagged(files):
    photo = read_upload(files["gray.png"])
    same = metric_reference(photo, read_upload(files["colour.png"]))
    np.testing.assert_array_equal(same.rgb, CAT)
    assert same.note == "Metrics are computed against the separate colour reference."
    gray = metric_reference(read_upload(files["large-reference.png"]), read_upload(files["gray-reference.png"]))
    assert gray.rgb.shape == (150, 226, 3)
    assert gray.note.endswith(
        "**Note:** the colour reference looks black-and-white, so the metrics against it say little about colour."
    )


# Runs ----------------------------------------------------------------------------------------------------


def test_run_model_keeps_the_input_size_and_times_the_run(files):
    output, ms = run_model(loaded("tiny"), read_upload(files["colour.png"]).array, size=32)
    assert output.size == (113, 75) and output.mode == "RGB"
    assert ms > 0


def test_a_model_failing_on_an_image_is_a_request_error(files):
    broken = loaded("broken")

    def fail(*args, **kwargs):
        raise RuntimeError("shapes do not match\nlong traceback details")

    broken.model.forward = fail
    with pytest.raises(RequestError, match=r"^Model 'broken' failed on this image: shapes do not match$"):
        run_model(broken, CAT)


def test_compare_scores_every_model_against_the_reference_and_explains(files):
    photo = read_upload(files["colour.png"])
    models = [loaded("first"), loaded("second", "vanilla-v2", untrained=True)]
    result = compare(photo, models, size=64)
    assert [run.name for run in result.runs] == ["first", "second"]
    for run in result.runs:
        assert run.output.size == (113, 75) and run.ms > 0
        assert run.scores == score(run.output, CAT)
    np.testing.assert_array_equal(result.gray, gray_prediction(photo.array))
    assert result.notes[0].startswith("Metrics are computed against the uploaded photo itself")
    assert (
        result.notes[1]
        == "Working resolution (longest edge): first 64 px, second 64 px. Every output keeps the input's 113x75 pixels."
    )
    assert result.notes[2] == (
        "**Untrained, random weights:** second: no trained weights exist for this model yet, so "
        "the colours are arbitrary."
    )


def test_compare_without_a_size_uses_each_models_own_and_without_reference_scores_no_psnr(files):
    photo = read_upload(files["gray.png"])
    result = compare(photo, [loaded("tiny")])
    assert result.runs[0].scores["psnr"] is None and result.runs[0].scores["colorfulness"] is not None
    assert "tiny 16 px" in result.notes[1]  # the tiny config's own working size
    assert len(result.notes) == 2  # trained (as far as it says): no untrained note
    with_reference = compare(photo, [loaded("tiny")], reference=read_upload(files["colour.png"]))
    assert with_reference.runs[0].scores == score(with_reference.runs[0].output, as_rgb_uint8(CAT))


def test_other_options_go_to_colorize(files):
    array = read_upload(files["colour.png"]).array
    output, _ = run_model(loaded("tiny"), array, batch_size=1)
    assert output.size == (113, 75)
    with pytest.raises(
        RequestError, match=r"^Model 'tiny' failed on this image: batch_size must be at least 1, got 0$"
    ):
        compare(read_upload(files["colour.png"]), [loaded("tiny")], batch_size=0)


@pytest.mark.parametrize("value, expected", [(None, None), ("", None), (0, 1.0), (100, 0.2), (50, 0.6), ("25", 0.8)])
def test_vividness_maps_to_temperature(value, expected):
    from colorizers.serving.comparison import temperature_for_vividness, vividness_for_temperature

    assert temperature_for_vividness(value) == (None if expected is None else pytest.approx(expected))
    if expected is not None:
        assert vividness_for_temperature(expected) == pytest.approx(float(value))
    assert vividness_for_temperature(0.05) == 100.0 and vividness_for_temperature(1.5) == 0.0


@pytest.mark.parametrize("value", [-1, 101, "loud", float("nan")])
def test_bad_vividness_is_refused(value):
    from colorizers.serving.comparison import temperature_for_vividness

    with pytest.raises(RequestError, match="Vividness must be a number from 0 to 100"):
        temperature_for_vividness(value)


def test_temperature_reaches_distribution_models_only():
    import torch

    chroma = tiny_model("chroma").eval()
    with torch.no_grad():
        chroma.head.weight.normal_(0, 1.0)
    image = (np.random.default_rng(0).random((24, 32, 3)) * 255).astype(np.uint8)
    muted, _ = run_model(LoadedModel.from_model("chroma", chroma), image, temperature=1.0)
    vivid, _ = run_model(LoadedModel.from_model("chroma", chroma), image, temperature=0.2)
    assert not np.array_equal(np.asarray(muted), np.asarray(vivid))
    regression = LoadedModel.from_model("resnet18", tiny_model("resnet18"))
    plain, _ = run_model(regression, image)
    ignored, _ = run_model(regression, image, temperature=0.2)  # no distribution: vividness does not apply
    assert np.array_equal(np.asarray(plain), np.asarray(ignored))

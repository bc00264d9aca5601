"""colorizers.limits: the limits and public mode, the request gate (rate, room, deadline), and the memory
bounds of large photos (banded post-processing and scoring, the reader's short-JPEG check)."""

from __future__ import annotations

import io
import math
import threading
import time
import tracemalloc

import numpy as np
import pytest
from PIL import Image

import colorizers
from colorizers import limits
from colorizers.limits import Gate, LimitError, Limits

# Modes and values -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "environ, public",
    [
        ({}, False),
        ({"SPACE_ID": "someone/colorizers"}, True),
        ({"COLORIZERS_PUBLIC": "1"}, True),
        ({"COLORIZERS_PUBLIC": "yes"}, True),
        ({"SPACE_ID": "x/y", "COLORIZERS_PUBLIC": "0"}, False),
    ],
)
def test_public_mode_is_on_for_a_space_or_when_asked(environ, public):
    assert limits.public_mode(environ=environ) is public
    assert limits.current(environ=environ).public is public
    assert limits.public_mode(True, environ={}) is True


def test_public_defaults_are_tighter_than_private_ones():
    private, public = limits.current(environ={}), limits.current(public=True, environ={})
    assert private == limits.PRIVATE and public == limits.PUBLIC
    for name in (
        "upload_mb",
        "max_megapixels",
        "max_working_size",
        "models_per_request",
        "request_seconds",
        "video_seconds",
        "queue_size",
        "inflight_megapixels",
    ):
        assert getattr(public, name) < getattr(private, name), name
    assert public.requests_per_minute > 0 == private.requests_per_minute
    assert public.max_parameters and public.max_weight_mb and private.max_weight_mb is None
    assert public.hub_allowlist == ()


def test_the_environment_overrides_each_limit_and_bad_values_are_named():
    environ = {
        "COLORIZERS_PUBLIC": "1",
        "COLORIZERS_MAX_WORKING_SIZE": "512",
        "COLORIZERS_MAX_UPLOAD_MB": "7.5",
        "COLORIZERS_HUB_ALLOWLIST": " a/b, c/d ,a/b,",
        "COLORIZERS_MAX_VIDEO_SECONDS": "12",
    }
    values = limits.current(environ=environ)
    assert (values.max_working_size, values.upload_mb, values.hub_allowlist, values.video_seconds) == (
        512,
        7.5,
        ("a/b", "c/d"),
        12.0,
    )
    assert values.upload_bytes == 7_500_000 and values.max_pixels == 40_000_000
    assert set(limits.ENVIRONMENT) == {f.name for f in __import__("dataclasses").fields(Limits)} - {
        "public",
        "min_working_size",
        "max_name_chars",
        "log_chars",
    }
    for bad in ("big", "nan", "-1", "1.5"):
        with pytest.raises(ValueError, match="COLORIZERS_MAX_WORKING_SIZE must be"):
            limits.current(environ={"COLORIZERS_MAX_WORKING_SIZE": bad})


def test_the_video_limits_have_one_source_fed_by_the_older_variables_too():
    # what the Video tab does with them: tests/test_app_video.py (refused above the configured video_seconds)
    older = {"COLORIZERS_APP_MAX_VIDEO_SECONDS": "20", "COLORIZERS_APP_MAX_VIDEO_SIDE": "720"}
    values = limits.current(public=True, environ=older)
    assert (values.video_seconds, values.video_side) == (20.0, 720)
    newer = {**older, "COLORIZERS_MAX_VIDEO_SECONDS": "9", "COLORIZERS_MAX_VIDEO_SIDE": "480"}
    assert (limits.current(environ=newer).video_seconds, limits.current(environ=newer).video_side) == (9.0, 480)
    with pytest.raises(ValueError, match="COLORIZERS_APP_MAX_VIDEO_SECONDS must be a number, got 'long'"):
        limits.current(environ={"COLORIZERS_APP_MAX_VIDEO_SECONDS": "long"})


def test_long_user_strings_are_shortened():
    assert limits.shorten("abc") == "abc"
    assert limits.shorten("x" * 1_000_000, 10) == "xxxxxxxxxx... (1,000,000 characters)"


# The gate ------------------------------------------------------------------------------------------------


def test_requests_per_minute_per_client():
    gate = Gate(Limits(requests_per_minute=2))
    for _ in range(2):
        with gate.request("1.2.3.4"):
            pass
    with pytest.raises(LimitError, match=r"the limit is 2 per minute per client") as refused:
        with gate.request("1.2.3.4"):
            pass
    assert (refused.value.limit, refused.value.value) == ("requests_per_minute", 2)
    with gate.request("5.6.7.8"):  # another client is not held back
        pass


def test_pixels_in_flight_wait_for_room_and_give_it_back():
    gate = Gate(Limits(inflight_megapixels=10, request_seconds=30))
    order, inside = [], threading.Event()

    def big(name, release):
        with gate.request() as scope:
            scope.admit(8_000_000)
            order.append(f"{name} in")
            inside.set()
            release.wait(10)
            order.append(f"{name} out")

    first_done = threading.Event()
    first = threading.Thread(target=big, args=("first", first_done))
    first.start()
    inside.wait(10)
    go_on = threading.Event()
    go_on.set()
    second = threading.Thread(target=big, args=("second", go_on))
    second.start()
    time.sleep(0.3)
    with gate.request() as small:  # a small image passes while the second big one waits
        small.admit(1_000_000)
        order.append("small")
    assert order == ["first in", "small"]
    first_done.set()
    first.join(10)
    second.join(10)
    assert order == ["first in", "small", "first out", "second in", "second out"]
    assert gate.inflight_pixels == 0


def test_an_image_larger_than_the_whole_budget_runs_alone():
    gate = Gate(Limits(inflight_megapixels=1))
    with gate.request() as scope:
        scope.admit(5_000_000)
    assert gate.inflight_pixels == 0


def test_waiting_and_working_past_the_deadline_is_refused_with_the_limit():
    gate = Gate(Limits(inflight_megapixels=1, request_seconds=0.3))
    with gate.request() as holder:
        holder.admit(1_000_000)
        with pytest.raises(LimitError, match=r"waited past the time limit of 0.3 s per request") as refused:
            threads_result = []

            def wait_for_room():
                try:
                    with gate.request() as scope:
                        scope.admit(1_000_000)
                except LimitError as error:
                    threads_result.append(error)

            waiter = threading.Thread(target=wait_for_room)
            waiter.start()
            waiter.join(10)
            raise threads_result[0]
        assert refused.value.limit == "request_seconds"
    with gate.request():
        time.sleep(0.35)
        with pytest.raises(LimitError, match=r"ran past the time limit of 0.3 s per request"):
            limits.check_deadline()
    limits.check_deadline()  # outside a request: nothing


def test_memory_is_given_back_after_a_large_request(monkeypatch):
    calls = []
    monkeypatch.setattr(limits, "release_memory", lambda: calls.append(1))
    gate = Gate(Limits())
    with gate.request() as scope:
        scope.admit(1_000)
    assert calls == []
    with gate.request() as scope:
        scope.admit(limits.BIG_REQUEST_PIXELS)
    assert calls == [1]
    monkeypatch.undo()
    limits.release_memory()  # the real one runs anywhere (without glibc: only the garbage collector)


# The working resolution, in the library and the CLI -----------------------------------------------------


def test_the_library_refuses_a_working_size_above_the_limit(monkeypatch):
    from conftest import tiny_model

    model = tiny_model("vanilla-v1")
    image = np.zeros((12, 18, 3), np.uint8)
    with pytest.raises(ValueError, match=r"at most 2048 pixels \(limit max_working_size"):
        colorizers.colorize(image, model, size=100_000)
    with pytest.raises(ValueError, match="at most 2048 pixels"):
        colorizers.colorize(image, model, size={"shortest_edge": 3000})
    monkeypatch.setenv("COLORIZERS_MAX_WORKING_SIZE", "16")
    with pytest.raises(ValueError, match="at most 16 pixels"):
        colorizers.colorize(image, model, size=32)
    assert colorizers.colorize(image, model, size=16).size == (18, 12)


# Large photos: bands of rows instead of full-size float copies --------------------------------------------


def _photo(height: int, width: int) -> np.ndarray:
    from skimage import data

    return np.asarray(Image.fromarray(data.astronaut()).resize((width, height), Image.Resampling.BILINEAR))


@pytest.mark.parametrize("edge_aware", [True, False])
def test_banded_post_processing_matches_the_whole_image(monkeypatch, rng, edge_aware):
    from colorizers.processing import upsampling

    light = colorizers.image_to_lightness(_photo(900, 1300))
    ab = rng.uniform(-0.4, 0.4, (2, 90, 130)).astype(np.float32)
    monkeypatch.setattr(upsampling, "BAND_PIXELS", 10**9)
    whole = upsampling.upsample_to_rgb(ab, light, edge_aware=edge_aware)
    monkeypatch.setattr(upsampling, "BAND_PIXELS", 10_000)
    banded = upsampling.upsample_to_rgb(ab, light, edge_aware=edge_aware)
    image = upsampling.upsample_to_rgb(ab, light, edge_aware=edge_aware, as_image=True)
    difference = np.abs(whole.astype(int) - banded.astype(int))
    assert difference.max() <= 1 and (difference == 0).mean() > 0.9999
    assert np.array_equal(np.asarray(image), banded)


def test_banded_scores_match_the_whole_image(monkeypatch):
    from colorizers.evaluation import metrics

    reference = _photo(700, 1000)
    prediction = np.clip(
        reference.astype(int) + np.random.default_rng(0).integers(-25, 25, reference.shape), 0, 255
    ).astype(np.uint8)
    whole = metrics.score(prediction, reference)
    monkeypatch.setattr(metrics, "BAND_PIXELS", 10_000)
    banded = metrics.score(Image.fromarray(prediction), reference)
    for key, value in whole.items():
        assert banded[key] == pytest.approx(value, rel=1e-9, abs=1e-9), key
    same = metrics.score(Image.fromarray(reference), reference)
    assert same["psnr"] == math.inf and same["ssim"] == pytest.approx(1.0)


def test_a_large_photo_is_colorized_without_full_size_float_copies():
    from conftest import tiny_model

    photo = _photo(2000, 3000)  # 6 MP: a full-size float32 plane is 24 MB, an RGB float one 72 MB
    model = tiny_model("vanilla-v1")
    colorizers.colorize(photo[:64, :64], model, size=64)  # warm up
    tracemalloc.start()
    try:
        output = colorizers.colorize(photo, model, size=128)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert output.size == (3000, 2000)
    # L (24 MB) at full size, the rest in bands (PIL's own buffers are not traced): measured 51 MB, and
    # 288 MB before banding (float copies of every intermediate)
    assert peak < 120e6, peak / 1e6


def test_a_short_jpeg_that_announces_a_huge_image_is_truncated_not_gray(tmp_path):
    from colorizers.image_io import ImageReadError, read_image

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).resize((6000, 6000)).save(
        buffer, "JPEG"
    )
    path = tmp_path / "short.jpg"
    path.write_bytes(buffer.getvalue()[:4000] + b"\xff\xd9")  # libjpeg would fill the missing rows with gray
    with pytest.raises(
        ImageReadError, match=r"truncated or corrupt image data \(4,002 bytes cannot hold the 6000x6000 pixels"
    ):
        read_image(path)
    blank = tmp_path / "blank.jpg"
    Image.new("L", (3000, 3000), 128).save(blank, "JPEG", optimize=True)  # about 40 bytes per 8x8 block row: plausible
    assert read_image(blank).image.size == (3000, 3000)

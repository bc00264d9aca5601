"""colorizers.limits: the limits and public mode, the request gate (rate, room, compute slots, deadline; small
requests never stuck behind big ones), and the memory bounds of large photos (banded post-processing and scoring,
the reader's short-JPEG check, which padding gets past for nothing)."""

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
    assert until(lambda: gate.waiting == 1)
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


# Admission: pixels reserved from the header, compute slots, small requests never stuck behind big ones ------

MP = 1_000_000


def until(condition, seconds: float = 10.0) -> bool:
    """Whether ``condition()`` becomes true within ``seconds`` (checked every few milliseconds)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


class Request(threading.Thread):
    """A request in its own thread: ``admit`` pixels, then (``compute``) hold a compute slot until ``release``
    is set. ``events`` records what it got; ``error`` is its refusal, if any."""

    def __init__(self, gate: Gate, admit: int, *, compute: bool = True, big: bool = False):
        super().__init__(daemon=True)
        self.gate, self.pixels, self.computes, self.big = gate, admit, compute, big
        self.admitted, self.computing, self.release = threading.Event(), threading.Event(), threading.Event()
        self.error: LimitError | None = None
        self.slot: str | None = None

    def run(self):
        try:
            with self.gate.request() as scope:
                scope.admit(self.pixels)
                self.admitted.set()
                if self.computes:
                    with limits.compute(self.big):
                        self.slot = scope.slot
                        self.computing.set()
                        self.release.wait(30)
                else:
                    self.release.wait(30)
        except LimitError as error:
            self.error = error

    def finish(self) -> None:
        self.release.set()
        self.join(30)
        assert not self.is_alive()


def test_a_small_request_uses_the_reserve_while_big_ones_wait_for_room():
    gate = Gate(Limits(inflight_megapixels=48, concurrency=3, request_seconds=30))
    assert (gate.reserve, gate.slots, gate.big_slots) == (3 * MP, 3, 2)  # a megapixel per slot is kept
    first = Request(gate, 40 * MP)
    first.start()
    assert first.computing.wait(10)
    second, medium = Request(gate, 40 * MP), Request(gate, 6 * MP)  # neither fits the 45 MP beside the reserve
    second.start()
    medium.start()
    assert until(lambda: gate.waiting == 2) and not second.admitted.is_set() and not medium.admitted.is_set()
    assert gate.busy_slots == 1  # waiting for room holds no compute slot
    smalls = [Request(gate, MP, compute=i == 0) for i in range(3)]  # three small photos at once, in the reserve
    for small in smalls:
        small.start()
    assert all(small.admitted.wait(10) for small in smalls) and gate.inflight_pixels == 43 * MP
    assert smalls[0].computing.wait(10) and smalls[0].slot == "small" and gate.busy_slots == 2
    for small in smalls:
        small.finish()
    first.finish()
    assert until(lambda: second.computing.is_set() or medium.computing.is_set())  # one then the other (46 MP)
    for request in sorted((second, medium), key=lambda request: not request.computing.is_set()):
        assert request.computing.wait(10)
        request.finish()
    assert (gate.inflight_pixels, gate.busy_slots, gate.waiting) == (0, 0, 0)
    assert not any(request.error for request in (first, second, medium, *smalls))


def test_the_reserve_is_whole_small_requests_at_most_a_quarter_of_the_budget():
    sizes = {(48, 3): 3, (128, 2): 2, (10, 2): 2, (8, 3): 2, (4, 3): 1, (3.9, 3): 0, (1, 1): 0}
    for (megapixels, slots), reserve in sizes.items():
        assert Gate(Limits(inflight_megapixels=megapixels, concurrency=slots)).reserve == reserve * MP
    assert Gate(limits.PUBLIC).reserve == 3 * MP and Gate(limits.PRIVATE).reserve == 2 * MP


def test_a_request_larger_than_the_budget_runs_alone_and_small_ones_still_pass():
    gate = Gate(Limits(inflight_megapixels=48, concurrency=3, request_seconds=30))
    video = Request(gate, 60 * MP)  # a 1080p video's frames in flight: more than the whole budget
    video.start()
    assert video.computing.wait(10)
    other = Request(gate, 5 * MP)
    other.start()
    assert until(lambda: gate.waiting == 1)  # nothing big beside it
    small = Request(gate, MP)
    small.start()
    assert small.computing.wait(10) and gate.inflight_pixels == 61 * MP  # the reserve is beside it
    small.finish()
    video.finish()
    assert other.computing.wait(10)
    other.finish()
    assert (gate.inflight_pixels, gate.busy_slots, gate.waiting) == (0, 0, 0)


def test_the_reserve_is_for_small_requests_only_and_waiting_past_the_deadline_is_refused():
    gate = Gate(Limits(inflight_megapixels=48, concurrency=3, request_seconds=0.3))
    with gate.request() as big:
        big.admit(44 * MP)
        late = Request(gate, 2 * MP)  # more than a small request: the reserve is not for it
        late.start()
        late.join(10)
        assert str(late.error) == (
            "The server is busy with other large images and this one waited past the time limit of 0.3 s per "
            "request. Try again in a moment."
        )
        assert late.error.limit == "request_seconds"
        with gate.request() as small:  # two small images of one request: small in all, in the reserve
            small.admit(MP // 2)
            small.admit(MP // 2)
            assert small.reserved == MP
    assert gate.inflight_pixels == 0


def test_compute_slots_bound_model_work_and_big_requests_leave_one_to_small_ones():
    gate = Gate(Limits(inflight_megapixels=48, concurrency=3, request_seconds=30))
    bigs = [Request(gate, 5 * MP) for _ in range(3)]
    for request in bigs:
        request.start()
    assert until(lambda: sum(request.computing.is_set() for request in bigs) == 2 and gate.waiting == 1)
    waiting = next(request for request in bigs if not request.computing.is_set())
    assert waiting.admitted.is_set()  # it has its room: only its turn to compute is missing
    video = Request(gate, 100_000, big=True)  # few pixels, but a video: counted as big
    video.start()
    assert until(lambda: gate.waiting == 2) and not video.computing.is_set()
    small = Request(gate, 100_000)
    small.start()
    assert small.computing.wait(10) and gate.busy_slots == 3
    second = Request(gate, 100_000)  # all three slots busy: a small request waits for one too
    second.start()
    assert until(lambda: gate.waiting == 3)
    small.finish()
    assert second.computing.wait(10) and not waiting.computing.is_set() and not video.computing.is_set()
    for request in bigs:
        if request is not waiting:
            request.finish()
    assert waiting.computing.wait(10) and video.computing.wait(10)
    for request in (waiting, video, second):
        request.finish()
    assert (gate.inflight_pixels, gate.busy_slots, gate.waiting) == (0, 0, 0)


def test_one_slot_is_shared_by_all_and_waiting_for_it_past_the_deadline_is_refused():
    gate = Gate(Limits(concurrency=1, request_seconds=0.3))
    assert (gate.slots, gate.big_slots) == (1, 1)
    with gate.request() as holder, holder.compute():
        assert holder.slot == "small" and gate.busy_slots == 1
        with holder.compute():  # nested: the same slot
            assert gate.busy_slots == 1
        other = Request(gate, 1_000)
        other.start()
        other.join(10)
        assert str(other.error) == (
            "The server is busy with other requests and this one waited past the time limit of 0.3 s per request "
            "for its turn. Try again in a moment."
        )
        assert other.error.limit == "request_seconds" and other.admitted.is_set()
    assert (gate.inflight_pixels, gate.busy_slots) == (0, 0)
    with limits.compute():  # outside a request: nothing
        pass


def test_a_request_needing_more_room_gives_its_slot_back_while_it_waits():
    gate = Gate(Limits(inflight_megapixels=48, concurrency=1, request_seconds=30))
    holder = Request(gate, 40 * MP, compute=False)
    holder.start()
    assert holder.admitted.wait(10)
    got, done = [], threading.Event()

    def greedy():  # admits more pixels in the middle of its model work
        with gate.request() as scope, limits.compute():
            scope.admit(10 * MP)
            got.append(scope.slot)
        done.set()

    threading.Thread(target=greedy, daemon=True).start()
    assert until(lambda: gate.waiting == 1) and gate.busy_slots == 0  # waiting for room: its slot was given back
    small = Request(gate, 100_000)  # so another request can work meanwhile (one slot only)
    small.start()
    assert small.computing.wait(10)
    small.finish()
    holder.finish()
    assert done.wait(10) and got == ["big"]  # the slot taken again, as a big request now
    assert (gate.inflight_pixels, gate.busy_slots, gate.waiting) == (0, 0, 0)


def test_the_app_lets_requests_in_beyond_the_compute_slots(tmp_path):
    from colorizers.app.context import ServerContext

    assert limits.PUBLIC.admitted_requests == limits.ADMITTED_PER_SLOT * limits.PUBLIC.concurrency == 24
    assert Limits(concurrency=0).admitted_requests == limits.ADMITTED_PER_SLOT
    context = ServerContext.create(limits.PUBLIC, tmp_path)
    assert context.inference == {"concurrency_limit": 24, "concurrency_id": "inference"}
    assert context.gate.slots == limits.PUBLIC.concurrency


def test_a_padded_jpeg_gains_nothing_its_pixels_are_reserved_before_it_is_decoded(tmp_path, monkeypatch):
    """The short-JPEG check stays a cheap "truncated" refusal; a file padded past it is admitted like any image
    of its declared size: room for its pixels first, from its header, then decoding."""
    from colorizers.serving.comparison import read_upload

    buffer = io.BytesIO()
    Image.new("L", (6000, 6000), 128).save(buffer, "JPEG")
    data = buffer.getvalue()[:4000] + b"\xff\xd9"
    padding = b"".join(b"\xff\xfe" + (40_002).to_bytes(2, "big") + b"\x00" * 40_000 for _ in range(2))
    path = tmp_path / "padded.jpg"
    path.write_bytes(data[:2] + padding + data[2:])  # comment segments after the start marker: 84 kB in all
    assert 70_000 < path.stat().st_size < 90_000
    decoded = []
    monkeypatch.setattr(Image.Image, "load", lambda self, load=Image.Image.load: decoded.append(1) or load(self))
    gate = Gate(Limits(inflight_megapixels=48, request_seconds=0.3))
    with gate.request() as other:
        other.admit(40 * MP)
        with pytest.raises(LimitError, match="busy with other large images"), gate.request():
            read_upload(path)
        assert decoded == []  # refused before a pixel was decoded
    with gate.request() as scope:
        assert read_upload(path).array.shape[:2] == (6000, 6000)
        assert scope.pixels == 36 * MP  # what it holds is what it declared, whatever its bytes
    assert gate.inflight_pixels == 0


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

"""The app's Video tab through its API (/colorize_video), with gradio_client against a live server, and its
request handler directly: the server's limits (video length and frame size, room for its frames, time per
request)."""

import functools
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import gradio as gr
import pytest
from conftest import tiny_model
from gradio_client import Client, handle_file

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from app_server import served
from video_clips import describe, pan_frames, write_clip

from colorizers import limits as resource_limits
from colorizers.app import video as app_video
from colorizers.app.context import ServerContext, UserError
from colorizers.serving import policy as serving
from colorizers.serving.policy import LoadedModel

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def client():
    with served() as url:
        yield Client(url, verbose=False)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("video-app")
    short = write_clip(folder / "short.avi", pan_frames(12), fps=12, codec="mpeg4", audio="pcm_s16le")
    long = write_clip(folder / "long.mp4", pan_frames(30), fps=10)  # 3 s
    (folder / "broken.mp4").write_bytes(long.read_bytes()[:300])
    return {"short": short, "long": long, "broken": folder / "broken.mp4"}


def test_colorize_video_endpoint_keeps_timing_and_makes_audio_playable(client, clips):
    result = client.predict(handle_file(str(clips["short"])), "resnet18", True, api_name="/colorize_video")
    output = describe(Path(result))
    assert Path(result).suffix == ".mp4" and output["codec"] == "h264"
    assert output["count"] == 12 and output["fps"] == 12 and output["size"] == (64, 48)
    assert output["audio"] == ["aac"]  # PCM is not played by browsers: re-encoded


@pytest.mark.parametrize(
    "which, model, message",
    [
        ("broken", "resnet18", "The video cannot be used: a truncated or corrupt MP4/MOV file"),
        ("short", "no-such-model", "Unknown model 'no-such-model'"),
    ],
)
def test_refusals_are_clear(client, clips, which, model, message):
    with pytest.raises(Exception, match=message):
        client.predict(handle_file(str(clips[which])), model, True, api_name="/colorize_video")


def test_the_limit_is_stated_in_the_ui():
    values = replace(resource_limits.PRIVATE, video_seconds=12, video_side=640)
    assert "up to **12 s** long are colorized on this server, frames up to 640 px a side" in (
        app_video.limits_markdown(values)
    )


# The handler directly, under a gate of its own -----------------------------------------------------------


class Refused(Exception):
    pass


@pytest.fixture
def uploads(tmp_path, monkeypatch):
    """A stand-in for Gradio's upload folder, holding a 3.0 s clip (30 frames at 10 fps, 64x48)."""
    folder = tmp_path / "uploads"
    folder.mkdir()
    monkeypatch.setattr(gr.utils, "get_upload_folder", lambda: str(folder))
    write_clip(folder / "three.mp4", pan_frames(30), fps=10, audio=None)
    return folder


def context_for(limits, tmp_path, model=None) -> ServerContext:
    """A server's context under ``limits`` whose every model name loads ``model`` (a tiny vanilla-v2)."""
    model = model or tiny_model("vanilla-v2")
    return ServerContext.create(
        limits, tmp_path, loader=lambda name: LoadedModel.from_model(name, model), max_models=1
    )


def handler(limits, tmp_path, model=None):
    """``colorize_upload`` as the app serves it: guarded by its context's gate under ``limits``; returns
    (handler, gate)."""
    context = context_for(limits, tmp_path, model)
    run = functools.partial(app_video.colorize_upload, context=context)
    return serving.guarded(context.gate, Refused)(run), context.gate


def test_a_video_longer_than_video_seconds_is_refused_at_exactly_that_limit(uploads, tmp_path):
    clip = {"path": str(uploads / "three.mp4")}
    run, _ = handler(replace(resource_limits.PUBLIC, video_seconds=3.0), tmp_path)
    path, note = run(clip, "vanilla-v2", False)
    assert describe(Path(path))["count"] == 30 and "30 frames at 10 fps (3.0 s)" in note
    run, _ = handler(replace(resource_limits.PUBLIC, video_seconds=2.99), tmp_path)
    with pytest.raises(Refused) as refused:
        run(clip, "vanilla-v2", False)
    assert str(refused.value) == (
        "The video is 3 s long, above the limit of 2.99 s per video on this server (video_seconds). "
        "Cut it shorter, or use the command line."
    )


@pytest.mark.parametrize("variable", ["COLORIZERS_MAX_VIDEO_SECONDS", "COLORIZERS_APP_MAX_VIDEO_SECONDS"])
def test_the_video_tab_refuses_a_video_longer_than_the_configured_video_seconds(uploads, tmp_path, variable):
    """The length limit as a public server gets it: its environment -> ``Limits.video_seconds`` -> the server
    context -> the Video tab (the handler its button and /colorize_video run, the limit it states)."""
    limits = resource_limits.current(environ={"SPACE_ID": "someone/colorizers", variable: "2.5"})
    assert limits.public
    write_clip(uploads / "two.mp4", pan_frames(20), fps=10, audio=None)  # 2.0 s
    context = context_for(limits, tmp_path)
    run = app_video.video_handler(context)
    with pytest.raises(UserError) as refused:
        run({"path": str(uploads / "three.mp4")}, "vanilla-v2", False)  # 3.0 s
    assert refused.value.message == (
        "The video is 3 s long, above the limit of 2.5 s per video on this server (video_seconds). "
        "Cut it shorter, or use the command line."
    )
    path, note = run({"path": str(uploads / "two.mp4")}, "vanilla-v2", False)
    assert describe(Path(path))["count"] == 20 and "20 frames at 10 fps (2.0 s)" in note
    with gr.Blocks() as demo:
        app_video.build_video_tab(context)
    stated = [block.value for block in demo.blocks.values() if getattr(block, "elem_id", None) == "video-limits"]
    assert len(stated) == 1 and "up to **2.5 s** long" in stated[0]
    described = demo.get_api_info()["named_endpoints"]["/colorize_video"]["description"]
    assert described.startswith("Colorize a video (at most 2.5 s long on this server)")


def test_frames_larger_than_video_side_are_refused(uploads, tmp_path):
    run, _ = handler(replace(resource_limits.PUBLIC, video_side=63), tmp_path)
    with pytest.raises(Refused) as refused:
        run({"path": str(uploads / "three.mp4")}, "vanilla-v2", False)
    assert str(refused.value) == (
        "The video is 64x48: this server takes frames up to 63 pixels a side (limit video_side = 63). "
        "Scale it down, or use the command line."
    )


def test_a_video_waits_for_room_for_its_frames_and_is_refused_past_its_deadline(uploads, tmp_path, monkeypatch):
    admitted = []
    monkeypatch.setattr(
        app_video, "admit_pixels", lambda pixels: resource_limits.admit_pixels(admitted.append(pixels) or pixels)
    )
    run, _ = handler(resource_limits.PUBLIC, tmp_path)
    run({"path": str(uploads / "three.mp4")}, "vanilla-v2", False)
    frames = 64 * 48 * app_video.FRAMES_IN_FLIGHT
    assert admitted == [frames]
    limits = replace(resource_limits.PUBLIC, inflight_megapixels=(frames + 10_000) / 1e6, request_seconds=0.5)
    run, gate = handler(limits, tmp_path)
    outcome = []

    def request():
        try:
            run({"path": str(uploads / "three.mp4")}, "vanilla-v2", False)
        except Refused as error:
            outcome.append(str(error))

    with gate.request() as other:  # another request holds 20,000 pixels: the video's frames do not fit beside them
        other.admit(20_000)
        thread = threading.Thread(target=request)
        thread.start()
        thread.join(30)
    assert outcome == [
        "The server is busy with other large images and this one waited past the time limit of 0.5 s per "
        "request. Try again in a moment."
    ]
    assert gate.inflight_pixels == 0


def test_a_video_request_stops_past_its_time_limit_and_leaves_no_file(uploads, tmp_path):
    model, batches = tiny_model("vanilla-v2"), []
    model.register_forward_pre_hook(lambda module, inputs: batches.append(time.sleep(0.5)))
    run, _ = handler(replace(resource_limits.PUBLIC, request_seconds=2.0), tmp_path, model)
    with pytest.raises(Refused) as refused:
        run({"path": str(uploads / "three.mp4")}, "vanilla-v2", True)
    assert str(refused.value) == "This request ran past the time limit of 2 s per request and was stopped."
    assert 1 <= len(batches) < 30 / app_video.BATCH_SIZE  # stopped between batches, well before the end
    assert not [path for path in (tmp_path / "outputs").rglob("*") if path.is_file()]

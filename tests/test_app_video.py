"""The app's Video tab through its API (/colorize_video), with gradio_client against a live server."""

import sys
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from app_server import served
from video_clips import describe, pan_frames, write_clip

import app_video

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


def test_videos_longer_than_the_limit_are_clipped(client, clips, monkeypatch):
    monkeypatch.setattr(app_video, "MAX_VIDEO_SECONDS", 1.5)
    result = client.predict(handle_file(str(clips["long"])), "resnet18", False, api_name="/colorize_video")
    assert describe(Path(result))["count"] == 15


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
    assert f"up to **{app_video.MAX_VIDEO_SECONDS:g} s** on this demo" in app_video.limits_markdown()

"""Video colorization: the library (``colorize_video``), temporal stability, bad inputs and the CLI."""

import itertools

import numpy as np
import pytest
from skimage import color as skimage_color
from video_clips import describe, marked_frames, pan_frames, texture, write_clip

import colorizers
from colorizers.color import rgb_to_lab, rgb_to_lightness
from colorizers.commands.main import main
from colorizers.video import colorize as video_module
from colorizers.video.colorize import FrameColorizer, VideoError, colorize_video, join_lightness_ab
from colorizers.video.temporal import TemporalStabilizer, scene_cuts


@pytest.fixture(scope="module")
def model():
    return colorizers.load_model("resnet18").eval()  # shipped weights: colours vary, as a real model's do


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """15 frames of 64x48 at 15 fps with an AAC track."""
    return write_clip(tmp_path_factory.mktemp("clip") / "pan.mp4", pan_frames(15), fps=15)


def test_keeps_frames_rate_duration_size_and_audio(clip, model, tmp_path):
    counts = []
    result = colorize_video(clip, tmp_path / "out.mp4", model, progress=counts.append)
    source, output = describe(clip), describe(tmp_path / "out.mp4")
    assert sum(counts) == 15
    assert result.frames == output["count"] == source["count"] == 15
    assert output["fps"] == source["fps"] == 15 and result.fps == 15
    assert abs(output["duration"] - source["duration"]) <= 1 / 15
    assert output["size"] == (64, 48) and output["codec"] == result.codec.split()[0].lower().replace(".", "")
    assert result.audio_copied and output["audio"] == ["aac"]
    assert output["audio_packets"] == source["audio_packets"]  # copied byte for byte, not re-encoded
    chroma = np.mean([np.abs(rgb_to_lab(frame)[..., 1:]).mean() for frame in output["frames"]])
    assert chroma > 1.0  # colour, not gray
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]  # no temporary file left


def test_matches_colorize_frame_by_frame_without_stabilization(model):
    frames = pan_frames(4)
    lightness = [rgb_to_lightness(frame) for frame in frames]
    ours = FrameColorizer(model, stabilize=False).colorize(lightness)
    reference = colorizers.colorize(frames, model)
    for mine, theirs in zip(ours, reference):
        assert np.abs(mine.astype(int) - np.asarray(theirs, int)).mean() < 1.5


def _flicker(frames_ab: list[np.ndarray], step: int) -> float:
    """Mean ab change between consecutive frames of a pan of ``step`` pixels, motion compensated."""
    return float(
        np.mean(
            [
                np.linalg.norm(after[:, :-step] - before[:, step:], axis=-1).mean()
                for before, after in itertools.pairwise(frames_ab)
            ]
        )
    )


def test_stabilization_reduces_flicker_on_a_pan(model):
    step, size = 3, 96
    lightness = [rgb_to_lightness(frame) for frame in pan_frames(16, 72, 96, step=step, seed=3)]
    flicker = {}
    for stabilize in (False, True):
        colorizer = FrameColorizer(model, size=size, stabilize=stabilize)
        predicted = colorizer(lightness[:8]) + colorizer(lightness[8:])
        flicker[stabilize] = _flicker(
            [join_lightness_ab(np.full((72, 96), 60, np.float32), ab).astype(np.float32) for ab in predicted], step
        )
    assert flicker[True] < 0.5 * flicker[False]


def test_scene_cuts_are_found_and_brightness_flicker_is_not_one():
    shot_a = [rgb_to_lightness(frame) for frame in pan_frames(5, 72, 96, seed=1)]
    shot_b = [rgb_to_lightness(frame) for frame in pan_frames(5, 72, 96, seed=2)]
    assert scene_cuts(shot_a + shot_b) == [0, 5]
    flickering = [light * (1.1 if index % 2 else 0.9) for index, light in enumerate(shot_a)]
    assert scene_cuts(flickering) == [0]


def test_stabilizer_takes_the_fresh_prediction_after_a_cut():
    stabilizer = TemporalStabilizer()
    light_a, light_b = (rgb_to_lightness(texture(48, 64, seed)) for seed in (1, 2))
    stabilizer(light_a, np.zeros((2, 48, 64), np.float32))
    fresh = np.full((2, 48, 64), 0.3, np.float32)
    assert np.allclose(stabilizer(light_b, fresh), fresh) and stabilizer.last_cut
    carried = stabilizer(light_b, np.zeros((2, 48, 64), np.float32))  # same picture: the colour is carried
    assert not stabilizer.last_cut and carried.mean() > 0.25


def _truncated(folder):
    data = write_clip(folder / "long.mp4", pan_frames(40), audio=None).read_bytes()
    (folder / "truncated.mp4").write_bytes(data[: len(data) // 2])
    return folder / "truncated.mp4"


def _unsupported(folder):
    data = write_clip(folder / "good.mp4", pan_frames(6), audio=None).read_bytes()
    (folder / "unsupported.mp4").write_bytes(data.replace(b"avc1", b"zzzz"))  # a codec no FFmpeg decodes
    return folder / "unsupported.mp4"


def _corrupt(folder):
    (folder / "corrupt.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    return folder / "corrupt.mp4"


def _empty(folder):
    (folder / "empty.mp4").write_bytes(b"")
    return folder / "empty.mp4"


def _audio_only(folder):
    return write_clip(folder / "audio.m4a", pan_frames(6), video=False)


@pytest.mark.parametrize(
    "make, message",
    [
        (_corrupt, "not a video file FFmpeg can read"),
        (_truncated, "a truncated or corrupt MP4/MOV file"),
        (_audio_only, r"no video stream \(audio only: aac\)"),
        (_empty, r"empty file \(0 bytes\)"),
        (_unsupported, "its video codec is not supported by this FFmpeg build"),
    ],
)
def test_bad_inputs_get_a_one_line_error(make, message, model, tmp_path):
    source = make(tmp_path)
    with pytest.raises(VideoError, match=message) as error:
        colorize_video(source, tmp_path / "out.mp4", model)
    assert "\n" not in str(error.value) and str(error.value).startswith(str(source))
    assert not (tmp_path / "out.mp4").exists() and not list(tmp_path.glob(".*partial*"))


def test_existing_output_is_kept_unless_overwrite(clip, model, tmp_path):
    target = tmp_path / "out.mp4"
    target.write_bytes(b"mine")
    with pytest.raises(VideoError, match="exists"):
        colorize_video(clip, target, model)
    assert target.read_bytes() == b"mine"
    colorize_video(clip, target, model, overwrite=True)
    assert describe(target)["count"] == 15
    with pytest.raises(VideoError, match="cannot write .gif videos"):
        colorize_video(clip, tmp_path / "out.gif", model)


@pytest.mark.parametrize("where", ["model", "encoder"])
@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
def test_interruption_leaves_no_partial_output(where, error, clip, model, tmp_path, monkeypatch):
    target = tmp_path / "out.mp4"
    target.write_bytes(b"previous")
    calls = []

    def fail_later(original):
        def wrapper(*args, **kwargs):
            calls.append(1)
            if len(calls) == 2:
                raise error("stop")
            return original(*args, **kwargs)

        return wrapper

    if where == "model":
        monkeypatch.setattr(FrameColorizer, "__call__", fail_later(FrameColorizer.__call__))
    else:
        monkeypatch.setattr(video_module, "join_lightness_ab", fail_later(video_module.join_lightness_ab))
    with pytest.raises(error):
        colorize_video(clip, target, model, batch_size=4, overwrite=True)
    assert target.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def test_start_and_duration_colorize_a_part(model, tmp_path):
    source = write_clip(tmp_path / "marked.mp4", marked_frames(30), fps=10)  # 3 s
    result = colorize_video(source, tmp_path / "part.mp4", model, start=1.0, duration=1.2)
    output = describe(tmp_path / "part.mp4")
    assert result.frames == output["count"] == 12
    assert abs(output["duration"] - 1.2) <= 0.1
    # the first frame written is frame 10 (t = 1.0 s): its mark's gray level 10 + 8 * 10, compared in CIELAB
    # lightness, which colorization keeps (the RGB mean moves with whatever colour the model adds)
    first_mark = skimage_color.rgb2lab(output["frames"][0][2:6, 2:6] / 255.0)[..., 0].mean()
    expected = skimage_color.rgb2lab(np.full((1, 1, 3), (10 + 8 * 10) / 255.0))[0, 0, 0]
    assert abs(first_mark - expected) < 1.5, (first_mark, expected)  # neighbouring frames differ by about 3
    with pytest.raises(VideoError, match="no video frames in the requested part"):
        colorize_video(source, tmp_path / "late.mp4", model, start=10.0)
    with pytest.raises(VideoError, match="duration must be positive"):
        colorize_video(source, tmp_path / "none.mp4", model, duration=0)


@pytest.mark.parametrize(
    "suffix, audio, rate, expected_codec, expected_audio",
    [
        (".mkv", "aac", 22050, "h264", "copied (aac)"),
        (".webm", "libopus", 48000, "vp9", "copied (opus)"),
        (".avi", "pcm_s16le", 22050, "mpeg4", "copied (pcm_s16le)"),
    ],
)
def test_containers_keep_their_kind(suffix, audio, rate, expected_codec, expected_audio, model, tmp_path):
    codec = {".webm": "libvpx-vp9", ".avi": "mpeg4"}.get(suffix, "libx264")
    source = write_clip(tmp_path / f"in{suffix}", pan_frames(8), codec=codec, audio=audio, audio_rate=rate)
    result = colorize_video(source, tmp_path / f"out{suffix}", model)
    output = describe(tmp_path / f"out{suffix}")
    assert output["codec"] == expected_codec and result.audio == expected_audio and output["count"] == 8


def test_audio_the_container_cannot_hold_is_re_encoded(clip, model, tmp_path):
    result = colorize_video(clip, tmp_path / "out.webm", model)  # WebM holds Opus and Vorbis, not AAC
    assert result.audio == "re-encoded (aac -> libopus: webm cannot hold aac)" and not result.audio_copied
    output = describe(tmp_path / "out.webm")
    assert output["audio"] == ["opus"] and output["codec"] == "vp9" and output["count"] == 15


def test_audio_outside_copy_audio_is_re_encoded(model, tmp_path):
    source = write_clip(tmp_path / "in.avi", pan_frames(8), codec="mpeg4", audio="pcm_s16le")
    result = colorize_video(source, tmp_path / "out.mp4", model, copy_audio={"aac", "mp3", "opus"})
    assert result.audio.startswith("re-encoded (pcm_s16le -> aac")
    assert describe(tmp_path / "out.mp4")["audio"] == ["aac"]


def test_odd_sizes_are_kept(model, tmp_path):
    source = write_clip(tmp_path / "odd.mkv", [frame[:47, :63] for frame in pan_frames(5)], codec="ffv1", audio=None)
    colorize_video(source, tmp_path / "odd-out.mkv", model)
    assert describe(tmp_path / "odd-out.mkv")["size"] == (63, 47)


# CLI ------------------------------------------------------------------------------------------------------


def test_cli_colorizes_a_video_to_a_named_file_and_keeps_it(clip, tmp_path, capsys):
    target = tmp_path / "film-colorized.mp4"
    assert main(["colorize", str(clip), "-o", str(target), "-m", "resnet18", "--no-stabilize"]) == 0
    assert describe(target)["count"] == 15
    captured = capsys.readouterr()
    assert "15 frames at 15 fps" in captured.out and "audio copied (aac)" in captured.out
    assert main(["colorize", str(clip), "-o", str(target), "-m", "resnet18", "-q"]) == 0
    assert "exists (use --overwrite)" in capsys.readouterr().err


def test_cli_folder_with_photos_and_videos(clip, tmp_path, capsys):
    from PIL import Image

    folder = tmp_path / "in"
    (folder / "reels").mkdir(parents=True)
    (folder / "reels" / "pan.mov").write_bytes(write_clip(tmp_path / "x.mov", pan_frames(6)).read_bytes())
    (folder / "reels" / "old.mpg").write_bytes(clip.read_bytes())  # an MP4 named .mpg: written as .mp4
    Image.fromarray(texture(24, 32, 5)).save(folder / "photo.png")
    _empty(folder)
    out = tmp_path / "out"
    code = main(
        ["colorize", str(folder), "-o", str(out), "-m", "resnet18", "-q", "--start", "0.2", "--duration", "0.25"]
    )
    assert code == 1  # the empty video failed
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == ["photo.png", "reels/old.mp4", "reels/pan.mov"]
    assert describe(out / "reels" / "old.mp4")["count"] == 4  # 0.25 s at 15 fps, from 0.2 s
    err = capsys.readouterr().err
    assert "failed" in err and "empty.mp4: empty file (0 bytes)" in err and "3 colorized" in err


def test_cli_interrupt_leaves_nothing(clip, tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(FrameColorizer, "__call__", interrupted)
    assert main(["colorize", str(clip), "-o", str(tmp_path / "out"), "-m", "resnet18", "-q"]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert not list((tmp_path / "out").iterdir())


def test_display_rotation_is_kept(model, tmp_path):
    import av

    with av.open(str(tmp_path / "phone.mp4"), "w") as container:
        stream = container.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.set_display_rotation(90)
        for index, frame in enumerate(pan_frames(4)):
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
            picture.pts = index
            container.mux(stream.encode(picture))
        container.mux(stream.encode(None))
    colorize_video(tmp_path / "phone.mp4", tmp_path / "out.mp4", model)
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert next(container.decode(video=0)).rotation == 90


def test_cli_images_and_videos_share_one_pipeline(clip, tmp_path, monkeypatch):
    from PIL import Image

    import colorizers.pipelines as pipeline

    seen = []
    real = FrameColorizer.__init__

    def frame_colorizer(self, model, *args, **kwargs):
        seen.append(model)
        real(self, model, *args, **kwargs)

    built = []
    real_init = pipeline.ImageColorizationPipeline.__init__

    def init(self, *args, **kwargs):
        built.append(self)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(FrameColorizer, "__init__", frame_colorizer)
    monkeypatch.setattr(pipeline.ImageColorizationPipeline, "__init__", init)
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "pan.mp4").write_bytes(clip.read_bytes())
    Image.fromarray(texture(24, 32, 5)).save(folder / "photo.png")
    args = ["colorize", str(folder), "-o", str(tmp_path / "out"), "-m", "resnet18", "-q", "--size", "48"]
    assert main([*args, "--batch-size", "3", "--duration", "0.2"]) == 0
    assert len(built) == 1 and seen == built  # the video was colorized by the run's one pipeline
    assert built[0].defaults["size"] == {"longest_edge": 48} and built[0].defaults["batch_size"] == 3

"""The app's "Video" tab: upload a film clip, pick a model, colorize it (temporally stabilized or frame by
frame) and watch the result beside the original.

Built inside ``app.build_demo``'s Blocks by ``build_video_tab(context)`` (a ``ServerContext``); the work is
``colorizers.colorize_video``, and its refusals (``VideoError``, ``RequestError``, ``LimitError``) become
``gr.Error`` through the context's guard (:func:`video_handler`). Outputs are MP4 (H.264) with the audio copied
when browsers play its codec (AAC, MP3, Opus), else re-encoded to AAC.

Every limit is the server's ``colorizers.limits.Limits`` (``context.limits``; nothing is read from elsewhere): the
model name is checked against the public policy first (nothing else is looked at before); a video longer than ``video_seconds`` or with frames larger than
``video_side`` is refused (one line naming the limit); the request waits for room for the frames it holds at
once in ``inflight_megapixels``, colorizes holding one of the server's compute slots (as a big request: never the
one kept for small photos) and stops past ``request_seconds``. Stable API: ``/colorize_video`` (video,
model, stabilize=True) -> the colorized MP4.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
from gradio import FileData

import colorizers
from colorizers import get_preset, list_models
from colorizers.app.context import ServerContext
from colorizers.hub import preset_quality
from colorizers.limits import LimitError, Limits, admit_pixels, check_deadline, compute
from colorizers.serving.policy import RequestError, safe_filename
from colorizers.video.colorize import colorize_video
from colorizers.video.io import VIDEO_SUFFIXES, VideoError, VideoInfo, probe_video

BROWSER_AUDIO = {"aac", "mp3", "opus"}  # audio codecs browsers play inside MP4: copied; others re-encoded to AAC
BATCH_SIZE = 4  # frames per forward pass
# Frames held at once while a video is colorized (colorizers.video.colorize's pipeline): up to 4 batches decoded and
# waiting, the batch being colorized, 2 batches waiting for the encoder, and the stabilizer's previous frame.
# A request is admitted for that many frames' pixels (limit inflight_megapixels), as a photo is for its own.
FRAMES_IN_FLIGHT = 7 * BATCH_SIZE + 1
DURATION_SLACK_S = 1e-3  # container durations are rounded


def video_presets() -> list[tuple[str, str]]:
    """(label, name) of every preset, best first by measured kodak24 PSNR vs gray, those below gray marked
    (colorizers.hub.preset_quality); untrained ones last."""
    return preset_quality.preset_choices(list_models(), lambda name: get_preset(name).has_weights)


def uploaded_path(payload: Any) -> Path:
    """The file of a video upload (a Gradio file payload or the path Gradio handed over); a request naming any
    other file on the server is refused."""
    path = payload.get("path") if isinstance(payload, dict) else payload
    if not path or not isinstance(path, str | Path) or "\x00" in str(path):
        raise RequestError("Upload a video first.")
    if not Path(path).resolve().is_relative_to(Path(gr.utils.get_upload_folder()).resolve()):
        raise RequestError("The video must be a file uploaded to this app (gradio_client: handle_file(path)).")
    return Path(path)


def check_video(info: VideoInfo, limits: Limits) -> None:
    """Refuse (``LimitError``, one line naming the limit) a video with frames over ``video_side`` pixels a side or
    longer than ``video_seconds`` (a video of exactly that length passes)."""
    if max(info.width, info.height) > limits.video_side:
        raise LimitError(
            f"The video is {info.width}x{info.height}: this server takes frames up to {limits.video_side} pixels a "
            f"side (limit video_side = {limits.video_side}). Scale it down, or use the command line.",
            limit="video_side",
            value=limits.video_side,
        )
    if info.duration is not None and info.duration > limits.video_seconds + DURATION_SLACK_S:
        raise LimitError(
            f"The video is {round(info.duration, 2):g} s long, above the limit of {limits.video_seconds:g} s per "
            f"video on this server (video_seconds). Cut it shorter, or use the command line.",
            limit="video_seconds",
            value=limits.video_seconds,
        )


def limits_markdown(limits: Limits) -> str:
    return (
        f"Videos ({', '.join(VIDEO_SUFFIXES)}) up to **{limits.video_seconds:g} s** long are colorized on this "
        f"server, frames up to {limits.video_side} px a side. The result is an MP4 with the original's frame rate "
        "and sound. *Stabilize* carries colour along the motion within each shot, so it does not flicker from frame "
        "to frame; off, every frame is colorized on its own. For whole films use the command line: "
        "`python -m colorizers colorize film.mp4 -o film-colorized.mp4`."
    )


def colorize_upload(
    video: Any, model: Any, stabilize: Any, *, context: ServerContext, progress: Callable | None = None
) -> tuple[str, str]:
    """One video request under ``context``'s limits (run it inside its guard, as :func:`video_handler` does): the
    result's path and a note."""
    limits = context.limits
    # the name first: in public mode no name makes the server look at its disk
    name = context.models.one(model or colorizers.DEFAULT_MODEL)
    path = uploaded_path(video)
    try:
        info = probe_video(path)
    except VideoError as error:
        raise RequestError(f"The video cannot be used: {str(error).removeprefix(f'{path}: ')}.") from None
    check_video(info, limits)
    admit_pixels(info.width * info.height * FRAMES_IN_FLIGHT)  # waits for room; refused past the deadline
    loaded = context.models.load(name)
    target = context.outputs.new() / f"{safe_filename(path.stem)}-{safe_filename(loaded.name)}-colorized.mp4"
    total = info.frames_between(0, limits.video_seconds)
    done = [0]

    def advance(count: int) -> None:  # called between batches, in this request's thread
        check_deadline()
        done[0] += count
        if progress is not None:
            progress((done[0], total) if total else done[0], desc="colorizing", unit="frames")

    try:
        with compute(big=True):  # one compute slot for the whole video, never the one kept for small photos
            result = colorize_video(
                path,
                target,
                loaded.model,
                processor=loaded.processor,
                stabilize=bool(stabilize),
                duration=limits.video_seconds,  # a header that understates the length does not get past the limit
                batch_size=BATCH_SIZE,
                copy_audio=BROWSER_AUDIO,
                progress=advance,
            )
    except VideoError as error:
        raise RequestError(f"The video cannot be colorized: {str(error).removeprefix(f'{path}: ')}.") from None
    note = (
        f"**{loaded.name}**, {'stabilized' if result.stabilized else 'frame by frame'}: {result.frames} frames "
        f"at {result.fps:g} fps ({result.seconds:.1f} s), {result.width}x{result.height}, {result.codec}, "
        f"audio {result.audio}; {result.frames_per_second:.1f} frames/s on this server."
    )
    if info.duration is None:
        note += f" At most the first {limits.video_seconds:g} s were colorized (this server's limit)."
    if loaded.untrained:
        note += " This preset has no trained weights: its colours are arbitrary."
    return str(result.path), note


def video_handler(context: ServerContext) -> Callable[..., tuple[str, str]]:
    """What the tab's button and ``/colorize_video`` run: :func:`colorize_upload` in ``context``, guarded (one
    request: rate, room for its frames, deadline; refusals for the user)."""

    @context.guard
    def run(video: Any, model: Any, stabilize: Any = True, progress: Callable | None = None) -> tuple[str, str]:
        return colorize_upload(video, model, stabilize, context=context, progress=progress)

    return run


def video_layout() -> tuple[gr.Dropdown, gr.Checkbox, gr.Button, gr.Video, gr.Video, gr.Markdown]:
    """Model, stabilize and the button over the original and the result (call inside the ``gr.Tab``)."""
    with gr.Row(equal_height=False):
        with gr.Column(scale=4):
            model = gr.Dropdown(
                video_presets(),
                value=colorizers.DEFAULT_MODEL,
                label="Model",
                allow_custom_value=True,
                elem_id="video-model",
            )
        with gr.Column(scale=3):
            stabilize = gr.Checkbox(True, label="Stabilize (no flicker between frames)", elem_id="video-stabilize")
            button = gr.Button("Colorize video", variant="primary", elem_id="video-button")
    with gr.Row(equal_height=True):
        original = gr.Video(
            label="Original", sources=["upload"], include_audio=True, height=360, elem_id="video-input"
        )
        result = gr.Video(label="Colorized", interactive=False, height=360, elem_id="video-output")
    notes = gr.Markdown(elem_id="video-notes")
    return model, stabilize, button, original, result, notes


def build_video_tab(context: ServerContext) -> None:
    """The tab's layout and events, and the ``/colorize_video`` endpoint (call inside a ``gr.Blocks``), serving
    in ``context``: every limit it applies is ``context.limits``."""
    run = video_handler(context)
    seconds = context.limits.video_seconds

    def run_ui(video: Any, model: Any, stabilize: bool, progress=gr.Progress()):
        return run(video, model, stabilize, progress)

    def colorize_video_api(video: FileData, model: str, stabilize: bool = True) -> FileData:
        return FileData(path=run(video, model, stabilize)[0])

    with gr.Tab("Video", id="video"):
        gr.Markdown(limits_markdown(context.limits), elem_id="video-limits")
        model, stabilize, button, original, result, notes = video_layout()
        button.click(
            run_ui,
            inputs=[original, model, stabilize],
            outputs=[result, notes],
            api_visibility="private",
            preprocess=False,
            **context.inference,
        )
        gr.api(
            colorize_video_api,
            api_name="colorize_video",
            **context.inference,
            api_description=f"Colorize a video (at most {seconds:g} s long on this server) with one model, "
            "temporally stabilized unless stabilize=False; returns an MP4 with the original's frame rate and sound.",
        )


__all__ = [
    "build_video_tab",
    "check_video",
    "colorize_upload",
    "limits_markdown",
    "uploaded_path",
    "video_handler",
]

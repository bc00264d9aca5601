"""The app's "Video" tab: upload a film clip, pick a model, colorize it (temporally stabilized or frame by
frame) and watch the result beside the original.

Built inside ``app.build_demo``'s Blocks (``build_video_tab``); the work is ``colorizers.colorize_video``,
and its refusals (``VideoError``, ``RequestError``) become ``gr.Error`` through the ``refuse`` callable
app.py passes in. Outputs are MP4 (H.264) with the audio copied when browsers play its codec (AAC, MP3,
Opus), else re-encoded to AAC. This demo colorizes at most ``COLORIZERS_APP_MAX_VIDEO_SECONDS`` seconds
(20 by default) of each video, from its start, and refuses frames larger than
``COLORIZERS_APP_MAX_VIDEO_SIDE`` pixels (1920). Stable API: ``/colorize_video`` (video, model,
stabilize=True) -> the colorized MP4.
"""

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
from gradio import FileData

import colorizers
from colorizers import get_preset, list_models
from colorizers.serving import ModelCache, RequestError, parse_model_names, safe_filename
from colorizers.video import colorize_video
from colorizers.video_io import VIDEO_SUFFIXES, VideoError, probe_video

MAX_VIDEO_SECONDS = float(os.environ.get("COLORIZERS_APP_MAX_VIDEO_SECONDS", "20"))
MAX_VIDEO_SIDE = int(os.environ.get("COLORIZERS_APP_MAX_VIDEO_SIDE", "1920"))
BROWSER_AUDIO = {"aac", "mp3", "opus"}  # audio codecs browsers play inside MP4: copied; others re-encoded to AAC


def video_presets() -> list[tuple[str, str]]:
    """(label, name) of every preset, those with trained weights first."""
    names = sorted(list_models(), key=lambda name: not get_preset(name).has_weights)
    return [(name if get_preset(name).has_weights else f"{name} (untrained: random weights)", name) for name in names]


def uploaded_path(payload: Any) -> Path:
    """The file of a video upload (a Gradio file payload or the path Gradio handed over); a request naming any
    other file on the server is refused."""
    path = payload.get("path") if isinstance(payload, dict) else payload
    if not path:
        raise RequestError("Upload a video first.")
    if not Path(path).resolve().is_relative_to(Path(gr.utils.get_upload_folder()).resolve()):
        raise RequestError("The video must be a file uploaded to this app (gradio_client: handle_file(path)).")
    return Path(path)


def limits_markdown() -> str:
    return (
        f"Videos ({', '.join(VIDEO_SUFFIXES)}) are colorized up to **{MAX_VIDEO_SECONDS:g} s** on this demo (longer ones: "
        f"their first {MAX_VIDEO_SECONDS:g} s), frames up to {MAX_VIDEO_SIDE} px a side. The result is an MP4 with the "
        "original's frame rate and sound. *Stabilize* carries colour along the motion within each shot, so it does "
        "not flicker from frame to frame; off, every frame is colorized on its own. For whole films use the command "
        "line: `python -m colorizers colorize film.mp4 -o film-colorized.mp4`."
    )


def build_video_tab(cache: ModelCache, refuse: Callable, outputs, concurrency: dict) -> None:
    """The tab's layout and events (call inside a ``gr.Blocks``). ``refuse`` wraps handlers so library
    refusals reach the user; ``outputs`` hands out per-request folders for result files."""

    @refuse
    def run(video: Any, model: Any, stabilize: Any = True, progress: Callable | None = None) -> tuple[str, str]:
        path = uploaded_path(video)
        names = parse_model_names(model or colorizers.DEFAULT_MODEL, limit=1)
        if len(names) != 1:
            raise RequestError("Pick one model.")
        try:
            info = probe_video(path)
        except VideoError as error:
            raise RequestError(f"The video cannot be used: {str(error).removeprefix(f'{path}: ')}.") from None
        if max(info.width, info.height) > MAX_VIDEO_SIDE:
            raise RequestError(
                f"The video is {info.width}x{info.height}: this demo takes frames up to {MAX_VIDEO_SIDE} "
                "pixels a side (scale it down, or use the command line)."
            )
        clipped = info.duration is None or info.duration > MAX_VIDEO_SECONDS + 1e-3
        loaded = cache.get(names[0])
        target = outputs.new() / f"{safe_filename(path.stem)}-{safe_filename(loaded.name)}-colorized.mp4"
        total = info.frames_between(0, MAX_VIDEO_SECONDS if clipped else None)
        done = [0]

        def advance(count: int) -> None:
            done[0] += count
            if progress is not None:
                progress((done[0], total) if total else done[0], desc="colorizing", unit="frames")

        try:
            result = colorize_video(
                path,
                target,
                loaded.model,
                processor=loaded.processor,
                stabilize=bool(stabilize),
                duration=MAX_VIDEO_SECONDS if clipped else None,
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
        if clipped:
            note += f" Only the first {MAX_VIDEO_SECONDS:g} s were colorized (this demo's limit)."
        if loaded.untrained:
            note += " This preset has no trained weights: its colours are arbitrary."
        return str(result.path), note

    def run_ui(video: Any, model: Any, stabilize: bool, progress=gr.Progress()):
        return run(video, model, stabilize, progress)

    def colorize_video_api(video: FileData, model: str, stabilize: bool = True) -> FileData:
        return FileData(path=run(video, model, stabilize)[0])

    with gr.Tab("Video", id="video"):
        gr.Markdown(limits_markdown(), elem_id="video-limits")
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
        button.click(
            run_ui,
            inputs=[original, model, stabilize],
            outputs=[result, notes],
            api_visibility="private",
            preprocess=False,
            **concurrency,
        )
        gr.api(
            colorize_video_api,
            api_name="colorize_video",
            **concurrency,
            api_description=f"Colorize a video (at most {MAX_VIDEO_SECONDS:g} s from its start on this server) with one "
            "model, temporally stabilized unless stabilize=False; returns an MP4 with the original's frame rate and sound.",
        )


__all__ = ["MAX_VIDEO_SECONDS", "build_video_tab", "uploaded_path"]

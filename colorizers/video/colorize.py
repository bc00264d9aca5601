"""``colorize_video()``: a video file in, its colorized version out, temporally stable.

Frames stream through three threads so decoding, the model and encoding overlap, in batches, with
bounded queues (memory stays flat for a two-hour film):

    decode (PyAV) -> gray frames -> model on batches at its working size -> stabilization
    (``colorizers.video.temporal``) on ab at that size -> ab upsampled once and joined with the full-resolution
    L -> encode + mux, with the audio packets copied

The output keeps the input's frame rate, timestamps (so its frame count and duration), size and audio;
it is written under a temporary name beside the destination and renamed when complete, so an error or
Ctrl-C never leaves a half-written file under the final name.
"""

from __future__ import annotations

import functools
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import PreTrainedModel

from colorizers.color import denormalize_lightness, gray_to_lightness
from colorizers.image_processing_colorizer import ColorizerImageProcessor
from colorizers.pipelines import ImageColorizationPipeline, check_temperature, load_pipeline
from colorizers.video.frame_color import join_lightness_ab
from colorizers.video.io import (
    CONTAINERS,
    VIDEO_SUFFIXES,
    VideoError,
    VideoInfo,
    VideoWriter,
    open_video,
    probe_video,
    read_stream,
)
from colorizers.video.temporal import TemporalStabilizer

_WAIT_S = 0.1  # how often blocked threads look up to see whether the others stopped


class FrameColorizer:
    """A colorization pipeline turned into a video filter: batches of full-resolution L in order, stabilized ab out.

    Each call takes the next frames' L planes (one shape) and returns their normalised ab at the pipeline's
    working size, ``(2, h, w)`` each; ``join_lightness_ab`` makes the colour frames. With
    ``stabilize=False`` it is ``colorize()`` frame by frame. ``model`` is an ``ImageColorizationPipeline``
    (its defaults apply) or a model; ``size`` and ``temperature`` override the defaults.
    """

    def __init__(
        self,
        model: ImageColorizationPipeline | PreTrainedModel,
        processor: ColorizerImageProcessor | None = None,
        *,
        size: int | dict | None = None,
        temperature: float | None = None,
        stabilize: bool = True,
        stabilizer: TemporalStabilizer | None = None,
    ):
        check_temperature(temperature, model.model if isinstance(model, ImageColorizationPipeline) else model)
        self.pipeline = load_pipeline(model, processor)
        self.size, self.temperature = size, temperature
        self.stabilizer = (stabilizer or TemporalStabilizer()) if stabilize else None
        self.cuts = 0

    def __call__(self, lightness: list[np.ndarray]) -> list[np.ndarray]:
        pixel_values, ab = self.pipeline.predict_ab(lightness, size=self.size, temperature=self.temperature)
        ab = ab.numpy()
        if self.stabilizer is None:
            return list(ab)
        small = denormalize_lightness(pixel_values[:, 0].numpy())
        out = []
        for light, planes in zip(small, ab):
            out.append(self.stabilizer(light, planes))
            self.cuts += self.stabilizer.last_cut
        return out

    def colorize(self, lightness: list[np.ndarray]) -> list[np.ndarray]:
        """The next frames as sRGB uint8 ``(H, W, 3)`` arrays."""
        return [join_lightness_ab(light, ab) for light, ab in zip(lightness, self(lightness))]


@dataclass
class VideoResult:
    """What ``colorize_video`` wrote."""

    path: Path
    frames: int
    fps: float  # the video's frame rate
    seconds: float  # its duration
    width: int
    height: int
    codec: str  # e.g. "H.264 (libx264)"
    container: str  # FFmpeg's muxer name, e.g. "mp4"
    audio: str  # "copied (aac)", "re-encoded (pcm_s16le -> aac: ...)" or "none"
    stabilized: bool
    shots: int  # shots found (scene cuts + 1), when stabilized
    elapsed_s: float

    @property
    def audio_copied(self) -> bool:
        return self.audio.startswith("copied")

    @property
    def frames_per_second(self) -> float:
        """Processing speed: frames colorized per second of wall time, end to end."""
        return self.frames / self.elapsed_s if self.elapsed_s > 0 else float("inf")


class _Stopped(Exception):
    """Another thread of the pipeline failed or was interrupted."""


class _Worker(threading.Thread):
    def __init__(self, target: Callable, name: str):
        super().__init__(name=name, daemon=True)
        self._target_fn, self.error, self.result = target, None, None

    def run(self) -> None:
        try:
            self.result = self._target_fn()
        except _Stopped:
            pass
        except BaseException as error:
            self.error = error


def _put(channel: queue.Queue, item: Any, stop: threading.Event) -> None:
    while True:
        if stop.is_set():
            raise _Stopped
        try:
            channel.put(item, timeout=_WAIT_S)
            return
        except queue.Full:
            continue


def _get(channel: queue.Queue, stop: threading.Event) -> Any:
    while True:
        if stop.is_set():
            raise _Stopped
        try:
            return channel.get(timeout=_WAIT_S)
        except queue.Empty:
            continue


def _check_range(start: float | None, duration: float | None) -> None:
    for name, value in (("start", start), ("duration", duration)):
        if value is not None and (isinstance(value, bool) or not np.isfinite(value) or value < 0):
            raise VideoError(f"{name} must be a number of seconds >= 0, got {value!r}")
    if duration is not None and duration <= 0:
        raise VideoError(f"duration must be positive, got {duration}")


def _check_output(src: Path, dst: Path, overwrite: bool) -> str:
    """``dst``'s suffix, once it is one colorizers writes, ``dst`` is not ``src``, and may be replaced if it exists."""
    suffix = dst.suffix.lower()
    if suffix not in CONTAINERS:
        writable = " ".join(sorted(CONTAINERS))
        raise VideoError(f"{dst}: cannot write {suffix or 'suffix-less'} videos (use one of {writable})")
    if dst.exists() and src.exists() and dst.resolve() == src.resolve():
        raise VideoError(f"{dst}: the output would replace its own input")
    if dst.exists() and not overwrite:
        raise VideoError(f"{dst} exists (pass overwrite=True, or --overwrite)")
    return suffix


def colorize_video(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    model: ImageColorizationPipeline | PreTrainedModel | str | None = None,
    *,
    stabilize: bool = True,
    start: float | None = None,
    duration: float | None = None,
    overwrite: bool = False,
    processor: ColorizerImageProcessor | None = None,
    size: int | dict | None = None,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    temperature: float | None = None,
    progress: Callable[[int], Any] | None = None,
    stabilizer: TemporalStabilizer | None = None,
    copy_audio: set[str] | None = None,
) -> VideoResult:
    """Colorize the video file ``src`` into ``dst``, keeping its frame rate, timing, size and audio.

    Args:
        src: any video FFmpeg reads (its first video stream is colorized; colour videos are treated as
            their black-and-white version).
        dst: the output; its suffix picks the container: ``.mp4``/``.m4v``/``.mov``/``.mkv`` get H.264,
            ``.webm`` VP9, ``.avi`` MPEG-4 Part 2 (the first encoder the installed FFmpeg has).
        model: an ``ImageColorizationPipeline`` (its defaults apply to what is not given here), a loaded model,
            or a preset name, folder or Hub id; ``None`` for ``colorizers.DEFAULT_MODEL``.
        stabilize: carry colour along optical flow within each shot (``colorizers.video.temporal``); ``False``
            colorizes each frame on its own, as ``colorize()`` would.
        start, duration: colorize only this part (seconds); the output starts at ``start``'s frame.
        overwrite: replace an existing ``dst`` (otherwise refused).
        processor, size, batch_size, device, temperature: as for ``colorize()`` (``batch_size``: frames per
            forward pass).
        progress: called with the number of frames just written (``tqdm.update`` fits).
        stabilizer: a configured :class:`TemporalStabilizer` (default settings otherwise).
        copy_audio: audio codecs to copy (e.g. those browsers play); others are re-encoded. Default: copy
            every audio stream the output container can hold.

    Raises:
        VideoError: for an unusable input (corrupt, truncated, empty, audio only, unsupported codec), an
            output suffix no container is written for, or an existing ``dst`` without ``overwrite``.
    """
    started = time.perf_counter()
    src, dst = Path(src), Path(dst)
    _check_range(start, duration)
    start = start or None  # from 0: the whole beginning, audio priming included
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    suffix = _check_output(src, dst, overwrite)
    probe_video(src)  # refuse a bad input before loading any model
    pipe = load_pipeline(model, processor, device=device)
    batch_size = pipe.defaults["batch_size"] if batch_size is None else batch_size
    model = pipe.model
    was_training = model.training
    model.eval()
    colorizer = FrameColorizer(pipe, size=size, temperature=temperature, stabilize=stabilize, stabilizer=stabilizer)
    container, info = open_video(src)
    end = None if duration is None else (start or 0.0) + duration
    dst.parent.mkdir(parents=True, exist_ok=True)
    partial = dst.with_name(f".{dst.stem}.{uuid.uuid4().hex[:8]}.partial{suffix}")
    writer, closed, done = None, False, False
    try:
        offset = info.start_time + start if start else 0.0  # a part starts at 0; a whole video keeps its timestamps
        writer = VideoWriter(
            partial, CONTAINERS[suffix], info, list(container.streams.audio), offset=offset, copy_audio=copy_audio
        )
        frames = _run_pipeline(
            container, info, colorizer, writer, start=start, end=end, batch_size=batch_size, progress=progress
        )
        writer.close()
        closed = True
        if dst.exists() and not overwrite:
            raise VideoError(f"{dst} exists (pass overwrite=True, or --overwrite)")
        os.replace(partial, dst)
        done = True
    finally:
        container.close()
        model.train(was_training)
        if writer is not None and not closed:
            writer.abort()
        if not done:
            partial.unlink(missing_ok=True)
    return VideoResult(
        dst,
        frames,
        float(info.fps),
        frames / float(info.fps),
        info.width,
        info.height,
        writer.codec,
        CONTAINERS[suffix],
        writer.audio_summary,
        stabilize,
        colorizer.cuts if stabilize else 0,
        time.perf_counter() - started,
    )


def _run_pipeline(
    container,
    info: VideoInfo,
    colorizer: FrameColorizer,
    writer: VideoWriter,
    *,
    start,
    end,
    batch_size: int,
    progress,
) -> int:
    """Decode thread -> this thread (model + stabilization) -> encode thread; returns the frames written."""
    return _FrameStream(container, info, colorizer, writer, batch_size=batch_size, progress=progress).run(start, end)


class _FrameStream:
    """The three stages of ``_run_pipeline`` and the bounded queues between them."""

    def __init__(
        self, container, info: VideoInfo, colorizer: FrameColorizer, writer: VideoWriter, *, batch_size, progress
    ):
        self.container, self.info, self.colorizer, self.writer = container, info, colorizer, writer
        self.batch_size, self.progress = batch_size, progress
        self.stop = threading.Event()
        self.decoded: queue.Queue = queue.Queue(maxsize=4 * batch_size)
        self.colorized: queue.Queue = queue.Queue(maxsize=2)
        self.finished = object()
        self.written = 0  # frames encoded so far (by the encode thread; reported to ``progress`` from this thread)
        self.reported = 0
        self.reader = self.encoder = None

    def run(self, start, end) -> int:
        self.reader = _Worker(functools.partial(self.decode, start, end), "colorizers-decode")
        self.encoder = _Worker(self.encode, "colorizers-encode")
        self.reader.start()
        self.encoder.start()
        try:
            self.colorize()
            self.send(self.finished)
            while self.encoder.is_alive():
                self.encoder.join(_WAIT_S)
                self.report()
            if self.encoder.error is not None:
                raise self.encoder.error
            self.report()
            return self.encoder.result
        finally:
            self.stop.set()
            self.reader.join()
            self.encoder.join()

    def decode(self, start, end) -> int:
        try:
            return read_stream(self.container, self.info, self.put_decoded, start=start, end=end)
        finally:
            try:
                _put(self.decoded, self.finished, self.stop)
            except _Stopped:
                pass

    def put_decoded(self, item) -> None:
        _put(self.decoded, item, self.stop)

    def colorize(self) -> None:
        """This thread: decoded frames in batches through the colorizer, audio packets passed along, in order."""
        batch, audio = [], []
        while True:
            try:
                item = self.decoded.get(timeout=_WAIT_S)
            except queue.Empty:
                if self.reader.error is not None:
                    raise self.reader.error from None  # the decoding thread's own error, as it happened there
                self.report()
                continue
            if item is self.finished:
                break
            if item[0] == "frame":
                batch.append(item[1:])
                if len(batch) >= self.batch_size:
                    self.flush(batch, audio)
            else:
                audio.append(item[1:])
        if self.reader.error is not None:
            raise self.reader.error
        self.flush(batch, audio)

    def flush(self, batch: list, audio: list) -> None:
        if batch:
            lightness = [gray_to_lightness(gray) for _, gray, _ in batch]
            abs_ = self.colorizer(lightness)
            frames = [(pts, light, ab, rotation) for (pts, _, rotation), light, ab in zip(batch, lightness, abs_)]
            self.send(("frames", frames))
            batch.clear()
        if audio:
            self.send(("audio", list(audio)))
            audio.clear()

    def send(self, item) -> None:
        while True:
            if self.encoder.error is not None or not self.encoder.is_alive():
                raise self.encoder.error or _Stopped()
            self.report()
            try:
                self.colorized.put(item, timeout=_WAIT_S)
                return
            except queue.Full:
                continue

    def encode(self) -> int:
        while (item := _get(self.colorized, self.stop)) is not self.finished:
            kind, payload = item
            if kind == "audio":
                for index, packet in payload:
                    self.writer.write_audio(index, packet)
                continue
            for pts, light, ab, rotation in payload:
                if self.stop.is_set():
                    raise _Stopped
                self.writer.write(join_lightness_ab(light, ab), pts, rotation)
                self.written += 1
        return self.written

    def report(self) -> None:
        if self.progress is not None and self.written > self.reported:
            count, self.reported = self.written - self.reported, self.written
            self.progress(count)


__all__ = ["VIDEO_SUFFIXES", "FrameColorizer", "VideoError", "VideoResult", "colorize_video", "join_lightness_ab"]

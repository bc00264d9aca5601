"""Reading and writing video files with PyAV (FFmpeg): what ``colorizers.video.colorize`` streams frames through.

* :func:`open_video` opens a file and says in one line why it cannot be used (empty, corrupt,
  truncated, audio only, a codec this FFmpeg cannot decode): every refusal is a :class:`VideoError`.
* :func:`read_stream` demuxes and decodes in order: video frames as 8-bit gray (their luma, the
  film's own black and white) and audio packets untouched, trimmed to a time range.
* :class:`VideoWriter` encodes RGB frames (H.264 in MP4/MOV/MKV, VP9 in WebM, MPEG-4 Part 2 in AVI:
  whichever the installed FFmpeg offers first) with the input's frame rate and timestamps, and copies
  the audio packets as they are; only an audio codec the output container cannot hold (AAC in WebM,
  Opus in AVI) is re-encoded (to AAC, or Opus for WebM), and the result says so.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg")
# Output containers by suffix (FFmpeg muxer names); other video suffixes are written as MP4.
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi"}
_H264 = ("libx264", "libopenh264", "mpeg4")
ENCODERS = {"webm": ("libvpx-vp9", "libvpx"), "avi": ("mpeg4", "libx264")}
ENCODER_OPTIONS = {
    "libx264": {"preset": "veryfast", "crf": "18"},
    "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8", "row-mt": "1", "crf": "30"},
    "libvpx": {"deadline": "realtime", "cpu-used": "8", "crf": "10"},
}
CODEC_NAMES = {
    "libx264": "H.264",
    "libopenh264": "H.264",
    "libvpx-vp9": "VP9",
    "libvpx": "VP8",
    "mpeg4": "MPEG-4 Part 2",
}
BITS_PER_PIXEL = 0.25  # for the encoders without a constant-quality mode (MPEG-4 Part 2, OpenH264)
_SIGNATURES = {b"ftyp": "MP4/MOV", b"\x1aE\xdf\xa3": "Matroska/WebM", b"RIFF": "AVI"}


class VideoError(ValueError):
    """A video that cannot be colorized, or an output that cannot be written; the message is one line."""


def has_video_suffix(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def writable_suffix(suffix: str) -> str:
    """The suffix an output keeps: its own where colorizers can write that container, else ``.mp4``."""
    return suffix.lower() if suffix.lower() in CONTAINERS else ".mp4"


@dataclass
class VideoInfo:
    """What a video file holds, from its header."""

    path: Path
    width: int
    height: int
    fps: Fraction
    time_base: Fraction
    codec: str
    duration: float | None  # seconds, None when the file does not say
    frames: int | None  # as declared, or estimated from the duration
    audio: list[str] = field(default_factory=list)  # codec of every audio stream
    start_time: float = 0.0  # the video stream's first timestamp (seconds): times given by users count from it
    sample_aspect_ratio: Fraction | None = None

    def frames_between(self, start: float | None, duration: float | None) -> int | None:
        """How many frames a part of the video holds (an estimate, for progress bars)."""
        if self.frames is None:
            return round(duration * self.fps) if duration is not None else None
        remaining = max(0, self.frames - round((start or 0) * self.fps))
        return remaining if duration is None else min(remaining, round(duration * self.fps))


def _unreadable(path: Path) -> str:
    with open(path, "rb") as file:
        head = file.read(12)
    for magic, kind in _SIGNATURES.items():
        if magic in (head[4:8], head[:4]):
            return f"a truncated or corrupt {kind} file (FFmpeg cannot read its header)"
    return "not a video file FFmpeg can read (corrupt, or an unknown format)"


def open_video(path: str | Path) -> tuple[av.container.InputContainer, VideoInfo]:
    """Open ``path`` for reading; :class:`VideoError` with the reason when it is no usable video."""
    path = Path(path)
    if not path.exists():
        raise VideoError(f"{path}: no such file")
    if not path.is_file():
        raise VideoError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: empty file (0 bytes)")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.error.FFmpegError:
        raise VideoError(f"{path}: {_unreadable(path)}") from None
    try:
        return container, _describe(path, container)
    except BaseException:
        container.close()
        raise


def _describe(path: Path, container) -> VideoInfo:
    audio = [stream.codec_context.name if stream.codec_context else "unknown" for stream in container.streams.audio]
    if not container.streams.video:
        raise VideoError(f"{path}: no video stream" + (f" (audio only: {', '.join(audio)})" if audio else ""))
    stream = container.streams.video[0]
    context = stream.codec_context
    if context is None:
        if stream.frames:
            raise VideoError(f"{path}: its video codec is not supported by this FFmpeg build (no decoder for it)")
        raise VideoError(f"{path}: truncated or corrupt (its video stream has no readable codec data)")
    if not context.width or not context.height:
        raise VideoError(f"{path}: truncated or corrupt ({context.name} video without a picture size)")
    fps = stream.average_rate or stream.guessed_rate or stream.base_rate or Fraction(25)
    if stream.duration and stream.time_base:
        duration = float(stream.duration * stream.time_base)
    else:
        duration = container.duration / av.time_base if container.duration else None
    frames = stream.frames or (round(duration * fps) if duration else None)
    if frames == 0 and duration == 0:
        raise VideoError(f"{path}: zero-length video (no frames)")
    time_base = Fraction(stream.time_base or 1 / fps)
    return VideoInfo(
        path,
        context.width,
        context.height,
        Fraction(fps),
        time_base,
        context.name,
        duration,
        frames,
        audio,
        float((stream.start_time or 0) * time_base),
        stream.sample_aspect_ratio or None,
    )


def probe_video(path: str | Path) -> VideoInfo:
    """The header of a video file (:class:`VideoError` when it is no usable video)."""
    container, info = open_video(path)
    container.close()
    return info


def read_stream(
    container, info: VideoInfo, emit: Callable, *, start: float | None = None, end: float | None = None
) -> int:
    """Decode ``container`` in order, calling ``emit(("frame", pts, gray, rotation))`` for every video
    frame in ``[start, end)`` seconds from the video's first timestamp (gray: uint8 (H, W) at the
    video's size; pts in ``info.time_base``) and ``emit(("audio", index, packet))`` for every audio
    packet in that range. Returns the frame count."""
    video = container.streams.video[0]
    video.thread_type = "AUTO"
    audio = list(container.streams.audio)
    epsilon, origin = 1e-6, info.start_time
    if start:
        container.seek(int((start + origin) / info.time_base), stream=video, backward=True)
    frames, video_done, last_time, last_pts = 0, False, None, None

    def take(frame) -> bool:
        nonlocal frames, last_time, last_pts
        pts = frame.pts
        if pts is None:  # no timestamps (some AVIs): count frames at the nominal rate
            pts = 0 if last_pts is None else last_pts + round(1 / (info.fps * info.time_base))
        last_pts, time = pts, float(pts * info.time_base)
        if start is not None and time - origin < start - epsilon:
            return False
        if end is not None and time - origin >= end - epsilon:
            return True
        gray = frame.to_ndarray(format="gray")
        if gray.shape != (info.height, info.width):  # the picture size changed mid-stream: keep the first one
            gray = cv2.resize(gray, (info.width, info.height), interpolation=cv2.INTER_AREA)
        emit(("frame", pts, gray, getattr(frame, "rotation", 0)))
        frames, last_time = frames + 1, time
        return False

    audio_done = {stream.index: False for stream in audio}
    try:
        for packet in container.demux(video, *audio):
            if packet.stream.type == "video":
                if not video_done:
                    for frame in packet.decode():  # every frame of the packet is decoded; taken up to the end
                        video_done = video_done or take(frame)
            elif packet.pts is not None and packet.size:
                time = float(packet.pts * packet.time_base) - origin
                if end is not None and time >= end - epsilon:
                    audio_done[packet.stream.index] = True
                elif start is None or time >= start - epsilon:
                    emit(("audio", audio.index(packet.stream), packet))
            if video_done and all(audio_done.values()):
                break  # (demux ends with an empty packet per stream, which flushes the decoder)
    except av.error.FFmpegError as error:
        at = f" at {last_time:.2f} s" if last_time is not None else ""
        raise VideoError(f"{info.path}: corrupt or truncated video data{at} ({error.strerror or error})") from None
    if frames == 0:
        raise VideoError(f"{info.path}: no video frames" + (" in the requested part" if start or end else ""))
    declared, reached = info.duration or 0.0, last_time - origin + 1 / info.fps
    if (end is None or end > declared) and reached < declared - max(2.0, 0.05 * declared):
        raise VideoError(
            f"{info.path}: truncated: its video stops at {reached:.2f} s of the {declared:.2f} s it declares"
        )
    return frames


class VideoWriter:
    """One output file: an encoded video stream plus the input's audio streams (copied where the container
    can hold them). ``offset`` seconds are taken off every timestamp (the start of a trimmed part)."""

    def __init__(
        self,
        path: Path,
        format_name: str,
        info: VideoInfo,
        audio_streams: list,
        *,
        offset: float = 0.0,
        copy_audio: set[str] | None = None,
    ):
        options = {"movflags": "+faststart"} if format_name in ("mp4", "mov") else {}
        self.container = av.open(str(path), "w", format=format_name, options=options)
        self.encoder = _encoder_for(format_name)
        self.time_base = info.time_base
        if self.encoder == "mpeg4" and info.time_base.denominator > 65535:  # MPEG-4 Part 2 limit
            self.time_base = 1 / info.fps
        self.stream = self.container.add_stream(self.encoder, rate=info.fps)
        odd = info.width % 2 or info.height % 2
        self.stream.pix_fmt = "yuv444p" if odd and self.encoder in ("libx264", "libvpx-vp9") else "yuv420p"
        self.stream.width, self.stream.height = info.width, info.height
        self.stream.time_base = self.stream.codec_context.time_base = self.time_base
        self.stream.options = dict(ENCODER_OPTIONS.get(self.encoder, {}))
        context = self.stream.codec_context
        if self.encoder not in ENCODER_OPTIONS:
            context.bit_rate = int(BITS_PER_PIXEL * info.width * info.height * float(info.fps))
        context.colorspace = context.color_primaries = context.color_trc = 1  # BT.709, as the frames are converted
        context.color_range = 1  # limited ("TV") range
        if info.sample_aspect_ratio:
            context.sample_aspect_ratio = info.sample_aspect_ratio
        self.offset, self.in_time_base = offset, info.time_base
        self.audio = [
            _AudioOutput(self.container, format_name, stream, offset, copy_audio) for stream in audio_streams
        ]
        self.rotation_set = False

    @property
    def codec(self) -> str:
        return f"{CODEC_NAMES.get(self.encoder, self.encoder)} ({self.encoder})"

    @property
    def audio_summary(self) -> str:
        return "; ".join(output.summary for output in self.audio) or "none"

    def write(self, rgb: np.ndarray, pts: int, rotation: int = 0) -> None:
        if not self.rotation_set:
            if rotation and hasattr(self.stream, "set_display_rotation"):
                self.stream.set_display_rotation(rotation)
            self.rotation_set = True
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
            format=self.stream.pix_fmt, dst_colorspace="ITU709"
        )
        frame.pts = round((pts * self.in_time_base - Fraction(self.offset)) / self.time_base)
        frame.time_base = self.time_base
        self.container.mux(self.stream.encode(frame))

    def write_audio(self, index: int, packet) -> None:
        self.audio[index].write(packet)

    def close(self) -> None:
        """Flush the encoders and finish the file."""
        self.container.mux(self.stream.encode(None))
        for output in self.audio:
            output.flush()
        self.container.close()

    def abort(self) -> None:
        try:
            self.container.close()
        except Exception:
            pass


def _encoder_for(format_name: str) -> str:
    for name in ENCODERS.get(format_name, _H264):
        try:
            av.codec.Codec(name, "w")
            return name
        except Exception:
            continue
    raise VideoError(
        f"this FFmpeg build has no encoder for {format_name} (tried {', '.join(ENCODERS.get(format_name, _H264))})"
    )


def _can_copy(format_name: str, stream) -> bool:
    """Whether ``format_name`` accepts ``stream``'s packets as they are (checked by writing a header)."""
    try:
        probe = av.open(io.BytesIO(), "w", format=format_name)
        try:
            probe.add_stream_from_template(stream)
            probe.start_encoding()
        finally:
            probe.close()
        return True
    except (ValueError, av.error.FFmpegError):
        return False


class _AudioOutput:
    """One input audio stream in the output: its packets copied, or (when the container cannot hold its
    codec) decoded and re-encoded to AAC (Opus in WebM)."""

    def __init__(self, container, format_name: str, source, offset: float, copy_only: set[str] | None = None):
        self.container, self.source, self.offset = container, source, offset
        self.name = source.codec_context.name if source.codec_context else "unknown"
        if source.codec_context is None:
            raise VideoError(f"{source.container.name}: its audio codec is not supported by this FFmpeg build")
        wanted = copy_only is None or self.name in copy_only
        if wanted and _can_copy(format_name, source):
            self.stream, self.resampler = container.add_stream_from_template(source), None
            self.summary = f"copied ({self.name})"
            return
        codec = "libopus" if format_name == "webm" else "aac"
        rate = 48000 if codec == "libopus" else source.codec_context.sample_rate or 48000
        self.stream = container.add_stream(codec, rate=rate)
        self.stream.codec_context.layout = "stereo" if source.codec_context.channels > 1 else "mono"
        context = self.stream.codec_context
        self.resampler = av.AudioResampler(
            format=context.format, layout=context.layout, rate=rate, frame_size=context.frame_size or None
        )
        self.samples = None
        why = f"{format_name} cannot hold {self.name}" if wanted else f"{self.name} was not to be copied"
        self.summary = f"re-encoded ({self.name} -> {codec}: {why})"

    @property
    def copied(self) -> bool:
        return self.resampler is None

    def write(self, packet) -> None:
        if self.resampler is None:
            if self.offset:
                shift = round(Fraction(self.offset) / packet.time_base)
                packet.pts -= shift
                packet.dts = packet.dts - shift if packet.dts is not None else None
            packet.stream = self.stream
            self.container.mux(packet)
            return
        for frame in self.source.codec_context.decode(packet):
            if self.samples is None:
                self.samples = (
                    max(
                        0,
                        round(
                            (float(frame.pts * frame.time_base) - self.offset) * self.stream.codec_context.sample_rate
                        ),
                    )
                    if frame.pts is not None
                    else 0
                )
            self._encode(self.resampler.resample(frame))

    def _encode(self, frames) -> None:
        for frame in frames:
            frame.pts, frame.time_base = self.samples or 0, Fraction(1, self.stream.codec_context.sample_rate)
            self.samples = (self.samples or 0) + frame.samples
            self.container.mux(self.stream.encode(frame))

    def flush(self) -> None:
        if self.resampler is not None:
            self._encode(self.resampler.resample(None))
            self.container.mux(self.stream.encode(None))


__all__ = [
    "VIDEO_SUFFIXES",
    "VideoError",
    "VideoInfo",
    "VideoWriter",
    "has_video_suffix",
    "open_video",
    "probe_video",
    "read_stream",
    "writable_suffix",
]

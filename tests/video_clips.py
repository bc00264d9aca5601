"""Tiny video clips the video tests write themselves with PyAV (no video file comes from elsewhere)."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np


def texture(height: int, width: int, seed: int) -> np.ndarray:
    """A smooth random colour image (uint8 RGB): structure DIS flow can follow, colours a model can vary on."""
    rng = np.random.default_rng(seed)
    noise = rng.random((height // 4 + 2, width // 4 + 2, 3)).astype(np.float32)
    big = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(big * 255, 0, 255).astype(np.uint8)


def pan_frames(frames: int, height: int = 48, width: int = 64, step: int = 2, seed: int = 0) -> list[np.ndarray]:
    """A camera panning ``step`` pixels a frame to the right over one texture."""
    world = texture(height, width + step * frames, seed)
    return [np.ascontiguousarray(world[:, i * step : i * step + width]) for i in range(frames)]


def marked_frames(frames: int, height: int = 48, width: int = 64) -> list[np.ndarray]:
    """Frames whose top-left 8x8 block tells their index (gray level 10 + 8 * index)."""
    out = []
    for index, frame in enumerate(pan_frames(frames, height, width)):
        frame = frame.copy()
        frame[:8, :8] = 10 + 8 * index
        out.append(frame)
    return out


def write_clip(
    path: Path,
    frames: list[np.ndarray],
    *,
    fps: int = 12,
    codec: str = "libx264",
    audio: str | None = "aac",
    audio_rate: int = 22050,
    video: bool = True,
) -> Path:
    """Write RGB frames (and a tone on an audio stream of codec ``audio``, as long as the video) with PyAV."""
    with av.open(str(path), "w") as container:
        stream = None
        if video:
            stream = container.add_stream(codec, rate=fps)
            stream.height, stream.width = frames[0].shape[:2]
            stream.pix_fmt = "yuv420p"
        sound = container.add_stream(audio, rate=audio_rate) if audio else None
        if sound is not None:
            sound.codec_context.layout = "mono"
        if stream is not None:
            for index, frame in enumerate(frames):
                picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
                picture.pts = index
                container.mux(stream.encode(picture))
        if sound is not None:
            context = sound.codec_context
            size, total = context.frame_size or 1024, int(audio_rate * len(frames) / fps)
            dtype = {"s16": np.int16, "flt": np.float32, "fltp": np.float32, "s16p": np.int16}[context.format.name]
            scale = 8000 if dtype is np.int16 else 0.25
            for start in range(0, total, size):
                tone = (scale * np.sin(np.arange(start, start + size) * 0.05)).astype(dtype)[None]
                chunk = av.AudioFrame.from_ndarray(tone, format=context.format.name, layout="mono")
                chunk.sample_rate, chunk.pts = audio_rate, start
                container.mux(sound.encode(chunk))
            container.mux(sound.encode(None))
        if stream is not None:
            container.mux(stream.encode(None))
    return path


def describe(path: Path) -> dict:
    """Frame count (decoded), frame rate, duration, size, codec and audio packets of a file."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video)]
        container.seek(0)
        packets = [bytes(packet) for packet in container.demux(*audio) if packet.size] if audio else []
        return {
            "frames": frames,
            "count": len(frames),
            "fps": video.average_rate,
            "codec": video.codec_context.name,
            "duration": float(video.duration * video.time_base)
            if video.duration
            else container.duration / av.time_base,
            "size": (video.codec_context.width, video.codec_context.height),
            "audio": [stream.codec_context.name for stream in audio],
            "audio_packets": packets,
        }

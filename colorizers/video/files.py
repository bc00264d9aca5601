"""The video half of a batch run (``colorizers.batch.engine``): each video file found becomes its colorized video,
with a progress bar in frames (rate and ETA), and a one-line reason for every file that cannot be colorized."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from colorizers.batch.job import VideoOptions

# video_io (PyAV, OpenCV) is imported where used: the command line imports this module before any run.


def video_output_file(inputs: Sequence[str], output: Path) -> Path | None:
    """``-o film-colorized.mp4``: with a single video file as input, ``output`` may name the output file."""
    from colorizers.video.io import VIDEO_SUFFIXES

    if len(inputs) != 1 or output.is_dir() or output.suffix.lower() not in VIDEO_SUFFIXES:
        return None
    source = Path(inputs[0]).expanduser()
    return output if source.is_file() and source.suffix.lower() in VIDEO_SUFFIXES else None


def check_video_options(options: VideoOptions, inputs: Sequence[str], output: Path) -> str | None:
    """The reason the start, the duration or a video output file name are unusable, or None."""
    from colorizers.video.io import CONTAINERS

    if options.start is not None and options.start < 0:
        return "--start must be a number of seconds >= 0"
    if options.duration is not None and options.duration <= 0:
        return "--duration must be a positive number of seconds"
    if video_output_file(inputs, output) and output.suffix.lower() not in CONTAINERS:
        return f"-o {output}: colorizers writes {', '.join(sorted(CONTAINERS))} videos"
    return None


def colorize_video_job(job, pipe, options: VideoOptions, *, overwrite: bool, quiet: bool) -> str | None:
    """Colorize one video job (``job.source`` into ``job.target``) with the run's ``ImageColorizationPipeline``;
    None once written (said in one line unless ``quiet``), else the reason it failed, in one line."""
    from tqdm.auto import tqdm

    from colorizers.video.colorize import colorize_video
    from colorizers.video.io import VideoError, probe_video

    if job.target.suffix.lower() != job.source.suffix.lower() and not quiet:
        tqdm.write(
            f"note: {job.source.name} is written as {job.target.suffix} (H.264): colorizers does not "
            f"write {job.source.suffix} files",
            file=sys.stderr,
        )
    bar = None
    try:
        info = probe_video(job.source)
        bar = tqdm(
            total=info.frames_between(options.start, options.duration),
            unit="frame",
            desc=job.source.name,
            disable=quiet,
            dynamic_ncols=True,
        )
        result = colorize_video(
            job.source,
            job.target,
            pipe,
            stabilize=options.stabilize,
            start=options.start,
            duration=options.duration,
            overwrite=overwrite,
            progress=bar.update,
        )
    except (VideoError, ValueError, RuntimeError) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return message.removeprefix(f"{job.source}: ")
    finally:
        if bar is not None:
            bar.close()
    if not quiet:
        tqdm.write(
            f"{job.source} -> {job.target}: {result.frames} frames at {result.fps:g} fps ({result.seconds:.1f} s), "
            f"{result.codec}, audio {result.audio}, {result.frames_per_second:.1f} frames/s"
        )
    return None

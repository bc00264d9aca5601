"""The video half of ``colorizers colorize``: each video file found becomes its colorized video, with a
progress bar in frames (rate and ETA), the same no-overwrite rules as images, and a one-line reason for
every file that cannot be colorized."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# video_io (PyAV, OpenCV) is imported where used: the command line builds its parser from this module.


def video_output_file(args: argparse.Namespace) -> Path | None:
    """``-o film-colorized.mp4``: with a single video file as input, ``-o`` may name the output file."""
    from colorizers.video.io import VIDEO_SUFFIXES

    output = Path(args.output).expanduser()
    if len(args.inputs) != 1 or output.is_dir() or output.suffix.lower() not in VIDEO_SUFFIXES:
        return None
    source = Path(args.inputs[0]).expanduser()
    return output if source.is_file() and source.suffix.lower() in VIDEO_SUFFIXES else None


def check_video_options(args: argparse.Namespace) -> str | None:
    """The reason ``--start``/``--duration`` or a ``-o`` file name are unusable, or None."""
    from colorizers.video.io import CONTAINERS

    if args.start is not None and args.start < 0:
        return "--start must be a number of seconds >= 0"
    if args.duration is not None and args.duration <= 0:
        return "--duration must be a positive number of seconds"
    output = Path(args.output).expanduser()
    if video_output_file(args) and output.suffix.lower() not in CONTAINERS:
        return f"-o {output}: colorizers writes {', '.join(sorted(CONTAINERS))} videos"
    return None


def run_video_jobs(
    jobs: list, model, args: argparse.Namespace, sources: set[Path], claimed: set[Path], reasons: dict | None = None
) -> tuple[int, list, list]:
    """Colorize every video job in turn; returns (written, failed jobs, skipped jobs). ``reasons`` (if given)
    receives each failed job's reason, by source."""
    from tqdm.auto import tqdm

    from colorizers.batch.files import output_conflict
    from colorizers.video.colorize import colorize_video
    from colorizers.video.io import VideoError, probe_video

    written, failed, skipped = 0, [], []
    for job in jobs:
        target = job.target.resolve()
        reason, keep_existing = output_conflict(target, claimed, sources, args.overwrite)
        if keep_existing:
            skipped.append(job)
            tqdm.write(f"skipped {job.source}: {job.target} exists (use --overwrite)", file=sys.stderr)
            continue
        if reason is None:
            if job.target.suffix.lower() != job.source.suffix.lower() and not args.quiet:
                tqdm.write(
                    f"note: {job.source.name} is written as {job.target.suffix} (H.264): colorizers does not "
                    f"write {job.source.suffix} files",
                    file=sys.stderr,
                )
            bar = None
            try:
                info = probe_video(job.source)
                bar = tqdm(
                    total=info.frames_between(args.start, args.duration),
                    unit="frame",
                    desc=job.source.name,
                    disable=args.quiet,
                    dynamic_ncols=True,
                )
                result = colorize_video(
                    job.source,
                    job.target,
                    model,
                    stabilize=not args.no_stabilize,
                    start=args.start,
                    duration=args.duration,
                    overwrite=args.overwrite,
                    size=args.size,
                    batch_size=args.batch_size,
                    temperature=args.temperature,
                    progress=bar.update,
                )
            except (VideoError, ValueError, RuntimeError) as error:
                message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                reason = message.removeprefix(f"{job.source}: ")
            finally:
                if bar is not None:
                    bar.close()
        if reason is not None:
            failed.append(job)
            if reasons is not None:
                reasons[job.source] = reason
            tqdm.write(f"failed {job.source}: {reason}", file=sys.stderr)
            continue
        claimed.add(target)
        written += 1
        if not args.quiet:
            tqdm.write(
                f"{job.source} -> {job.target}: {result.frames} frames at {result.fps:g} fps ({result.seconds:.1f} s), "
                f"{result.codec}, audio {result.audio}, {result.frames_per_second:.1f} frames/s"
            )
    return written, failed, skipped


def add_video_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-stabilize",
        action="store_true",
        help="videos: colorize each frame on its own (default: colour carried along motion within each shot)",
    )
    parser.add_argument("--start", type=float, default=None, metavar="SECONDS", help="videos: colorize from this time")
    parser.add_argument(
        "--duration", type=float, default=None, metavar="SECONDS", help="videos: colorize this long a part"
    )

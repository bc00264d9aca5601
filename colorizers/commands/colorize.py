"""The ``colorize`` subcommand: its arguments, the checks of which of them go together, and the one typed job
(``colorizers.batch.job.BatchJob``) built from them for the batch engine (``colorizers.batch.engine.run``). The
argparse namespace stops here. Only the standard library at import time: ``--help`` must not wait for torch."""

from __future__ import annotations

import argparse
import os
import sys

from colorizers.batch.files import expand_user
from colorizers.batch.job import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_SHARD_SIZE,
    DEFAULT_WORKERS,
    PRECISIONS,
    ArchiveOptions,
    BatchJob,
    DatasetOptions,
    VideoOptions,
)
from colorizers.batch.run import ACCELERATE_PRECISION, launched_by_accelerate
from colorizers.commands.presets import MAX_BATCH_SIZE, batch_size_argument


def run_colorize(args: argparse.Namespace) -> int:
    problem = flag_problem(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    from colorizers.batch.engine import run

    return run(batch_job(args))


def batch_job(args: argparse.Namespace) -> BatchJob:
    """The run the arguments ask for (``main`` has filled in the default model and ``--max-pixels``)."""
    archive = dataset = None
    if archive_requested(args):  # resumable runs, on as many processes as accelerate launch starts
        archive = ArchiveOptions(
            manifest=expand_user(args.manifest) if args.manifest else None,
            retry_failed=args.retry_failed,
            precision=args.precision,
            workers=DEFAULT_WORKERS if args.workers is None else args.workers,
        )
    if args.dataset:
        dataset = DatasetOptions(
            args.dataset,
            split=args.split or "train",
            image_column=args.image_column or "image",
            streaming=args.streaming,
            shard_size=args.shard_size or DEFAULT_SHARD_SIZE,
            push_to_hub=args.push_to_hub,
        )
    return BatchJob(
        inputs=tuple(args.inputs),
        output=expand_user(args.output),
        model=args.model,
        revision=args.revision,
        device=args.device,
        size=args.size,
        batch_size=args.batch_size,
        temperature=args.temperature,
        hints=args.hints,
        output_format=args.format,
        overwrite=args.overwrite,
        max_pixels=args.max_pixels,
        quiet=args.quiet,
        video=VideoOptions(stabilize=not args.no_stabilize, start=args.start, duration=args.duration),
        archive=archive,
        dataset=dataset,
    )


def archive_requested(args: argparse.Namespace) -> bool:
    options = (args.manifest, args.retry_failed, args.dataset, args.precision, args.workers is not None)
    return any(options) or launched_by_accelerate()


def flag_problem(args: argparse.Namespace) -> str | None:
    """The reason the options given do not go together (files or a dataset, archive options), or None."""
    if args.dataset:
        if args.inputs:
            return "give image files and folders, or --dataset, not both"
        for flag, value in (("--hints", args.hints), ("--start", args.start), ("--duration", args.duration)):
            if value is not None:
                return f"{flag} applies to files, not to --dataset"
    else:
        if not args.inputs:
            return "nothing to colorize: give image files or folders, or --dataset NAME"
        for flag, value in (
            ("--split", args.split),
            ("--image-column", args.image_column),
            ("--shard-size", args.shard_size),
            ("--push-to-hub", args.push_to_hub),
            ("--streaming", args.streaming or None),
        ):
            if value is not None:
                return f"{flag} applies to --dataset runs"
    if args.workers is not None and args.workers < 0:
        return "--workers must be 0 or more"
    if args.shard_size is not None and args.shard_size < 1:
        return "--shard-size must be at least 1"
    if args.push_to_hub is not None and args.push_to_hub.count("/") != 1:
        return f"--push-to-hub takes a dataset id ORG/NAME, got {args.push_to_hub!r}"
    mixed = os.environ.get("ACCELERATE_MIXED_PRECISION", "no")
    if args.precision is None and mixed not in ACCELERATE_PRECISION:
        return f"the accelerate config's mixed_precision {mixed} is not for colorizing: pass --precision fp32 or bf16"
    return None


def add_parser(commands) -> argparse.ArgumentParser:
    """The ``colorize`` subcommand and its arguments, on the main parser's ``commands``."""
    colorize = commands.add_parser(
        "colorize",
        help="colorize image and video files and folders (recursively), or a dataset",
        description="Colorize image and video files and folders (recursively), or a datasets dataset (--dataset). "
        "Under `accelerate launch -m colorizers colorize ...` the work is split over its processes (CPUs, GPUs, "
        "machines); such archive runs are resumable: see the archives options.",
    )
    colorize.add_argument("inputs", nargs="*", help="image and video files and/or folders (none with --dataset)")
    colorize.add_argument(
        "-o",
        "--output",
        required=True,
        help="output folder (sub-folders are mirrored; --dataset: parquet files under OUTPUT/data), or the output "
        "file for a single video",
    )
    colorize.add_argument("-m", "--model", default=None, help="preset name, local model folder or Hub id")
    colorize.add_argument("--revision", default=None, help="Hub revision (branch, tag or commit) of --model")
    colorize.add_argument("--size", type=int, default=None, help="working resolution (longest edge, pixels)")
    colorize.add_argument(
        "--batch-size",
        type=batch_size_argument,
        default=DEFAULT_BATCH_SIZE,
        help=f"images per forward pass (default {DEFAULT_BATCH_SIZE}, at most {MAX_BATCH_SIZE}); archive runs "
        "colorize the inputs in fixed chunks of this many",
    )
    colorize.add_argument(
        "--hints",
        default=None,
        metavar="JSON",
        help='colour hints for hint-capable models: [{"x": 120, "y": 80, "color": "#aa3322", "radius": 6}, ...] '
        "for one image, or {file name: [hints], ...}",
    )
    colorize.add_argument(
        "--temperature",
        type=float,
        default=None,
        help="vividness of models that predict a colour distribution: 0.05 (vivid) .. 2; 1 = mean (default: the model's)",
    )
    colorize.add_argument(
        "--device", default=None, help="torch device, e.g. cpu or cuda (under accelerate launch: its own)"
    )
    colorize.add_argument(
        "--format",
        choices=("png", "same"),
        default="png",
        help="images: png (default) or the input's own format (videos keep their container)",
    )
    colorize.add_argument(
        "--overwrite",
        action="store_true",
        help="replace existing outputs (even inputs); an archive run then redoes every output",
    )
    colorize.add_argument(
        "--max-pixels", type=int, default=None, help="refuse larger images (default: PIL's bomb limit)"
    )
    _add_video_arguments(colorize)
    _add_archive_arguments(colorize)
    colorize.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    colorize.set_defaults(handler=run_colorize)
    return colorize


def _add_video_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-stabilize",
        action="store_true",
        help="videos: colorize each frame on its own (default: colour carried along motion within each shot)",
    )
    parser.add_argument("--start", type=float, default=None, metavar="SECONDS", help="videos: colorize from this time")
    parser.add_argument(
        "--duration", type=float, default=None, metavar="SECONDS", help="videos: colorize this long a part"
    )


def _add_archive_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "archives",
        "resumable runs over many files or a dataset, on one or many processes (`accelerate launch -m colorizers "
        "colorize ...`); any of these options, or accelerate launch, makes a run an archive run: a rerun skips "
        "finished outputs, and a manifest records every input (README: Colorizing an archive)",
    )
    group.add_argument(
        "--manifest", default=None, metavar="PATH", help="JSONL record of each input (default: OUTPUT/manifest.jsonl)"
    )
    group.add_argument(
        "--retry-failed", action="store_true", help="colorize again the inputs the manifest records as failed"
    )
    group.add_argument(
        "--precision",
        choices=tuple(PRECISIONS),
        default=None,
        help="model arithmetic: fp32, or fp16/bf16 autocast (fp16 on GPUs only); default: the accelerate "
        "config's mixed_precision, else fp32",
    )
    group.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help=f"threads that write outputs while the model runs, plus one that decodes the next batch (default "
        f"{DEFAULT_WORKERS}; 0: decode, colorize and write in turn on one thread)",
    )
    group.add_argument("--dataset", default=None, metavar="NAME", help="a datasets dataset (Hub id or local folder)")
    group.add_argument("--split", default=None, help="--dataset split (default train)")
    group.add_argument("--image-column", default=None, help="--dataset column of the images (default image)")
    group.add_argument("--streaming", action="store_true", help="--dataset: read the rows as a stream")
    group.add_argument(
        "--shard-size",
        type=int,
        default=None,
        metavar="ROWS",
        help=f"--dataset rows per output parquet file (default {DEFAULT_SHARD_SIZE})",
    )
    group.add_argument(
        "--push-to-hub", default=None, metavar="ORG/NAME", help="--dataset: upload the result as a Hub dataset"
    )

"""Command line: ``python -m colorizers colorize|evaluate|list|push ...`` (also installed as ``colorizers``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from colorizers.batch.files import (
    STOPS_WRITING,
    Interrupted,
    Job,
    check_inputs,
    collect_jobs,
    describe,
    expand_user,
    output_conflict,
    prepare_output,
    read_hint_map,
    stop_on_signals,
)
from colorizers.batch.run import add_archive_arguments, archive_requested, check_archive_args
from colorizers.commands.presets import MAX_BATCH_SIZE, batch_size_argument, model_name_problem, run_list
from colorizers.video.files import add_video_arguments, check_video_options, run_video_jobs, video_output_file

# Only the standard library at import time: torch, transformers, PIL and PyAV load inside the commands that use
# them, so that --help, argument errors and `list` answer at once (the package's __init__ is lazy under the command).


def run_colorize(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from colorizers.image_io import ImageReadError, read_image, save_image
    from colorizers.model_io.loading import ModelLoadError, load_model
    from colorizers.pipeline import check_temperature, colorize
    from colorizers.processing.hints import HintError, parse_hints

    problem = check_archive_args(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if args.dataset:  # archive runs: resumable, on as many processes as accelerate launch starts
        from colorizers.batch.datasets import run_dataset

        return run_dataset(args)
    if archive_requested(args):
        from colorizers.batch.engine import run_archive

        return run_archive(args)
    output_dir = expand_user(args.output)
    problem = check_inputs(args.inputs, output_dir, args.overwrite) or check_video_options(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    unreadable: list = []
    not_followed: list = []
    video_file = video_output_file(args)  # -o film-colorized.mp4 for one video
    jobs = (
        [Job(expand_user(args.inputs[0]), video_file)]
        if video_file
        else collect_jobs(args.inputs, output_dir, args.format, unreadable, not_followed)
    )
    videos, jobs = [job for job in jobs if job.video], [job for job in jobs if not job.video]
    for folder, reason in unreadable:
        print(f"failed {folder}: {reason}", file=sys.stderr)
    for link in not_followed:
        print(f"skipped {link}: a link that leads out of its input folder (not followed)", file=sys.stderr)
    if not jobs and not videos:
        print("error: no image files (or videos) found in " + ", ".join(args.inputs), file=sys.stderr)
        return 2

    try:
        model = load_model(args.model, device=args.device, revision=args.revision)
        check_temperature(args.temperature, model)
        if args.hints and not jobs:
            raise ValueError("--hints applies to images, and no image is to be colorized")
        hint_map = read_hint_map(args.hints, jobs, model) if args.hints else None
    except (ModelLoadError, KeyError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    failed, skipped, written = list(unreadable), [], 0

    def summary(code: int, why: str | None = None) -> int:
        if why:
            print(why, file=sys.stderr)
        line = f"{written} colorized into {output_dir}, {len(failed)} failed, {len(skipped)} skipped"
        left = max(0, len(jobs) + len(videos) - written - len(skipped) - (len(failed) - len(unreadable)))
        print(line + (f", {left} not done" if left else ""), file=sys.stderr if code or failed else sys.stdout)
        return code or (1 if failed else 0)

    problem = prepare_output(video_file.parent if video_file else output_dir)  # -o film.mp4 names a file
    if problem:
        return summary(1, f"error: {problem}")
    sources = {job.source.resolve() for job in jobs + videos}
    claimed: set[Path] = set()
    progress = tqdm(total=len(jobs), unit="img", desc="colorizing", disable=args.quiet or not jobs)
    try:
        with stop_on_signals():
            for start in range(0, len(jobs), args.batch_size):
                batch, images = [], []
                for job in jobs[start : start + args.batch_size]:
                    target = job.target.resolve()
                    reason, keep_existing = output_conflict(target, claimed, sources, args.overwrite)
                    if keep_existing:
                        skipped.append(job)
                        tqdm.write(f"skipped {job.source}: {job.target} exists (use --overwrite)", file=sys.stderr)
                        progress.update()
                        continue
                    if reason is None:
                        try:
                            image = read_image(job.source, max_pixels=args.max_pixels).image
                            if hint_map is not None:  # a bad hint fails its own image, not the batch
                                parse_hints(hint_map.get(job.source), image.width, image.height)
                            images.append(image)
                            batch.append(job)
                            claimed.add(target)
                            continue
                        except ImageReadError as error:
                            reason = error.reason
                        except HintError as error:
                            reason = f"--hints: {error}"
                    failed.append(job)
                    tqdm.write(f"failed {job.source}: {reason}", file=sys.stderr)
                    progress.update()
                if not batch:
                    continue
                try:
                    hints = [hint_map.get(job.source) for job in batch] if hint_map is not None else None
                    results = colorize(
                        images,
                        model,
                        size=args.size,
                        batch_size=args.batch_size,
                        temperature=args.temperature,
                        hints=hints,
                    )
                except (
                    ValueError,
                    TypeError,
                    RuntimeError,
                    MemoryError,
                ) as error:  # one bad batch must not end the run
                    results = [error] * len(batch)
                del images
                for job, result in zip(batch, results):
                    if isinstance(result, BaseException):
                        failed.append(job)
                        tqdm.write(f"failed {job.source}: {result or type(result).__name__}", file=sys.stderr)
                    else:
                        try:  # atomic: an interrupted run leaves no half-written file
                            save_image(result, job.target)
                            written += 1
                        except OSError as error:
                            failed.append(job)
                            if error.errno in STOPS_WRITING:
                                progress.close()
                                return summary(1, f"error: cannot write {job.target}: {describe(error)}; stopped")
                            tqdm.write(
                                f"failed {job.source}: cannot write {job.target} ({describe(error)})", file=sys.stderr
                            )
                    progress.update()
    except (Interrupted, KeyboardInterrupt) as stop:
        progress.close()
        name = stop.name if isinstance(stop, Interrupted) else "SIGINT"
        return summary(stop.exit_code if isinstance(stop, Interrupted) else 130, f"interrupted by {name}: stopped")
    progress.close()
    if videos:
        video_written, video_failed, video_skipped = run_video_jobs(videos, model, args, sources, claimed)
        written, failed, skipped = written + video_written, failed + video_failed, skipped + video_skipped
    return summary(0)


def run_evaluate(args: argparse.Namespace) -> int:
    import json

    from colorizers.evaluation.evaluate import evaluate, load_references, markdown_table
    from colorizers.model_io.loading import ModelLoadError

    try:
        data = load_references(args.data)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for skipped in data.skipped:
        print(f"skipped {skipped['file']}: {skipped['reason']}", file=sys.stderr)
    try:
        summaries = evaluate(
            args.model,
            data,
            size=args.size,
            include_gray=not args.no_gray,
            device=args.device,
            progress=not args.quiet,
        )
    except (ModelLoadError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    report = {
        "data": str(data.folder),
        "num_images": len(data.references),
        "skipped": data.skipped,
        "size": args.size,
        "protocol": "RGB uint8 at full resolution; PSNR and SSIM (channel_axis=2) with data_range=255; "
        "colourfulness of Hasler & Suesstrunk 2003 on 0..255; AuC of Zhang et al. 2016 (ab error thresholds "
        "0..150, percent) raw and class-rebalanced (10x10 ab bins, inverse frequency over the set), over all pixels",
        "results": summaries,
    }
    if args.output:
        output = expand_user(args.output)
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(json.dumps(report, indent=2))
        except OSError as error:
            print(f"error: cannot write {output}: {describe(error)}", file=sys.stderr)
            return 1
    title = f"{data.folder.name}: {len(data.references)} images" + (
        f", {len(data.skipped)} skipped" if data.skipped else ""
    )
    print(markdown_table(summaries, title=title))
    return 0


def run_push(args: argparse.Namespace) -> int:
    """Publish a saved model folder (``colorizers.hub.publish.push_to_hub``); 2 with a one-line reason on failure."""
    from colorizers.hub.publish import HubError, push_to_hub

    try:
        commit = push_to_hub(
            args.folder,
            args.repo_id,
            private=args.private,
            revision=args.revision,
            commit_message=args.commit_message,
            preset_name=args.preset,
        )
    except (HubError, KeyError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"error: {message}", file=sys.stderr)
        return 2
    print(f"pushed {args.folder} to {commit.commit_url}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="colorizers", description="Automatic colorization of black-and-white photos."
    )
    commands = parser.add_subparsers(dest="command", required=True)

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
        default=4,
        help=f"images per forward pass (default 4, at most {MAX_BATCH_SIZE}); archive runs colorize the inputs in "
        "fixed chunks of this many",
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
    add_video_arguments(colorize)
    add_archive_arguments(colorize)
    colorize.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    colorize.set_defaults(handler=run_colorize)

    evaluation = commands.add_parser("evaluate", help="score models on a folder of colour photos")
    evaluation.add_argument(
        "--model", "-m", action="append", default=None, help="preset, folder or Hub id (repeatable)"
    )
    evaluation.add_argument("--data", required=True, help="folder of colour reference images (recursive)")
    evaluation.add_argument("--size", type=int, default=None, help="working resolution (longest edge, pixels)")
    evaluation.add_argument("--output", default=None, help="write the results as JSON here")
    evaluation.add_argument("--no-gray", action="store_true", help="leave out the gray (ab = 0) baseline")
    evaluation.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda")
    evaluation.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    evaluation.set_defaults(handler=run_evaluate)

    listing = commands.add_parser("list", help="list the model presets")
    listing.set_defaults(handler=run_list)

    push = commands.add_parser(
        "push",
        help="publish a saved model folder on the Hugging Face Hub (card, weights, remote code)",
        description="Upload a saved model folder: config.json, model.safetensors, preprocessor_config.json, a "
        "rendered README.md model card, sample images and the code that loads it with trust_remote_code. "
        "Checkpoints, optimizer states and pickles are never uploaded. The token comes from HF_TOKEN or "
        "`hf auth login`.",
    )
    push.add_argument("folder", help="a folder written by save_pretrained (config.json + model.safetensors)")
    push.add_argument("--repo-id", required=True, help="target repository, e.g. your-org/colorizers-unet")
    push.add_argument("--private", action="store_true", default=None, help="create the repository as private")
    push.add_argument("--revision", default=None, help="branch to push to (created from main if it does not exist)")
    push.add_argument("--commit-message", default=None, help="commit message (default: what was uploaded)")
    push.add_argument("--preset", default=None, help="preset the model is an instance of (default: from its config)")
    push.set_defaults(handler=run_push)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "size", None) is not None and args.size < 1:
        print("error: --size must be a positive number of pixels", file=sys.stderr)
        return 2
    try:
        from colorizers.limits import current

        most = current().max_working_size
    except ValueError as error:  # a COLORIZERS_* variable that is not a number
        print(f"error: {error}", file=sys.stderr)
        return 2
    if getattr(args, "size", None) is not None and args.size > most:
        print(
            f"error: --size must be at most {most} pixels (limit max_working_size: a forward pass that large needs "
            "tens of GB; COLORIZERS_MAX_WORKING_SIZE raises it)",
            file=sys.stderr,
        )
        return 2
    named = getattr(args, "model", None)
    for name in named if isinstance(named, list) else [named]:
        problem = model_name_problem(name)  # a mistyped preset fails now, not after the Hub's retries
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 2
    if args.command != "list":
        from colorizers import models  # noqa: F401  (registers every family and preset; imports torch and transformers)
    if getattr(args, "max_pixels", 0) is None:
        from colorizers.image_io import DEFAULT_MAX_PIXELS

        args.max_pixels = DEFAULT_MAX_PIXELS
    if getattr(args, "model", "") is None:
        from colorizers.registry import default_model

        args.model = [default_model()] if args.command == "evaluate" else default_model()
    try:
        with stop_on_signals():
            return args.handler(args)
    except (Interrupted, KeyboardInterrupt) as stop:
        print(f"interrupted by {getattr(stop, 'name', 'SIGINT')}: stopped", file=sys.stderr)
        return getattr(stop, "exit_code", 130)
    except OSError as error:  # a file-system failure no command handled: one line, no traceback
        where = f" {error.filename}" if getattr(error, "filename", None) else ""
        print(f"error: cannot access{where}: {describe(error)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

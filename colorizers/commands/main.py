"""Command line: ``python -m colorizers colorize|evaluate|list|push ...`` (also installed as ``colorizers``)."""

from __future__ import annotations

import argparse
import sys

from colorizers.batch.files import Interrupted, describe, expand_user, stop_on_signals
from colorizers.commands import colorize as colorize_command
from colorizers.commands.presets import model_name_problem, run_list

# Only the standard library at import time: torch, transformers, PIL and PyAV load inside the commands that use
# them, so that --help, argument errors and `list` answer at once (the package's __init__ is lazy under the command).


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

    colorize_command.add_parser(commands)

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
    """The ``colorizers`` command; returns its exit code. Ctrl-C at any moment is one line and exit code 130."""
    try:
        return _run(argv)
    except KeyboardInterrupt:  # before stop_on_signals takes over: torch and transformers take seconds to import
        print("interrupted by SIGINT: stopped", file=sys.stderr)
        return 130


def _run(argv: list[str] | None) -> int:
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

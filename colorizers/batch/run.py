"""What archive runs of images and of datasets share: their options, where this process stands among the
processes Accelerate started, its manifest, the counts of its work, the progress bar over everyone's work
(main process only) and the summary.

An archive run is a ``colorize`` run launched by ``accelerate launch`` (any config), or given ``--manifest``,
``--retry-failed``, ``--precision``, ``--workers`` or ``--dataset``. Work is cut into units (chunks of
``--batch-size`` files, or dataset shards) in an order that does not depend on the number of processes;
unit ``k`` belongs to process ``k % num_processes``. Every process walks the same number of rounds (one
unit each), so the collectives that count the work line up without any process waiting for another.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from colorizers.batch.manifest import Manifest, ManifestState, end_last_line, read_manifest, remove_temporaries

# --precision: the torch dtype autocast runs in, by name (torch is imported where used: the command line builds
# its parser from this module, and --help must not wait for torch)
PRECISIONS = {"fp32": None, "fp16": "float16", "bf16": "bfloat16"}
# accelerate's mixed_precision names (its launch config / ACCELERATE_MIXED_PRECISION) in ours
_ACCELERATE_PRECISION = {"no": "fp32", "fp16": "fp16", "bf16": "bf16"}
# The counts summed over processes; the last slot says whether some process had to stop.
FIELDS = ("done", "failed", "kept", "before", "stop")
SYNC_ROUNDS = 4  # rounds between two collectives that refresh the bar (asynchronous: nobody waits on them)
DEFAULT_WORKERS = 2
DEFAULT_SHARD_SIZE = 1000


def launched_by_accelerate() -> bool:
    """Whether ``accelerate launch`` (or torchrun) started this process: it sets these for every config."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1) > 1 or "ACCELERATE_MIXED_PRECISION" in os.environ


def archive_requested(args: argparse.Namespace) -> bool:
    options = (args.manifest, args.retry_failed, args.dataset, args.precision, args.workers is not None)
    return any(options) or launched_by_accelerate()


def add_archive_arguments(parser: argparse.ArgumentParser) -> None:
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


def check_archive_args(args: argparse.Namespace) -> str | None:
    """The reason the archive options do not go together, or None."""
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
    if args.precision is None and mixed not in _ACCELERATE_PRECISION:
        return f"the accelerate config's mixed_precision {mixed} is not for colorizing: pass --precision fp32 or bf16"
    return None


def start_process(args: argparse.Namespace):
    """Accelerate's state of this process (joining the others), and the device it colorizes on; or an error."""
    import torch

    try:
        from accelerate import PartialState
    except ImportError:
        return None, None, "archive runs need accelerate: pip install 'colorizers[train]'"
    # with no GPU, say so: accelerate 1.15 then joins a multi-process launch as MULTI_CPU over gloo instead of
    # running N unrelated single processes (as train.py does)
    use_cpu = not torch.accelerator.is_available() or os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true")
    state = PartialState(cpu=use_cpu or args.device == "cpu")
    if args.device is not None and state.num_processes > 1:
        return state, None, "--device applies to one process: accelerate launch gives each process its own device"
    device = torch.device(args.device) if args.device is not None else state.device
    precision = args.precision or _ACCELERATE_PRECISION[os.environ.get("ACCELERATE_MIXED_PRECISION", "no")]
    if precision == "fp16" and device.type != "cuda":
        return (
            state,
            None,
            f"fp16 runs on GPUs only (this process runs on {device.type}): use --precision bf16 or fp32",
        )
    args.precision = precision
    return state, device, None


def shared_run_id(state) -> str:
    """One id for all processes of this run (the main process's, broadcast)."""
    from accelerate.utils import broadcast_object_list

    run = [time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3) if state.is_main_process else None]
    return broadcast_object_list(run)[0] if state.num_processes > 1 else run[0]


def same_everywhere(state, value: str) -> bool:
    """Whether every process computed the same ``value`` (their input lists, say)."""
    if state.num_processes == 1:
        return True
    from accelerate.utils import gather_object

    return len(set(gather_object([value]))) == 1


def open_manifest(state, path: Path, clean: Path, ours: Callable[[str], bool]) -> ManifestState:
    """Make ``path`` safe to append to (main process: end a cut line, remove a killed run's temporary files of
    the outputs ``ours`` accepts under ``clean``), then read what earlier runs recorded (every process, once all
    that is done)."""
    if state.is_main_process:
        end_last_line(path)
        resuming = path.is_file() and clean.is_dir()  # a first run has nothing to clean: no walk of a big folder
        removed = remove_temporaries(clean, ours) if resuming else 0
        if removed:
            print(f"removed {removed} unfinished temporary files of an interrupted run", file=sys.stderr)
    state.wait_for_everyone()
    earlier = read_manifest(path)
    state.wait_for_everyone()  # nobody appends before everyone has read
    return earlier


class ArchiveRun:
    """One process's share of an archive run: its manifest, its counts, and on the main process the bar."""

    def __init__(self, state, args, *, total: int | None, manifest: Manifest, unit: str):
        from tqdm.auto import tqdm

        self.state, self.args, self.manifest = state, args, manifest
        import torch

        dtype = PRECISIONS[args.precision]
        self.autocast = None if dtype is None else getattr(torch, dtype)
        self.counts = [0] * len(FIELDS)
        self.others = [0] * len(FIELDS)  # the other processes' counts at the last collective that completed
        self.pending: list = []
        self.stop_reason: str | None = None
        self.global_stop = False
        self._lock = threading.Lock()
        self.main = state.is_main_process
        self.bar = tqdm(total=total, unit=unit, desc="colorizing", disable=args.quiet or not self.main)
        self.unit, self.started = unit, time.perf_counter()

    def count(self, field: str, n: int = 1) -> None:
        with self._lock:
            self.counts[FIELDS.index(field)] += n

    def stop(self, reason: str) -> None:
        """Stop this process's work (disk full...); the others learn it at the next collective and stop too."""
        with self._lock:
            if self.stop_reason is None:
                self.stop_reason = reason
                self.counts[-1] = 1

    @property
    def stopping(self) -> bool:
        return self.stop_reason is not None or self.global_stop

    def note(self, message: str) -> None:
        from tqdm.auto import tqdm

        tqdm.write(message, file=sys.stderr)

    def after_round(self, index: int) -> None:
        """Every SYNC_ROUNDS rounds, start summing the counts over processes; show the sums that arrived."""
        if self.state.num_processes > 1 and (index + 1) % SYNC_ROUNDS == 0:
            import torch

            with self._lock:
                snapshot = list(self.counts)
            # asynchronous on purpose: every process issues the same collectives in the same order, but none
            # waits at them, so a slow chunk on one process never holds up the others (accelerate's reduce blocks)
            tensor = torch.tensor(snapshot, dtype=torch.int64, device=self.state.device)
            self.pending.append((torch.distributed.all_reduce(tensor, async_op=True), tensor, snapshot))
        while self.pending and self.pending[0][0].is_completed():
            self._arrived(*self.pending.pop(0))
        self._show()

    def _arrived(self, work, tensor, snapshot) -> None:
        work.wait()
        totals = tensor.cpu().tolist()
        self.others = [total - own for total, own in zip(totals, snapshot)]
        self.global_stop = self.global_stop or bool(totals[-1])

    def _show(self) -> None:
        with self._lock:
            seen = sum(own + other for own, other in zip(self.counts[:-1], self.others[:-1]))
        if seen > self.bar.n:
            self.bar.update(seen - self.bar.n)

    def totals(self) -> list[int]:
        """Everyone's counts, once every process has finished (a blocking reduce)."""
        for item in self.pending:
            self._arrived(*item)
        self.pending = []
        if self.state.num_processes == 1:
            totals = list(self.counts)
        else:
            import torch
            from accelerate.utils import reduce

            tensor = torch.tensor(self.counts, dtype=torch.int64, device=self.state.device)
            totals = reduce(tensor, reduction="sum").cpu().tolist()
        self.others = [total - own for total, own in zip(totals, self.counts)]
        self._show()
        self.bar.close()
        return totals

    def summary(self, totals: list[int], where: str, expected: int | None, stopped_by=None) -> int:
        """The main process prints one line for all processes; returns the exit code: 0 once every input has its
        outcome (failures are in the summary and the manifest: in an archive of millions some files are broken,
        and a non-zero code would make ``accelerate launch`` report the run as crashed), 1 when the run stopped
        before the end, 128 + N for signal N (``stopped_by``: the ``Interrupted`` or ``KeyboardInterrupt``)."""
        self.bar.close()
        done, failed, kept, before, stop = totals
        left = None if expected is None else expected - done - failed - kept - before
        code = 1 if stop or left else 0
        if stopped_by is not None:
            code = getattr(stopped_by, "exit_code", 130)
        elif self.stop_reason:  # disk full...: said by the process that met it
            print(self.stop_reason, file=sys.stderr)
        if self.main:
            if stopped_by is not None:
                print(f"interrupted by {getattr(stopped_by, 'name', 'SIGINT')}: stopped", file=sys.stderr)
            elif stop and not self.stop_reason:
                print("error: another process had to stop (see its message above); stopped", file=sys.stderr)
            line = f"{done} colorized into {where}, {failed} failed, {kept} already done"
            if before:
                line += f", {before} failed before (--retry-failed tries them again)"
            if left:
                line += f", {left} not done"
            processes = self.state.num_processes
            if stopped_by is not None and processes > 1:
                line += " (this process)"
            elif processes > 1:
                line += f" ({processes} processes)"
            elapsed = time.perf_counter() - self.started
            line += f" in {elapsed:.1f} s ({done / max(elapsed, 1e-9):.2f} {self.unit}s/s colorized)"
            stream = sys.stderr if code or failed else sys.stdout
            print(line, file=stream)
            print(f"manifest: {self.manifest.path}", file=stream)
        self.manifest.close()
        return code


def manifest_path(args: argparse.Namespace, output: Path) -> Path:
    from colorizers.batch.files import expand_user

    return expand_user(args.manifest) if args.manifest else output / "manifest.jsonl"

"""What every batch run shares: the fixed chunks inputs are colorized in (:func:`chunk_plan`), the run's one
``ImageColorizationPipeline`` (:func:`load_pipeline_for`) and a chunk colorized with it (:func:`colorize_chunk`);
and what archive runs of images and of datasets share: where this process stands among the processes Accelerate
started, its manifest, the counts of its work, the progress bar over everyone's work (main process only) and
the summary.

An archive run is a ``colorize`` run launched by ``accelerate launch`` (any config), or given one of the archive
options (``colorizers.batch.job.ArchiveOptions``) or a dataset. Work is cut into units (chunks of ``batch_size``
files, or dataset shards) in an order that does not depend on the number of processes; unit ``k`` belongs to
process ``k % num_processes``. Every process walks the same number of rounds (one unit each), so the collectives
that count the work line up without any process waiting for another.
"""

from __future__ import annotations

import os
import secrets
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from colorizers.batch.files import read_hint_map
from colorizers.batch.job import PRECISIONS, BatchJob
from colorizers.batch.manifest import Manifest, ManifestState, end_last_line, read_manifest, remove_temporaries

# accelerate's mixed_precision names (its launch config / ACCELERATE_MIXED_PRECISION) in ours
ACCELERATE_PRECISION = {"no": "fp32", "fp16": "fp16", "bf16": "bf16"}
# The counts summed over processes; the last slot says whether some process had to stop.
FIELDS = ("done", "failed", "kept", "before", "stop")
SYNC_ROUNDS = 4  # rounds between two collectives that refresh the bar (asynchronous: nobody waits on them)


def chunk_plan(count: int, batch_size: int) -> list[range]:
    """Chunk ``k`` holds inputs ``[k * batch_size, (k + 1) * batch_size)``: the same whatever the processes."""
    return [range(start, min(start + batch_size, count)) for start in range(0, count, batch_size)]


def chunks_of(process: int, processes: int, chunks: int) -> range:
    """The chunks one process colorizes: every ``processes``-th, from its own index."""
    return range(process, chunks, processes)


def load_pipeline_for(job: BatchJob, images: list, device):
    """The run's ``ImageColorizationPipeline`` (its model loaded once, the job's settings as its defaults) and its
    hints matched to the images (None without ``--hints``); ``ModelLoadError``, ``KeyError`` or ``ValueError``
    (the one line to show) when the model, its settings or the hints are unusable."""
    from colorizers.pipelines import load_pipeline

    pipe = load_pipeline(
        job.model,
        device=device,
        revision=job.revision,
        size=job.size,
        temperature=job.temperature,
        batch_size=job.batch_size,
    )
    if job.hints and not images:
        raise ValueError("--hints applies to images, and no image is to be colorized")
    return pipe, read_hint_map(job.hints, images, pipe.model) if job.hints else None


def colorize_chunk(pipe, images: list, hints: list | None = None, autocast=None) -> list:
    """``colorize`` over one chunk's images; an error fails the chunk's images (returned in their place), never
    the run."""
    from colorizers.pipelines import colorize

    if not images:
        return []
    try:
        return colorize(images, pipe, hints=hints, autocast=autocast)
    except (ValueError, TypeError, RuntimeError, MemoryError) as error:  # one bad batch must not end the run
        return [error] * len(images)


def usage_error(message: str, code: int = 2) -> int:
    if os.environ.get("RANK", "0") in ("", "0"):  # every process finds the same problem: one says it
        print(f"error: {message}", file=sys.stderr)
    return code


def launched_by_accelerate() -> bool:
    """Whether ``accelerate launch`` (or torchrun) started this process: it sets these for every config."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1) > 1 or "ACCELERATE_MIXED_PRECISION" in os.environ


def accelerate_precision() -> str | None:
    """The accelerate config's mixed_precision in our names (None when it is not for colorizing: fp8...)."""
    return ACCELERATE_PRECISION.get(os.environ.get("ACCELERATE_MIXED_PRECISION", "no"))


def start_process(device: str | None, precision: str | None):
    """Accelerate's state of this process (joining the others), the device it colorizes on (``device``, else
    accelerate's) and the precision it runs in (``precision``, else the accelerate config's); or an error:
    ``(state, device, precision, problem)``."""
    import torch

    try:
        from accelerate import PartialState
    except ImportError:
        return None, None, None, "archive runs need accelerate: pip install 'colorizers[train]'"
    # with no GPU, say so: accelerate 1.15 then joins a multi-process launch as MULTI_CPU over gloo instead of
    # running N unrelated single processes (as train.py does)
    use_cpu = not torch.accelerator.is_available() or os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true")
    state = PartialState(cpu=use_cpu or device == "cpu")
    if device is not None and state.num_processes > 1:
        problem = "--device applies to one process: accelerate launch gives each process its own device"
        return state, None, None, problem
    device = torch.device(device) if device is not None else state.device
    precision = precision or accelerate_precision()
    if precision not in PRECISIONS:
        mixed = os.environ.get("ACCELERATE_MIXED_PRECISION")
        return state, None, None, f"the accelerate config's mixed_precision {mixed} is not for colorizing"
    if precision == "fp16" and device.type != "cuda":
        problem = f"fp16 runs on GPUs only (this process runs on {device.type}): use --precision bf16 or fp32"
        return state, None, None, problem
    return state, device, precision, None


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

    def __init__(self, state, *, total: int | None, manifest: Manifest, unit: str, precision: str, quiet: bool):
        import torch
        from tqdm.auto import tqdm

        self.state, self.manifest = state, manifest
        dtype = PRECISIONS[precision]
        self.autocast = None if dtype is None else getattr(torch, dtype)
        self.counts = [0] * len(FIELDS)
        self.others = [0] * len(FIELDS)  # the other processes' counts at the last collective that completed
        self.pending: list = []
        self.stop_reason: str | None = None
        self.global_stop = False
        self._lock = threading.Lock()
        self.main = state.is_main_process
        self.bar = tqdm(total=total, unit=unit, desc="colorizing", disable=quiet or not self.main)
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
        """Everyone's counts, once every process has finished (a blocking reduce; then the process group closes)."""
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
            # the run's last collective: close the process group while the interpreter is fully alive. Left to
            # interpreter exit, gloo's threads may still hold tensors and the process aborts ("terminate called
            # without an active exception", SIGABRT) after a complete run. Only here, on the way out of a run
            # that ended normally: an interrupted process must not wait for the others.
            self.state.destroy_process_group()
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

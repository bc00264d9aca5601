"""How a file run accounts for its inputs: one interface, two kinds of run, driven by the engine
(``colorizers.batch.engine.FileEngine``).

Each input is in one state: ``TODO`` (colorize it), ``KEPT`` (its output is there and stays), ``BEFORE`` (an
earlier run failed it, and it is not retried) or ``CONFLICT`` (it may not write its output, for the reason
given). The engine asks a ledger for each input's state, then tells it each outcome:

* :class:`Tally`, a plain run: each outcome is said as it happens (``skipped ...``, ``failed ...``), one summary
  line ends the run, and its exit code is 1 when any input failed. Output names are claimed as inputs are read,
  so a second input with the same output name fails, and an existing output is kept (skipped).
* :class:`ArchiveLedger`, an archive run: outcomes go to the manifest and to the counts summed over processes
  (``colorizers.batch.run.ArchiveRun``); conflicts are decided over all inputs beforehand (every process agrees),
  outputs finished earlier are kept, inputs that failed earlier are left alone unless retried, and every chunk
  is colorized as the same batch as in a first run (``stable_batches``), so resumed outputs are bit for bit those
  of an uninterrupted run.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from colorizers.batch.files import Job, output_conflict
from colorizers.batch.manifest import DONE, EXISTS, FAILED

TODO, KEPT, BEFORE, CONFLICT = "todo", "kept", "before", "conflict"


def _write(message: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(message, file=sys.stderr)


class Tally:
    """A plain run's accounting (see the module's docstring)."""

    stable_batches = False  # only the images to be written are read and colorized

    def __init__(self, output: Path, total: int, sources: set[Path], *, overwrite: bool, unreadable: list):
        self.output, self.total, self.sources, self.overwrite = output, total, sources, overwrite
        self.failed_count, self.unreadable = len(unreadable), len(unreadable)  # folders that could not be listed
        self.written, self.skipped = 0, 0
        self.claimed: set[Path] = set()
        self.stop_reason: str | None = None
        self.bar = None

    def start(self, images: int, quiet: bool) -> None:
        """The progress bar over the images (videos have their own)."""
        from tqdm.auto import tqdm

        self.bar = tqdm(total=images, unit="img", desc="colorizing", disable=quiet or not images)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def _tick(self) -> None:
        if self.bar is not None:
            self.bar.update()

    def state(self, position: int, job: Job) -> tuple[str, str | None]:
        reason, keep_existing = output_conflict(job.target.resolve(), self.claimed, self.sources, self.overwrite)
        if keep_existing:
            return KEPT, None
        return (CONFLICT, reason) if reason else (TODO, None)

    def claim(self, job: Job) -> None:
        """``job`` was read (or, for a video, written): no later input may write its output."""
        self.claimed.add(job.target.resolve())

    def kept(self, job: Job) -> None:
        self.skipped += 1
        _write(f"skipped {job.source}: {job.target} exists (use --overwrite)")
        self._tick()

    def failed(self, job: Job, reason: str) -> None:
        self.failed_count += 1
        _write(f"failed {job.source}: {reason}")
        self._tick()

    def done(self, job: Job) -> None:
        self.written += 1
        self._tick()

    def stop(self, job: Job, reason: str) -> None:
        """Nothing more can be written (disk full...): ``job`` failed, and the run ends with ``reason``."""
        self.failed_count += 1
        self.stop_reason = reason
        self.close()

    @property
    def stopping(self) -> bool:
        return self.stop_reason is not None

    def after_round(self, index: int) -> None:
        pass

    def summary(self, code: int, why: str | None = None) -> int:
        """Print ``why`` (or why the run stopped) and the summary line; the exit code: ``code``, else 1 when
        something failed."""
        why = why or self.stop_reason
        code = code or (1 if self.stop_reason else 0)
        if why:
            print(why, file=sys.stderr)
        line = f"{self.written} colorized into {self.output}, {self.failed_count} failed, {self.skipped} skipped"
        left = max(0, self.total - self.written - self.skipped - (self.failed_count - self.unreadable))
        failed = self.failed_count > 0
        print(line + (f", {left} not done" if left else ""), file=sys.stderr if code or failed else sys.stdout)
        return code or (1 if failed else 0)


class ArchiveLedger:
    """An archive run's accounting for one process (see the module's docstring)."""

    stable_batches = True  # a chunk with any output to write is colorized whole, as a first run did

    def __init__(self, run, conflicts: dict[int, str], earlier, *, overwrite: bool, retry_failed: bool):
        self.run, self.conflicts, self.earlier = run, conflicts, earlier
        self.overwrite, self.retry_failed = overwrite, retry_failed

    def state(self, position: int, job: Job) -> tuple[str, str | None]:
        """Its state, and the reason it may not write its output (then it never joins a batch)."""
        exists = not self.overwrite and job.target.exists()
        failed_before = self.earlier.failed(os.path.abspath(job.source)) and not self.retry_failed
        if position in self.conflicts:  # its output name is another input's (which may exist)
            return BEFORE if failed_before else CONFLICT, self.conflicts[position]
        if failed_before and not exists:
            return BEFORE, None
        return KEPT if exists else TODO, None

    def claim(self, job: Job) -> None:  # conflicts were decided beforehand
        pass

    def unreadable(self, folder: Path, reason: str) -> None:
        self.run.manifest.record(os.path.abspath(folder), None, FAILED, reason)
        self.run.count("failed")
        self.run.note(f"failed {folder}: {reason}")

    def kept(self, job: Job) -> None:
        self.run.count("kept")
        key = os.path.abspath(job.source)
        if not self.earlier.recorded(key):  # complete, from a run the manifest does not record
            self.run.manifest.record(key, os.path.abspath(job.target), EXISTS)

    def before(self, job: Job) -> None:
        self.run.count("before")

    def failed(self, job: Job, reason: str) -> None:
        self.run.manifest.record(os.path.abspath(job.source), os.path.abspath(job.target), FAILED, reason)
        self.run.count("failed")
        self.run.note(f"failed {job.source}: {reason}")

    def done(self, job: Job) -> None:
        self.run.manifest.record(os.path.abspath(job.source), os.path.abspath(job.target), DONE)
        self.run.count("done")

    def stop(self, job: Job, reason: str) -> None:
        """Not the input's fault (disk full...): left for the next run, not recorded; every process stops."""
        self.run.stop(reason)

    @property
    def stopping(self) -> bool:
        return self.run.stopping

    def after_round(self, index: int) -> None:
        self.run.after_round(index)

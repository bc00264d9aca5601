"""The batch engine: a :class:`~colorizers.batch.job.BatchJob` in, its files (or dataset) colorized, an exit code
out (:func:`run`). One loop colorizes files for both kinds of run (:class:`FileEngine`); what differs is how the
inputs are accounted for (``colorizers.batch.ledger``): a plain run says each outcome as it happens, an archive
run records it in a manifest and can resume.

Inputs are cut into chunks of ``batch_size`` in the same way whatever the number of processes
(:func:`chunk_plan`); chunk ``k`` is colorized by process ``k % num_processes``, in one call of ``colorize`` with
the run's one ``ImageColorizationPipeline`` (which batches a chunk's images by working size). The models' results
depend, in the last bits, on which images share a forward pass, so fixed chunks are what make the outputs of one
process and of eight identical bit for bit (at equal thread counts).

Outputs are written atomically (``save_image``): an output under its final name is complete. An archive run
skips finished chunks on a rerun, and recomputes a partly finished one with the same images but writes only its
missing outputs, so the finished ones are neither redone nor changed. The manifest (``colorizers.batch.manifest``)
records each input once per outcome; inputs that failed are skipped on a rerun unless ``retry_failed``. Videos
are colorized after the images, one per process in turn.
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass, field

from colorizers.batch.files import (
    STOPS_WRITING,
    Interrupted,
    Job,
    check_inputs,
    collect_jobs,
    describe,
    expand_user,
    name_conflict,
    prepare_output,
    stop_on_signals,
)
from colorizers.batch.job import BatchJob
from colorizers.batch.ledger import BEFORE, CONFLICT, KEPT, TODO, ArchiveLedger, Tally
from colorizers.batch.manifest import Manifest, model_revision
from colorizers.batch.overlap import Prefetch, Writers
from colorizers.batch.run import (
    ArchiveRun,
    chunk_plan,
    chunks_of,
    colorize_chunk,
    load_pipeline_for,
    open_manifest,
    same_everywhere,
    shared_run_id,
    start_process,
    usage_error,
)
from colorizers.video.files import check_video_options, colorize_video_job, video_output_file


def run(job: BatchJob) -> int:
    """Colorize what ``job`` names: a dataset, or files as an archive run or a plain one; returns the exit code."""
    if job.dataset is not None:
        from colorizers.batch.datasets import run_dataset

        return run_dataset(job)
    return run_archive(job) if job.archive is not None else run_files(job)


def output_conflicts(jobs: list[Job], overwrite: bool) -> dict[int, str]:
    """Jobs that may not write their output, by index, with the reason (decided over all jobs, in order, so
    every process agrees): a second input with the same output name, an output that would replace an input."""
    sources = {os.path.abspath(job.source) for job in jobs}
    claimed: set[str] = set()
    conflicts = {}
    for index, job in enumerate(jobs):
        target = os.path.abspath(job.target)
        reason = name_conflict(target, claimed, sources, overwrite)
        if reason:
            conflicts[index] = reason
        else:
            claimed.add(target)
    return conflicts


@dataclass
class Chunk:
    positions: range  # the jobs' places in the list of all jobs
    jobs: list[Job]
    states: list[str] = field(default_factory=list)  # TODO, KEPT, BEFORE or CONFLICT (colorizers.batch.ledger)
    reasons: list = field(default_factory=list)  # why a job may not write its output, or None
    images: list = field(default_factory=list)  # per job: its decoded image, the reason it failed, or None


class FileEngine:
    """Colorizes a run's file jobs (the images, then the videos) and hands every outcome to its ledger."""

    def __init__(self, job: BatchJob, jobs: list[Job], ledger, pipe, hint_map: dict | None, autocast=None):
        self.job, self.jobs, self.ledger, self.pipe = job, jobs, ledger, pipe
        self.hint_map, self.autocast = hint_map, autocast

    def colorize_images(self, count: int, workers: int, process: int = 0, processes: int = 1) -> None:
        """Images ``[0, count)``, this process's chunks, decoded ``workers and 2`` chunks ahead and written by
        ``workers`` threads (0: everything in turn, here); every process walks the same rounds."""
        plan = chunk_plan(count, self.job.batch_size)
        chunks = (self.prepare(plan[index]) for index in chunks_of(process, processes, len(plan)))
        prefetch = Prefetch(chunks, depth=2 if workers else 0)
        writers = Writers(workers, self.write)
        try:
            for round_index in range(-(-len(plan) // processes)):
                if round_index * processes + process < len(plan) and not self.ledger.stopping:
                    self.colorize(next(prefetch), writers)
                self.ledger.after_round(round_index)
            writers.close()
        except (Interrupted, KeyboardInterrupt):
            prefetch.close()
            writers.close()  # the few results already computed are written (a second signal ends this too)
            raise
        finally:
            prefetch.close()
            writers.close(discard=True)

    def prepare(self, positions: range) -> Chunk:
        """Each job's state, and the images to colorize decoded: runs ahead, in a thread (with workers)."""
        chunk = Chunk(positions, [self.jobs[position] for position in positions])
        for position, job in zip(positions, chunk.jobs):
            state, reason = self.ledger.state(position, job)
            image = self.decode(job) if state == TODO else None
            if state == TODO and _is_image(image):
                self.ledger.claim(job)
            chunk.states.append(state)
            chunk.reasons.append(reason)
            chunk.images.append(image)
        if self.ledger.stable_batches and TODO in chunk.states:
            # every image of the chunk, to be written or not: the batch must be the one a first run had
            for index, (state, reason) in enumerate(zip(chunk.states, chunk.reasons)):
                if state in (KEPT, BEFORE) and reason is None:
                    chunk.images[index] = self.decode(chunk.jobs[index])
        return chunk

    def decode(self, job: Job):
        """The job's image, or the reason it cannot be colorized (unreadable, or a bad hint for it)."""
        from colorizers.image_io import ImageReadError, read_image
        from colorizers.processing.hints import HintError, parse_hints

        try:
            image = read_image(job.source, max_pixels=self.job.max_pixels).image
            if self.hint_map is not None:  # a bad hint fails its own image, not the batch
                parse_hints(self.hint_map.get(job.source), image.width, image.height)
            return image
        except ImageReadError as error:
            return error.reason
        except HintError as error:
            return f"--hints: {error}"

    def colorize(self, chunk: Chunk, writers: Writers) -> None:
        """Account for a prepared chunk; colorize it when an output is missing; hand the results to the writers."""
        for job, state, reason, image in zip(chunk.jobs, chunk.states, chunk.reasons, chunk.images):
            if not self._account_unless_todo(job, state, reason) and not _is_image(image):
                self.ledger.failed(job, image)
        usable = [(index, image) for index, image in enumerate(chunk.images) if _is_image(image)]
        if TODO not in chunk.states or not usable:
            return
        hints = None
        if self.hint_map is not None:
            hints = [self.hint_map.get(chunk.jobs[index].source) for index, _ in usable]
        results = colorize_chunk(self.pipe, [image for _, image in usable], hints, self.autocast)
        for (index, _), result in zip(usable, results):
            if chunk.states[index] != TODO:
                continue  # finished by an earlier run: computed only so that the batch stays the same
            if isinstance(result, BaseException):
                self.ledger.failed(chunk.jobs[index], str(result) or type(result).__name__)
            else:
                writers.submit((chunk.jobs[index], result))

    def _account_unless_todo(self, job: Job, state: str, reason: str | None) -> bool:
        """Record a job that needs no work (kept, done before, or in conflict); False for one still to do."""
        if state == KEPT:
            self.ledger.kept(job)
        elif state == BEFORE:
            self.ledger.before(job)
        elif state == CONFLICT:
            self.ledger.failed(job, reason)
        else:
            return False
        return True

    def write(self, item) -> None:
        """Save one result atomically, then account for it (an archive run: a kill in between leaves the output
        complete but unrecorded, and the next run records it as ``exists`` without redoing it)."""
        from colorizers.image_io import save_image

        job, image = item
        if self.ledger.stopping:
            return
        try:
            save_image(image, job.target)
        except OSError as error:
            if error.errno in STOPS_WRITING:  # no further file can be written: the run stops
                self.ledger.stop(job, f"error: cannot write {job.target}: {describe(error)}; stopped")
            else:
                self.ledger.failed(job, f"cannot write {job.target} ({describe(error)})")
            return
        self.ledger.done(job)

    def colorize_videos(self, positions: range, process: int = 0, processes: int = 1) -> None:
        """The videos at ``positions``: video ``i`` on process ``i % processes``, in turn, after the images."""
        for index, position in enumerate(positions):
            if index % processes != process or self.ledger.stopping:
                continue
            job = self.jobs[position]
            state, reason = self.ledger.state(position, job)
            if not self._account_unless_todo(job, state, reason):
                reason = colorize_video_job(
                    job, self.pipe, self.job.video, overwrite=self.job.overwrite, quiet=self.job.quiet
                )
                if reason is None:
                    self.ledger.claim(job)
                    self.ledger.done(job)
                else:
                    self.ledger.failed(job, reason)


def _is_image(value) -> bool:
    return value is not None and not isinstance(value, str)


def run_files(job: BatchJob) -> int:
    """A plain run over files (``colorizers.batch.ledger.Tally``); returns the exit code."""
    from colorizers.model_io.loading import ModelLoadError

    problem = check_inputs(list(job.inputs), job.output, job.overwrite) or check_video_options(
        job.video, job.inputs, job.output
    )
    if problem:
        return _error(problem)
    unreadable: list = []
    not_followed: list = []
    video_file = video_output_file(job.inputs, job.output)  # -o film-colorized.mp4 for one video
    jobs = (
        [Job(expand_user(job.inputs[0]), video_file)]
        if video_file
        else collect_jobs(list(job.inputs), job.output, job.output_format, unreadable, not_followed)
    )
    images, videos = [item for item in jobs if not item.video], [item for item in jobs if item.video]
    for folder, reason in unreadable:
        print(f"failed {folder}: {reason}", file=sys.stderr)
    for link in not_followed:
        print(f"skipped {link}: a link that leads out of its input folder (not followed)", file=sys.stderr)
    if not images and not videos:
        return _error("no image files (or videos) found in " + ", ".join(job.inputs))
    try:
        pipe, hint_map = load_pipeline_for(job, images, job.device)
    except (ModelLoadError, KeyError, ValueError) as error:
        return _error(str(error))
    sources = {item.source.resolve() for item in images + videos}
    tally = Tally(job.output, len(images) + len(videos), sources, overwrite=job.overwrite, unreadable=unreadable)
    problem = prepare_output(video_file.parent if video_file else job.output)  # -o film.mp4 names a file
    if problem:
        return tally.summary(1, f"error: {problem}")
    engine = FileEngine(job, images + videos, tally, pipe, hint_map)
    tally.start(len(images), job.quiet)
    try:
        with stop_on_signals():
            engine.colorize_images(len(images), workers=0)
    except (Interrupted, KeyboardInterrupt) as stop:
        tally.close()
        name = stop.name if isinstance(stop, Interrupted) else "SIGINT"
        return tally.summary(
            stop.exit_code if isinstance(stop, Interrupted) else 130, f"interrupted by {name}: stopped"
        )
    tally.close()
    if not tally.stopping:
        engine.colorize_videos(range(len(images), len(images) + len(videos)))
    return tally.summary(0)


def run_archive(job: BatchJob) -> int:
    """Files as an archive run (``colorizers.batch.ledger.ArchiveLedger``; see the module's docstring)."""
    from colorizers.model_io.loading import ModelLoadError

    problem = check_inputs(list(job.inputs), job.output, job.overwrite) or check_video_options(
        job.video, job.inputs, job.output
    )
    if not problem and video_output_file(job.inputs, job.output):
        problem = "-o names a video file: colorize one video without accelerate launch and the archive options"
    if problem:
        return usage_error(problem)
    state, device, precision, problem = start_process(job.device, job.archive.precision)
    if problem:
        return usage_error(problem)
    unreadable: list = []
    jobs = collect_jobs(list(job.inputs), job.output, job.output_format, unreadable)
    if not jobs:
        return usage_error("no image files (or videos) found in " + ", ".join(job.inputs))
    digest = hashlib.sha256("\n".join(f"{item.source}\t{item.target}" for item in jobs).encode()).hexdigest()
    if not same_everywhere(state, digest):
        return usage_error("the processes found different inputs (are files being added?): nothing was done")
    images, videos = [item for item in jobs if not item.video], [item for item in jobs if item.video]
    try:
        pipe, hint_map = load_pipeline_for(job, images, device)
    except (ModelLoadError, KeyError, ValueError) as error:
        return usage_error(str(error))
    problem = prepare_output(job.output)
    if problem:
        return usage_error(problem, code=1)
    conflicts = output_conflicts(images + videos, job.overwrite)  # images claim their names first
    where = job.archive.manifest_path(job.output)
    targets = {os.path.abspath(item.target) for item in jobs} if state.is_main_process else set()
    earlier = open_manifest(state, where, job.output, lambda path: os.path.abspath(path) in targets)
    revision = model_revision(pipe.model, job.revision)
    manifest = Manifest(where, model=job.model, revision=revision, rank=state.process_index, run=shared_run_id(state))
    total = len(jobs) + len(unreadable)
    run = ArchiveRun(state, total=total, manifest=manifest, unit="file", precision=precision, quiet=job.quiet)
    ledger = ArchiveLedger(run, conflicts, earlier, overwrite=job.overwrite, retry_failed=job.archive.retry_failed)
    if run.main:
        for folder, reason in unreadable:
            ledger.unreadable(folder, reason)
    engine = FileEngine(job, images + videos, ledger, pipe, hint_map, autocast=run.autocast)
    rank, processes = state.process_index, state.num_processes
    try:
        engine.colorize_images(len(images), job.archive.workers, rank, processes)
        engine.colorize_videos(range(len(images), len(jobs)), rank, processes)
    except (Interrupted, KeyboardInterrupt) as stop:  # the others are being stopped too: no collective
        return run.summary(list(run.counts), str(job.output), None, stop)
    return run.summary(run.totals(), str(job.output), total)


def _error(message: str, code: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code

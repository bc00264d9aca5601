"""Colorizing an archive of image files: on as many processes as ``accelerate launch`` starts, resumably.

Every process lists the same inputs (sorted) and cuts them into the same chunks of ``--batch-size`` files
(:func:`chunk_plan`), whatever the number of processes; chunk ``k`` is colorized by process
``k % num_processes``, in one call of ``colorize`` (which batches a chunk's images by working size). The
models' results depend, in the last bits, on which images share a forward pass, so fixed chunks are what make
the outputs of one process and of eight identical bit for bit (at equal thread counts).

Outputs are written atomically (``save_image``): an output under its final name is complete. A rerun skips
finished chunks, and recomputes a partly finished one with the same images but writes only its missing
outputs, so the finished ones are neither redone nor changed. The manifest (``colorizers.batch.manifest``) records
each input once per outcome; inputs that failed are skipped on a rerun unless ``--retry-failed``.
"""

from __future__ import annotations

import argparse
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
    read_hint_map,
)
from colorizers.batch.manifest import DONE, EXISTS, FAILED, Manifest, ManifestState, model_revision
from colorizers.batch.overlap import Prefetch, Writers
from colorizers.batch.run import (
    DEFAULT_WORKERS,
    ArchiveRun,
    manifest_path,
    open_manifest,
    same_everywhere,
    shared_run_id,
    start_process,
)
from colorizers.video.files import check_video_options, video_output_file


def chunk_plan(count: int, batch_size: int) -> list[range]:
    """Chunk ``k`` holds inputs ``[k * batch_size, (k + 1) * batch_size)``: the same whatever the processes."""
    return [range(start, min(start + batch_size, count)) for start in range(0, count, batch_size)]


def chunks_of(process: int, processes: int, chunks: int) -> range:
    """The chunks one process colorizes: every ``processes``-th, from its own index."""
    return range(process, chunks, processes)


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


TODO, KEPT, BEFORE, CONFLICT = "todo", "kept", "before", "conflict"


@dataclass
class Chunk:
    positions: range  # the jobs' places in the list of all image jobs
    jobs: list[Job]
    states: list[str] = field(default_factory=list)  # TODO, KEPT (output complete), BEFORE (failed earlier), CONFLICT
    images: list = field(default_factory=list)  # per job, when any is TODO: decoded image, reason it failed, or None
    record_exists: list[bool] = field(default_factory=list)  # complete outputs the manifest does not know yet


class ImageArchive:
    """One process's share of an image archive run."""

    def __init__(self, args, run: ArchiveRun, model, jobs, conflicts, earlier: ManifestState, hint_map):
        self.args, self.run, self.model, self.jobs = args, run, model, jobs
        self.conflicts, self.earlier, self.hint_map = conflicts, earlier, hint_map

    def prepare(self, positions: range) -> Chunk:
        """Which of a chunk's outputs to write, and (if any) all its images decoded: runs ahead, in a thread."""
        from colorizers.image_io import ImageReadError, read_image
        from colorizers.processing.hints import HintError, parse_hints

        chunk = Chunk(positions, [self.jobs[position] for position in positions])
        retry = self.args.retry_failed
        for position, job in zip(positions, chunk.jobs):
            key = os.path.abspath(job.source)
            exists = not self.args.overwrite and job.target.exists()
            failed_before = self.earlier.failed(key) and not retry
            if position in self.conflicts:  # its output name is another input's (which may exist)
                state = BEFORE if failed_before else CONFLICT
            elif failed_before and not exists:
                state = BEFORE
            else:
                state = KEPT if exists else TODO
            chunk.states.append(state)
            chunk.record_exists.append(state == KEPT and not self.earlier.recorded(key))
        if TODO not in chunk.states:
            return chunk
        for position, job in zip(positions, chunk.jobs):
            if position in self.conflicts:
                chunk.images.append(None)
                continue
            # every image of the chunk, to be written or not: the batch must be the one a first run had
            try:
                image = read_image(job.source, max_pixels=self.args.max_pixels).image
                if self.hint_map is not None:  # a bad hint fails its own image, not the batch
                    parse_hints(self.hint_map.get(job.source), image.width, image.height)
                chunk.images.append(image)
            except ImageReadError as error:
                chunk.images.append(error.reason)
            except HintError as error:
                chunk.images.append(f"--hints: {error}")
        return chunk

    def colorize(self, chunk: Chunk, writers: Writers) -> None:
        """Account for a prepared chunk; colorize it when an output is missing; hand the results to the writers."""
        from colorizers.pipeline import colorize

        run = self.run
        for index, (position, job, state) in enumerate(zip(chunk.positions, chunk.jobs, chunk.states)):
            if state == KEPT:
                run.count("kept")
                if chunk.record_exists[index]:
                    run.manifest.record(os.path.abspath(job.source), os.path.abspath(job.target), EXISTS)
            elif state == BEFORE:
                run.count("before")
            elif state == CONFLICT:
                self.failed(job, self.conflicts[position])
            elif not _is_image(chunk.images[index]):
                self.failed(job, chunk.images[index])
        usable = [(index, image) for index, image in enumerate(chunk.images) if _is_image(image)]
        if TODO not in chunk.states or not usable:
            return
        hints = None
        if self.hint_map is not None:
            hints = [self.hint_map.get(chunk.jobs[index].source) for index, _ in usable]
        try:
            results = colorize(
                [image for _, image in usable],
                self.model,
                size=self.args.size,
                batch_size=self.args.batch_size,
                temperature=self.args.temperature,
                hints=hints,
                autocast=run.autocast,
            )
        except (ValueError, TypeError, RuntimeError, MemoryError) as error:  # one bad batch must not end the run
            results = [error] * len(usable)
        for (index, _), result in zip(usable, results):
            if chunk.states[index] != TODO:
                continue  # finished by an earlier run: computed only so that the batch stays the same
            if isinstance(result, BaseException):
                self.failed(chunk.jobs[index], str(result) or type(result).__name__)
            else:
                writers.submit((chunk.jobs[index], result))

    def write(self, item) -> None:
        """Writer thread: save one result atomically, then record it (a kill in between leaves the output
        complete but unrecorded: the next run records it as ``exists`` and does not redo it)."""
        from colorizers.image_io import save_image

        job, image = item
        if self.run.stopping:
            return
        try:
            save_image(image, job.target)
        except OSError as error:
            if error.errno in STOPS_WRITING:  # not the input's fault: left for the next run, not recorded
                self.run.stop(f"error: cannot write {job.target}: {describe(error)}; stopped")
                return
            self.failed(job, f"cannot write {job.target} ({describe(error)})")
            return
        self.run.manifest.record(os.path.abspath(job.source), os.path.abspath(job.target), DONE)
        self.run.count("done")

    def failed(self, job: Job, reason: str) -> None:
        self.run.manifest.record(os.path.abspath(job.source), os.path.abspath(job.target), FAILED, reason)
        self.run.count("failed")
        self.run.note(f"failed {job.source}: {reason}")


def _is_image(value) -> bool:
    return value is not None and not isinstance(value, str)


def run_archive(args: argparse.Namespace) -> int:
    """``colorize`` over files as an archive run (see the module's docstring); returns the exit code."""
    from colorizers.model_io.loading import ModelLoadError, load_model
    from colorizers.pipeline import check_temperature

    output_dir = expand_user(args.output)
    problem = check_inputs(args.inputs, output_dir, args.overwrite) or check_video_options(args)
    if not problem and video_output_file(args):
        problem = "-o names a video file: colorize one video without accelerate launch and the archive options"
    if problem:
        return _usage_error(problem)
    state, device, problem = start_process(args)
    if problem:
        return _usage_error(problem)
    unreadable: list = []
    jobs = collect_jobs(args.inputs, output_dir, args.format, unreadable)
    if not jobs:
        return _usage_error("no image files (or videos) found in " + ", ".join(args.inputs))
    digest = hashlib.sha256("\n".join(f"{job.source}\t{job.target}" for job in jobs).encode()).hexdigest()
    if not same_everywhere(state, digest):
        return _usage_error("the processes found different inputs (are files being added?): nothing was done")
    images, videos = [job for job in jobs if not job.video], [job for job in jobs if job.video]
    try:
        model = load_model(args.model, device=device, revision=args.revision)
        check_temperature(args.temperature, model)
        if args.hints and not images:
            raise ValueError("--hints applies to images, and no image is to be colorized")
        hint_map = read_hint_map(args.hints, images, model) if args.hints else None
    except (ModelLoadError, KeyError, ValueError) as error:
        return _usage_error(str(error))
    problem = prepare_output(output_dir)
    if problem:
        return _usage_error(problem, code=1)
    conflicts = output_conflicts(images + videos, args.overwrite)  # images claim their names first
    where = manifest_path(args, output_dir)
    targets = {os.path.abspath(job.target) for job in jobs} if state.is_main_process else set()
    earlier = open_manifest(state, where, output_dir, lambda path: os.path.abspath(path) in targets)
    revision = model_revision(model, args.revision)
    manifest = Manifest(
        where, model=str(args.model), revision=revision, rank=state.process_index, run=shared_run_id(state)
    )
    plan = chunk_plan(len(images), args.batch_size)
    processes, rank = state.num_processes, state.process_index
    rounds = -(-len(plan) // processes)
    run = ArchiveRun(state, args, total=len(jobs) + len(unreadable), manifest=manifest, unit="file")
    archive = ImageArchive(args, run, model, images, conflicts, earlier, hint_map)
    if run.main:
        for folder, reason in unreadable:
            manifest.record(os.path.abspath(folder), None, FAILED, reason)
            run.count("failed")
            run.note(f"failed {folder}: {reason}")
    workers = DEFAULT_WORKERS if args.workers is None else args.workers
    chunks = (archive.prepare(plan[index]) for index in chunks_of(rank, processes, len(plan)))
    prefetch = Prefetch(chunks, depth=2 if workers else 0)
    writers = Writers(workers, archive.write)
    stopped_by = None
    try:
        for round_index in range(rounds):
            if round_index * processes + rank < len(plan) and not run.stopping:
                archive.colorize(next(prefetch), writers)
            run.after_round(round_index)
        writers.close()
        video_conflicts = {index - len(images): reason for index, reason in conflicts.items() if index >= len(images)}
        _colorize_videos(args, run, model, videos, video_conflicts, earlier)
    except (Interrupted, KeyboardInterrupt) as stop:
        stopped_by = stop
        prefetch.close()
        writers.close()  # the few results already computed are written (a second signal ends this too)
    finally:
        prefetch.close()
        writers.close(discard=True)
    if stopped_by is not None:  # the other processes are being stopped too: no collective, this one's counts
        return run.summary(list(run.counts), str(output_dir), None, stopped_by)
    return run.summary(run.totals(), str(output_dir), len(jobs) + len(unreadable))


def _colorize_videos(args, run: ArchiveRun, model, videos: list[Job], conflicts, earlier: ManifestState) -> None:
    """Videos: one per process in turn (video ``i`` on process ``i % n``), after the images."""
    from colorizers.video.files import run_video_jobs

    for index, job in enumerate(videos):
        if index % run.state.num_processes != run.state.process_index or run.stopping:
            continue
        key, target = os.path.abspath(job.source), os.path.abspath(job.target)
        exists = not args.overwrite and job.target.exists()
        failed_before = earlier.failed(key) and not args.retry_failed
        if failed_before and (index in conflicts or not exists):
            run.count("before")
        elif index in conflicts:
            run.manifest.record(key, target, FAILED, conflicts[index])
            run.count("failed")
        elif exists:
            run.count("kept")
            if not earlier.recorded(key):
                run.manifest.record(key, target, EXISTS)
        else:
            reasons: dict = {}
            written, _, _ = run_video_jobs([job], model, args, set(), set(), reasons=reasons)
            run.manifest.record(key, target, DONE if written else FAILED, None if written else reasons.get(job.source))
            run.count("done" if written else "failed")


def _usage_error(message: str, code: int = 2) -> int:
    if os.environ.get("RANK", "0") in ("", "0"):  # every process finds the same problem: one says it
        print(f"error: {message}", file=sys.stderr)
    return code

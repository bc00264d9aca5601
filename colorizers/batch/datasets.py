"""``colorize --dataset``: a ``datasets`` dataset in (Hub id or local folder, streamed or not), the same rows with
a new ``colorized`` image column out, as parquet shards under ``OUTPUT/data`` (and on the Hub with
``--push-to-hub``), on as many processes as ``accelerate launch`` starts.

Shard ``k`` holds rows ``[k * S, (k + 1) * S)`` (``shard_size`` S) and belongs to process ``k % n``; within a
shard, rows are colorized in fixed chunks of ``batch_size``, so that the outputs do not depend on the number
of processes. A shard is written atomically to ``data/{split}-{k:05d}.parquet`` and then its rows are
recorded in the manifest: a rerun skips the shards that exist. Images are read undecoded and decoded here, row
by row: a broken image fails its row (``colorized`` is empty, the manifest says why), never the run. With
``retry_failed``, a shard with failed rows is written again, those rows retried, the others kept as they are.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from pathlib import Path

from colorizers.batch.files import STOPS_WRITING, Interrupted, describe, prepare_output
from colorizers.batch.job import ArchiveOptions, BatchJob
from colorizers.batch.manifest import DONE, EXISTS, FAILED, Manifest, ManifestState, model_revision
from colorizers.batch.overlap import Prefetch, Writers
from colorizers.batch.run import (
    ArchiveRun,
    chunk_plan,
    colorize_chunk,
    load_pipeline_for,
    open_manifest,
    shared_run_id,
    start_process,
    usage_error,
)
from colorizers.model_io.checks import local_path

OUTPUT_COLUMN = "colorized"


class DatasetProblem(ValueError):
    """The dataset cannot be used as asked; the message says why in one line."""


def open_dataset(name: str, split: str, streaming: bool, column: str):
    """The split, its image column undecoded (so a broken image fails its own row), and its row count or None."""
    try:
        import datasets
    except ImportError:
        raise DatasetProblem("--dataset needs the datasets library: pip install 'colorizers[train]'") from None

    datasets.disable_progress_bars()
    path = local_path(name)
    try:
        if path is not None and ((path / "state.json").is_file() or (path / "dataset_dict.json").is_file()):
            loaded = datasets.load_from_disk(str(path))  # a folder written by save_to_disk
            if isinstance(loaded, datasets.DatasetDict):
                if split not in loaded:
                    raise DatasetProblem(f"{name} has no split {split!r} (splits: {', '.join(loaded)})")
                loaded = loaded[split]
            dataset = loaded.to_iterable_dataset() if streaming else loaded
        elif path is not None and path.is_file():
            builder = path.suffix.lstrip(".").lower()
            dataset = datasets.load_dataset(builder, data_files={split: str(path)}, split=split, streaming=streaming)
        else:
            dataset = datasets.load_dataset(name, split=split, streaming=streaming)
    except DatasetProblem:
        raise
    except Exception as error:  # noqa: BLE001 - not found, offline, unknown split...: one line
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise DatasetProblem(f"could not load the dataset {name} (split {split}): {reason}") from None
    features = dataset.features
    if features is None or column not in features:
        known = ", ".join(features) if features else "unknown"
        raise DatasetProblem(f"the dataset {name} has no column {column!r} (columns: {known}); see --image-column")
    if OUTPUT_COLUMN in features:
        raise DatasetProblem(f"the dataset {name} already has a column {OUTPUT_COLUMN!r}")
    if not isinstance(features[column], datasets.Image):
        raise DatasetProblem(f"the column {column!r} of {name} holds {type(features[column]).__name__}, not images")
    rows = getattr(dataset, "num_rows", None)
    if rows is None:
        split_info = (getattr(dataset, "info", None) and dataset.info.splits or {}).get(split)
        rows = getattr(split_info, "num_examples", None) or None
    return dataset.cast_column(column, datasets.Image(decode=False)), features, rows


def decode_row(value, max_pixels: int | None):
    """A row's image, from the undecoded ``{"bytes", "path"}`` value; ``ImageReadError`` if it is not usable."""
    from colorizers.image_io import ImageReadError, read_image

    data = value.get("bytes") if isinstance(value, dict) else None
    path = value.get("path") if isinstance(value, dict) else None
    if data is None and not path:
        raise ImageReadError("row", "the row has no image")
    return read_image(io.BytesIO(data) if data is not None else path, max_pixels=max_pixels).image


def png_bytes(image) -> dict:
    stream = io.BytesIO()
    image.save(stream, format="PNG")
    return {"bytes": stream.getvalue(), "path": None}


class DatasetArchive:
    """One process's shards of a dataset run."""

    def __init__(self, job: BatchJob, run: ArchiveRun, pipe, features, earlier: ManifestState, data_dir: Path):
        self.job, self.run, self.pipe, self.features, self.earlier = job, run, pipe, features, earlier
        self.options, self.archive = job.dataset, job.archive or ArchiveOptions()
        self.split, self.column = job.dataset.split, job.dataset.image_column
        self.size, self.data_dir = job.dataset.shard_size, data_dir

    def key(self, row: int) -> str:
        return f"{self.options.name}[{self.split}][{row}]"

    def shard_file(self, index: int) -> Path:
        return self.data_dir / f"{self.split}-{index:05d}.parquet"

    def kept_or_todo(self, index: int, count: int) -> list[int] | None:
        """The rows of a shard to colorize (offsets), or None when its file is there and stays as it is."""
        final, first = self.shard_file(index), index * self.size
        if not final.exists() or self.job.overwrite:
            return list(range(count))
        failed = [offset for offset in range(count) if self.earlier.failed(self.key(first + offset))]
        if failed and self.archive.retry_failed:
            return failed
        if any(self.earlier.status.get(self.key(first + offset)) is None for offset in range(count)):
            self._record_found(final, first)
        self.run.count("before", len(failed))
        self.run.count("kept", count - len(failed))
        return None

    def _record_found(self, final: Path, first: int) -> None:
        """A shard written by a run killed before its manifest lines: record what the file holds."""
        import pyarrow.parquet as pq

        column = pq.read_table(final, columns=[OUTPUT_COLUMN]).column(OUTPUT_COLUMN)
        lines = []
        for offset, value in enumerate(column.is_null().to_pylist()):
            key = self.key(first + offset)
            if self.earlier.status.get(key) is None:
                status, error = (FAILED, "failed in a run that was stopped") if value else (EXISTS, None)
                lines.append(self.run.manifest.line(key, str(final), status, error, row=first + offset))
        self.run.manifest.write(lines)

    def colorize_shard(self, index: int, rows: list[dict], todo: list[int]) -> None:
        """Colorize the ``todo`` rows of a shard (in its fixed chunks), write the shard, record its rows."""
        final, first = self.shard_file(index), index * self.size
        previous = self._previous(final) if len(todo) < len(rows) else [None] * len(rows)
        colorized, errors = list(previous), {}
        wanted = set(todo)
        chunks = [chunk for chunk in chunk_plan(len(rows), self.job.batch_size) if wanted.intersection(chunk)]
        workers = self.archive.workers
        prefetch = Prefetch((self._decode(rows, chunk) for chunk in chunks), depth=2 if workers else 0)

        def encode(item) -> None:  # in a writer thread: PNG encoding releases the GIL
            offset, image = item
            colorized[offset] = png_bytes(image)

        writers = Writers(workers, encode)
        try:
            for chunk, images in zip(chunks, prefetch):
                usable = [(offset, image) for offset, image in zip(chunk, images) if not isinstance(image, str)]
                errors.update({offset: image for offset, image in zip(chunk, images) if isinstance(image, str)})
                results = colorize_chunk(self.pipe, [image for _, image in usable], autocast=self.run.autocast)
                for (offset, _), result in zip(usable, results):
                    if offset not in wanted:
                        continue  # kept from the shard's earlier file; computed so that the batch stays the same
                    if isinstance(result, BaseException):
                        errors[offset] = str(result) or type(result).__name__
                    else:
                        writers.submit((offset, result))
            writers.close()
        finally:
            prefetch.close()
            writers.close(discard=True)
        try:
            self._write(final, rows, colorized)
        except OSError as error:
            if error.errno in STOPS_WRITING:
                self.run.stop(f"error: cannot write {final}: {describe(error)}; stopped")
                return
            errors = {offset: f"cannot write {final} ({describe(error)})" for offset in todo}
            for offset in todo:
                colorized[offset] = None
        lines = []
        for offset in todo:
            error = errors.get(offset)
            status = FAILED if error or colorized[offset] is None else DONE
            lines.append(
                self.run.manifest.line(self.key(first + offset), str(final), status, error, row=first + offset)
            )
            self.run.count("failed" if status == FAILED else "done")
            if status == FAILED:
                self.run.note(f"failed row {first + offset} of {self.options.name} ({self.split}): {error}")
        self.run.count("kept", len(rows) - len(todo))
        self.run.manifest.write(lines)  # one write for the shard: after its file, so never recorded twice

    def _decode(self, rows: list[dict], chunk: range) -> list:
        from colorizers.image_io import ImageReadError

        images = []
        for offset in chunk:
            try:
                images.append(decode_row(rows[offset][self.column], self.job.max_pixels))
            except ImageReadError as error:
                images.append(error.reason)
        return images

    def _previous(self, final: Path) -> list:
        import pyarrow.parquet as pq

        return pq.read_table(final, columns=[OUTPUT_COLUMN]).column(OUTPUT_COLUMN).to_pylist()

    def _write(self, final: Path, rows: list[dict], colorized: list) -> None:
        """The shard's rows with their new column, into a temporary file renamed into place when complete."""
        import datasets

        features = datasets.Features({**self.features, OUTPUT_COLUMN: datasets.Image()})
        columns = {name: [row[name] for row in rows] for name in self.features}
        columns[OUTPUT_COLUMN] = colorized
        table = datasets.Dataset.from_dict(columns, features=features)
        handle, temporary = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp")
        os.close(handle)
        try:
            table.to_parquet(temporary)
            os.replace(temporary, final)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def shards_of(dataset, size: int, rows: int | None, process: int, processes: int):
    """``(k, rows of shard k, or None when another process has it)`` for every shard, in order, on every process."""
    if rows is not None and hasattr(dataset, "select"):
        for index in range(-(-rows // size)):
            mine = index % processes == process
            yield index, (dataset.select(range(index * size, min(rows, (index + 1) * size))) if mine else None)
        return
    shard: list = []
    index = 0
    for row in dataset:  # a stream: every process reads it all and keeps its own shards
        shard.append(row if index % processes == process else None)
        if len(shard) == size:
            yield index, shard if index % processes == process else None
            shard, index = [], index + 1
    if shard:
        yield index, shard if index % processes == process else None


def run_dataset(job: BatchJob) -> int:
    """A dataset run (see the module's docstring); returns the exit code."""
    from colorizers.model_io.loading import ModelLoadError

    options, archive = job.dataset, job.archive or ArchiveOptions()
    state, device, precision, problem = start_process(job.device, archive.precision)
    if problem:
        return usage_error(problem)
    try:
        with state.main_process_first():  # one download into the cache; the others read it
            dataset, features, total = open_dataset(
                options.name, options.split, options.streaming, options.image_column
            )
        pipe, _ = load_pipeline_for(job, [], device)
    except (DatasetProblem, ModelLoadError, KeyError, ValueError) as error:
        return usage_error(str(error))
    data_dir = job.output / "data"
    problem = prepare_output(data_dir)
    if problem:
        return usage_error(problem, code=1)
    where = archive.manifest_path(job.output)
    shard_name = re.compile(rf"{re.escape(options.split)}-\d{{5}}\.parquet")
    earlier = open_manifest(state, where, data_dir, lambda path: bool(shard_name.fullmatch(os.path.basename(path))))
    revision = model_revision(pipe.model, job.revision)
    manifest = Manifest(where, model=job.model, revision=revision, rank=state.process_index, run=shared_run_id(state))
    run = ArchiveRun(state, total=total, manifest=manifest, unit="row", precision=precision, quiet=job.quiet)
    try:
        _colorize_shards(DatasetArchive(job, run, pipe, features, earlier, data_dir), dataset, total, state)
    except (Interrupted, KeyboardInterrupt) as stop:
        return run.summary(list(run.counts), str(data_dir), None, stop)
    totals = run.totals()
    code = run.summary(totals, str(data_dir), total)
    if options.push_to_hub and state.is_main_process:
        from colorizers.batch.dataset_card import push_dataset

        if totals[-1] or (total is not None and sum(totals[:-1]) != total):
            code = usage_error(f"not pushed to {options.push_to_hub}: some rows are not done (run again)", 1)
        else:
            code = push_dataset(job, job.output, revision) or code
    return code  # the other processes do not wait for the upload (it may outlast a collective's timeout)


def _colorize_shards(archive: DatasetArchive, dataset, total: int | None, state) -> None:
    """This process's shards, a round (one shard per process) at a time."""
    processes, rank = state.num_processes, state.process_index
    last = None
    for index, shard in shards_of(dataset, archive.size, total, rank, processes):
        if shard is not None and not archive.run.stopping:
            todo = archive.kept_or_todo(index, len(shard))
            if todo is not None:
                archive.colorize_shard(index, list(shard), todo)
        last = index
        if index % processes == processes - 1:  # a round: one shard per process
            archive.run.after_round(index // processes)
    if last is not None and last % processes != processes - 1:  # the last round, not full
        archive.run.after_round(last // processes)

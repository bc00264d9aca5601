"""The command line's dealings with the file system, so that each failure is one line and never a traceback.

* :func:`find_images`: the image files under the inputs (recursively, never inside the output folder),
  and the folders that could not be listed, with the reason;
* :func:`prepare_output`: the output folder created and proven writable before any work starts;
* :func:`describe`: an ``OSError`` in a few words; :data:`STOPS_WRITING`: the errors after which no
  further file can be written (disk full, quota, read-only file system);
* :func:`stop_on_signals`: SIGTERM and SIGINT (Ctrl-C) raise :class:`Interrupted`, so a run stops
  between two Python steps: finished files stay, the file being written is removed (``save_image``),
  and the summary is printed;
* :func:`collect_jobs`: each input file and where its result goes (:class:`Job`); :func:`read_hint_map`:
  a ``--hints`` file matched to those inputs.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import stat
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# image_io (NumPy, PIL), model_checks (torch) and video_io (PyAV, OpenCV) are imported where used: the command
# line imports this module to build its parser, and --help must not wait for them.

STOPS_WRITING = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG}


class Interrupted(BaseException):
    """A stop signal arrived; ``name`` is SIGTERM or SIGINT and ``exit_code`` the shell's 128 + its number."""

    def __init__(self, signum: int):
        self.name = signal.Signals(signum).name
        self.exit_code = 128 + int(signum)
        super().__init__(self.name)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """While inside: SIGTERM and SIGINT raise :class:`Interrupted` (main thread only; elsewhere nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, _frame):
        raise Interrupted(signum)

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def describe(error: OSError) -> str:
    """``error`` in a few words: its system message ("Permission denied", "No space left on device", ...)."""
    return error.strerror or str(error) or type(error).__name__


def prepare_output(folder: Path) -> str | None:
    """Create ``folder`` (and its parents) and check that a file can be written into it; the reason when not."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".colorizers-write-test-")
        os.close(handle)
        os.unlink(probe)
    except FileExistsError:
        return f"cannot use {folder} as the output folder: it exists and is not a folder"
    except NotADirectoryError:
        return f"cannot create the output folder {folder}: part of its path is a file, not a folder"
    except OSError as error:
        verb = "write into" if folder.is_dir() else "create"
        return f"cannot {verb} the output folder {folder}: {describe(error)}"
    return None


def find_images(
    inputs: list[str], output_dir: Path, not_followed: list | None = None
) -> tuple[list[tuple[Path, Path]], list[tuple[Path, str]]]:
    """``(source, relative output name)`` of every image or video file named or found under the inputs, sorted per
    input, and ``(folder, reason)`` for every folder that could not be listed.

    Folders are walked recursively (symbolic links followed while they stay inside the input folder, each real
    folder once; a link leading out of it, such as one to ``..``, is not followed and is added to ``not_followed``);
    the output folder is never entered, so earlier outputs are not colorized again. Only regular files are taken
    (no named pipe or device); files whose extension no image format claims (``notes.txt``) are ignored.
    """
    from colorizers.image_io import has_image_suffix
    from colorizers.model_io.checks import local_path
    from colorizers.video.io import has_video_suffix

    try:
        output_real = os.path.realpath(output_dir)
    except (OSError, ValueError):
        output_real = None
    found, unreadable = [], []
    for item in inputs:
        path = local_path(item)
        if path is None:
            continue
        if not path.is_dir():
            found.append((path, Path(path.name)))
            continue
        seen: set[str] = set()
        files = []
        root_real = os.path.realpath(path)

        def report(error: OSError, root: Path = path) -> None:  # called by os.walk within this iteration
            unreadable.append((Path(error.filename or root), f"cannot list the folder ({describe(error)})"))

        for folder, subfolders, names in os.walk(path, onerror=report, followlinks=True):
            real = os.path.realpath(folder)
            if real in seen or real == output_real:
                subfolders[:] = []
                continue
            seen.add(real)
            kept = []
            for sub in sorted(subfolders):
                target = os.path.realpath(os.path.join(folder, sub))
                if target == output_real:
                    continue
                if os.path.commonpath([root_real, target]) != root_real:  # a link out of the input folder
                    if not_followed is not None:
                        not_followed.append(Path(folder) / sub)
                    continue
                kept.append(sub)
            subfolders[:] = kept
            for name in names:
                source = Path(folder) / name
                if (has_image_suffix(source) or has_video_suffix(source)) and source.is_file():
                    files.append((source, source.relative_to(path)))
        found.extend(sorted(files))
    return found, unreadable


def name_conflict(target, claimed: set, sources: set, overwrite: bool) -> str | None:
    """Why a job may not write ``target`` whatever the disk holds (None if it may): another input already claimed
    the same output name, or the output would replace an input. Paths in one normal form, any hashable type."""
    if target in claimed:
        return "another input already writes to the same output name"
    if target in sources and not overwrite:
        return "its output would replace an input file (use --overwrite to allow)"
    return None


def output_conflict(target: Path, claimed: set[Path], sources: set[Path], overwrite: bool) -> tuple[str | None, bool]:
    """Whether a job may write ``target`` (resolved): ``(reason it fails, False)``, ``(None, True)`` when the output
    exists and is kept (skipped: no --overwrite), or ``(None, False)`` when it may be written."""
    reason = name_conflict(target, claimed, sources, overwrite)
    if reason:
        return reason, False
    if target.exists() and not overwrite:
        return None, True
    return None, False


__all__ = [
    "STOPS_WRITING",
    "Interrupted",
    "describe",
    "find_images",
    "name_conflict",
    "output_conflict",
    "prepare_output",
    "stop_on_signals",
]


@dataclass
class Job:
    source: Path
    target: Path

    @property
    def video(self) -> bool:
        from colorizers.video.io import has_video_suffix

        return has_video_suffix(self.source)


def collect_jobs(
    inputs: list[str],
    output_dir: Path,
    output_format: str,
    unreadable: list | None = None,
    not_followed: list | None = None,
) -> list[Job]:
    """Every image and video file named or found (recursively) under the inputs, and where its result goes.

    Folders mirror their sub-folders into ``output_dir``; files given directly go to its top level.
    Files whose extension no image or video format claims (``notes.txt``) are ignored inside folders;
    folders that cannot be listed are added to ``unreadable`` as ``(folder, reason)``. Videos keep their
    container (``.mpg``/``.mpeg``, which colorizers does not write, become ``.mp4``). Links out of an input
    folder are not followed (added to ``not_followed``).
    """
    found, problems = find_images(inputs, output_dir, not_followed)
    if unreadable is not None:
        unreadable.extend(problems)
    return [Job(source, output_dir / _output_name(relative, output_format)) for source, relative in found]


def check_inputs(inputs: list[str], output_dir: Path, overwrite: bool) -> str | None:
    """Why the inputs or the output folder cannot be used (missing inputs, a named pipe or device as input, an
    output folder that is an input folder, with or without ``overwrite``), or None. Nothing is opened."""
    from colorizers.model_io.checks import local_path

    missing = [item for item in inputs if local_path(item) is None]
    if missing:
        return f"no such file or folder: {', '.join(missing)}"
    for item in inputs:
        try:
            mode = os.stat(local_path(item)).st_mode
        except OSError:
            continue  # reported when it is read
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            return f"{item} is not a regular file (a named pipe, device or socket): only files and folders are read"
    input_dirs = {path.resolve() for path in map(local_path, inputs) if path.is_dir()}
    if output_dir.resolve() in input_dirs:
        also = " (--overwrite replaces earlier outputs, never a folder's originals)" if overwrite else ""
        return (
            f"the output folder {output_dir} is an input folder: results would sit beside (or replace) the "
            f"originals, and the next run would colorize them again{also}. Choose another --output."
        )
    return None


def expand_user(path: str) -> Path:
    try:
        return Path(path).expanduser()
    except RuntimeError:  # ~someone who does not exist: the path as typed
        return Path(path)


def _output_name(relative: Path, output_format: str) -> Path:
    from colorizers.image_io import SAVE_FORMAT_BY_SUFFIX
    from colorizers.video.io import has_video_suffix, writable_suffix

    if has_video_suffix(relative):
        return relative.with_suffix(writable_suffix(relative.suffix))
    if output_format == "same" and relative.suffix.lower() in SAVE_FORMAT_BY_SUFFIX:
        return relative
    return relative.with_suffix(".png")


def read_hint_map(path: str, jobs: list[Job], model) -> dict:
    """``--hints FILE``: a list of hints for a single input, or an object mapping input file names (as given,
    or just the file name) to lists of hints. Hints are checked per image when it is read."""
    from colorizers.processing.hints import HintError, load_hints_file

    if not getattr(model.config, "use_hints", False):
        raise HintError(
            f"--hints: this {model.config.model_type} model has no hint inputs (use a hint-capable model such as chroma)"
        )
    data = load_hints_file(path)
    if isinstance(data, list):
        if len(jobs) != 1:
            raise HintError(
                f"--hints: {path} holds one list of hints, but {len(jobs)} images are to be colorized; "
                "map each file name to its hints instead"
            )
        return {jobs[0].source: data}
    known = {job.source: job for job in jobs}
    mapping = {}
    for key, hints in data.items():
        matches = [source for source in known if key in (str(source), source.name, source.as_posix())]
        if not matches:
            raise HintError(f"--hints: {key!r} names none of the input files")
        for source in matches:
            mapping[source] = hints
    return mapping

"""The manifest of an archive run (``colorizers colorize --manifest``, several processes, ``--dataset``): one
JSON line per input, appended by whichever process handled it.

Each line is ``{"input", "output", "status", "model", "revision", "error", "rank", "run", "time"}`` (dataset rows
add ``"row"``). ``status`` is ``done`` (colorized and written by this run), ``failed`` (with ``error``), or
``exists`` (the output was already complete, from a run the manifest does not record: it was not colorized
again). The last line about an input is its state; a rerun skips ``done``/``exists`` inputs whose output is
still there and ``failed`` ones unless ``--retry-failed``.

Processes share the file: each line is one ``write`` on a descriptor opened with ``O_APPEND``, so lines from
different processes never interleave on a local file system (on NFS, give each machine its own
``--manifest``). A process killed mid-write can leave a last line without its newline: the main process
ends it before anyone appends (:func:`end_last_line`), and readers skip lines that do not parse.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

DONE, FAILED, EXISTS = "done", "failed", "exists"
# save_image's temporary names: "." + the final name + "." + mkstemp's 8 random characters + ".tmp"
_TEMPORARY = re.compile(r"^\.(.+)\.[a-z0-9_]{8}\.tmp$")


@dataclass
class ManifestState:
    """What earlier runs recorded: the last status of each input, and its error when it failed."""

    status: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)

    def failed(self, key: str) -> bool:
        return self.status.get(key) == FAILED

    def recorded(self, key: str) -> bool:
        """Whether a finished output of ``key`` is on record (``done`` or ``exists``)."""
        return self.status.get(key) in (DONE, EXISTS)


def read_manifest(path: Path) -> ManifestState:
    """The state every earlier run left in ``path`` (empty when there is none); unparsable lines are skipped."""
    state = ManifestState()
    try:
        stream = open(path, encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return state
    with stream:
        for line in stream:
            try:
                record = json.loads(line)
                key, status = record["input"], record["status"]
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a killed process
            state.status[key] = status
            state.outputs[key] = record.get("output")
            if status == FAILED:
                state.errors[key] = record.get("error")
    return state


def end_last_line(path: Path) -> None:
    """Give a last line cut short (a process killed while writing it) its newline, so the next line stands alone."""
    try:
        with open(path, "rb+") as stream:
            stream.seek(0, os.SEEK_END)
            if stream.tell() == 0:
                return
            stream.seek(-1, os.SEEK_END)
            if stream.read(1) != b"\n":
                stream.write(b"\n")
    except FileNotFoundError:
        pass


def remove_temporaries(folder: Path, ours: Callable[[str], bool]) -> int:
    """Delete the temporary files a killed run left under ``folder`` (``save_image``'s ``.NAME.XXXXXXXX.tmp``)
    for the outputs ``ours(path)`` accepts, never anyone else's; how many. Called by the main process before
    any process writes."""
    removed = 0
    for root, _, names in os.walk(folder):
        for name in names:
            found = _TEMPORARY.match(name)
            if found and ours(os.path.join(root, found.group(1))):
                try:
                    os.unlink(os.path.join(root, name))
                    removed += 1
                except OSError:
                    pass  # gone already: it is never read as an output anyway
    return removed


def model_revision(model, requested: str | None) -> str | None:
    """The commit the model's files came from when known (Hub models), else the revision asked for, else None."""
    return getattr(model.config, "_commit_hash", None) or requested


class Manifest:
    """Appends records for one process of one run; safe to use from several threads."""

    def __init__(self, path: Path, *, model: str, revision: str | None, rank: int, run: str):
        self.path = path
        self.common = {"model": model, "revision": revision, "rank": rank, "run": run}
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._lock = threading.Lock()

    def line(self, input: str, output: str | None, status: str, error: str | None = None, **extra) -> bytes:
        record = {"input": input, "output": output, "status": status, **self.common, "error": error, **extra}
        record["time"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        if status == EXISTS:  # not made by this run: its model is not known
            record["model"] = record["revision"] = None
        return (json.dumps(record, ensure_ascii=False) + "\n").encode()

    def record(self, input: str, output: str | None, status: str, error: str | None = None, **extra) -> None:
        self.write([self.line(input, output, status, error, **extra)])

    def write(self, lines: list[bytes]) -> None:
        """Append ``lines`` in one ``write`` (a whole shard's rows land together, or not at all)."""
        data = b"".join(lines)
        with self._lock:
            while data:
                written = os.write(self._fd, data)
                data = data[written:]

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

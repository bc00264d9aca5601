"""Checkpoints a run can be killed during, and the signals that ask for one.

A checkpoint is written under a temporary name and renamed when complete, and it counts as complete
only with its ``training_state.json``: a crash mid-save never leaves a checkpoint that ``latest``
would pick. A save that fails (disk full, quota, permissions) removes its partial files, leaves every
earlier checkpoint as it was and raises :class:`CheckpointError` on every process, saying which
checkpoint to resume from. SIGTERM/SIGINT (preemption, Ctrl-C) ask the loop for a checkpoint at the
next step.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
from pathlib import Path

from colorizers.training.setup import TrainingSetupError

CHECKPOINT_PATTERN = re.compile(r"^checkpoint-(\d+)$")
STATE_FILE = "training_state.json"


class CheckpointError(RuntimeError):
    """A checkpoint could not be written; the message names the cause and the checkpoint to resume from."""


def _all_succeeded(accelerator, ok: bool) -> bool:
    """Whether every process succeeded (a collective: every process must call it, in step)."""
    import torch

    if accelerator.num_processes == 1:
        return ok
    flags = accelerator.gather(torch.tensor([1.0 if ok else 0.0], device=accelerator.device))
    return bool(flags.min().item() > 0.5)


def complete_checkpoints(output_dir: str | os.PathLike) -> list[Path]:
    """Checkpoint folders under ``output_dir/checkpoints`` that finished writing, oldest first."""
    folder = Path(output_dir) / "checkpoints"
    found = []
    for path in folder.iterdir() if folder.is_dir() else []:
        match = CHECKPOINT_PATTERN.match(path.name)
        if match and (path / STATE_FILE).is_file():
            found.append((int(match.group(1)), path))
    return [path for _, path in sorted(found)]


def resolve_checkpoint(value: str, output_dir: str | os.PathLike) -> Path | None:
    """``"latest"`` (the newest complete checkpoint, or None when there is none) or a checkpoint folder."""
    if value == "latest":
        checkpoints = complete_checkpoints(output_dir)
        return checkpoints[-1] if checkpoints else None
    path = Path(value).expanduser()
    if not (path / STATE_FILE).is_file():
        raise TrainingSetupError(f"{path} is not a complete checkpoint (no {STATE_FILE})")
    return path


def checkpoint_to_resume(output_dir: Path, resume_from: str | None, *, overwrite: bool = False) -> Path | None:
    """The checkpoint a run continues from (``resume_from``: ``"latest"`` or a folder), or None to start afresh.

    Starting afresh where an earlier run left checkpoints needs ``overwrite``: the earlier ones are then replaced.
    """
    if complete_checkpoints(output_dir) and not resume_from and not overwrite:
        raise TrainingSetupError(
            f"{output_dir} already holds checkpoints of a run: continue it with --resume_from_checkpoint latest, "
            "or start over with --overwrite_output_dir (its checkpoints are then replaced)"
        )
    return resolve_checkpoint(resume_from, output_dir) if resume_from else None


def save_checkpoint(accelerator, output_dir: str | os.PathLike, state: dict, total_limit: int, model) -> Path:
    """``accelerator.save_state`` into ``checkpoints/checkpoint-<global_step>``, atomically; keeps the newest ``total_limit``.

    ``state`` (with at least ``global_step``) is written as the completion marker; the model's config
    goes beside the weights, so a checkpoint also loads with ``AutoModel.from_pretrained``.
    """
    folder = Path(output_dir) / "checkpoints"
    final = folder / f"checkpoint-{state['global_step']}"
    staging = folder / f".tmp-checkpoint-{state['global_step']}"
    error: OSError | None = None
    try:
        if accelerator.is_main_process:
            shutil.rmtree(staging, ignore_errors=True)
            folder.mkdir(parents=True, exist_ok=True)
    except OSError as caught:
        error = caught
    if _all_succeeded(accelerator, error is None):  # in place of a barrier: every process learns of a failure
        try:
            accelerator.save_state(str(staging))
        except Exception as caught:  # noqa: BLE001 - torch and safetensors report a full disk as their own errors
            error = _as_os_error(caught, staging)
    if _all_succeeded(accelerator, error is None) and accelerator.is_main_process:
        try:
            accelerator.unwrap_model(model).config.save_pretrained(staging)
            (staging / STATE_FILE).write_text(json.dumps(state, indent=2))
            if final.exists():  # the same step saved again (after a resume): keep the older copy until the swap
                os.replace(final, folder / f".old-checkpoint-{state['global_step']}")
            os.replace(staging, final)  # the moment the checkpoint becomes visible to "latest"
        except OSError as caught:
            error = caught
    if not _all_succeeded(accelerator, error is None):
        if accelerator.is_main_process:
            shutil.rmtree(staging, ignore_errors=True)  # the partial files: room for the next try
            old = folder / f".old-checkpoint-{state['global_step']}"
            if old.is_dir() and not final.exists():
                os.replace(old, final)
        raise _failed(error, state["global_step"], output_dir)
    if accelerator.is_main_process:
        shutil.rmtree(folder / f".old-checkpoint-{state['global_step']}", ignore_errors=True)
        for old in complete_checkpoints(output_dir)[:-total_limit]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


# Below this much free space after a failed write, the file system was full whatever the writer said.
FULL_DISK_FREE_BYTES = 1 << 20


def _as_os_error(error: Exception, staging: Path) -> OSError:
    """The ``OSError`` behind a failed ``save_state``.

    ``torch.save`` reports a full disk as ``RuntimeError: [enforce fail at inline_container.cc] unexpected
    pos ...`` and safetensors as ``SafetensorError: ... No space left on device (os error 28)``: neither is an
    ``OSError``, so the cause is read from the file system itself. Any other failure keeps its own message.
    """
    if isinstance(error, OSError):
        return error
    try:
        free = shutil.disk_usage(staging if staging.exists() else staging.parent).free
    except OSError:
        free = None
    if "os error 28" in str(error) or (free is not None and free < FULL_DISK_FREE_BYTES):
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(staging))
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return OSError(None, f"{type(error).__name__}: {first_line}", str(staging))


def _failed(error: OSError | None, step: int, output_dir) -> CheckpointError:
    reason = (error.strerror or str(error)) if error is not None else "it failed on another process"
    where = f" ({error.filename})" if error is not None and getattr(error, "filename", None) else ""
    earlier = complete_checkpoints(output_dir)
    resume = (
        (
            f"the last complete checkpoint, {earlier[-1].name}, is intact: free some space and continue with "
            "--resume_from_checkpoint latest"
        )
        if earlier
        else "no earlier checkpoint exists"
    )
    return CheckpointError(f"could not write checkpoint-{step}: {reason}{where}; {resume}")


def load_checkpoint(accelerator, checkpoint: str | os.PathLike) -> dict:
    """Restore everything ``save_checkpoint`` saved; returns its training state."""
    accelerator.load_state(str(checkpoint))
    return json.loads((Path(checkpoint) / STATE_FILE).read_text())


class StopRequest:
    """Turns SIGTERM/SIGINT into a request (``name``) the loop answers at the next step boundary.

    A second signal of the same kind stops at once (the default handler is back).
    """

    def __init__(self, signals=(signal.SIGTERM, signal.SIGINT)):
        self.name: str | None = None
        for signum in signals:
            signal.signal(signum, self._request)

    def requested_anywhere(self, accelerator) -> bool:
        """Whether a process was asked to stop (a collective: a signal on any process stops them all)."""
        if self.name is not None:
            accelerator.set_trigger()
        return accelerator.check_trigger()

    def _request(self, signum, _frame) -> None:
        self.name = signal.Signals(signum).name
        signal.signal(signum, signal.SIG_DFL)


def ignore_stop_signals(_worker_id: int) -> None:
    """``worker_init_fn`` of data loaders: workers leave SIGTERM/SIGINT to the main process.

    Preemption (SLURM, Kubernetes) and Ctrl-C signal the whole process group; a worker dying of it
    would crash the main process before it could write its checkpoint.
    """
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)

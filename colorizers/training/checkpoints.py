"""Checkpoints a run can be killed during, and the signals that ask for one.

A checkpoint is written under a temporary name and renamed when complete, and it counts as complete
only with its ``training_state.json``: a crash mid-save never leaves a checkpoint that ``latest``
would pick. SIGTERM/SIGINT (preemption, Ctrl-C) ask the loop for a checkpoint at the next step.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
from pathlib import Path

from .setup import TrainingSetupError

CHECKPOINT_PATTERN = re.compile(r"^checkpoint-(\d+)$")
STATE_FILE = "training_state.json"


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


def save_checkpoint(accelerator, output_dir: str | os.PathLike, state: dict, total_limit: int, model) -> Path:
    """``accelerator.save_state`` into ``checkpoints/checkpoint-<global_step>``, atomically; keeps the newest ``total_limit``.

    ``state`` (with at least ``global_step``) is written as the completion marker; the model's config
    goes beside the weights, so a checkpoint also loads with ``AutoModel.from_pretrained``.
    """
    folder = Path(output_dir) / "checkpoints"
    final = folder / f"checkpoint-{state['global_step']}"
    staging = folder / f".tmp-checkpoint-{state['global_step']}"
    if accelerator.is_main_process:
        shutil.rmtree(staging, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(staging))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        accelerator.unwrap_model(model).config.save_pretrained(staging)
        (staging / STATE_FILE).write_text(json.dumps(state, indent=2))
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)  # the moment the checkpoint becomes visible to "latest"
        for old in complete_checkpoints(output_dir)[:-total_limit]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


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

"""Where a training run is: its update, epoch and batch, the images and seconds it has trained (resumed
sessions included), the running loss between two log records, and whether its time is up.

``RunProgress.state()`` is what a checkpoint records (its ``training_state.json``) and
``RunProgress.from_state`` what a resumed run continues from.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class RunProgress:
    """The position of a run and what it has done; this session's clock starts when it is made."""

    global_step: int = 0  # optimizer updates so far
    epoch: int = 0
    batches_in_epoch: int = 0  # batches of ``epoch`` already trained on (skipped when resuming)
    earlier_images: int = 0  # images of the sessions before a resume
    earlier_seconds: float = 0.0  # training seconds of the sessions before a resume
    images: int = 0  # this session's images
    running_loss: float = 0.0  # sum of the batch losses since the last record
    running_count: int = 0
    started: float = field(default_factory=time.perf_counter)

    @classmethod
    def from_state(cls, state: dict | None) -> RunProgress:
        """A run resumed from a checkpoint's training state (``None``: a fresh run)."""
        if not state:
            return cls()
        return cls(
            global_step=state["global_step"],
            epoch=state["epoch"],
            batches_in_epoch=state["batches_in_epoch"],
            earlier_images=state.get("images_seen", 0),
            earlier_seconds=state.get("train_seconds", 0.0),
        )

    def count_batch(self, loss: float, images: int) -> None:
        """One batch trained on: its loss, and the images it held on all processes."""
        self.batches_in_epoch += 1
        self.running_loss += loss
        self.running_count += 1
        self.images += images

    def take_mean_loss(self) -> float:
        """The mean batch loss since the last call (which starts the next mean)."""
        mean = self.running_loss / self.running_count
        self.running_loss, self.running_count = 0.0, 0
        return mean

    def next_epoch(self) -> None:
        self.epoch += 1
        self.batches_in_epoch = 0

    @property
    def images_seen(self) -> int:
        """Images trained on by the whole run."""
        return self.earlier_images + self.images

    def images_per_second(self) -> float:
        """This session's throughput."""
        return self.images / (time.perf_counter() - self.started)

    def train_seconds(self) -> float:
        """Seconds the whole run has trained."""
        return self.earlier_seconds + time.perf_counter() - self.started

    def state(self) -> dict:
        """The training state a checkpoint records (``save_checkpoint``'s ``state``)."""
        return {
            "global_step": self.global_step,
            "epoch": self.epoch,
            "batches_in_epoch": self.batches_in_epoch,
            "images_seen": self.images_seen,
            "train_seconds": round(self.train_seconds(), 1),
        }


def past_time_limit(accelerator, seconds: float, minutes: float) -> bool:
    """Whether the slowest process has trained ``minutes``: every process ends at the same step (a collective)."""
    import torch

    clock = accelerator.reduce(torch.tensor([seconds], device=accelerator.device), reduction="max")
    return float(clock.item()) >= minutes * 60

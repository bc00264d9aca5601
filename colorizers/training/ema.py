"""An exponential moving average of a model's weights, for evaluation and the saved model.

torch.optim.swa_utils.AveragedModel has no decay warm-up: with decay 0.999 its average would be
dominated by the random initial weights for thousands of steps, which matters for the short runs of
ablations. This one warms the decay up as diffusers' EMAModel does: min(decay, (1 + n) / (10 + n)).
"""

from __future__ import annotations

import copy

import torch


class ExponentialMovingAverage:
    """Shadow copy of ``model`` whose floating-point parameters and buffers follow an EMA of the model's.

    ``state_dict``/``load_state_dict`` make it checkpointable with ``accelerator.register_for_checkpointing``.
    """

    def __init__(self, model: torch.nn.Module, decay: float = 0.999):
        if not 0 <= decay < 1:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.num_updates = 0
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    def current_decay(self) -> float:
        return min(self.decay, (1 + self.num_updates) / (10 + self.num_updates))

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        self.num_updates += 1
        weight = 1.0 - self.current_decay()
        for shadow, value in zip(self.model.parameters(), model.parameters()):
            shadow.lerp_(value.detach().to(shadow.dtype), weight)
        for shadow, value in zip(self.model.buffers(), model.buffers()):
            if shadow.is_floating_point():
                shadow.lerp_(value.detach().to(shadow.dtype), weight)
            else:  # counters (BatchNorm's num_batches_tracked) are copied
                shadow.copy_(value)

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "num_updates": self.num_updates, "decay": self.decay}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.num_updates = int(state["num_updates"])
        self.decay = float(state.get("decay", self.decay))

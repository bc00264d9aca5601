"""The inputs of one training forward: L, the target, and the extras a family takes (image classes,
simulated colour hints)."""

from __future__ import annotations

import torch

from colorizers.processing.hints import simulate_hints


def labels_key(config) -> str:
    """The batch entry a model learns to predict: ``"rgb"`` for models that output RGB, else ``"labels"`` (ab)."""
    return "rgb" if getattr(config, "output_space", "ab") == "rgb" else "labels"


def step_hints(
    labels: torch.Tensor, *, seed: int, step: int, batch_index: int, rank: int, probability: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Simulated colour hints for one batch, drawn from (seed, step, batch, rank): a resumed run draws the same."""
    generator = torch.Generator().manual_seed(hash((seed, step, batch_index, rank)) % 2**63)
    hints = simulate_hints(labels.cpu(), generator, probability=probability)
    return tuple(hint.to(labels.device) for hint in hints)


def model_inputs(batch: dict, config, labels_key: str, hints=None) -> dict:
    """The keyword arguments of one training forward: L, target, and the extras the family takes."""
    inputs = {"pixel_values": batch["pixel_values"], "labels": batch[labels_key]}
    if "class_labels" in batch and getattr(config, "semantic_classes", None):
        inputs["class_labels"] = batch["class_labels"]
    if hints is not None:
        inputs["hint_ab"], inputs["hint_mask"] = hints
    return inputs

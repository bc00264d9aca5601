"""One training step: the inputs of a forward (L, the target, image classes, simulated colour hints), the
loss (with the conditional GAN's discriminator update), backward, clipping and the optimizer, schedule and
EMA updates, under gradient accumulation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from colorizers.losses import discriminator_loss, frozen_forward, generator_adversarial_loss
from colorizers.pipelines import predicted_ab
from colorizers.processing.hints import simulate_hints

if TYPE_CHECKING:
    from colorizers.training.options import ModelOptions, OptimizationOptions


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


@dataclass
class Trainables:
    """What the updates change, as prepared by accelerate: the model and its optimizer, the schedules, the
    weight EMA, and the discriminator of a GAN with its optimizer."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    schedulers: list = field(default_factory=list)  # stepped at every update
    plateaus: list = field(default_factory=list)  # reduce-on-plateau: stepped with the validation loss
    ema: object | None = None  # ExponentialMovingAverage
    discriminator: torch.nn.Module | None = None
    d_optimizer: torch.optim.Optimizer | None = None

    @property
    def evaluated(self) -> torch.nn.Module:
        """The model validation scores: the EMA's weights when there is one."""
        return self.ema.model if self.ema is not None else self.model


@dataclass(frozen=True)
class StepSettings:
    """The fixed settings of every step."""

    labels_key: str = "labels"  # the batch entry the model predicts (``labels_key(config)``)
    max_grad_norm: float = 1.0  # 0: no clipping
    gan_l1_weight: float = 100.0  # lambda of BCE + lambda * L1
    gan_warmup_steps: int = 0  # L1-only generator steps before the adversarial term
    discriminator_idle_in_warmup: bool = False  # no discriminator updates in those steps either
    hint_probability: float = 0.0  # share of images shown colour hints; 0: no hints (models without hint inputs)
    seed: int = 0  # of the hints

    @classmethod
    def for_run(cls, config, model: ModelOptions, optimization: OptimizationOptions, *, seed: int = 0) -> StepSettings:
        """The settings of a run training a model of ``config``: its target, its GAN weight unless the options
        give one, and hints when the family takes them."""
        gan_l1_weight = optimization.gan_l1_weight
        if gan_l1_weight is None:
            gan_l1_weight = float(getattr(config, "gan_l1_weight", 100.0))
        return cls(
            labels_key=labels_key(config),
            max_grad_norm=optimization.max_grad_norm,
            gan_l1_weight=gan_l1_weight,
            gan_warmup_steps=optimization.gan_warmup_steps,
            discriminator_idle_in_warmup=optimization.discriminator_idle_in_warmup,
            hint_probability=model.hint_share if getattr(config, "use_hints", False) else 0.0,
            seed=seed,
        )


def training_step(
    accelerator, parts: Trainables, batch: dict, settings: StepSettings, *, step: int, batch_index: int
) -> tuple[float, torch.Tensor | None]:
    """One forward and backward, and the updates when the accumulated gradients sync.

    ``step`` is the number of updates so far and ``batch_index`` the batch's position in its epoch (the
    hints are drawn from them). Returns the model's own loss (the reconstruction, before any GAN term)
    and the discriminator's loss (None without a discriminator).
    """
    model = parts.model
    with accelerator.accumulate(*(m for m in (model, parts.discriminator) if m is not None)):
        hints = None
        if settings.hint_probability > 0:
            hints = step_hints(
                batch["labels"],
                seed=settings.seed,
                step=step,
                batch_index=batch_index,
                rank=accelerator.process_index,
                probability=settings.hint_probability,
            )
        outputs = model(**model_inputs(batch, accelerator.unwrap_model(model).config, settings.labels_key, hints))
        loss, d_loss = outputs.loss, None
        if parts.discriminator is not None:
            loss, d_loss = _adversarial_losses(accelerator, parts, batch, outputs, settings, step)
        accelerator.backward(loss)
        if accelerator.sync_gradients and settings.max_grad_norm > 0:
            accelerator.clip_grad_norm_(model.parameters(), settings.max_grad_norm)
        parts.optimizer.step()
        for scheduler in parts.schedulers:
            scheduler.step()
        parts.optimizer.zero_grad(set_to_none=True)
        if parts.ema is not None and accelerator.sync_gradients:
            parts.ema.update(accelerator.unwrap_model(model))
    return outputs.loss.detach().float().item(), d_loss


def _adversarial_losses(accelerator, parts: Trainables, batch: dict, outputs, settings: StepSettings, step: int):
    """pix2pix: one discriminator update, then the generator's BCE + lambda * L1 (L1 alone while warming up,
    and no discriminator update either with ``discriminator_idle_in_warmup``).

    Returns (generator loss, discriminator loss; None when the discriminator rested).
    """
    warming_up = step < settings.gan_warmup_steps
    if warming_up and settings.discriminator_idle_in_warmup:
        return settings.gan_l1_weight * outputs.loss, None
    discriminator = parts.discriminator
    fake_ab = predicted_ab(outputs)
    d_loss = discriminator_loss(
        discriminator(pixel_values=batch["pixel_values"], ab=batch["labels"]).logits,
        discriminator(pixel_values=batch["pixel_values"], ab=fake_ab.detach()).logits,
    )
    accelerator.backward(d_loss)
    if accelerator.sync_gradients and settings.max_grad_norm > 0:
        accelerator.clip_grad_norm_(discriminator.parameters(), settings.max_grad_norm)
    parts.d_optimizer.step()
    parts.d_optimizer.zero_grad(set_to_none=True)
    loss = settings.gan_l1_weight * outputs.loss
    if not warming_up:
        with accelerator.autocast():
            judged = frozen_forward(
                accelerator.unwrap_model(discriminator), pixel_values=batch["pixel_values"], ab=fake_ab
            )
        loss = loss + generator_adversarial_loss(judged.logits)
    return loss, d_loss

"""The settings of a training run, in four typed groups: what is trained (`ModelOptions`), on which data
(`DataOptions`), how it is optimised (`OptimizationOptions`) and where and when the run writes (`RunOptions`).

``train/train.py`` builds them once from its command line (each field is the flag of the same name);
library code takes these groups or plain arguments, never the argparse namespace. The defaults are
the command line's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from colorizers.evaluation.metrics import GRAY_CHROMA_THRESHOLD, GRAY_MAX_SHARE

DEFAULT_HINT_PROBABILITY = 0.5


@dataclass(frozen=True)
class ModelOptions:
    """What is trained: a preset or a saved model folder, its config changes, objective, loss and extras."""

    model: str
    config_overrides: dict[str, Any] = field(default_factory=dict)  # parsed JSON of --config_overrides
    pretrained_backbone: bool = False
    gradient_checkpointing: bool = False
    objective: str | None = None
    resolution: int | None = None  # None: the model's image_size
    loss: str | None = None  # None: the family's
    hint_probability: float | None = None  # None: DEFAULT_HINT_PROBABILITY
    color_prior_samples: int = 4000
    memory_format: str = "auto"

    @property
    def hint_share(self) -> float:
        """Share of images shown simulated colour hints (by models that take hints)."""
        return self.hint_probability if self.hint_probability is not None else DEFAULT_HINT_PROBABILITY

    def channels_last(self, mixed_precision: str | None) -> bool:
        """Whether activations use channels_last: asked for, or ``auto`` with bf16 (what oneDNN's bf16 kernels want)."""
        return self.memory_format == "channels_last" or (self.memory_format == "auto" and mixed_precision == "bf16")


@dataclass(frozen=True)
class DataOptions:
    """Which images train and validate, how they are filtered, cropped, augmented and batched."""

    train_data_dir: str | None = None
    dataset_name: str | None = None
    dataset_config: str | None = None
    image_column: str | None = None
    label_column: str | None = None
    validation_data_dir: str | None = None
    validation_split_percentage: float = 5.0
    streaming: bool = False
    max_train_samples: int | None = None
    max_eval_samples: int | None = 512
    random_min_scale: float = 0.5
    no_hflip: bool = False
    max_rotation: float = 0.0
    gray_chroma_threshold: float = GRAY_CHROMA_THRESHOLD
    gray_max_share: float = GRAY_MAX_SHARE
    keep_grayscale: bool = False
    dataloader_num_workers: int = 0
    preprocessing_num_workers: int | None = None
    cache_dir: str | None = None
    train_batch_size: int = 16  # per process
    eval_batch_size: int = 32  # per process

    @property
    def source(self) -> str | None:
        """The training data as results name it: the folder, or the Hub dataset id."""
        return self.train_data_dir or self.dataset_name

    @property
    def max_gray_share(self) -> float | None:
        """The grayscale filter's share of neutral pixels (None: the filter is off)."""
        return None if self.keep_grayscale else self.gray_max_share


@dataclass(frozen=True)
class OptimizationOptions:
    """How the weights are updated: optimizers, learning-rate schedules, precision, accumulation, clipping,
    EMA, the GAN's balance and how long the run trains."""

    optimizer: str = "adam"
    learning_rate: float = 5e-4
    discriminator_learning_rate: float | None = None  # None: learning_rate
    encoder_learning_rate: float | None = None  # None: learning_rate; the pretrained backbone's own rate
    weight_decay: float = 0.0
    lr_scheduler: str = "constant"
    lr_warmup_steps: int = 0
    plateau_factor: float = 0.5
    plateau_patience: int = 2
    min_learning_rate: float = 1e-6
    gradient_accumulation_steps: int = 1
    max_grad_norm: float = 1.0  # 0: no clipping
    num_train_epochs: int = 10
    max_train_steps: int | None = None  # None: num_train_epochs' worth
    max_train_minutes: float | None = None
    mixed_precision: str | None = None
    ema_decay: float = 0.0  # 0: no EMA
    gan_l1_weight: float | None = None  # None: the config's
    gan_warmup_steps: int = 0
    # the discriminator rests during the warm-up too (otherwise it learns to tell the warm-up's outputs from real
    # colour meanwhile, perfectly: loss 0.000, and its gradients then swamp the L1 term)
    discriminator_idle_in_warmup: bool = False

    @property
    def discriminator_rate(self) -> float:
        return self.discriminator_learning_rate or self.learning_rate

    def total_steps(self, train_loader, num_processes: int) -> int:
        """Optimizer updates of the run: ``max_train_steps``, or the epochs' worth of ``train_loader`` (not yet
        prepared: its length is the whole data's) split over the processes and accumulation steps. A streamed
        loader has no length: its runs give ``max_train_steps``."""
        if self.max_train_steps is not None:
            return self.max_train_steps
        updates_per_epoch = math.ceil(len(train_loader) / num_processes / self.gradient_accumulation_steps)
        return self.num_train_epochs * updates_per_epoch

    def schedule(self, total_steps: int, num_processes: int) -> dict[str, Any]:
        """Keyword arguments of ``build_scheduler`` besides its name and optimizer."""
        return {
            "total_steps": total_steps,
            "num_processes": num_processes,
            "warmup_steps": self.lr_warmup_steps,
            "plateau_factor": self.plateau_factor,
            "plateau_patience": self.plateau_patience,
            "min_learning_rate": self.min_learning_rate,
        }


@dataclass(frozen=True)
class RunOptions:
    """Where the run writes and when: output folder, checkpoints, validation, logging, trackers, the Hub, the seed."""

    output_dir: str
    seed: int = 0
    checkpointing_steps: int = 500
    checkpoints_total_limit: int = 3
    resume_from_checkpoint: str | None = None  # "latest" or a checkpoint folder
    overwrite_output_dir: bool = False
    validation_steps: int = 500
    num_validation_images: int = 8
    logging_steps: int = 10
    report_to: str = "none"
    push_to_hub: bool = False
    hub_model_id: str | None = None
    hub_private: bool = False
    hub_revision: str | None = None

    def checkpoint_due(self, step: int, total_steps: int) -> bool:
        """Whether ``step`` is a scheduled checkpoint (every ``checkpointing_steps``, and the last step)."""
        return step % self.checkpointing_steps == 0 or step == total_steps

    def log_due(self, step: int, total_steps: int) -> bool:
        """Whether ``step`` writes a training record (every ``logging_steps``, and the last step)."""
        return step % self.logging_steps == 0 or step == total_steps

    def validation_due(self, step: int, total_steps: int) -> bool:
        """Whether ``step`` validates (every ``validation_steps``; the last step's validation is the final one)."""
        return step % self.validation_steps == 0 and step < total_steps

"""The pieces of ``train/train.py`` that are library code: setup, inputs of a step, checkpoints,
validation and reports. The script keeps its arguments and one linear ``main()``.

- ``setup``: model, loss, discriminator, backbone, optimizers, schedules, colour prior;
  ``TrainingSetupError`` for settings a run cannot start with;
- ``steps``: the keyword arguments of a training forward (and simulated colour hints);
- ``checkpoints``: atomic checkpoints, ``latest``, SIGTERM/SIGINT handling;
- ``validation``: scores through the processor's post-processing and ``colorizers.evaluation.metrics``;
- ``reporting``: ``metrics.jsonl``, sample grids, loss curves.

Data (splits, filtering, classes) is in ``colorizers.training.data``; samples and torch datasets in
``colorizers.training.samples``.
"""

from colorizers.training.checkpoints import (
    CheckpointError,
    StopRequest,
    complete_checkpoints,
    ignore_stop_signals,
    load_checkpoint,
    resolve_checkpoint,
    save_checkpoint,
)
from colorizers.training.reporting import MetricsLog, plot_loss_curves, save_grid
from colorizers.training.setup import (
    LOSSES,
    TrainingSetupError,
    build_discriminator,
    build_model,
    build_optimizer,
    build_scheduler,
    configure_loss,
    is_plateau,
    measure_color_prior,
    prepare_backbone,
)
from colorizers.training.steps import labels_key, model_inputs, step_hints
from colorizers.training.validation import evaluate, format_scores

__all__ = [
    "LOSSES",
    "CheckpointError",
    "MetricsLog",
    "StopRequest",
    "TrainingSetupError",
    "build_discriminator",
    "build_model",
    "build_optimizer",
    "build_scheduler",
    "complete_checkpoints",
    "configure_loss",
    "evaluate",
    "format_scores",
    "ignore_stop_signals",
    "is_plateau",
    "labels_key",
    "load_checkpoint",
    "measure_color_prior",
    "model_inputs",
    "plot_loss_curves",
    "prepare_backbone",
    "resolve_checkpoint",
    "save_checkpoint",
    "save_grid",
    "step_hints",
]

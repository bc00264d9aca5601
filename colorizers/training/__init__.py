"""The pieces of ``train/train.py`` that are library code: options, setup, the training step, progress,
checkpoints, validation and reports. The script keeps its command line and one linear ``main()``.

- ``options``: the run's settings as typed groups (model, data, optimization, run), built once from the
  command line;
- ``setup``: model, loss, discriminator, backbone, optimizers, schedules (prepared by accelerate, with the
  weight EMA), colour prior, the run's end (``end_training``); ``TrainingSetupError`` for settings a run cannot
  start with;
- ``steps``: one training step (inputs, loss with the GAN branch, backward, clipping, updates);
- ``progress``: the run's position, counters and clock, what a checkpoint records;
- ``checkpoints``: atomic checkpoints, ``latest``, what to resume from, SIGTERM/SIGINT handling;
- ``validation``: scores through the processor's post-processing and ``colorizers.evaluation.metrics``;
- ``reporting``: ``metrics.jsonl``, sample grids, loss curves, the results and the saved repository.

Data (splits, filtering, classes) is in ``colorizers.training.data``; samples, torch datasets and loaders
in ``colorizers.training.samples``; the weight EMA in ``colorizers.training.ema``.
"""

from colorizers.training.checkpoints import (
    CheckpointError,
    StopRequest,
    checkpoint_to_resume,
    complete_checkpoints,
    ignore_stop_signals,
    load_checkpoint,
    resolve_checkpoint,
    save_checkpoint,
)
from colorizers.training.options import DataOptions, ModelOptions, OptimizationOptions, RunOptions
from colorizers.training.progress import RunProgress, past_time_limit
from colorizers.training.reporting import (
    MetricsLog,
    plot_loss_curves,
    replica_checksums,
    save_grid,
    save_model_repository,
    training_results,
    validation_curve,
)
from colorizers.training.setup import (
    LOSSES,
    TrainingSetupError,
    bf16_on_cpu_warning,
    build_discriminator,
    build_model,
    build_optimizer,
    build_scheduler,
    build_training_model,
    configure_loss,
    end_training,
    fresh_preset_note,
    is_plateau,
    measure_color_prior,
    parameter_groups,
    prepare_backbone,
    prepare_training,
)
from colorizers.training.steps import StepSettings, Trainables, labels_key, model_inputs, step_hints, training_step
from colorizers.training.validation import evaluate, format_scores

__all__ = [
    "LOSSES",
    "CheckpointError",
    "DataOptions",
    "MetricsLog",
    "ModelOptions",
    "OptimizationOptions",
    "RunOptions",
    "RunProgress",
    "StepSettings",
    "StopRequest",
    "Trainables",
    "TrainingSetupError",
    "bf16_on_cpu_warning",
    "build_discriminator",
    "build_model",
    "build_optimizer",
    "build_scheduler",
    "build_training_model",
    "checkpoint_to_resume",
    "complete_checkpoints",
    "configure_loss",
    "end_training",
    "evaluate",
    "format_scores",
    "fresh_preset_note",
    "ignore_stop_signals",
    "is_plateau",
    "labels_key",
    "load_checkpoint",
    "measure_color_prior",
    "model_inputs",
    "parameter_groups",
    "past_time_limit",
    "plot_loss_curves",
    "prepare_backbone",
    "prepare_training",
    "replica_checksums",
    "resolve_checkpoint",
    "save_checkpoint",
    "save_grid",
    "save_model_repository",
    "step_hints",
    "training_results",
    "training_step",
    "validation_curve",
]

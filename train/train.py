#!/usr/bin/env python
"""Train a colorizers model with Accelerate: one CPU, one GPU, many GPUs or many nodes.

    accelerate launch train/train.py --model unet --train_data_dir ~/photos --output_dir runs/unet \
        --resolution 256 --loss l1 --mixed_precision bf16 --checkpointing_steps 500
    accelerate launch train/train.py ... --resume_from_checkpoint latest
    python train/train.py ...            # one process, CPU or one GPU

``main()`` reads top to bottom, like diffusers' training examples: options, accelerator, model, data,
optimizers and schedules, resume, the loop over steps (``training_step``, with logging, validation and
checkpoints), final validation, save, card and push. The command line becomes typed option groups once
(``colorizers.training.options``); what ``main()`` calls is library code in ``colorizers.training`` (data
splits, samples and loaders, setup, the step, checkpoints, validation, reports) or a short function here
that logs, so what is trained and measured here is exactly what users run.

At the end ``--output_dir`` is a complete Hub repository: config.json, model.safetensors,
preprocessor_config.json, README.md (model card with the measured validation scores),
eval_results.json, sample_grid.png, loss_curves.png, metrics.jsonl (and discriminator/ for GANs).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import logging
import shlex
import shutil
import sys
from pathlib import Path

# The library of this script's own checkout, not whichever colorizers is installed: a long run started from a git
# worktree at a fixed commit must keep that commit's code when the editable install points at another checkout (it
# did not: a resumed run of an older worktree met main's newer training options and stopped).
_CHECKOUT = Path(__file__).resolve().parents[1]
if (_CHECKOUT / "colorizers" / "__init__.py").is_file():
    sys.path.insert(0, str(_CHECKOUT))

import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import DataLoaderConfiguration, ProjectConfiguration, set_seed
from tqdm.auto import tqdm

import colorizers
from colorizers.evaluation.metrics import GRAY_CHROMA_THRESHOLD, GRAY_MAX_SHARE
from colorizers.objectives import color_distribution
from colorizers.training import (
    LOSSES,
    CheckpointError,
    MetricsLog,
    StopRequest,
    TrainingSetupError,
    bf16_on_cpu_warning,
    build_discriminator,
    checkpoint_to_resume,
    end_training,
    evaluate,
    format_scores,
    fresh_preset_note,
    load_checkpoint,
    measure_color_prior,
    prepare_backbone,
    prepare_training,
    save_checkpoint,
    save_grid,
    training_step,
)
from colorizers.training.data import DataError, TrainingSplits, class_labels, load_splits
from colorizers.training.options import DataOptions, ModelOptions, OptimizationOptions, RunOptions
from colorizers.training.progress import RunProgress, past_time_limit
from colorizers.training.reporting import replica_checksums, save_model_repository, training_results
from colorizers.training.samples import make_loaders
from colorizers.training.setup import build_training_model
from colorizers.training.steps import StepSettings, Trainables

logger = get_logger("colorizers.train")


# ----------------------------------------------------------------------------------------------
# Command line -> option groups
# ----------------------------------------------------------------------------------------------


def add_model_arguments(model) -> None:
    """What is trained: preset or saved model, config changes, backbone, objective."""
    model.add_argument(
        "--model",
        required=True,
        help="preset name (see `python -m colorizers list`) or a saved model folder to fine-tune",
    )
    model.add_argument(
        "--config_overrides",
        default=None,
        help="JSON of config values to change, e.g. '{\"hidden_sizes\": [16, 32, 64]}'",
    )
    model.add_argument(
        "--pretrained_backbone",
        action="store_true",
        help="start the backbone from its ImageNet weights (needs the Hub) and freeze it",
    )
    model.add_argument("--gradient_checkpointing", action="store_true")
    model.add_argument(
        "--objective",
        choices=("regression", "classification", "hybrid"),
        default=None,
        help="colour objective of families that offer it (default: the config's)",
    )


def add_data_arguments(data) -> None:
    """Which images, how they are filtered, cropped, augmented and loaded."""
    data.add_argument("--train_data_dir", default=None, help="image folder (nested ok) or folder of parquet shards")
    data.add_argument("--dataset_name", default=None, help="Hub dataset id")
    data.add_argument("--dataset_config", default=None)
    data.add_argument("--image_column", default=None, help="default: the first image column")
    data.add_argument("--label_column", default=None, help="image classes for the semantic head (e.g. label)")
    data.add_argument("--validation_data_dir", default=None)
    data.add_argument(
        "--validation_split_percentage", type=float, default=5.0, help="used when the data has no validation split"
    )
    data.add_argument("--streaming", action="store_true", help="stream the training data (needs --max_train_steps)")
    data.add_argument("--max_train_samples", type=int, default=None)
    data.add_argument("--max_eval_samples", type=int, default=512)
    data.add_argument(
        "--resolution", type=int, default=None, help="training crop size (default: the model's image_size)"
    )
    data.add_argument(
        "--random_min_scale", type=float, default=0.5, help="smallest random crop, as a share of the image area"
    )
    data.add_argument("--no_hflip", action="store_true")
    data.add_argument(
        "--max_rotation",
        type=float,
        default=0.0,
        help="random rotation range in degrees (seed 5 used small rotations)",
    )
    data.add_argument("--gray_chroma_threshold", type=float, default=GRAY_CHROMA_THRESHOLD)
    data.add_argument(
        "--gray_max_share",
        type=float,
        default=GRAY_MAX_SHARE,
        help="drop images neutral on more than this share of pixels",
    )
    data.add_argument("--keep_grayscale", action="store_true", help="disable the grayscale filter")
    data.add_argument("--dataloader_num_workers", type=int, default=0)
    data.add_argument("--preprocessing_num_workers", type=int, default=None)
    data.add_argument("--cache_dir", default=None)


def add_training_arguments(train) -> None:
    """Loss, optimizers, schedules, batches, length, precision, EMA, hints and colour prior."""
    train.add_argument("--output_dir", required=True)
    train.add_argument("--loss", choices=LOSSES, default=None, help="default: the family's (its seed report's)")
    train.add_argument(
        "--gan_l1_weight", type=float, default=None, help="lambda of BCE + lambda * L1 (default: the config's)"
    )
    train.add_argument(
        "--gan_warmup_steps", type=int, default=0, help="L1-only generator steps before the adversarial term"
    )
    train.add_argument(
        "--discriminator_idle_in_warmup",
        action="store_true",
        help="the discriminator does not learn during --gan_warmup_steps either: it starts with the adversarial term",
    )
    train.add_argument("--optimizer", choices=("adam", "adamw", "rmsprop"), default="adam")
    train.add_argument("--learning_rate", type=float, default=5e-4)
    train.add_argument("--discriminator_learning_rate", type=float, default=None, help="default: --learning_rate")
    train.add_argument(
        "--encoder_learning_rate",
        type=float,
        default=None,
        help="the pretrained backbone's rate when it trains (fine-tuning it gently); default: --learning_rate",
    )
    train.add_argument("--weight_decay", type=float, default=0.0)
    train.add_argument("--lr_scheduler", choices=("constant", "cosine", "plateau"), default="constant")
    train.add_argument("--lr_warmup_steps", type=int, default=0)
    train.add_argument("--plateau_factor", type=float, default=0.5)
    train.add_argument(
        "--plateau_patience", type=int, default=2, help="evaluations without improvement before the rate drops"
    )
    train.add_argument("--min_learning_rate", type=float, default=1e-6, help="floor of the plateau schedule")
    train.add_argument("--train_batch_size", type=int, default=16, help="per process")
    train.add_argument("--eval_batch_size", type=int, default=32, help="per process")
    train.add_argument("--gradient_accumulation_steps", type=int, default=1)
    train.add_argument("--max_grad_norm", type=float, default=1.0, help="0 disables clipping")
    train.add_argument("--num_train_epochs", type=int, default=10)
    train.add_argument("--max_train_steps", type=int, default=None, help="overrides --num_train_epochs")
    train.add_argument(
        "--max_train_minutes",
        type=float,
        default=None,
        help="end the run (final validation, save, card) once it has trained this long, resumed time included",
    )
    train.add_argument(
        "--mixed_precision",
        choices=("no", "fp16", "bf16"),
        default=None,
        help="bf16 runs on CPUs with AMX or AVX-512 BF16 too (6-9x fp32's speed on conv nets there; other CPUs only "
        "emulate it, about 10x slower than fp32, and the run warns)",
    )
    train.add_argument(
        "--memory_format",
        choices=("auto", "channels_last", "contiguous"),
        default="auto",
        help="layout of the model's activations; auto: channels_last with bf16 (what oneDNN's bf16 kernels want)",
    )
    train.add_argument("--seed", type=int, default=0)
    train.add_argument(
        "--ema_decay", type=float, default=0.0, help="weight EMA for evaluation and the saved model (0 = off)"
    )
    train.add_argument(
        "--hint_probability",
        type=float,
        default=None,
        help="share of images shown random colour hints (models with hint inputs; default 0.5)",
    )
    train.add_argument(
        "--color_prior_samples",
        type=int,
        default=4000,
        help="training images the colour prior of classification objectives is measured on",
    )


def add_run_arguments(runs) -> None:
    """Checkpoints, resuming, validation, logging, trackers and the Hub."""
    runs.add_argument("--checkpointing_steps", type=int, default=500)
    runs.add_argument("--checkpoints_total_limit", type=int, default=3)
    runs.add_argument("--resume_from_checkpoint", default=None, help='"latest" or a checkpoint folder')
    runs.add_argument(
        "--overwrite_output_dir",
        action="store_true",
        help="start over in a folder that holds an earlier run's checkpoints",
    )
    runs.add_argument("--validation_steps", type=int, default=500)
    runs.add_argument("--num_validation_images", type=int, default=8, help="rows of the sample grid")
    runs.add_argument("--logging_steps", type=int, default=10)
    runs.add_argument("--report_to", default="none", help="tensorboard, wandb, ... or none")
    runs.add_argument("--push_to_hub", action="store_true")
    runs.add_argument("--hub_model_id", default=None)
    runs.add_argument("--hub_private", action="store_true")
    runs.add_argument("--hub_revision", default=None)


def argument_problems(args: argparse.Namespace) -> list[str]:
    """What is wrong with a parsed command line, one message per problem."""
    problems = []
    if (args.train_data_dir is None) == (args.dataset_name is None):
        problems.append("give exactly one of --train_data_dir or --dataset_name")
    if args.streaming and args.max_train_steps is None:
        problems.append("--streaming needs --max_train_steps (a stream has no length)")
    if args.push_to_hub and not args.hub_model_id:
        problems.append("--push_to_hub needs --hub_model_id")
    for name in (
        "train_batch_size",
        "eval_batch_size",
        "gradient_accumulation_steps",
        "checkpointing_steps",
        "validation_steps",
        "logging_steps",
        "num_train_epochs",
    ):
        if getattr(args, name) < 1:
            problems.append(f"--{name} must be at least 1")
    if args.max_train_steps is not None and args.max_train_steps < 1:
        problems.append("--max_train_steps must be at least 1")
    for name in ("learning_rate", "discriminator_learning_rate", "encoder_learning_rate"):
        rate = getattr(args, name)
        if rate is not None and not rate > 0:
            problems.append(f"--{name} must be positive")
    if args.max_train_minutes is not None and not args.max_train_minutes > 0:
        problems.append("--max_train_minutes must be positive")
    if not 0 < args.random_min_scale <= 1:
        problems.append("--random_min_scale must be in (0, 1]")
    if not 0 <= args.ema_decay < 1:
        problems.append("--ema_decay must be in [0, 1)")
    if args.hint_probability is not None and not 0 <= args.hint_probability <= 1:
        problems.append("--hint_probability must be in [0, 1]")
    if args.color_prior_samples < 1:
        problems.append("--color_prior_samples must be at least 1")
    if not 0 <= args.validation_split_percentage < 100:
        problems.append("--validation_split_percentage must be in [0, 100)")
    if args.config_overrides is not None:
        try:
            if not isinstance(json.loads(args.config_overrides), dict):
                problems.append("--config_overrides must be a JSON object")
        except json.JSONDecodeError as error:
            problems.append(f"--config_overrides is not valid JSON: {error}")
    return problems


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; what cannot work ends here as one line, ``error: ...``, and exit code 2."""
    parser = argparse.ArgumentParser(description="Train a colorizers model.")
    add_model_arguments(parser.add_argument_group("model"))
    add_data_arguments(parser.add_argument_group("data"))
    add_training_arguments(parser.add_argument_group("training"))
    add_run_arguments(parser.add_argument_group("checkpoints, evaluation, logging"))
    args = parser.parse_args(argv)
    problems = argument_problems(args)
    if problems:
        parser.exit(2, "error: " + "; ".join(problems) + "\n")
    return args


def options_from_args(args: argparse.Namespace) -> tuple[ModelOptions, DataOptions, OptimizationOptions, RunOptions]:
    """The command line as the library's option groups, built once: each field is the flag of the same name."""

    def group(kind, **parsed):
        given = {
            field.name: getattr(args, field.name) for field in dataclasses.fields(kind) if field.name not in parsed
        }
        return kind(**given, **parsed)

    overrides = json.loads(args.config_overrides) if args.config_overrides else {}
    return (
        group(ModelOptions, config_overrides=overrides),
        group(DataOptions),
        group(OptimizationOptions),
        group(RunOptions),
    )


def exit_2_on_setup_errors(main):
    """Settings a run cannot start with end as one line, ``error: ...``, and exit code 2 (no traceback); a
    checkpoint that cannot be written (disk full) ends as one line and exit code 1, the earlier ones intact."""

    @functools.wraps(main)
    def run(argv: list[str] | None = None) -> int:
        try:
            return main(argv)
        except (TrainingSetupError, DataError) as error:
            print(f"error: {error}", file=sys.stderr)
            raise SystemExit(2) from None
        except CheckpointError as error:
            print(f"error: {error}", file=sys.stderr)
            raise SystemExit(1) from None

    return run


# ----------------------------------------------------------------------------------------------
# The stages main() calls that speak through this script's logger
# ----------------------------------------------------------------------------------------------


def make_accelerator(optimization: OptimizationOptions, run: RunOptions, output_dir: Path) -> Accelerator:
    """The accelerator of the run: devices and processes, precision, accumulation, trackers, seedable shuffling."""
    accelerator = Accelerator(
        # with no GPU, say so: accelerate 1.15 then runs a multi-process launch as MULTI_CPU over gloo
        # instead of N unrelated single processes
        cpu=not torch.accelerator.is_available(),
        gradient_accumulation_steps=optimization.gradient_accumulation_steps,
        mixed_precision=optimization.mixed_precision,
        log_with=None if run.report_to == "none" else run.report_to,
        project_config=ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(output_dir / "logs")),
        # the shuffle order is a function of (seed, epoch): resuming mid-epoch replays it exactly
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
    )
    if not accelerator.is_main_process:  # the script's logger speaks on the main process only; so do the libraries'
        logging.getLogger().setLevel(logging.WARNING)
    if warning := bf16_on_cpu_warning(accelerator.device.type, accelerator.mixed_precision):
        logger.warning(warning)
    return accelerator


def load_data(accelerator: Accelerator, options: DataOptions, seed: int) -> TrainingSplits:
    """The filtered training and validation splits; what was kept, dropped and skipped is logged."""
    with accelerator.main_process_first():  # the image scan is cached: other ranks reuse it
        splits = load_splits(options, seed=seed)
    for side, counts in splits.counts.items():
        if counts:
            logger.info("%s images: %s", side, ", ".join(f"{v} {k}" for k, v in counts.items()))
    if splits.skipped_files:
        logger.warning(
            "%d unreadable data files skipped: %s",
            len(splits.skipped_files),
            "; ".join(f"{item['file']} ({item['reason']})" for item in splits.skipped_files),
        )
    return splits


def add_semantic_head(model, loss_name: str, splits: TrainingSplits, options: ModelOptions, label_column, seed: int):
    """The image classes of ``label_column`` (None without one) and the model with a semantic head over them:
    their list shapes the head, so the model is rebuilt (from the same seed) when its classes differ."""
    if not label_column:
        return model, None
    if not hasattr(model.config, "semantic_classes"):
        raise TrainingSetupError(f"--label_column: the {model.config.model_type} family has no semantic head")
    classes = class_labels(splits.train, label_column)
    if list(model.config.semantic_classes) != classes.names:
        set_seed(seed)
        model, _ = build_training_model(options, loss=loss_name, semantic_classes=classes.names)
    logger.info("semantic head over %d classes of column %r", len(classes.names), label_column)
    return model, classes


def prepare_model(
    model, options: ModelOptions, *, accelerator, train_dataset, streaming: bool, resuming: bool, mixed_precision
):
    """The model extras: pretrained backbone, gradient checkpointing, colour prior, memory format; in training mode."""
    prepare_backbone(model, pretrained=options.pretrained_backbone, accelerator=accelerator)
    if options.gradient_checkpointing:
        if not model.supports_gradient_checkpointing:
            raise TrainingSetupError(f"--gradient_checkpointing: the {options.model} family does not support it")
        model.gradient_checkpointing_enable()
    # classification objectives weigh rare colours by a prior measured on the data; a fine-tuned model
    # keeps the prior it was trained with, and a resumed run restores it from its checkpoint
    if (
        getattr(model.config, "objective", "regression") != "regression"
        and not resuming
        and options.model in colorizers.list_models()
    ):
        if streaming:
            raise TrainingSetupError(
                "classification objectives measure a colour prior: not available with --streaming"
            )
        prior = measure_color_prior(model, train_dataset, options.color_prior_samples)
        color_distribution(model)[0].set_color_prior(prior)
        logger.info(
            "colour prior measured on %d crops: %d of %d ab bins seen",
            min(len(train_dataset), options.color_prior_samples),
            int((prior > 1e-4).sum()),
            prior.numel(),
        )
    if options.channels_last(mixed_precision):
        model = model.to(memory_format=torch.channels_last)
    return model.train()


def resume_or_start(accelerator, checkpoint: Path | None, run: RunOptions, output_dir: Path, metrics: MetricsLog):
    """Restore model, optimizers, schedules, RNG, EMA and the position in the epoch from ``checkpoint`` and
    return its training state; or start afresh (None), forgetting an earlier run's records and checkpoints."""
    if checkpoint is not None:
        state = load_checkpoint(accelerator, checkpoint)
        logger.info(
            "resumed from %s at step %d (epoch %d, batch %d)",
            checkpoint,
            state["global_step"],
            state["epoch"],
            state["batches_in_epoch"],
        )
        metrics.restart(after_step=state["global_step"])  # forget what happened after the checkpoint
        return state
    if run.resume_from_checkpoint:
        logger.info("no complete checkpoint in %s: starting from scratch", output_dir / "checkpoints")
    metrics.restart()
    if accelerator.is_main_process:
        shutil.rmtree(output_dir / "checkpoints", ignore_errors=True)  # --overwrite_output_dir, or partial ones
    return None


def log_progress(metrics: MetricsLog, bar, position: RunProgress, parts: Trainables, d_loss) -> None:
    """One training record: the mean loss since the last one, learning rate, throughput (and the discriminator's loss)."""
    record = {
        "step": position.global_step,
        "epoch": position.epoch,
        "train_loss": position.take_mean_loss(),
        "lr": parts.optimizer.param_groups[0]["lr"],
        "images_per_second": position.images_per_second(),
    }
    if d_loss is not None:
        record["discriminator_loss"] = float(d_loss.detach())
    metrics(record)
    bar.set_postfix(loss=f"{record['train_loss']:.4g}", lr=f"{record['lr']:.2e}")
    logger.info(
        "step %d: loss %.5f, lr %.2e, %.1f images/s",
        record["step"],
        record["train_loss"],
        record["lr"],
        record["images_per_second"],
    )


def validate(
    accelerator,
    parts: Trainables,
    eval_loader,
    processor,
    metrics: MetricsLog,
    target: str,
    step: int,
    run: RunOptions,
    output_dir: Path,
) -> None:
    """Validation during the run, of the weights users would get (the EMA's when there is one), through the
    processor's post-processing as in ``colorize()``: scores, a sample grid, and the plateau schedules' step."""
    scores, grid = evaluate(
        accelerator,
        parts.evaluated,
        eval_loader,
        processor,
        labels_key=target,
        num_grid_images=run.num_validation_images,
    )
    metrics({"step": step, "eval": scores})
    logger.info("step %d validation: %s", step, format_scores(scores))
    if accelerator.is_main_process:
        save_grid(grid, output_dir / "samples" / f"step-{step:07d}.png")
    for plateau in parts.plateaus:
        plateau.step(scores["loss"])


def command_line(argv: list[str] | None) -> str:
    """The command that reproduces the run, as its model card shows it."""
    return "accelerate launch train/train.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )


# ----------------------------------------------------------------------------------------------
# main
# ----------------------------------------------------------------------------------------------


@exit_2_on_setup_errors
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    model_options, data_options, optimization, run = options_from_args(args)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    output_dir = Path(run.output_dir).expanduser()
    checkpoint = checkpoint_to_resume(output_dir, run.resume_from_checkpoint, overwrite=run.overwrite_output_dir)
    accelerator = make_accelerator(optimization, run, output_dir)
    set_seed(run.seed)  # before the model exists: its initialisation is part of the run

    # --- model before the data: cheap, and the common mistakes (name, resolution) surface before any data work
    model, loss_name = build_training_model(model_options)
    if note := fresh_preset_note(model_options.model):
        logger.info(note)
    resolution = model_options.resolution or int(model.config.image_size)
    processor = colorizers.ColorizerImageProcessor(size={"longest_edge": resolution})

    # --- data; image classes shape the semantic head, so the model is rebuilt with them
    splits = load_data(accelerator, data_options, run.seed)
    model, classes = add_semantic_head(model, loss_name, splits, model_options, data_options.label_column, run.seed)
    train_dataset, train_loader, eval_loader = make_loaders(
        splits, data_options, resolution=resolution, seed=run.seed, classes=classes
    )

    # --- model extras: pretrained backbone, gradient checkpointing, colour prior, memory format, discriminator
    model = prepare_model(
        model,
        model_options,
        accelerator=accelerator,
        train_dataset=train_dataset,
        streaming=data_options.streaming,
        resuming=checkpoint is not None,
        mixed_precision=optimization.mixed_precision,
    )
    discriminator = build_discriminator(model_options.config_overrides).train() if loss_name == "gan" else None
    settings = StepSettings.for_run(model.config, model_options, optimization, seed=run.seed)

    # --- optimizers, schedules and EMA, prepared by accelerate with the model and loaders
    total_steps = optimization.total_steps(train_loader, accelerator.num_processes)
    parts, train_loader, eval_loader = prepare_training(
        accelerator, model, discriminator, train_loader, eval_loader, optimization, total_steps
    )
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        config = {**vars(args), "max_train_steps": total_steps}
        accelerator.init_trackers(
            "colorizers", config={k: v for k, v in config.items() if isinstance(v, (int, float, str, bool))}
        )

    # --- resume (model, optimizers, schedules, RNG, EMA and the position in the epoch), or start afresh
    metrics = MetricsLog(accelerator, output_dir / "metrics.jsonl")
    state = resume_or_start(accelerator, checkpoint, run, output_dir, metrics)

    # --- loop; SIGTERM/SIGINT ask for a checkpoint at the next step boundary
    stop = StopRequest()
    logger.info(
        "training %s (%s loss) at %dx%d on %s images, %d processes x batch %d x accumulation %d, %d steps",
        model_options.model,
        loss_name,
        resolution,
        resolution,
        len(train_dataset) if not data_options.streaming else "streamed",
        accelerator.num_processes,
        data_options.train_batch_size,
        optimization.gradient_accumulation_steps,
        total_steps,
    )
    position = RunProgress.from_state(state)
    bar = tqdm(
        total=total_steps, initial=position.global_step, desc="steps", disable=not accelerator.is_local_main_process
    )
    stopped_by, out_of_time = None, False
    while position.global_step < total_steps and stopped_by is None and not out_of_time:
        train_dataset.set_epoch(position.epoch)
        if hasattr(train_loader, "set_epoch"):
            train_loader.set_epoch(position.epoch)
        skip = position.batches_in_epoch  # a resumed epoch continues where its checkpoint was
        for batch in accelerator.skip_first_batches(train_loader, skip) if skip else train_loader:
            loss, d_loss = training_step(
                accelerator, parts, batch, settings, step=position.global_step, batch_index=position.batches_in_epoch
            )
            position.count_batch(loss, batch["pixel_values"].shape[0] * accelerator.num_processes)
            if not accelerator.sync_gradients:
                continue
            position.global_step += 1
            step = position.global_step
            bar.update(1)
            if run.log_due(step, total_steps):
                log_progress(metrics, bar, position, parts, d_loss)
            if run.validation_due(step, total_steps):
                validate(
                    accelerator, parts, eval_loader, processor, metrics, settings.labels_key, step, run, output_dir
                )
            # after validation, so a resumed run continues from the very same state
            stopping = stop.requested_anywhere(accelerator)
            # every process ends at the same step: the slowest one's clock decides
            if optimization.max_train_minutes is not None:
                out_of_time = past_time_limit(accelerator, position.train_seconds(), optimization.max_train_minutes)
            if stopping or out_of_time or run.checkpoint_due(step, total_steps):
                save_checkpoint(accelerator, output_dir, position.state(), run.checkpoints_total_limit, parts.model)
            if stopping:
                stopped_by = stop.name or "a signal on another process"
                break
            if step >= total_steps or out_of_time:
                break
        position.next_epoch()
    bar.close()
    train_seconds = position.train_seconds()
    if stopped_by:
        logger.info(
            "stopped by %s at step %d; continue with --resume_from_checkpoint latest", stopped_by, position.global_step
        )
        end_training(accelerator, parts)
        return 0

    # --- final validation, save, card, push
    rank_checksums = replica_checksums(accelerator, parts.model)
    if len(set(rank_checksums)) > 1:
        logger.warning("model replicas differ across processes: weight checksums %s", rank_checksums)
    final_model = parts.ema.model if parts.ema is not None else accelerator.unwrap_model(parts.model)
    final_scores, grid = evaluate(
        accelerator,
        final_model,
        eval_loader,
        processor,
        labels_key=settings.labels_key,
        num_grid_images=run.num_validation_images,
        with_gray_baseline=True,
    )
    metrics({"step": position.global_step, "eval": final_scores})
    logger.info("final validation: %s", json.dumps(final_scores))
    if accelerator.is_main_process:
        records = metrics.records()
        results = training_results(
            final_scores,
            splits,
            command=command_line(argv),
            preset=model_options.model,
            data=data_options,
            optimization=optimization,
            seed=run.seed,
            resolution=resolution,
            loss=loss_name,
            steps=position.global_step,
            images_seen=position.images_seen,
            train_seconds=train_seconds,
            num_processes=accelerator.num_processes,
            mixed_precision=accelerator.mixed_precision,
            rank_checksums=rank_checksums,
            records=records,
        )
        save_model_repository(
            output_dir,
            final_model,
            processor,
            results=results,
            grid=grid,
            records=records,
            discriminator=accelerator.unwrap_model(parts.discriminator) if parts.discriminator is not None else None,
            preset_name=model_options.model if model_options.model in colorizers.list_models() else None,
        )
        if run.push_to_hub:
            from colorizers.hub.publish import push_to_hub

            push_to_hub(output_dir, run.hub_model_id, private=run.hub_private, revision=run.hub_revision)
    accelerator.wait_for_everyone()
    end_training(accelerator, parts)
    return 0


if __name__ == "__main__":
    sys.exit(main())

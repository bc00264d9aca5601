#!/usr/bin/env python
"""Train a colorizers model with Accelerate: one CPU, one GPU, many GPUs or many nodes.

    accelerate launch train/train.py --model unet --train_data_dir ~/photos --output_dir runs/unet \
        --resolution 256 --loss l1 --mixed_precision bf16 --checkpointing_steps 500
    accelerate launch train/train.py ... --resume_from_checkpoint latest
    python train/train.py ...            # one process, CPU or one GPU

``main()`` reads top to bottom: arguments, model, accelerator, data, optimizers, resume, loop (with
checkpoints and validation), final save and push. What it builds on is library code: data splits in
``colorizers.training.data``, samples in ``colorizers.training.samples``, setup, checkpoints and validation in
``colorizers.training``, so what is trained and measured here is exactly what users run.

At the end ``--output_dir`` is a complete Hub repository: config.json, model.safetensors,
preprocessor_config.json, README.md (model card with the measured validation scores),
eval_results.json, sample_grid.png, loss_curves.png, metrics.jsonl (and discriminator/ for GANs).
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import math
import shlex
import shutil
import sys
import time
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import DataLoaderConfiguration, ProjectConfiguration, set_seed
from tqdm.auto import tqdm

import colorizers
from colorizers.evaluation.metrics import GRAY_CHROMA_THRESHOLD, GRAY_MAX_SHARE
from colorizers.losses import (
    discriminator_loss,
    frozen_forward,
    generator_adversarial_loss,
)
from colorizers.objectives import color_distribution
from colorizers.training import (
    LOSSES,
    CheckpointError,
    MetricsLog,
    StopRequest,
    TrainingSetupError,
    build_discriminator,
    build_model,
    build_optimizer,
    build_scheduler,
    complete_checkpoints,
    configure_loss,
    evaluate,
    format_scores,
    ignore_stop_signals,
    is_plateau,
    labels_key,
    load_checkpoint,
    measure_color_prior,
    model_inputs,
    plot_loss_curves,
    prepare_backbone,
    resolve_checkpoint,
    save_checkpoint,
    save_grid,
    step_hints,
)
from colorizers.training.data import DataError, class_labels, load_training_splits
from colorizers.training.ema import ExponentialMovingAverage
from colorizers.training.samples import Augmentation, collate, colorization_dataset

logger = get_logger("colorizers.train")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train a colorizers model.")
    model = parser.add_argument_group("model")
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

    data = parser.add_argument_group("data")
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

    train = parser.add_argument_group("training")
    train.add_argument("--output_dir", required=True)
    train.add_argument("--loss", choices=LOSSES, default=None, help="default: the family's (its seed report's)")
    train.add_argument(
        "--gan_l1_weight", type=float, default=None, help="lambda of BCE + lambda * L1 (default: the config's)"
    )
    train.add_argument(
        "--gan_warmup_steps", type=int, default=0, help="L1-only generator steps before the adversarial term"
    )
    train.add_argument("--optimizer", choices=("adam", "adamw", "rmsprop"), default="adam")
    train.add_argument("--learning_rate", type=float, default=5e-4)
    train.add_argument("--discriminator_learning_rate", type=float, default=None, help="default: --learning_rate")
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
        help="bf16 runs on CPUs with AMX or AVX-512 BF16 too (6-9x fp32's speed on conv nets there)",
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

    runs = parser.add_argument_group("checkpoints, evaluation, logging")
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
    args = parser.parse_args(argv)

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
    if problems:
        parser.exit(2, "error: " + "; ".join(problems) + "\n")
    return args


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


@exit_2_on_setup_errors
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    output_dir = Path(args.output_dir).expanduser()
    if complete_checkpoints(output_dir) and not args.resume_from_checkpoint and not args.overwrite_output_dir:
        raise TrainingSetupError(
            f"{output_dir} already holds checkpoints of a run: continue it with --resume_from_checkpoint latest, "
            "or start over with --overwrite_output_dir (its checkpoints are then replaced)"
        )
    checkpoint = resolve_checkpoint(args.resume_from_checkpoint, output_dir) if args.resume_from_checkpoint else None
    set_seed(args.seed)  # before the model exists: its initialisation is part of the run

    # --- model first: cheap, and the most common mistakes (name, resolution) surface before any data work
    overrides = json.loads(args.config_overrides) if args.config_overrides else {}
    model, default_loss = build_model(
        args.model, overrides=overrides, resolution=args.resolution, objective=args.objective
    )
    loss_name = args.loss or default_loss
    configure_loss(model.config, loss_name)
    resolution = args.resolution or int(model.config.image_size)
    target = labels_key(model.config)  # what the model predicts: ab, or RGB
    gan_l1_weight = (
        args.gan_l1_weight if args.gan_l1_weight is not None else float(getattr(model.config, "gan_l1_weight", 100.0))
    )
    processor = colorizers.ColorizerImageProcessor(size={"longest_edge": resolution})

    # --- accelerator
    accelerator = Accelerator(
        # with no GPU, say so: accelerate 1.15 then runs a multi-process launch as MULTI_CPU over gloo
        # instead of N unrelated single processes
        cpu=not torch.accelerator.is_available(),
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        mixed_precision=args.mixed_precision,
        log_with=None if args.report_to == "none" else args.report_to,
        project_config=ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(output_dir / "logs")),
        # the shuffle order is a function of (seed, epoch): resuming mid-epoch replays it exactly
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
    )
    if not accelerator.is_main_process:  # the script's logger speaks on the main process only; so do the libraries'
        logging.getLogger().setLevel(logging.WARNING)

    # --- data
    with accelerator.main_process_first():  # the image scan is cached: other ranks reuse it
        splits = load_training_splits(
            args.train_data_dir,
            dataset_name=args.dataset_name,
            dataset_config=args.dataset_config,
            image_column=args.image_column,
            validation_data_dir=args.validation_data_dir,
            validation_split_percentage=args.validation_split_percentage,
            streaming=args.streaming,
            max_train_samples=args.max_train_samples,
            max_eval_samples=args.max_eval_samples,
            seed=args.seed,
            chroma_threshold=args.gray_chroma_threshold,
            max_share=None if args.keep_grayscale else args.gray_max_share,
            num_proc=args.preprocessing_num_workers,
            cache_dir=args.cache_dir,
        )
    for side, counts in splits.counts.items():
        if counts:
            logger.info("%s images: %s", side, ", ".join(f"{v} {k}" for k, v in counts.items()))
    if splits.skipped_files:
        logger.warning(
            "%d unreadable data files skipped: %s",
            len(splits.skipped_files),
            "; ".join(f"{item['file']} ({item['reason']})" for item in splits.skipped_files),
        )

    # --- semantic classes: their list shapes the model's semantic head, so the model is rebuilt with it
    classes = None
    if args.label_column:
        if not hasattr(model.config, "semantic_classes"):
            raise TrainingSetupError(f"--label_column: the {model.config.model_type} family has no semantic head")
        classes = class_labels(splits.train, args.label_column)
        if list(model.config.semantic_classes) != classes.names:
            set_seed(args.seed)
            model, _ = build_model(
                args.model,
                overrides={**overrides, "semantic_classes": classes.names},
                resolution=args.resolution,
                objective=args.objective,
            )
            configure_loss(model.config, loss_name)
        logger.info("semantic head over %d classes of column %r", len(classes.names), args.label_column)

    augmentation = Augmentation(
        min_scale=args.random_min_scale, hflip=not args.no_hflip, max_rotation=args.max_rotation
    )
    train_dataset = colorization_dataset(
        splits.train,
        splits.image_column,
        resolution,
        augmentation=augmentation,
        seed=args.seed,
        **(classes.dataset_options(splits.train) if classes else {}),
    )
    eval_dataset = colorization_dataset(
        splits.validation,
        splits.validation_image_column,
        resolution,
        augmentation=None,
        seed=args.seed,
        **(classes.dataset_options(splits.validation) if classes else {}),
    )
    loader_options = {
        "collate_fn": collate,
        "num_workers": args.dataloader_num_workers,
        "pin_memory": torch.cuda.is_available(),
        "worker_init_fn": ignore_stop_signals,
    }
    train_loader = torch.utils.data.DataLoader(
        train_dataset,
        batch_size=args.train_batch_size,
        shuffle=not args.streaming,
        drop_last=True,
        generator=torch.Generator().manual_seed(args.seed),
        **loader_options,
    )
    eval_loader = torch.utils.data.DataLoader(
        eval_dataset, batch_size=args.eval_batch_size, shuffle=False, **loader_options
    )
    if not args.streaming and len(train_loader) == 0:
        raise TrainingSetupError(
            f"{len(train_dataset)} training images is fewer than one batch of {args.train_batch_size} per process"
        )

    # --- model extras: pretrained backbone, gradient checkpointing, colour prior, hints, discriminator
    prepare_backbone(model, pretrained=args.pretrained_backbone, accelerator=accelerator)
    if args.gradient_checkpointing:
        if not model.supports_gradient_checkpointing:
            raise TrainingSetupError(f"--gradient_checkpointing: the {args.model} family does not support it")
        model.gradient_checkpointing_enable()
    # classification objectives weigh rare colours by a prior measured on the data; a fine-tuned model
    # keeps the prior it was trained with, and a resumed run restores it from its checkpoint
    if (
        getattr(model.config, "objective", "regression") != "regression"
        and checkpoint is None
        and args.model in colorizers.list_models()
    ):
        if args.streaming:
            raise TrainingSetupError(
                "classification objectives measure a colour prior: not available with --streaming"
            )
        prior = measure_color_prior(model, train_dataset, args.color_prior_samples)
        color_distribution(model)[0].set_color_prior(prior)
        logger.info(
            "colour prior measured on %d crops: %d of %d ab bins seen",
            min(len(train_dataset), args.color_prior_samples),
            int((prior > 1e-4).sum()),
            prior.numel(),
        )
    if args.memory_format == "channels_last" or (args.memory_format == "auto" and args.mixed_precision == "bf16"):
        model = model.to(memory_format=torch.channels_last)
    hint_probability = args.hint_probability if args.hint_probability is not None else 0.5
    use_hints = bool(getattr(model.config, "use_hints", False)) and hint_probability > 0
    model.train()
    discriminator = build_discriminator(overrides).train() if loss_name == "gan" else None

    # --- optimizers and schedules, prepared by accelerate
    if args.max_train_steps is None:
        updates_per_epoch = math.ceil(len(train_loader) / accelerator.num_processes / args.gradient_accumulation_steps)
        args.max_train_steps = args.num_train_epochs * updates_per_epoch
    schedule = {
        "total_steps": args.max_train_steps,
        "num_processes": accelerator.num_processes,
        "warmup_steps": args.lr_warmup_steps,
        "plateau_factor": args.plateau_factor,
        "plateau_patience": args.plateau_patience,
        "min_learning_rate": args.min_learning_rate,
    }
    optimizer = build_optimizer(args.optimizer, model.parameters(), args.learning_rate, args.weight_decay)
    scheduler = build_scheduler(args.lr_scheduler, optimizer, **schedule)
    model, optimizer, train_loader, eval_loader = accelerator.prepare(model, optimizer, train_loader, eval_loader)
    # a per-update schedule is prepared (it steps with its optimizer); reduce-on-plateau steps with the
    # validation loss, outside accelerate, and is only checkpointed with the rest
    if is_plateau(scheduler):
        accelerator.register_for_checkpointing(scheduler)
    else:
        scheduler = accelerator.prepare(scheduler)
    d_optimizer = d_scheduler = None
    if discriminator is not None:
        d_optimizer = build_optimizer(
            args.optimizer,
            discriminator.parameters(),
            args.discriminator_learning_rate or args.learning_rate,
            args.weight_decay,
        )
        d_scheduler = build_scheduler(args.lr_scheduler, d_optimizer, **schedule)
        discriminator, d_optimizer = accelerator.prepare(discriminator, d_optimizer)
        if is_plateau(d_scheduler):
            accelerator.register_for_checkpointing(d_scheduler)
        else:
            d_scheduler = accelerator.prepare(d_scheduler)
    stepped = [s for s in (scheduler, d_scheduler) if s is not None and not is_plateau(s)]  # at every update
    plateaus = [s for s in (scheduler, d_scheduler) if s is not None and is_plateau(s)]  # at every validation
    ema = None
    if args.ema_decay > 0:
        ema = ExponentialMovingAverage(accelerator.unwrap_model(model), args.ema_decay)
        accelerator.register_for_checkpointing(ema)

    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        accelerator.init_trackers(
            "colorizers", config={k: v for k, v in vars(args).items() if isinstance(v, (int, float, str, bool))}
        )

    # --- resume (model, optimizers, schedules, RNG, EMA and the position in the epoch), or start afresh
    global_step, first_epoch, resume_batches, earlier_images, earlier_seconds = 0, 0, 0, 0, 0.0
    metrics = MetricsLog(accelerator, output_dir / "metrics.jsonl")
    if checkpoint is not None:
        state = load_checkpoint(accelerator, checkpoint)
        global_step, first_epoch, resume_batches = state["global_step"], state["epoch"], state["batches_in_epoch"]
        earlier_images, earlier_seconds = state.get("images_seen", 0), state.get("train_seconds", 0.0)
        logger.info(
            "resumed from %s at step %d (epoch %d, batch %d)", checkpoint, global_step, first_epoch, resume_batches
        )
        metrics.restart(after_step=global_step)  # forget what happened after the checkpoint
    else:
        if args.resume_from_checkpoint:
            logger.info("no complete checkpoint in %s: starting from scratch", output_dir / "checkpoints")
        metrics.restart()
        if accelerator.is_main_process:
            shutil.rmtree(output_dir / "checkpoints", ignore_errors=True)  # --overwrite_output_dir, or partial ones

    # --- loop; SIGTERM/SIGINT ask for a checkpoint at the next step boundary
    stop = StopRequest()
    logger.info(
        "training %s (%s loss) at %dx%d on %s images, %d processes x batch %d x accumulation %d, %d steps",
        args.model,
        loss_name,
        resolution,
        resolution,
        len(train_dataset) if not args.streaming else "streamed",
        accelerator.num_processes,
        args.train_batch_size,
        args.gradient_accumulation_steps,
        args.max_train_steps,
    )
    progress = tqdm(
        total=args.max_train_steps, initial=global_step, desc="steps", disable=not accelerator.is_local_main_process
    )
    running_loss, running_count, images_seen, started = 0.0, 0, 0, time.perf_counter()
    stopped_by = None
    out_of_time = False
    epoch = first_epoch
    while global_step < args.max_train_steps and stopped_by is None and not out_of_time:
        train_dataset.set_epoch(epoch)
        if hasattr(train_loader, "set_epoch"):
            train_loader.set_epoch(epoch)
        batches_in_epoch = resume_batches if epoch == first_epoch else 0
        batches = accelerator.skip_first_batches(train_loader, batches_in_epoch) if batches_in_epoch else train_loader
        for batch in batches:
            with accelerator.accumulate(*(m for m in (model, discriminator) if m is not None)):
                hints = None
                if use_hints:
                    hints = step_hints(
                        batch["labels"],
                        seed=args.seed,
                        step=global_step,
                        batch_index=batches_in_epoch,
                        rank=accelerator.process_index,
                        probability=hint_probability,
                    )
                outputs = model(**model_inputs(batch, accelerator.unwrap_model(model).config, target, hints))
                loss = outputs.loss
                if (
                    discriminator is not None
                ):  # pix2pix: one discriminator update, then BCE + lambda * L1 for the generator
                    fake_ab = colorizers.predicted_ab(outputs)
                    d_loss = discriminator_loss(
                        discriminator(pixel_values=batch["pixel_values"], ab=batch["labels"]).logits,
                        discriminator(pixel_values=batch["pixel_values"], ab=fake_ab.detach()).logits,
                    )
                    accelerator.backward(d_loss)
                    if accelerator.sync_gradients and args.max_grad_norm > 0:
                        accelerator.clip_grad_norm_(discriminator.parameters(), args.max_grad_norm)
                    d_optimizer.step()
                    d_optimizer.zero_grad(set_to_none=True)
                    loss = gan_l1_weight * outputs.loss
                    if global_step >= args.gan_warmup_steps:
                        with accelerator.autocast():
                            judged = frozen_forward(
                                accelerator.unwrap_model(discriminator), pixel_values=batch["pixel_values"], ab=fake_ab
                            )
                        loss = loss + generator_adversarial_loss(judged.logits)
                accelerator.backward(loss)
                if accelerator.sync_gradients and args.max_grad_norm > 0:
                    accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
                optimizer.step()
                for each in stepped:
                    each.step()
                optimizer.zero_grad(set_to_none=True)
                if ema is not None and accelerator.sync_gradients:
                    ema.update(accelerator.unwrap_model(model))
            batches_in_epoch += 1
            running_loss += outputs.loss.detach().float().item()
            running_count += 1
            images_seen += batch["pixel_values"].shape[0] * accelerator.num_processes
            if not accelerator.sync_gradients:
                continue
            global_step += 1
            progress.update(1)

            if global_step % args.logging_steps == 0 or global_step == args.max_train_steps:
                record = {
                    "step": global_step,
                    "epoch": epoch,
                    "train_loss": running_loss / running_count,
                    "lr": optimizer.param_groups[0]["lr"],
                    "images_per_second": images_seen / (time.perf_counter() - started),
                }
                if discriminator is not None:
                    record["discriminator_loss"] = float(d_loss.detach())
                metrics(record)
                progress.set_postfix(loss=f"{record['train_loss']:.4g}", lr=f"{record['lr']:.2e}")
                logger.info(
                    "step %d: loss %.5f, lr %.2e, %.1f images/s",
                    global_step,
                    record["train_loss"],
                    record["lr"],
                    record["images_per_second"],
                )
                running_loss, running_count = 0.0, 0

            if global_step % args.validation_steps == 0 and global_step < args.max_train_steps:
                scores, grid = evaluate(
                    accelerator,
                    ema.model if ema else model,
                    eval_loader,
                    processor,
                    labels_key=target,
                    num_grid_images=args.num_validation_images,
                )
                metrics({"step": global_step, "eval": scores})
                logger.info("step %d validation: %s", global_step, format_scores(scores))
                if accelerator.is_main_process:
                    save_grid(grid, output_dir / "samples" / f"step-{global_step:07d}.png")
                for plateau in plateaus:
                    plateau.step(scores["loss"])

            # after validation, so a resumed run continues from the very same state
            if stop.name is not None:
                accelerator.set_trigger()
            stopping = accelerator.check_trigger()  # a signal on any process stops them all
            if args.max_train_minutes is not None:  # every process ends at the same step: the slowest one's clock
                spent = earlier_seconds + time.perf_counter() - started
                clock = accelerator.reduce(torch.tensor([spent], device=accelerator.device), reduction="max")
                out_of_time = float(clock.item()) >= args.max_train_minutes * 60
            if (
                stopping
                or out_of_time
                or global_step % args.checkpointing_steps == 0
                or global_step == args.max_train_steps
            ):
                state = {
                    "global_step": global_step,
                    "epoch": epoch,
                    "batches_in_epoch": batches_in_epoch,
                    "images_seen": earlier_images + images_seen,
                    "train_seconds": round(earlier_seconds + time.perf_counter() - started, 1),
                }
                save_checkpoint(accelerator, output_dir, state, args.checkpoints_total_limit, model)
            if stopping:
                stopped_by = stop.name or "a signal on another process"
                break
            if global_step >= args.max_train_steps or out_of_time:
                break
        epoch += 1
    progress.close()
    train_seconds = time.perf_counter() - started
    if stopped_by:
        logger.info("stopped by %s at step %d; continue with --resume_from_checkpoint latest", stopped_by, global_step)
        accelerator.end_training()
        return 0

    # --- final validation, save, card, push
    # DDP keeps replicas identical by construction; checking it costs one all-gather and catches
    # silent divergence (a rank skipping an update, non-synced buffers) before it is published.
    checksum = torch.stack(
        [
            p.detach().double().sum()
            for p in accelerator.unwrap_model(model).state_dict().values()
            if p.is_floating_point()
        ]
    ).sum()
    rank_checksums = accelerator.gather(checksum.reshape(1).to(accelerator.device)).tolist()
    if len(set(rank_checksums)) > 1:
        logger.warning("model replicas differ across processes: weight checksums %s", rank_checksums)
    final_model = ema.model if ema is not None else accelerator.unwrap_model(model)
    final_scores, grid = evaluate(
        accelerator,
        final_model,
        eval_loader,
        processor,
        labels_key=target,
        num_grid_images=args.num_validation_images,
        with_gray_baseline=True,
    )
    metrics({"step": global_step, "eval": final_scores})
    logger.info("final validation: %s", json.dumps(final_scores))
    if accelerator.is_main_process:
        final_model.save_pretrained(output_dir)
        processor.save_pretrained(output_dir)
        if discriminator is not None:
            accelerator.unwrap_model(discriminator).save_pretrained(output_dir / "discriminator")
        save_grid(grid, output_dir / "sample_grid.png")
        plot_loss_curves(metrics.records(), output_dir / "loss_curves.png")
        command = "accelerate launch train/train.py " + " ".join(
            shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
        )
        measured = {k: v for k, v in final_scores.items() if k not in ("loss", "gray_baseline")}
        results = {
            "evaluations": [
                {
                    "dataset_name": splits.validation_name,
                    "dataset_type": splits.validation_name,
                    "split": "validation",
                    "size": resolution,
                    **measured,
                }
            ],
            "baselines": {"gray": {"dataset_name": splits.validation_name, **final_scores["gray_baseline"]}},
            "training": {
                "command": command,
                "preset": args.model,
                "dataset": args.train_data_dir or args.dataset_name,
                "steps": global_step,
                "resolution": resolution,
                "loss": loss_name,
                "optimizer": args.optimizer,
                "learning_rate": args.learning_rate,
                "lr_scheduler": args.lr_scheduler,
                "batch_size": args.train_batch_size * accelerator.num_processes * args.gradient_accumulation_steps,
                "num_processes": accelerator.num_processes,
                "mixed_precision": accelerator.mixed_precision,
                "images_seen": earlier_images + images_seen,
                "train_seconds": round(earlier_seconds + train_seconds, 1),
                "seed": args.seed,
                "filtered": splits.counts,
                "rank_weight_checksums": rank_checksums,
                "skipped_files": splits.skipped_files,
            },
        }
        from colorizers.hub.eval_results import write_eval_results
        from colorizers.hub.model_card import write_model_card

        write_eval_results(output_dir, results)
        write_model_card(output_dir, preset_name=args.model if args.model in colorizers.list_models() else None)
        if args.push_to_hub:
            from colorizers.hub.publish import push_to_hub

            push_to_hub(output_dir, args.hub_model_id, private=args.hub_private, revision=args.hub_revision)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Train a colorizers model with Accelerate: one CPU, one GPU, many GPUs or many nodes.

    accelerate launch train/train.py --model unet --train_data_dir ~/photos --output_dir runs/unet \
        --resolution 256 --loss l1 --mixed_precision bf16 --checkpointing_steps 500
    accelerate launch train/train.py ... --resume_from_checkpoint latest
    python train/train.py ...            # one process, CPU or one GPU

Reads top to bottom: arguments, accelerator, data, model, optimizer, loop (with checkpoints and
evaluation), final save and push. The shared pieces (data, losses, metrics, colour) live in the
colorizers library, so what is trained and measured here is exactly what users run.

At the end ``--output_dir`` is a complete Hub repository: config.json, model.safetensors,
preprocessor_config.json, README.md (model card with the measured validation scores),
eval_results.json, sample_grid.png, loss_curves.png, metrics.jsonl (and discriminator/ for GANs).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import shlex
import shutil
import signal
import sys
import time
from pathlib import Path

import numpy as np
import torch

import colorizers
from colorizers.color import denormalize_ab, denormalize_lightness, lab_to_rgb_uint8
from colorizers.data import (
    Augmentation,
    ColorizationDataset,
    DataError,
    StreamingColorizationDataset,
    collate,
    class_index,
    class_names,
    filter_images,
    find_image_column,
    load_image_dataset,
)
from colorizers.ema import ExponentialMovingAverage
from colorizers.hints import simulate_hints
from colorizers.losses import discriminator_loss, frozen_forward, generator_adversarial_loss
from colorizers.metrics import GRAY_CHROMA_THRESHOLD, GRAY_MAX_SHARE, colorfulness, psnr, ssim

logger = logging.getLogger("colorizers.train")

LOSSES = ("mse", "l1", "huber", "gan")
CHECKPOINT_PATTERN = re.compile(r"^checkpoint-(\d+)$")


# ----------------------------------------------------------------------------------------------
# Arguments
# ----------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train a colorizers model.")
    model = parser.add_argument_group("model")
    model.add_argument("--model", required=True, help="preset name (see `python -m colorizers list`) or a saved model folder to fine-tune")
    model.add_argument("--config_overrides", default=None, help='JSON of config values to change, e.g. \'{"hidden_sizes": [16, 32, 64]}\'')
    model.add_argument("--pretrained_backbone", action="store_true", help="start the backbone from its ImageNet weights (needs the Hub) and freeze it")
    model.add_argument("--gradient_checkpointing", action="store_true")
    model.add_argument("--objective", choices=("regression", "classification", "hybrid"), default=None,
                       help="colour objective of families that offer it (default: the config's)")

    data = parser.add_argument_group("data")
    data.add_argument("--train_data_dir", default=None, help="image folder (nested ok) or folder of parquet shards")
    data.add_argument("--dataset_name", default=None, help="Hub dataset id")
    data.add_argument("--dataset_config", default=None)
    data.add_argument("--image_column", default=None, help="default: the first image column")
    data.add_argument("--label_column", default=None, help="image classes for the semantic head (e.g. label)")
    data.add_argument("--validation_data_dir", default=None)
    data.add_argument("--validation_split_percentage", type=float, default=5.0, help="used when the data has no validation split")
    data.add_argument("--streaming", action="store_true", help="stream the training data (needs --max_train_steps)")
    data.add_argument("--max_train_samples", type=int, default=None)
    data.add_argument("--max_eval_samples", type=int, default=512)
    data.add_argument("--resolution", type=int, default=None, help="training crop size (default: the model's image_size)")
    data.add_argument("--random_min_scale", type=float, default=0.5, help="smallest random crop, as a share of the image area")
    data.add_argument("--no_hflip", action="store_true")
    data.add_argument("--max_rotation", type=float, default=0.0, help="random rotation range in degrees (seed 5 used small rotations)")
    data.add_argument("--gray_chroma_threshold", type=float, default=GRAY_CHROMA_THRESHOLD)
    data.add_argument("--gray_max_share", type=float, default=GRAY_MAX_SHARE, help="drop images neutral on more than this share of pixels")
    data.add_argument("--keep_grayscale", action="store_true", help="disable the grayscale filter")
    data.add_argument("--dataloader_num_workers", type=int, default=0)
    data.add_argument("--preprocessing_num_workers", type=int, default=None)
    data.add_argument("--cache_dir", default=None)

    train = parser.add_argument_group("training")
    train.add_argument("--output_dir", required=True)
    train.add_argument("--loss", choices=LOSSES, default=None, help="default: the family's (its seed report's)")
    train.add_argument("--gan_l1_weight", type=float, default=None, help="lambda of BCE + lambda * L1 (default: the config's)")
    train.add_argument("--gan_warmup_steps", type=int, default=0, help="L1-only generator steps before the adversarial term")
    train.add_argument("--optimizer", choices=("adam", "adamw", "rmsprop"), default="adam")
    train.add_argument("--learning_rate", type=float, default=5e-4)
    train.add_argument("--discriminator_learning_rate", type=float, default=None, help="default: --learning_rate")
    train.add_argument("--weight_decay", type=float, default=0.0)
    train.add_argument("--lr_scheduler", choices=("constant", "cosine", "plateau"), default="constant")
    train.add_argument("--lr_warmup_steps", type=int, default=0)
    train.add_argument("--plateau_factor", type=float, default=0.5)
    train.add_argument("--plateau_patience", type=int, default=2, help="evaluations without improvement before the rate drops")
    train.add_argument("--min_learning_rate", type=float, default=1e-6, help="floor of the plateau schedule")
    train.add_argument("--train_batch_size", type=int, default=16, help="per process")
    train.add_argument("--eval_batch_size", type=int, default=32, help="per process")
    train.add_argument("--gradient_accumulation_steps", type=int, default=1)
    train.add_argument("--max_grad_norm", type=float, default=1.0, help="0 disables clipping")
    train.add_argument("--num_train_epochs", type=int, default=10)
    train.add_argument("--max_train_steps", type=int, default=None, help="overrides --num_train_epochs")
    train.add_argument("--mixed_precision", choices=("no", "fp16", "bf16"), default=None)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--ema_decay", type=float, default=0.0, help="weight EMA for evaluation and the saved model (0 = off)")
    train.add_argument("--hint_probability", type=float, default=None,
                       help="share of images shown random colour hints (models with hint inputs; default 0.5)")
    train.add_argument("--color_prior_samples", type=int, default=4000,
                       help="training images the colour prior of classification objectives is measured on")

    runs = parser.add_argument_group("checkpoints, evaluation, logging")
    runs.add_argument("--checkpointing_steps", type=int, default=500)
    runs.add_argument("--checkpoints_total_limit", type=int, default=3)
    runs.add_argument("--resume_from_checkpoint", default=None, help='"latest" or a checkpoint folder')
    runs.add_argument("--overwrite_output_dir", action="store_true", help="start over in a folder that holds an earlier run's checkpoints")
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
    for name in ("train_batch_size", "eval_batch_size", "gradient_accumulation_steps", "checkpointing_steps", "validation_steps", "logging_steps", "num_train_epochs"):
        if getattr(args, name) < 1:
            problems.append(f"--{name} must be at least 1")
    if args.max_train_steps is not None and args.max_train_steps < 1:
        problems.append("--max_train_steps must be at least 1")
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
    if problems:
        parser.exit(2, "error: " + "; ".join(problems) + "\n")
    return args


def ignore_stop_signals(_worker_id: int) -> None:
    """Data-loader workers leave SIGTERM/SIGINT to the main process.

    Preemption (SLURM, Kubernetes) and Ctrl-C signal the whole process group; a worker dying of it
    would crash the main process before it could write its checkpoint.
    """
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def fail(message: str) -> None:
    """One clear line and exit code 2: for problems found before any heavy work."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


# ----------------------------------------------------------------------------------------------
# Model, optimizers, schedules
# ----------------------------------------------------------------------------------------------


def build_model(args: argparse.Namespace, extra_overrides: dict | None = None):
    """The colorizer to train (and the family's declared default loss), or exit 2 with the reason."""
    overrides = {}
    if args.config_overrides:
        try:
            overrides = json.loads(args.config_overrides)
        except json.JSONDecodeError as error:
            fail(f"--config_overrides is not valid JSON: {error}")
    if args.resolution is not None:
        overrides["image_size"] = args.resolution
    overrides.update(extra_overrides or {})
    is_preset = args.model in colorizers.list_models()
    if args.objective is not None and is_preset:
        if not hasattr(colorizers.get_preset(args.model).make_config(), "objective"):
            fail(f"--objective: the {args.model} family has no choice of colour objective")
        overrides["objective"] = args.objective
    try:
        if is_preset:
            model = colorizers.create_model(args.model, **overrides)
        elif Path(args.model).expanduser().is_dir():
            model = colorizers.load_model(str(Path(args.model).expanduser())).train()
            # the objective and the class list shape the model's layers: a saved model keeps its own
            if args.objective is not None and getattr(model.config, "objective", None) != args.objective:
                fail(f"{args.model} was not trained with the {args.objective} objective; fine-tuning keeps a model's objective")
            classes = overrides.pop("semantic_classes", None)
            if classes is not None and list(getattr(model.config, "semantic_classes", [])) != list(classes):
                fail(f"{args.model} was trained on other image classes than --label_column's; fine-tuning keeps them")
            for key, value in overrides.items():
                setattr(model.config, key, value)
            model.config.validate()
        else:
            fail(f"unknown model {args.model!r}: not a preset ({', '.join(colorizers.list_models())}) nor a saved model folder")
    except colorizers.ModelLoadError as error:
        fail(str(error))
    except Exception as error:  # config validation: strict dataclasses raise their own error types
        message = str(error).strip().replace("\n", " ")
        fail(f"model {args.model!r} cannot be built with these settings (resolution {args.resolution}): {message}")
    default_loss = "gan" if getattr(model.config, "training_objective", "regression") == "gan" else model.config.loss_type
    return model, default_loss


def configure_loss(config, loss_name: str) -> None:
    """Write the chosen loss into the config: a regression loss, or the GAN (BCE + lambda * L1 on top)."""
    if loss_name in ("mse", "l1", "huber"):
        config.loss_type = loss_name
    else:  # conditional GAN: BCE + lambda * L1, the L1 being the model's own reconstruction loss
        config.loss_type = "l1"
        if hasattr(config, "training_objective"):
            config.training_objective = "gan"


def measure_color_prior(model, dataset, num_samples: int) -> torch.Tensor:
    """The empirical ab-bin distribution of ``num_samples`` training crops (evenly spread over the data),
    on the grid the classification loss sees, smoothed as in Zhang et al. 2016."""
    from colorizers.objectives import bin_histogram, pool_labels, smooth_prior

    centers = model.ab_bins.detach().cpu()
    stride = int(model.config.output_stride)
    counts = torch.zeros(centers.shape[0], dtype=torch.float64)
    step = max(1, len(dataset) // num_samples)
    pooled = []
    for index in range(0, min(len(dataset), step * num_samples), step):
        labels = dataset[index]["labels"][None]
        grid = (max(1, labels.shape[-2] // stride), max(1, labels.shape[-1] // stride))
        pooled.append(pool_labels(labels, grid).permute(0, 2, 3, 1).reshape(-1, 2) * colorizers.AB_SCALE)
        if len(pooled) == 256:  # one distance matrix per 256 crops: far fewer, larger kernels
            counts += bin_histogram(torch.cat(pooled), centers)
            pooled = []
    if pooled:
        counts += bin_histogram(torch.cat(pooled), centers)
    return smooth_prior(counts, centers, float(model.config.soft_encoding_sigma))


def model_inputs(batch: dict, config, labels_key: str, hints=None) -> dict:
    """The keyword arguments of one training forward: L, target, and the extras the family takes."""
    inputs = {"pixel_values": batch["pixel_values"], "labels": batch[labels_key]}
    if "class_labels" in batch and getattr(config, "semantic_classes", None):
        inputs["class_labels"] = batch["class_labels"]
    if hints is not None:
        inputs["hint_ab"], inputs["hint_mask"] = hints
    return inputs


def build_discriminator(args: argparse.Namespace):
    from colorizers.models.discriminator import ColorizerDiscriminatorConfig, ColorizerDiscriminatorModel

    overrides = json.loads(args.config_overrides).get("discriminator", {}) if args.config_overrides else {}
    return ColorizerDiscriminatorModel(ColorizerDiscriminatorConfig(**overrides))


def build_optimizer(name: str, parameters, learning_rate: float, weight_decay: float) -> torch.optim.Optimizer:
    parameters = [p for p in parameters if p.requires_grad]
    if name == "adamw":
        return torch.optim.AdamW(parameters, lr=learning_rate, weight_decay=weight_decay)
    if name == "rmsprop":  # seed 2's optimizer
        return torch.optim.RMSprop(parameters, lr=learning_rate, weight_decay=weight_decay)
    return torch.optim.Adam(parameters, lr=learning_rate, weight_decay=weight_decay)


def build_scheduler(args: argparse.Namespace, optimizer: torch.optim.Optimizer, total_steps: int, num_processes: int):
    """constant / cosine with warm-up (stepped per update), or reduce-on-plateau with a floor (per evaluation)."""
    if args.lr_scheduler == "plateau":  # seed 4
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=args.plateau_factor, patience=args.plateau_patience, min_lr=args.min_learning_rate
        )
    from transformers import get_scheduler

    # An accelerate-prepared scheduler steps once per process at each update.
    name = "cosine" if args.lr_scheduler == "cosine" else "constant_with_warmup"
    return get_scheduler(
        name,
        optimizer=optimizer,
        num_warmup_steps=args.lr_warmup_steps * num_processes,
        num_training_steps=total_steps * num_processes,
    )


# ----------------------------------------------------------------------------------------------
# Checkpoints: atomic (written under a temporary name, renamed when complete)
# ----------------------------------------------------------------------------------------------


def complete_checkpoints(output_dir: Path) -> list[Path]:
    """Checkpoint folders that finished writing, oldest first."""
    folder = output_dir / "checkpoints"
    found = []
    for path in folder.iterdir() if folder.is_dir() else []:
        match = CHECKPOINT_PATTERN.match(path.name)
        if match and (path / "training_state.json").is_file():
            found.append((int(match.group(1)), path))
    return [path for _, path in sorted(found)]


def resolve_checkpoint(value: str, output_dir: Path) -> Path | None:
    if value == "latest":
        checkpoints = complete_checkpoints(output_dir)
        return checkpoints[-1] if checkpoints else None
    path = Path(value).expanduser()
    if not (path / "training_state.json").is_file():
        fail(f"{path} is not a complete checkpoint (no training_state.json)")
    return path


def save_checkpoint(accelerator, output_dir: Path, state: dict, total_limit: int, model) -> Path:
    folder = output_dir / "checkpoints"
    final = folder / f"checkpoint-{state['global_step']}"
    staging = folder / f".tmp-checkpoint-{state['global_step']}"
    if accelerator.is_main_process:
        shutil.rmtree(staging, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(staging))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        # with its config beside the weights, a checkpoint also loads with AutoModel.from_pretrained
        accelerator.unwrap_model(model).config.save_pretrained(staging)
        (staging / "training_state.json").write_text(json.dumps(state, indent=2))
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)  # the moment the checkpoint becomes visible to "latest"
        for old in complete_checkpoints(output_dir)[:-total_limit]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


# ----------------------------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------------------------


def to_rgb_uint8(pixel_values: torch.Tensor, ab: torch.Tensor) -> list[np.ndarray]:
    """Normalised L and ab batches -> RGB uint8 images, exactly as the inference pipeline joins them."""
    lightness = denormalize_lightness(pixel_values.float().cpu().numpy()[:, 0])
    ab = denormalize_ab(ab.float().cpu().numpy()).transpose(0, 2, 3, 1)
    return [lab_to_rgb_uint8(np.dstack([light, chroma])) for light, chroma in zip(lightness, ab)]


def image_scores(prediction: np.ndarray, reference: np.ndarray) -> list[float]:
    reference_cf = colorfulness(reference)
    prediction_cf = colorfulness(prediction)
    return [psnr(prediction, reference), ssim(prediction, reference), prediction_cf, reference_cf, reference_cf - prediction_cf]


SCORE_NAMES = ("psnr", "ssim", "colorfulness", "reference_colorfulness", "colorfulness_gap")


@torch.no_grad()
def evaluate(accelerator, model, eval_loader, labels_key: str, num_grid_images: int, with_gray_baseline: bool = False):
    """Scores over every validation image exactly once (gathered across processes), mean loss, grid rows."""
    model.eval()
    rows, gray_rows, losses, grid = [], [], [], []
    for batch in eval_loader:
        outputs = model(pixel_values=batch["pixel_values"], labels=batch[labels_key])
        predictions = to_rgb_uint8(batch["pixel_values"], colorizers.predicted_ab(outputs))
        references = [(image.float().cpu().numpy().transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8) for image in batch["rgb"]]
        scores = [image_scores(p, r) for p, r in zip(predictions, references)]
        device = batch["pixel_values"].device
        rows.append(accelerator.gather_for_metrics(torch.tensor(scores, dtype=torch.float64, device=device)))
        batch_loss = outputs.loss.detach().double().reshape(1).repeat(len(predictions))
        losses.append(accelerator.gather_for_metrics(batch_loss))
        if with_gray_baseline:
            gray = to_rgb_uint8(batch["pixel_values"], torch.zeros_like(batch["labels"]))
            gray_scores = [image_scores(g, r) for g, r in zip(gray, references)]
            gray_rows.append(accelerator.gather_for_metrics(torch.tensor(gray_scores, dtype=torch.float64, device=device)))
        if len(grid) < num_grid_images and accelerator.is_main_process:
            for light, prediction, reference in zip(to_rgb_uint8(batch["pixel_values"], torch.zeros_like(batch["labels"])), predictions, references):
                if len(grid) < num_grid_images:
                    grid.append(np.concatenate([light, prediction, reference], axis=1))
    model.train()
    scores = torch.cat(rows).cpu().numpy()
    result = {name: float(np.mean(scores[:, i])) for i, name in enumerate(SCORE_NAMES)}
    result["num_images"] = int(scores.shape[0])
    result["loss"] = float(torch.cat(losses).mean())
    if with_gray_baseline:
        gray = torch.cat(gray_rows).cpu().numpy()
        result["gray_baseline"] = {name: float(np.mean(gray[:, i])) for i, name in enumerate(SCORE_NAMES)}
    return result, grid


def save_grid(rows: list[np.ndarray], path: Path) -> None:
    """Rows of (gray | prediction | truth), scaled up so small training crops stay visible."""
    from PIL import Image

    if not rows:
        return
    grid = np.concatenate(rows, axis=0)
    scale = max(1, 256 // rows[0].shape[0])
    image = Image.fromarray(grid)
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def plot_loss_curves(metrics_path: Path, output_path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logger.warning("matplotlib is not installed: no loss_curves.png (pip install 'colorizers[train]')")
        return
    records = [json.loads(line) for line in metrics_path.read_text().splitlines() if line.strip()]
    train = [(r["step"], r["train_loss"]) for r in records if "train_loss" in r]
    evals = [(r["step"], r["eval"]) for r in records if "eval" in r]
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    if train:
        axes[0].plot(*zip(*train), label="train loss", linewidth=1)
    if evals:
        axes[0].plot([s for s, _ in evals], [e["loss"] for _, e in evals], "o-", label="validation loss")
        axes[1].plot([s for s, _ in evals], [e["psnr"] for _, e in evals], "o-", label="PSNR (dB)")
        if "gray_baseline" in evals[-1][1]:
            axes[1].axhline(evals[-1][1]["gray_baseline"]["psnr"], color="gray", linestyle="--", label="gray baseline")
    axes[0].set_xlabel("step")
    axes[0].set_yscale("log")
    axes[0].legend()
    axes[1].set_xlabel("step")
    axes[1].legend()
    figure.tight_layout()
    figure.savefig(output_path, dpi=100)
    plt.close(figure)


# ----------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    output_dir = Path(args.output_dir).expanduser()
    if complete_checkpoints(output_dir) and not args.resume_from_checkpoint and not args.overwrite_output_dir:
        fail(f"{output_dir} already holds checkpoints of a run: continue it with --resume_from_checkpoint latest, "
             "or start over with --overwrite_output_dir (its checkpoints are then replaced)")

    from accelerate.utils import set_seed

    set_seed(args.seed)  # before the model exists: its initialisation is part of the run

    # --- model first: cheap, and the most common mistakes (name, resolution) surface before any data work
    model, default_loss = build_model(args)
    loss_name = args.loss or default_loss
    resolution = args.resolution or int(model.config.image_size)
    labels_key = "rgb" if getattr(model.config, "output_space", "ab") == "rgb" else "labels"
    configure_loss(model.config, loss_name)
    gan_l1_weight = args.gan_l1_weight if args.gan_l1_weight is not None else float(getattr(model.config, "gan_l1_weight", 100.0))

    # --- accelerator
    from accelerate import Accelerator
    from accelerate.utils import DataLoaderConfiguration, ProjectConfiguration

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
    if not accelerator.is_main_process:
        logging.getLogger().setLevel(logging.WARNING)

    # --- data
    augmentation = Augmentation(min_scale=args.random_min_scale, hflip=not args.no_hflip, max_rotation=args.max_rotation)
    max_share = None if args.keep_grayscale else args.gray_max_share
    try:
        with accelerator.main_process_first():  # the image scan is cached: other ranks reuse it
            raw = load_image_dataset(
                args.train_data_dir, dataset_name=args.dataset_name, dataset_config=args.dataset_config,
                streaming=args.streaming, cache_dir=args.cache_dir,
            )
            train_split = raw["train"] if "train" in raw else raw[next(iter(raw))]
            image_column = find_image_column(train_split, args.image_column)
            if args.validation_data_dir:
                validation_raw = load_image_dataset(args.validation_data_dir, cache_dir=args.cache_dir)
                validation_split = validation_raw[next(iter(validation_raw))]
                validation_name = Path(args.validation_data_dir).name
            elif "validation" in raw:
                validation_split = raw["validation"]
                validation_name = f"{Path(args.train_data_dir or args.dataset_name).name} validation"
            else:
                if args.streaming:
                    fail("--streaming needs a validation split or --validation_data_dir")
                parts = train_split.train_test_split(test_size=args.validation_split_percentage / 100, seed=args.seed)
                train_split, validation_split = parts["train"], parts["test"]
                validation_name = f"{Path(args.train_data_dir or args.dataset_name).name} ({args.validation_split_percentage:g}% held out)"
            if args.max_train_samples and not args.streaming:
                train_split = train_split.select(range(min(args.max_train_samples, len(train_split))))
            elif args.max_train_samples:
                train_split = train_split.take(args.max_train_samples)
            if not args.streaming and args.max_eval_samples:
                validation_split = validation_split.select(range(min(args.max_eval_samples, len(validation_split))))
            elif args.max_eval_samples:
                validation_split = validation_split.take(args.max_eval_samples)
            validation_column = find_image_column(validation_split, args.image_column if args.validation_data_dir is None else None)
            train_split, train_counts = filter_images(
                train_split, image_column, chroma_threshold=args.gray_chroma_threshold, max_share=max_share,
                num_proc=args.preprocessing_num_workers,
            )
            validation_split, validation_counts = filter_images(
                validation_split, validation_column, chroma_threshold=args.gray_chroma_threshold, max_share=max_share,
                num_proc=args.preprocessing_num_workers,
            )
    except DataError as error:
        fail(str(error))
    if train_counts:
        logger.info("training images: %s", ", ".join(f"{v} {k}" for k, v in train_counts.items()))
        if train_counts["kept"] == 0:
            fail(f"no decodable colour image in {args.train_data_dir or args.dataset_name} ({train_counts})")
    if validation_counts:
        logger.info("validation images: %s", ", ".join(f"{v} {k}" for k, v in validation_counts.items()))
        if validation_counts["kept"] == 0:
            fail("no decodable colour image in the validation data")

    # --- semantic labels: the class list shapes the model's semantic head, so the model is rebuilt with it
    label_options = {}
    if args.label_column:
        if not hasattr(model.config, "semantic_classes"):
            fail(f"--label_column: the {model.config.model_type} family has no semantic head")
        try:
            names = class_names(train_split, args.label_column)
            label_options = {"label_column": args.label_column, "class_index": class_index(train_split, args.label_column, names)}
        except DataError as error:
            fail(str(error))
        if list(model.config.semantic_classes) != names:
            set_seed(args.seed)
            model, _ = build_model(args, extra_overrides={"semantic_classes": names})
            configure_loss(model.config, loss_name)
        logger.info("semantic head over %d classes of column %r", len(names), args.label_column)
    validation_labels = label_options if args.label_column in (validation_split.features or {}) else {}

    dataset_class = StreamingColorizationDataset if args.streaming else ColorizationDataset
    train_dataset = dataset_class(train_split, image_column, resolution, augmentation=augmentation, seed=args.seed, **label_options)
    eval_dataset = dataset_class(validation_split, validation_column, resolution, augmentation=None, seed=args.seed, **validation_labels)
    loader_options = dict(
        collate_fn=collate, num_workers=args.dataloader_num_workers, pin_memory=torch.cuda.is_available(),
        worker_init_fn=ignore_stop_signals,
    )
    train_loader = torch.utils.data.DataLoader(
        train_dataset, batch_size=args.train_batch_size, shuffle=not args.streaming, drop_last=True,
        generator=torch.Generator().manual_seed(args.seed), **loader_options,
    )
    eval_loader = torch.utils.data.DataLoader(eval_dataset, batch_size=args.eval_batch_size, shuffle=False, **loader_options)
    if not args.streaming and len(train_loader) == 0:
        fail(f"{len(train_dataset)} training images is fewer than one batch of {args.train_batch_size} per process")

    # --- model extras, optimizers, schedules
    backbone_loaded = False
    if args.pretrained_backbone:
        if not hasattr(model, "load_pretrained_backbone"):
            fail(f"--pretrained_backbone: the {args.model} family has no pretrained backbone")
        try:
            with accelerator.main_process_first():  # downloads once, the other ranks read the cache
                model.load_pretrained_backbone()
            backbone_loaded = True
            logger.info("pretrained backbone %s loaded", model.config.backbone_id)
        except (OSError, ValueError) as error:
            logger.warning("pretrained backbone %s unavailable (%s): training it from scratch", model.config.backbone_id, error)
    if getattr(model.config, "freeze_backbone", False) and not backbone_loaded:
        # The reports froze an ImageNet-pretrained backbone; a frozen random one would never learn.
        model.config.freeze_backbone = False
        model.requires_grad_(True)
        logger.info("backbone has no pretrained weights: it trains with the rest of the model")
    if args.gradient_checkpointing:
        if not model.supports_gradient_checkpointing:
            fail(f"--gradient_checkpointing: the {args.model} family does not support it")
        model.gradient_checkpointing_enable()
    if getattr(model.config, "objective", "regression") != "regression" and not args.resume_from_checkpoint:
        if args.model in colorizers.list_models():  # a fine-tuned model keeps the prior it was trained with
            if args.streaming:
                fail("classification objectives measure a colour prior: not available with --streaming")
            prior = measure_color_prior(model, train_dataset, args.color_prior_samples)
            model.set_color_prior(prior)
            logger.info("colour prior measured on %d crops: %d of %d ab bins seen", min(len(train_dataset), args.color_prior_samples),
                        int((prior > 1e-4).sum()), prior.numel())
    hint_probability = args.hint_probability if args.hint_probability is not None else 0.5
    use_hints = bool(getattr(model.config, "use_hints", False)) and hint_probability > 0
    model.train()
    discriminator = build_discriminator(args).train() if loss_name == "gan" else None

    if args.max_train_steps is None:
        updates_per_epoch = math.ceil(len(train_loader) / accelerator.num_processes / args.gradient_accumulation_steps)
        args.max_train_steps = args.num_train_epochs * updates_per_epoch
    optimizer = build_optimizer(args.optimizer, model.parameters(), args.learning_rate, args.weight_decay)
    scheduler = build_scheduler(args, optimizer, args.max_train_steps, accelerator.num_processes)
    plateau = scheduler if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau) else None
    prepared = [model, optimizer, train_loader, eval_loader] + ([] if plateau else [scheduler])
    if discriminator is not None:
        d_optimizer = build_optimizer(args.optimizer, discriminator.parameters(), args.discriminator_learning_rate or args.learning_rate, args.weight_decay)
        d_scheduler = build_scheduler(args, d_optimizer, args.max_train_steps, accelerator.num_processes)
        prepared += [discriminator, d_optimizer] + ([] if plateau else [d_scheduler])
    prepared = accelerator.prepare(*prepared)
    model, optimizer, train_loader, eval_loader = prepared[:4]
    rest = prepared[4:]
    if not plateau:
        scheduler, rest = rest[0], rest[1:]
    else:
        accelerator.register_for_checkpointing(plateau)
    if discriminator is not None:
        discriminator, d_optimizer = rest[:2]
        if plateau:
            d_scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(d_optimizer.optimizer, factor=args.plateau_factor, patience=args.plateau_patience, min_lr=args.min_learning_rate)
            accelerator.register_for_checkpointing(d_scheduler)
        else:
            d_scheduler = rest[2]
    ema = None
    if args.ema_decay > 0:
        ema = ExponentialMovingAverage(accelerator.unwrap_model(model), args.ema_decay)
        accelerator.register_for_checkpointing(ema)
    schedulers = [s for s in (scheduler, d_scheduler if discriminator is not None else None) if s is not None and not isinstance(s, torch.optim.lr_scheduler.ReduceLROnPlateau)]

    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        accelerator.init_trackers("colorizers", config={k: v for k, v in vars(args).items() if isinstance(v, (int, float, str, bool))})

    # --- resume
    global_step, first_epoch, resume_batches = 0, 0, 0
    earlier_images, earlier_seconds = 0, 0.0  # what the runs before a resume did
    metrics_path = output_dir / "metrics.jsonl"
    if args.resume_from_checkpoint:
        checkpoint = resolve_checkpoint(args.resume_from_checkpoint, output_dir)
        if checkpoint is None:
            logger.info("no complete checkpoint in %s: starting from scratch", output_dir / "checkpoints")
        else:
            accelerator.load_state(str(checkpoint))
            state = json.loads((checkpoint / "training_state.json").read_text())
            global_step, first_epoch, resume_batches = state["global_step"], state["epoch"], state["batches_in_epoch"]
            earlier_images, earlier_seconds = state.get("images_seen", 0), state.get("train_seconds", 0.0)
            logger.info("resumed from %s at step %d (epoch %d, batch %d)", checkpoint, global_step, first_epoch, resume_batches)
            if accelerator.is_main_process and metrics_path.exists():  # forget what happened after the checkpoint
                kept = [line for line in metrics_path.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= global_step]
                metrics_path.write_text("".join(line + "\n" for line in kept))
    elif accelerator.is_main_process:
        metrics_path.unlink(missing_ok=True)
        shutil.rmtree(output_dir / "checkpoints", ignore_errors=True)  # --overwrite_output_dir was given

    def log(record: dict) -> None:
        flat = {k: v for k, v in record.items() if isinstance(v, (int, float))}
        flat.update({f"eval/{k}": v for k, v in record.get("eval", {}).items() if isinstance(v, (int, float))})
        accelerator.log(flat, step=record["step"])
        if accelerator.is_main_process:
            with metrics_path.open("a") as stream:
                stream.write(json.dumps(record) + "\n")

    # --- preemption: SIGTERM/SIGINT ask for a checkpoint at the next step boundary
    stop_signal = {"name": None}

    def request_stop(signum, _frame):
        stop_signal["name"] = signal.Signals(signum).name
        signal.signal(signum, signal.SIG_DFL)  # a second signal stops at once

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    # --- loop
    logger.info(
        "training %s (%s loss) at %dx%d on %s images, %d processes x batch %d x accumulation %d, %d steps",
        args.model, loss_name, resolution, resolution, len(train_dataset) if not args.streaming else "streamed",
        accelerator.num_processes, args.train_batch_size, args.gradient_accumulation_steps, args.max_train_steps,
    )
    last_eval, stopped_by = None, None
    running_loss, running_count, started, images_seen = 0.0, 0, time.perf_counter(), 0

    def state_now(epoch: int, batches_in_epoch: int) -> dict:
        return {
            "global_step": global_step, "epoch": epoch, "batches_in_epoch": batches_in_epoch,
            "images_seen": earlier_images + images_seen,
            "train_seconds": round(earlier_seconds + time.perf_counter() - started, 1),
        }

    epoch = first_epoch
    while global_step < args.max_train_steps:
        train_dataset.set_epoch(epoch)
        if hasattr(train_loader, "set_epoch"):
            train_loader.set_epoch(epoch)
        batches = train_loader
        batches_in_epoch = 0
        if epoch == first_epoch and resume_batches:
            batches = accelerator.skip_first_batches(train_loader, resume_batches)
            batches_in_epoch = resume_batches
        for batch in batches:
            with accelerator.accumulate(*(m for m in (model, discriminator) if m is not None)):
                hints = None
                if use_hints:  # a function of (seed, step, rank): a resumed run draws the same hints
                    generator = torch.Generator().manual_seed(hash((args.seed, global_step, batches_in_epoch, accelerator.process_index)) % 2**63)
                    hints = simulate_hints(batch["labels"].cpu(), generator, probability=hint_probability)
                    hints = tuple(h.to(batch["labels"].device) for h in hints)
                outputs = model(**model_inputs(batch, accelerator.unwrap_model(model).config, labels_key, hints))
                loss = outputs.loss
                if discriminator is not None:
                    fake_ab = colorizers.predicted_ab(outputs)
                    real_ab = batch["labels"]
                    d_loss = discriminator_loss(
                        discriminator(pixel_values=batch["pixel_values"], ab=real_ab).logits,
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
                            judged = frozen_forward(accelerator.unwrap_model(discriminator), pixel_values=batch["pixel_values"], ab=fake_ab)
                        loss = loss + generator_adversarial_loss(judged.logits)
                accelerator.backward(loss)
                if accelerator.sync_gradients and args.max_grad_norm > 0:
                    accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
                optimizer.step()
                for schedule in schedulers:
                    schedule.step()
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

            if global_step % args.logging_steps == 0 or global_step == args.max_train_steps:
                elapsed = time.perf_counter() - started
                record = {
                    "step": global_step, "epoch": epoch, "train_loss": running_loss / running_count,
                    "lr": optimizer.param_groups[0]["lr"], "images_per_second": images_seen / elapsed,
                }
                if discriminator is not None:
                    record["discriminator_loss"] = float(d_loss.detach())
                log(record)
                logger.info("step %d: loss %.5f, lr %.2e, %.1f images/s", global_step, record["train_loss"], record["lr"], record["images_per_second"])
                running_loss, running_count = 0.0, 0

            if global_step % args.validation_steps == 0 and global_step < args.max_train_steps:
                last_eval, grid = evaluate(accelerator, ema.model if ema else model, eval_loader, labels_key, args.num_validation_images)
                log({"step": global_step, "eval": last_eval})
                logger.info("step %d validation: %s", global_step, ", ".join(f"{k} {v:.4g}" for k, v in last_eval.items()))
                if accelerator.is_main_process:
                    save_grid(grid, output_dir / "samples" / f"step-{global_step:07d}.png")
                if plateau is not None:
                    plateau.step(last_eval["loss"])
                    if discriminator is not None:
                        d_scheduler.step(last_eval["loss"])

            # after evaluation, so a resumed run continues from the very same state
            if global_step % args.checkpointing_steps == 0 or global_step == args.max_train_steps:
                save_checkpoint(accelerator, output_dir, state_now(epoch, batches_in_epoch), args.checkpoints_total_limit, model)

            if stop_signal["name"] is not None:
                accelerator.set_trigger()
            if accelerator.check_trigger():
                if global_step % args.checkpointing_steps != 0 and global_step != args.max_train_steps:
                    save_checkpoint(accelerator, output_dir, state_now(epoch, batches_in_epoch), args.checkpoints_total_limit, model)
                stopped_by = stop_signal["name"] or "a signal on another process"
                break
            if global_step >= args.max_train_steps:
                break
        if stopped_by:
            break
        epoch += 1

    train_seconds = time.perf_counter() - started
    if stopped_by:
        logger.info("stopped by %s at step %d; continue with --resume_from_checkpoint latest", stopped_by, global_step)
        accelerator.end_training()
        return 0

    # --- final evaluation, save, card, push
    # DDP keeps replicas identical by construction; checking it costs one all-gather and catches
    # silent divergence (a rank skipping an update, non-synced buffers) before it is published.
    checksum = torch.stack([p.detach().double().sum() for p in accelerator.unwrap_model(model).state_dict().values() if p.is_floating_point()]).sum()
    rank_checksums = accelerator.gather(checksum.reshape(1).to(accelerator.device)).tolist()
    if len(set(rank_checksums)) > 1:
        logger.warning("model replicas differ across processes: weight checksums %s", rank_checksums)
    final_model = ema.model if ema is not None else accelerator.unwrap_model(model)
    final_eval, grid = evaluate(accelerator, final_model, eval_loader, labels_key, args.num_validation_images, with_gray_baseline=True)
    log({"step": global_step, "eval": final_eval})
    logger.info("final validation: %s", json.dumps(final_eval))
    if accelerator.is_main_process:
        unwrapped = final_model
        unwrapped.save_pretrained(output_dir)
        colorizers.ColorizerImageProcessor(size={"longest_edge": resolution}).save_pretrained(output_dir)
        if discriminator is not None:
            accelerator.unwrap_model(discriminator).save_pretrained(output_dir / "discriminator")
        save_grid(grid, output_dir / "sample_grid.png")
        plot_loss_curves(metrics_path, output_dir / "loss_curves.png")
        command = "accelerate launch train/train.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
        results = {
            "evaluations": [
                {"dataset_name": validation_name, "dataset_type": validation_name, "split": "validation",
                 "size": resolution, **{k: final_eval[k] for k in ("num_images", *SCORE_NAMES)}}
            ],
            "baselines": {"gray": {"dataset_name": validation_name, **final_eval["gray_baseline"]}},
            "training": {
                "command": command, "preset": args.model, "dataset": args.train_data_dir or args.dataset_name,
                "steps": global_step, "resolution": resolution, "loss": loss_name, "optimizer": args.optimizer,
                "learning_rate": args.learning_rate, "lr_scheduler": args.lr_scheduler,
                "batch_size": args.train_batch_size * accelerator.num_processes * args.gradient_accumulation_steps,
                "num_processes": accelerator.num_processes, "mixed_precision": accelerator.mixed_precision,
                "images_seen": earlier_images + images_seen, "train_seconds": round(earlier_seconds + train_seconds, 1),
                "seed": args.seed,
                "filtered": {"train": train_counts, "validation": validation_counts},
                "rank_weight_checksums": rank_checksums,
            },
        }
        from colorizers.eval_results import write_eval_results
        from colorizers.model_card import write_model_card

        write_eval_results(output_dir, results)
        write_model_card(output_dir, preset_name=args.model if args.model in colorizers.list_models() else None)
        if args.push_to_hub:
            from colorizers.hub import push_to_hub

            push_to_hub(output_dir, args.hub_model_id, private=args.hub_private, revision=args.hub_revision)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What a run leaves to read: ``metrics.jsonl`` (and the trackers), sample grids, loss curves, and at the end
a Hub repository: the model, its processor, ``eval_results.json`` (``training_results``) and the model card."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from colorizers.training.options import DataOptions, OptimizationOptions

logger = logging.getLogger(__name__)


def read_records(path: str | os.PathLike) -> list[dict]:
    """The records of a ``metrics.jsonl`` file (none when it does not exist)."""
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class MetricsLog:
    """One JSON record per line in ``path`` (written by the main process) and the same numbers to
    the accelerator's trackers (``eval`` entries flattened as ``eval/<name>``)."""

    def __init__(self, accelerator, path: str | os.PathLike):
        self.accelerator = accelerator
        self.path = Path(path)

    def restart(self, after_step: int | None = None) -> None:
        """Forget the records after ``after_step`` (a resumed run), or all of them (``None``: a fresh run)."""
        if not self.accelerator.is_main_process:
            return
        if after_step is None:
            self.path.unlink(missing_ok=True)
        elif self.path.exists():
            lines = [line for line in self.path.read_text().splitlines() if line.strip()]
            kept = [line for line in lines if json.loads(line)["step"] <= after_step]
            self.path.write_text("".join(line + "\n" for line in kept))

    def __call__(self, record: dict) -> None:
        flat = {k: v for k, v in record.items() if _is_number(v)}
        flat.update({f"eval/{k}": v for k, v in record.get("eval", {}).items() if _is_number(v)})
        self.accelerator.log(flat, step=record["step"])
        if self.accelerator.is_main_process:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as stream:
                stream.write(json.dumps(record) + "\n")

    def records(self) -> list[dict]:
        return read_records(self.path)


def save_grid(rows: list[np.ndarray], path: str | os.PathLike) -> None:
    """Rows of (gray | prediction | truth), scaled up so small training crops stay visible."""
    from PIL import Image

    if not rows:
        return
    grid = np.concatenate(rows, axis=0)
    scale = max(1, 256 // rows[0].shape[0])
    image = Image.fromarray(grid)
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def plot_loss_curves(records: list[dict], output_path: str | os.PathLike) -> bool:
    """Training and validation loss, and validation PSNR against the gray baseline; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logger.warning("matplotlib is not installed: no loss_curves.png (pip install 'colorizers[train]')")
        return False
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
    return True


CURVE_METRICS = ("loss", "psnr", "colorfulness", "corr_a", "corr_b")


def validation_curve(records: list[dict], images_per_step: int) -> list[dict]:
    """The validation scores of ``metrics.jsonl`` records against images seen: one point per validated step
    (the last record of a step wins: a resumed run may have validated it twice), in step order."""
    points = {}
    for record in records:
        scores = record.get("eval")
        if isinstance(scores, dict) and _is_number(record.get("step")):
            point = {"step": record["step"], "images": record["step"] * images_per_step}
            point.update({key: scores[key] for key in CURVE_METRICS if _is_number(scores.get(key))})
            points[record["step"]] = point
    return [points[step] for step in sorted(points)]


def replica_checksums(accelerator, model) -> list[float]:
    """Each process's sum of the model's floating-point weights, gathered (a collective).

    DDP keeps replicas identical by construction; checking it costs one all-gather and catches silent
    divergence (a rank skipping an update, non-synced buffers) before it is published.
    """
    import torch

    checksum = torch.stack(
        [
            p.detach().double().sum()
            for p in accelerator.unwrap_model(model).state_dict().values()
            if p.is_floating_point()
        ]
    ).sum()
    return accelerator.gather(checksum.reshape(1).to(accelerator.device)).tolist()


def training_results(
    scores: dict,
    splits,
    *,
    command: str,
    preset: str,
    data: DataOptions,
    optimization: OptimizationOptions,
    seed: int,
    resolution: int,
    loss: str,
    steps: int,
    images_seen: int,
    train_seconds: float,
    num_processes: int,
    mixed_precision: str,
    rank_checksums: list[float],
    records: list[dict] | None = None,
) -> dict:
    """The ``eval_results.json`` of a run, which its model card shows: the final validation ``scores`` (with
    their gray baseline) on the validation set of ``splits`` (a ``TrainingSplits``), and how the model was
    trained (``command`` being the command line that reproduces it), with the ``curve`` of validation scores
    against images seen (``validation_curve`` of the ``metrics.jsonl`` ``records``)."""
    batch_size = data.train_batch_size * num_processes * optimization.gradient_accumulation_steps
    measured = {k: v for k, v in scores.items() if k not in ("loss", "gray_baseline")}
    return {
        "evaluations": [
            {
                "dataset_name": splits.validation_name,
                "dataset_type": splits.validation_name,
                "split": "validation",
                "size": resolution,
                **measured,
            }
        ],
        "baselines": {"gray": {"dataset_name": splits.validation_name, **scores["gray_baseline"]}},
        "training": {
            "command": command,
            "preset": preset,
            "dataset": data.source,
            "steps": steps,
            "resolution": resolution,
            "loss": loss,
            "optimizer": optimization.optimizer,
            "learning_rate": optimization.learning_rate,
            "encoder_learning_rate": optimization.encoder_learning_rate,
            "lr_scheduler": optimization.lr_scheduler,
            "batch_size": batch_size,
            "num_processes": num_processes,
            "mixed_precision": mixed_precision,
            "images_seen": images_seen,
            "train_seconds": round(train_seconds, 1),
            "seed": seed,
            "filtered": splits.counts,
            "rank_weight_checksums": rank_checksums,
            "skipped_files": splits.skipped_files,
            "curve": validation_curve(records or [], batch_size),
        },
    }


def save_model_repository(
    output_dir: Path,
    model,
    processor,
    *,
    results: dict,
    grid: list[np.ndarray],
    records: list[dict],
    discriminator=None,
    preset_name: str | None = None,
) -> None:
    """Write a run's Hub repository into ``output_dir``: config and weights, the processor, ``discriminator/``
    (GANs), ``sample_grid.png``, ``loss_curves.png`` (of the ``metrics.jsonl`` ``records``),
    ``eval_results.json`` and README.md, the model card (of the preset ``preset_name``, when it is one)."""
    from colorizers.hub.eval_results import write_eval_results
    from colorizers.hub.model_card import write_model_card

    model.save_pretrained(output_dir)
    processor.save_pretrained(output_dir)
    if discriminator is not None:
        discriminator.save_pretrained(output_dir / "discriminator")
    save_grid(grid, output_dir / "sample_grid.png")
    plot_loss_curves(records, output_dir / "loss_curves.png")
    write_eval_results(output_dir, results)
    write_model_card(output_dir, preset_name=preset_name)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)

"""What a run leaves to read: ``metrics.jsonl`` (and the trackers), sample grids, loss curves."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)


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
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]


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


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)

"""Validation during training, scored exactly as users' results are.

Predictions become images through the processor's ``post_process_colorization`` (the step of
``colorize()``) and are scored by ``colorizers.evaluation.metrics.score``; every numeric score it returns is
averaged, so a metric added there appears here. Scores are gathered across processes with
``gather_for_metrics``: each validation image counts once, whatever the number of processes.
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np
import torch

from colorizers.color import denormalize_lightness, rgb_to_lab
from colorizers.evaluation.metrics import as_rgb_uint8, correlations_from_moments, score
from colorizers.pipelines import predicted_ab


def lightness_planes(pixel_values: torch.Tensor) -> list[np.ndarray]:
    """A batch of normalised L (B, 1, H, W) -> each image's L (H, W) in [0, 100], as the processor takes it."""
    return list(denormalize_lightness(pixel_values.float().cpu().numpy()[:, 0]))


def reference_images(rgb: torch.Tensor) -> list[np.ndarray]:
    """A batch of RGB in [0, 1] (B, 3, H, W) -> uint8 (H, W, 3) references."""
    return [as_rgb_uint8(image.float().cpu().numpy().transpose(1, 2, 0)) for image in rgb]


def score_rows(predictions: list[np.ndarray], references: list[np.ndarray], names: list[str] | None = None):
    """``metrics.score`` of every pair -> (score names, one row per image); missing values are NaN.

    ``names`` fixes the columns (all processes must agree); by default every numeric or ``None``
    entry of the first image's scores.
    """
    scores = [score(prediction, reference) for prediction, reference in zip(predictions, references)]
    if names is None:
        names = [name for name, value in scores[0].items() if value is None or _is_number(value)] if scores else []
    rows = [[float(row[name]) if _is_number(row.get(name)) else math.nan for name in names] for row in scores]
    return names, rows


def ab_moments(predictions: list[np.ndarray], references: list[np.ndarray]) -> list[list[float]]:
    """Per image: pixel count and, for a* then b*, the sums of x, y, x², y², xy (x predicted, y true), which
    add up across images and processes into the pooled correlations (``pooled_correlations``)."""
    rows = []
    for prediction, reference in zip(predictions, references):
        x = rgb_to_lab(as_rgb_uint8(prediction))[..., 1:].reshape(-1, 2).astype(np.float64)
        y = rgb_to_lab(as_rgb_uint8(reference))[..., 1:].reshape(-1, 2).astype(np.float64)
        row = [float(x.shape[0])]
        for channel in range(2):
            a, b = x[:, channel], y[:, channel]
            row += [a.sum(), b.sum(), a @ a, b @ b, a @ b]
        rows.append(row)
    return rows


def pooled_correlations(moments: torch.Tensor) -> dict[str, float | None]:
    """``corr_a`` and ``corr_b`` over every pixel of the images whose ``ab_moments`` rows are given."""
    total = moments.double().cpu().sum(dim=0)
    return correlations_from_moments(float(total[0]), total[1:].reshape(2, 5).tolist())


def summarise(rows: torch.Tensor, names: list[str]) -> dict[str, float | None]:
    """Mean of each column over the images that have it (``None`` where none has)."""
    if not names:
        return {}
    table = rows.double().cpu().numpy().reshape(-1, len(names))
    result = {}
    for column, name in enumerate(names):
        values = table[:, column][~np.isnan(table[:, column])]
        result[name] = float(values.mean()) if values.size else None
    return result


@torch.no_grad()
def evaluate(
    accelerator,
    model,
    eval_loader,
    processor,
    *,
    labels_key: str = "labels",
    num_grid_images: int = 0,
    with_gray_baseline: bool = False,
) -> tuple[dict, list[np.ndarray]]:
    """Validation scores, mean loss and sample-grid rows.

    Returns ``(result, grid)``: ``result`` holds ``num_images``, the mean of every score, ``loss``
    and (with ``with_gray_baseline``) ``gray_baseline``, the same scores of the input shown with
    ab = 0; ``grid`` holds up to ``num_grid_images`` rows of (gray | prediction | truth) from the
    main process.
    """
    was_training = model.training
    model.eval()
    names = None
    rows, gray_rows, losses, grid, moments = [], [], [], [], []
    for batch in eval_loader:
        outputs = model(pixel_values=batch["pixel_values"], labels=batch[labels_key])
        lightness = lightness_planes(batch["pixel_values"])
        predictions = processor.post_process_colorization(predicted_ab(outputs), lightness, output_type="np")
        references = reference_images(batch["rgb"])
        names, scores = score_rows(predictions, references, names)
        device = batch["pixel_values"].device
        rows.append(accelerator.gather_for_metrics(torch.tensor(scores, dtype=torch.float64, device=device)))
        moment_rows = torch.tensor(ab_moments(predictions, references), dtype=torch.float64, device=device)
        moments.append(accelerator.gather_for_metrics(moment_rows))
        batch_loss = outputs.loss.detach().double().reshape(1).repeat(len(predictions))
        losses.append(accelerator.gather_for_metrics(batch_loss))
        gray = None
        if with_gray_baseline or (accelerator.is_main_process and len(grid) < num_grid_images):
            gray = processor.post_process_colorization(
                np.zeros((len(lightness), 2) + lightness[0].shape, np.float32), lightness, output_type="np"
            )
        if with_gray_baseline:
            _, gray_scores = score_rows(gray, references, names)
            gray_rows.append(
                accelerator.gather_for_metrics(torch.tensor(gray_scores, dtype=torch.float64, device=device))
            )
        if accelerator.is_main_process:
            for light, prediction, reference in zip(gray or [], predictions, references):
                if len(grid) < num_grid_images:
                    grid.append(np.concatenate([light, prediction, reference], axis=1))
    model.train(was_training)
    scores = torch.cat(rows)
    result = {
        "num_images": int(scores.shape[0]),
        **summarise(scores, names),
        **pooled_correlations(torch.cat(moments)),
        "loss": float(torch.cat(losses).mean()),
    }
    if with_gray_baseline:
        result["gray_baseline"] = summarise(torch.cat(gray_rows), names)
    return result, grid


def format_scores(result: dict) -> str:
    """``name value`` pairs of the numeric entries, for one log line."""
    return ", ".join(f"{name} {value:.4g}" for name, value in result.items() if _is_number(value))


def _is_number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)

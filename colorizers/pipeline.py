"""``colorize()``: images in, colorized images out, at the input's own resolution."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import torch
from PIL import Image
from transformers import PreTrainedModel

from .color import normalize_ab, rgb_to_lab_torch
from .image_processing_colorizer import ColorizerImageProcessor, image_to_lightness, working_size
from .loading import load_model, load_processor


def predicted_ab(outputs: Any) -> torch.Tensor:
    """Normalised ab from any family's output (models that predict RGB are converted to Lab)."""
    ab = getattr(outputs, "ab", None)
    if ab is not None:
        return ab
    rgb = getattr(outputs, "rgb", None)
    if rgb is None:
        raise TypeError(f"{type(outputs).__name__} carries neither 'ab' nor 'rgb'")
    return normalize_ab(rgb_to_lab_torch(rgb.float().clamp(0, 1))[:, 1:])


def _size_dict(size: int | dict | None, processor: ColorizerImageProcessor) -> dict:
    if size is None:
        return dict(processor.size)
    if isinstance(size, int) and not isinstance(size, bool):
        if size < 1:
            raise ValueError(f"size must be a positive number of pixels, got {size}")
        return {"longest_edge": size}
    if isinstance(size, dict):
        return size
    raise TypeError(f"size must be an int (longest edge), a size dict or None, got {size!r}")


def colorize(
    images: Any,
    model: PreTrainedModel | str | None = None,
    *,
    processor: ColorizerImageProcessor | None = None,
    size: int | dict | None = None,
    batch_size: int = 8,
    device: str | torch.device | None = None,
    edge_aware: bool | None = None,
) -> Image.Image | list[Image.Image]:
    """Colorize one image or a list of images; each result has its input's size.

    Args:
        images: a PIL image (any mode), a NumPy array or a torch tensor, or a list of them.
        model: a loaded model, or a preset name, local folder or Hub id (loaded for this call: pass
            a model object when colorizing repeatedly). ``None`` uses ``colorizers.DEFAULT_MODEL``.
        processor: the image processor; by default the one saved with the model.
        size: working resolution: an int for the longest edge, a size dict, or ``None`` for the
            processor's default. Colour is predicted at this size; lightness always stays full size.
        batch_size: images per forward pass. Images of equal working size are batched together.
        device: where to run; the model is moved there. Default: where the model already is.
        edge_aware: upsample the predicted colour guided by the full-resolution lightness (``True``)
            or bilinearly (``False``); ``None`` keeps the processor's ``edge_aware`` setting.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if model is None:
        from . import DEFAULT_MODEL

        model = DEFAULT_MODEL
    model = load_model(model, device=device) if not isinstance(model, PreTrainedModel) else model
    if device is not None:
        model.to(device)
    processor = processor or load_processor(model)
    size = _size_dict(size, processor)

    single = not isinstance(images, (list, tuple))
    images = [images] if single else list(images)
    lightness = [image_to_lightness(image) for image in images]
    groups = defaultdict(list)
    for index, light in enumerate(lightness):
        groups[working_size(*light.shape, size)].append(index)

    parameter = next(model.parameters())
    results: list[Image.Image | None] = [None] * len(images)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for indices in groups.values():
                for start in range(0, len(indices), batch_size):
                    chunk = indices[start : start + batch_size]
                    inputs = processor.preprocess_lightness([lightness[i] for i in chunk], size=size)
                    pixel_values = inputs["pixel_values"].to(parameter.device, parameter.dtype)
                    ab = predicted_ab(model(pixel_values=pixel_values))
                    outputs = processor.post_process_colorization(
                        ab, [lightness[i] for i in chunk], edge_aware=edge_aware
                    )
                    for index, output in zip(chunk, outputs):
                        results[index] = output
    finally:
        model.train(was_training)
    return results[0] if single else results

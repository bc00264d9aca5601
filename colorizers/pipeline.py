"""``colorize()``: images in, colorized images out, at the input's own resolution."""

from __future__ import annotations

import contextlib
import math
from collections import defaultdict
from typing import Any

import numpy as np
import torch
from PIL import Image
from transformers import PreTrainedModel

from colorizers.color import normalize_ab, rgb_to_lab_torch
from colorizers.image_processing_colorizer import (
    ColorizerImageProcessor,
    image_to_lightness,
    resize_plane,
    working_size,
)
from colorizers.limits import check_deadline
from colorizers.limits import current as current_limits
from colorizers.model_io.loading import load_model, load_processor
from colorizers.objectives import color_distribution
from colorizers.processing.hint_locality import localize_hints
from colorizers.processing.hints import Hint, HintError, parse_hints, render_hints

# Annealed-mean temperatures colorize() accepts: 1 is the distribution's mean, lower is more vivid;
# below 0.05 the softmax is a hard arg-max (noisy), above 2 it fades towards the prior's mean.
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.05, 2.0


def predicted_ab(outputs: Any) -> torch.Tensor:
    """Normalised ab from any family's output (models that predict RGB are converted to Lab)."""
    ab = getattr(outputs, "ab", None)
    if ab is not None:
        return ab
    rgb = getattr(outputs, "rgb", None)
    if rgb is None:
        raise TypeError(f"{type(outputs).__name__} carries neither 'ab' nor 'rgb'")
    return normalize_ab(rgb_to_lab_torch(rgb.float().clamp(0, 1))[:, 1:])


def has_color_distribution(model: PreTrainedModel) -> bool:
    """Whether ``model`` predicts a distribution over colours (so temperature and confidence apply)."""
    return getattr(model.config, "objective", "regression") in ("classification", "hybrid")


def check_temperature(temperature: float | None, model: PreTrainedModel) -> None:
    if temperature is None:
        return
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not math.isfinite(temperature):
        raise ValueError(f"temperature must be a finite number, got {temperature!r}")
    if not MIN_TEMPERATURE <= temperature <= MAX_TEMPERATURE:
        raise ValueError(f"temperature must be between {MIN_TEMPERATURE} and {MAX_TEMPERATURE}, got {temperature}")
    if not has_color_distribution(model):
        raise ValueError(
            f"temperature applies to models that predict a colour distribution; this {model.config.model_type} "
            "model predicts one colour per pixel (regression objective)"
        )


def _size_dict(size: int | dict | None, processor: ColorizerImageProcessor) -> dict:
    if size is None:
        return dict(processor.size)
    if isinstance(size, int) and not isinstance(size, bool):
        if size < 1:
            raise ValueError(f"size must be a positive number of pixels, got {size}")
        check_working_size(size)
        return {"longest_edge": size}
    if isinstance(size, dict):
        return size
    raise TypeError(f"size must be an int (longest edge), a size dict or None, got {size!r}")


def check_working_size(edge: int) -> None:
    """Refuse a working resolution (longest edge, pixels) above the ``max_working_size`` limit (``colorizers.limits``)."""
    limit = current_limits().max_working_size
    if edge > limit:
        raise ValueError(
            f"the working resolution must be at most {limit} pixels (limit max_working_size; "
            f"COLORIZERS_MAX_WORKING_SIZE raises it), got {edge}"
        )


def colorize(
    images: Any,
    model: PreTrainedModel | str | None = None,
    *,
    processor: ColorizerImageProcessor | None = None,
    size: int | dict | None = None,
    batch_size: int = 8,
    device: str | torch.device | None = None,
    temperature: float | None = None,
    return_confidence: bool = False,
    hints: Any = None,
    edge_aware: bool | None = None,
    autocast: torch.dtype | None = None,
) -> Image.Image | list[Image.Image] | tuple:
    """Colorize one image or a list of images; each result has its input's size.

    Args:
        images: a PIL image (any mode), a NumPy array or a torch tensor, or a list of them.
        model: a loaded model, or a preset name, local folder or Hub id (loaded for this call: pass
            a model object when colorizing repeatedly). ``None`` uses ``colorizers.DEFAULT_MODEL``.
        processor: the image processor; by default the one saved with the model.
        size: working resolution: an int for the longest edge, a size dict, or ``None`` for the
            processor's default. Colour is predicted at this size; lightness always stays full size.
            At most ``max_working_size`` pixels (``colorizers.limits``: 2048 unless configured).
        batch_size: images per forward pass. Images of equal working size are batched together.
        device: where to run; the model is moved there. Default: where the model already is.
        temperature: for models that predict a colour distribution (``chroma``): the annealed-mean
            temperature, from 0.05 (vivid, the distribution's mode) to 2; 1 is its mean (safe, dull).
            ``None`` uses the model's ``config.default_temperature``. Other models refuse it.
        return_confidence: also return, per image, a float32 (H, W) map in [0, 1] at full resolution:
            one minus the normalised entropy of the predicted colour distribution (zeros for models
            that predict a single colour). The result is then ``(images, confidences)``.
        hints: colour hints for models with hint inputs (``chroma``): for one image a list of hints,
            each ``{"x": .., "y": .., "color": "#rrggbb" | [r, g, b] | {"ab": [a, b]}, "radius": ..}``
            in the original image's pixels (see ``colorizers.processing.hints.parse_hints``); for a list of
            images, one such list (or None) per image. A hint's colour is applied at the image's own
            lightness.
        edge_aware: upsample the predicted colour guided by the full-resolution lightness (``True``)
            or bilinearly (``False``); ``None`` keeps the processor's ``edge_aware`` setting.
        autocast: run the model under ``torch.autocast`` in this dtype (``torch.bfloat16``, or
            ``torch.float16`` on GPUs); its prediction is joined with the lightness in float32.

    Returns:
        One PIL RGB image (or a list, for a list input) at each input's own size; with
        ``return_confidence``, a pair ``(images, confidence_maps)`` of the same shape.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if model is None:
        from colorizers.registry import default_model

        model = default_model()
    model = load_model(model, device=device) if not isinstance(model, PreTrainedModel) else model
    if device is not None:
        model.to(device)
    processor = processor or load_processor(model)
    size = _size_dict(size, processor)
    check_temperature(temperature, model)
    forward_options = {"temperature": temperature} if temperature is not None else {}
    if return_confidence and has_color_distribution(model):
        forward_options["output_confidence"] = True

    single = not isinstance(images, (list, tuple))
    images = [images] if single else list(images)
    lightness = [image_to_lightness(image) for image in images]
    per_image_hints = _hints_per_image(hints, single, lightness, model)
    groups = defaultdict(list)
    for index, light in enumerate(lightness):
        groups[working_size(*light.shape, size)].append(index)
    for working in groups:
        check_working_size(max(working))

    parameter = next(model.parameters())
    results: list[Image.Image | None] = [None] * len(images)
    confidences: list = [None] * len(images)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for indices in groups.values():
                for start in range(0, len(indices), batch_size):
                    chunk = indices[start : start + batch_size]
                    inputs = processor.preprocess_lightness([lightness[i] for i in chunk], size=size)
                    pixel_values = inputs["pixel_values"].to(parameter.device, parameter.dtype)
                    hint_inputs = _hint_tensors(
                        [per_image_hints[i] for i in chunk],
                        [lightness[i].shape for i in chunk],
                        tuple(pixel_values.shape[-2:]),
                        pixel_values,
                    )
                    check_deadline()
                    with torch.autocast(parameter.device.type, autocast) if autocast else contextlib.nullcontext():
                        model_outputs = model(pixel_values=pixel_values, **forward_options, **hint_inputs)
                    ab = predicted_ab(model_outputs).float()
                    if hint_inputs:  # keep the hints' effect local: blend with the automatic prediction
                        ab = _localized(model, pixel_values, ab, hint_inputs, forward_options, autocast)
                    check_deadline()
                    outputs = processor.post_process_colorization(
                        ab, [lightness[i] for i in chunk], edge_aware=edge_aware
                    )
                    for index, output in zip(chunk, outputs):
                        results[index] = output
                    if return_confidence:
                        maps = getattr(model_outputs, "confidence", None)
                        for position, index in enumerate(chunk):
                            confidences[index] = _full_size_map(maps, position, lightness[index].shape)
    finally:
        model.train(was_training)
    if return_confidence:
        return (results[0], confidences[0]) if single else (results, confidences)
    return results[0] if single else results


def predict_lightness_ab(
    lightness: list[np.ndarray],
    model: PreTrainedModel,
    processor: ColorizerImageProcessor,
    *,
    size: int | dict | None = None,
    temperature: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The lower half of ``colorize()`` for streams of frames (video): full-resolution L planes of one
    shape in, ``(pixel_values, ab)`` out, both float32 on the CPU at the working size: the model's L input
    (normalised, ``(B, 1, h, w)``) and its normalised ab prediction (``(B, 2, h, w)``). No image is built;
    join ab with the full-resolution L with ``processor.post_process_colorization`` (or
    ``colorizers.video.colorize.join_lightness_ab``). The model is used as it is (its device, eval mode)."""
    parameter = next(model.parameters())
    pixel_values = processor.preprocess_lightness(lightness, size=_size_dict(size, processor))["pixel_values"]
    if isinstance(pixel_values, list):
        raise ValueError("predict_lightness_ab takes L planes of one shape")
    forward_options = {"temperature": temperature} if temperature is not None else {}
    with torch.inference_mode():
        outputs = model(pixel_values=pixel_values.to(parameter.device, parameter.dtype), **forward_options)
        return pixel_values.float(), predicted_ab(outputs).float().cpu()


def _hints_per_image(
    hints: Any, single: bool, lightness: list[np.ndarray], model: PreTrainedModel
) -> list[list[Hint]]:
    """Parsed hints, one list per image; a model without hint inputs refuses any."""
    if hints is None:
        return [[] for _ in lightness]
    if single:
        hints = [hints]
    elif not isinstance(hints, (list, tuple)) or len(hints) != len(lightness):
        raise HintError(f"for {len(lightness)} images, hints must be a list of {len(lightness)} hint lists (or None)")
    parsed = [parse_hints(h, plane.shape[1], plane.shape[0]) for h, plane in zip(hints, lightness)]
    if any(parsed) and not getattr(model.config, "use_hints", False):
        raise HintError(
            f"this {model.config.model_type} model has no hint inputs: it cannot take colour hints "
            "(use a hint-capable model such as chroma)"
        )
    return parsed


def _localized(model, pixel_values, hinted, hint_inputs: dict, forward_options: dict, autocast) -> torch.Tensor:
    """The hinted ab blended into the automatic one near the hints only (``colorizers.processing.hint_locality``)."""
    options = {key: value for key, value in forward_options.items() if key != "output_confidence"}
    check_deadline()
    with torch.autocast(pixel_values.device.type, autocast) if autocast else contextlib.nullcontext():
        auto = predicted_ab(model(pixel_values=pixel_values, **options)).float()
    return localize_hints(auto, hinted, pixel_values, hint_inputs["hint_ab"], hint_inputs["hint_mask"])


def _hint_tensors(
    hints: list[list[Hint]], sizes: list[tuple[int, int]], working: tuple[int, int], like: torch.Tensor
) -> dict:
    if not any(hints):
        return {}
    drawn = [render_hints(h, size, working) for h, size in zip(hints, sizes)]
    hint_ab = torch.from_numpy(np.stack([ab for ab, _ in drawn])).to(like.device, like.dtype)
    hint_mask = torch.from_numpy(np.stack([mask for _, mask in drawn])).to(like.device, like.dtype)
    return {"hint_ab": hint_ab, "hint_mask": hint_mask}


def suggest_colors(
    image: Any,
    model: PreTrainedModel | str,
    x: float,
    y: float,
    *,
    top_k: int = 5,
    hints: Any = None,
    size: int | dict | None = None,
) -> list[dict]:
    """The model's most likely colours at pixel (x, y): the top modes of its predicted ab distribution.

    Returns up to ``top_k`` dicts ``{"ab": [a, b], "rgb": [r, g, b], "hex": "#rrggbb", "probability": p}``,
    most likely first, each colour shown at the pixel's own lightness; modes closer than two ab bins
    to a likelier one are skipped, so the choices differ visibly. ``hints`` (already placed) condition
    the prediction as in ``colorize``.
    """
    from colorizers.color import lightness_ab_to_rgb_uint8

    model = load_model(model) if not isinstance(model, PreTrainedModel) else model
    if not has_color_distribution(model):
        raise ValueError(
            f"this {model.config.model_type} model predicts one colour per pixel: it has no colours to suggest"
        )
    if not isinstance(top_k, int) or not 1 <= top_k <= 20:
        raise ValueError(f"top_k must be an integer from 1 to 20, got {top_k!r}")
    processor = load_processor(model)
    size = _size_dict(size, processor)
    light = image_to_lightness(image)
    height, width = light.shape
    check_working_size(max(working_size(height, width, size)))
    (hint_list,) = _hints_per_image(hints, True, [light], model)
    parse_hints([{"x": x, "y": y, "ab": [0, 0]}], width, height)  # the same bounds check as a hint's
    parameter = next(model.parameters())
    pixel_values = processor.preprocess_lightness([light], size=size)["pixel_values"].to(
        parameter.device, parameter.dtype
    )
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            logits = model(
                pixel_values=pixel_values,
                **_hint_tensors([hint_list], [light.shape], tuple(pixel_values.shape[-2:]), pixel_values),
            ).logits
    finally:
        model.train(was_training)
    grid_h, grid_w = logits.shape[-2:]
    row = min(int(y * grid_h / height), grid_h - 1)
    column = min(int(x * grid_w / width), grid_w - 1)
    probabilities = torch.softmax(logits[0, :, row, column].float(), dim=0).cpu()
    centers = color_distribution(model)[0].ab_bins.float().cpu()
    spacing = 2.0 * float(model.config.ab_grid_step)
    chosen: list[int] = []
    for index in torch.argsort(probabilities, descending=True).tolist():
        if all(float(torch.dist(centers[index], centers[other])) >= spacing - 1e-6 for other in chosen):
            chosen.append(index)
        if len(chosen) == top_k:
            break
    pixel_l = np.full((1, 1), light[min(int(y), height - 1), min(int(x), width - 1)], np.float32)
    suggestions = []
    for index in chosen:
        a, b = (float(v) for v in centers[index])
        rgb = lightness_ab_to_rgb_uint8(pixel_l, np.full((1, 1), a, np.float32), np.full((1, 1), b, np.float32))[0, 0]
        suggestions.append(
            {
                "ab": [a, b],
                "rgb": [int(v) for v in rgb],
                "hex": "#" + "".join(f"{int(v):02x}" for v in rgb),
                "probability": float(probabilities[index]),
            }
        )
    return suggestions


def _full_size_map(maps: torch.Tensor | None, position: int, shape: tuple[int, int]) -> np.ndarray:
    """One image's confidence map at its full resolution (zeros when the model gives none)."""
    if maps is None:
        return np.zeros(shape, np.float32)
    plane = maps[position, 0].float().cpu().numpy()
    return np.clip(resize_plane(plane, *shape), 0.0, 1.0)

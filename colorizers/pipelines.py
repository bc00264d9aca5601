"""The image-colorization pipeline: one object holding a model, its image processor and its decoding defaults
(working size, temperature, colour upsampling, images per forward pass), registered with transformers as the
``"image-colorization"`` task; ``colorize()`` is a call of it, at each input's own resolution.

    pipe = colorizers.pipeline("image-colorization", model="chroma")  # a preset, a local folder or a Hub id
    pipe = transformers.pipeline("image-colorization", model=colorizers.load_model("chroma"))  # the same object
    pipe(image, temperature=0.3) == colorizers.colorize(image, "chroma", temperature=0.3)

``transformers.pipeline`` resolves a string itself (a local folder or a Hub id, never a preset name, and in the
dtype the weights were saved in: chroma ships float16 weights, which colorizers loads in float32).
``colorizers.pipeline`` is the same function that knows colorizers' names: for this task it builds the pipeline
through colorizers' loader (``ImageColorizationPipeline(name)``), for any other task it is transformers' own.
"""

from __future__ import annotations

import contextlib
import math
from collections import defaultdict
from typing import Any

import numpy as np
import torch
from PIL import Image
from transformers import AutoModelForImageToImage, PreTrainedModel
from transformers.pipelines import PIPELINE_REGISTRY, Pipeline

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

TASK = "image-colorization"
# Annealed-mean temperatures colorize() accepts: 1 is the distribution's mean, lower is more vivid;
# below 0.05 the softmax is a hard arg-max (noisy), above 2 it fades towards the prior's mean.
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.05, 2.0
DEFAULT_BATCH_SIZE = 8


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


def check_batch_size(batch_size: int) -> None:
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")


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


class ImageColorizationPipeline(Pipeline):
    """Black-and-white images in, colour images out, each at its own size (the ``"image-colorization"`` task).

    Built from a loaded model, or from a preset name, local folder or Hub id (``model_io.loading.load_model``:
    checksums, safetensors only, float32 weights); ``None`` is ``colorizers.DEFAULT_MODEL``. The image processor
    is the one saved with the model unless given. Keyword arguments set the pipeline's decoding defaults, which a
    call may override: ``size`` (working resolution: longest edge in pixels, or a size dict; default the
    processor's), ``temperature`` (distribution models: 0.05..2; default the model's ``default_temperature``),
    ``edge_aware`` (colour upsampling guided by the lightness; default the processor's), ``autocast`` (a torch
    dtype to run the model in) and ``batch_size`` (images per forward pass, default 8). A call also takes
    ``hints`` and ``return_confidence``; see ``colorizers.colorize``, which is a call of this pipeline.

    ``device`` follows transformers: unset, the model moves to the first accelerator (``load_pipeline`` keeps it
    where it is). Images of equal working size are batched together; colour is predicted at the working size and
    joined with the full-resolution lightness, so no detail is lost.
    """

    _load_processor = _load_image_processor = _load_feature_extractor = False  # colorizers' own processor
    _load_tokenizer = _load_video_processor = False

    def __init__(
        self,
        model: PreTrainedModel | str | None = None,
        image_processor: ColorizerImageProcessor | None = None,
        *,
        revision: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        **kwargs,
    ):
        check_batch_size(batch_size)
        if not isinstance(model, PreTrainedModel):
            from colorizers.registry import default_model

            model = load_model(default_model() if model is None else model, revision=revision)
        kwargs.setdefault("task", TASK)
        image_processor = image_processor or load_processor(model)
        super().__init__(model, image_processor=image_processor, batch_size=batch_size, **kwargs)

    def _sanitize_parameters(
        self, size=None, temperature=None, edge_aware=None, autocast=None, hints=None, return_confidence=None
    ):
        preprocess, forward, postprocess = {}, {}, {}
        if size is not None:
            preprocess["size"] = _size_dict(size, self.image_processor)
        if hints is not None:
            preprocess["hints"] = hints
        if temperature is not None:
            check_temperature(temperature, self.model)
            forward["temperature"] = temperature
        if autocast is not None:
            forward["autocast"] = autocast
        if edge_aware is not None:
            postprocess["edge_aware"] = edge_aware
        if return_confidence is not None:
            postprocess["return_confidence"] = return_confidence
        return preprocess, forward, postprocess

    @property
    def defaults(self) -> dict:
        """The decoding settings a call uses when it names none: the pipeline's own, else the model's."""
        temperature = self._forward_params.get("temperature")
        if temperature is None and has_color_distribution(self.model):
            temperature = getattr(self.model.config, "default_temperature", None)
        return {
            "size": self._preprocess_params.get("size") or dict(self.image_processor.size),
            "temperature": temperature,
            "edge_aware": self._postprocess_params.get("edge_aware", self.image_processor.edge_aware),
            "autocast": self._forward_params.get("autocast"),
            "batch_size": self._batch_size,
        }

    def get_inference_context(self):
        return torch.inference_mode

    def save_pretrained(self, save_directory, **kwargs) -> None:
        """The model and its image processor, as ``load_model`` and ``transformers.pipeline`` read them back. No
        pipeline code is written beside them (transformers' default for a registered task, which would then ask
        for ``trust_remote_code``): importing colorizers registers the task, and colorizers runs no folder's code."""
        self.model.save_pretrained(save_directory, **kwargs)
        self.image_processor.save_pretrained(save_directory, **kwargs)

    def __call__(self, images: Any, **kwargs) -> Image.Image | list[Image.Image] | tuple:
        """Colorize one image or a list (list in, list out); keyword arguments override the pipeline's defaults
        for this call (``size``, ``temperature``, ``edge_aware``, ``autocast``, ``batch_size``) and add
        ``hints`` and ``return_confidence`` (see ``colorizers.colorize``)."""
        batch_size = kwargs.pop("batch_size", None)
        batch_size = self._batch_size if batch_size is None else batch_size
        check_batch_size(batch_size)
        preprocess, forward, postprocess = self._sanitize_parameters(**kwargs)
        preprocess = {**self._preprocess_params, **preprocess}
        forward = {**self._forward_params, **forward}
        postprocess = {**self._postprocess_params, **postprocess}
        size = preprocess.get("size") or dict(self.image_processor.size)
        return_confidence = postprocess.pop("return_confidence", False)
        if return_confidence and has_color_distribution(self.model):
            forward["output_confidence"] = True

        single = not isinstance(images, (list, tuple))
        images = [images] if single else list(images)
        lightness = [image_to_lightness(image) for image in images]
        per_image_hints = _hints_per_image(preprocess.get("hints"), single, lightness, self.model)
        groups = defaultdict(list)  # images of one working size share forward passes
        for index, light in enumerate(lightness):
            groups[working_size(*light.shape, size)].append(index)
        for working in groups:
            check_working_size(max(working))

        results: list = [None] * len(images)
        confidences: list = [None] * len(images)
        was_training = self.model.training
        self.model.eval()
        try:
            for indices in groups.values():
                for start in range(0, len(indices), batch_size):
                    chunk = indices[start : start + batch_size]
                    inputs = self._batch([lightness[i] for i in chunk], [per_image_hints[i] for i in chunk], size)
                    outputs = self.postprocess(self.forward(inputs, **forward), return_confidence, **postprocess)
                    outputs = outputs if return_confidence else (outputs, [None] * len(chunk))
                    for index, image, confidence in zip(chunk, *outputs):
                        results[index], confidences[index] = image, confidence
        finally:
            self.model.train(was_training)
        if return_confidence:
            return (results[0], confidences[0]) if single else (results, confidences)
        return results[0] if single else results

    def preprocess(self, image: Any, size: dict | None = None, hints: Any = None) -> dict:
        """One image's model inputs, as a batch of one (a call batches images of equal working size instead)."""
        size = size or dict(self.image_processor.size)
        light = image_to_lightness(image)
        per_image_hints = _hints_per_image(hints, True, [light], self.model)
        check_working_size(max(working_size(*light.shape, size)))
        return self._batch([light], per_image_hints, size)

    def _batch(self, lightness: list[np.ndarray], hints: list[list[Hint]], size: dict) -> dict:
        """Full-resolution L planes of one working size and their hints -> the model's inputs."""
        parameter = next(self.model.parameters())
        pixel_values = self.image_processor.preprocess_lightness(lightness, size=size)["pixel_values"]
        pixel_values = pixel_values.to(parameter.device, parameter.dtype)
        working = tuple(pixel_values.shape[-2:])
        hint_inputs = _hint_tensors(hints, [plane.shape for plane in lightness], working, pixel_values)
        return {"pixel_values": pixel_values, **hint_inputs, "lightness": lightness}

    def _forward(self, inputs: dict, temperature=None, output_confidence: bool = False, autocast=None) -> dict:
        options = {"temperature": temperature} if temperature is not None else {}
        if output_confidence:
            options["output_confidence"] = True
        pixel_values = inputs["pixel_values"]
        hint_inputs = {key: inputs[key] for key in ("hint_ab", "hint_mask") if key in inputs}
        check_deadline()
        with _autocast(pixel_values, autocast):
            outputs = self.model(pixel_values=pixel_values, **options, **hint_inputs)
        ab = predicted_ab(outputs).float()
        if hint_inputs:  # keep the hints' effect local: blend with the automatic prediction
            ab = _localized(self.model, pixel_values, ab, hint_inputs, options, autocast)
        check_deadline()
        return {"ab": ab, "confidence": getattr(outputs, "confidence", None), "lightness": inputs["lightness"]}

    def postprocess(self, outputs: dict, return_confidence: bool = False, edge_aware: bool | None = None):
        """The batch's images at their full resolution (and, with ``return_confidence``, their confidence maps)."""
        lightness = outputs["lightness"]
        images = self.image_processor.post_process_colorization(outputs["ab"], lightness, edge_aware=edge_aware)
        if not return_confidence:
            return images
        return images, [_full_size_map(outputs["confidence"], i, plane.shape) for i, plane in enumerate(lightness)]

    def predict_ab(
        self, lightness: list[np.ndarray], *, size: int | dict | None = None, temperature: float | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The lower half of a call, for streams of frames (video): full-resolution L planes of one shape in,
        ``(pixel_values, ab)`` out, both float32 on the CPU at the working size: the model's L input (normalised,
        ``(B, 1, h, w)``) and its normalised ab prediction (``(B, 2, h, w)``). No image is built; join ab with the
        full-resolution L with ``colorizers.video.colorize.join_lightness_ab``. ``size`` and ``temperature``
        override the pipeline's defaults. The model is used as it is (its device, its mode)."""
        preprocess, forward, _ = self._sanitize_parameters(size=size, temperature=temperature)
        forward = {**self._forward_params, **forward}
        size = preprocess.get("size") or self._preprocess_params.get("size") or dict(self.image_processor.size)
        pixel_values = self.image_processor.preprocess_lightness(lightness, size=size)["pixel_values"]
        if isinstance(pixel_values, list):
            raise ValueError("predict_ab takes L planes of one shape")
        parameter = next(self.model.parameters())
        options = {"temperature": forward["temperature"]} if "temperature" in forward else {}
        model_input = pixel_values.to(parameter.device, parameter.dtype)
        with torch.inference_mode(), _autocast(model_input, forward.get("autocast")):
            ab = predicted_ab(self.model(pixel_values=model_input, **options))
        return pixel_values.float(), ab.float().cpu()


def load_pipeline(
    model: ImageColorizationPipeline | PreTrainedModel | str | None = None,
    processor: ColorizerImageProcessor | None = None,
    *,
    device: str | torch.device | None = None,
    revision: str | None = None,
    **defaults,
) -> ImageColorizationPipeline:
    """The pipeline for ``model`` (a pipeline is returned as it is), its model left where it is unless ``device``
    is given (as ``colorize`` always did; the class itself follows transformers and moves it to an accelerator).
    A name is loaded by ``load_model`` (``None``: ``colorizers.DEFAULT_MODEL``); ``defaults`` are the pipeline's
    decoding defaults (``size``, ``temperature``, ``edge_aware``, ``autocast``, ``batch_size``)."""
    if isinstance(model, ImageColorizationPipeline):
        given = [
            name for name, value in (("processor", processor), ("device", device), ("revision", revision)) if value
        ]
        if given or defaults:
            raise ValueError(
                f"a pipeline holds its model, processor and defaults: build a new one to change {', '.join(given or defaults)}"
            )
        return model
    if not isinstance(model, PreTrainedModel):
        from colorizers.registry import default_model

        model = load_model(default_model() if model is None else model, device=device, revision=revision)
    elif device is not None:
        model.to(device)
    return ImageColorizationPipeline(model, processor, device=next(model.parameters()).device, **defaults)


def pipeline(task: str = TASK, model: PreTrainedModel | str | None = None, **kwargs) -> Pipeline:
    """``transformers.pipeline`` that also knows colorizers' preset names (the way diffusers' and transformers'
    own factories know theirs): ``pipeline("image-colorization", model="chroma")``.

    For the ``"image-colorization"`` task a name (preset, local folder or Hub id; ``None`` is
    ``colorizers.DEFAULT_MODEL``) loads through ``colorizers.load_model`` (checksums, safetensors only, float32)
    with the preset's decoding defaults, and a loaded model is used as it is; keyword arguments are the
    pipeline's (``device``, ``revision``, ``size``, ``temperature``, ``edge_aware``, ``autocast``,
    ``batch_size``). Any other task goes to ``transformers.pipeline`` unchanged.
    """
    if task != TASK:
        import transformers

        return transformers.pipeline(task, model=model, **kwargs)
    return ImageColorizationPipeline(model, **kwargs)


def colorize(
    images: Any,
    model: ImageColorizationPipeline | PreTrainedModel | str | None = None,
    *,
    processor: ColorizerImageProcessor | None = None,
    size: int | dict | None = None,
    batch_size: int | None = None,
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
        model: an ``ImageColorizationPipeline`` (its defaults apply to what is not given here), a loaded model,
            or a preset name, local folder or Hub id (loaded for this call: pass a pipeline or a model object when
            colorizing repeatedly). ``None`` uses ``colorizers.DEFAULT_MODEL``.
        processor: the image processor; by default the one saved with the model.
        size: working resolution: an int for the longest edge, a size dict, or ``None`` for the
            processor's default. Colour is predicted at this size; lightness always stays full size.
            At most ``max_working_size`` pixels (``colorizers.limits``: 2048 unless configured).
        batch_size: images per forward pass (``None``: 8, or the pipeline's). Images of equal working size
            are batched together.
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
    if batch_size is not None:
        check_batch_size(batch_size)
    pipe = load_pipeline(model, processor, device=device)
    options = dict(size=size, temperature=temperature, edge_aware=edge_aware, autocast=autocast, hints=hints)
    return pipe(images, batch_size=batch_size, return_confidence=return_confidence, **options)


def _autocast(like: torch.Tensor, dtype: torch.dtype | None):
    return torch.autocast(like.device.type, dtype) if dtype else contextlib.nullcontext()


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
    with _autocast(pixel_values, autocast):
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
    return suggestions_from_logits(model, logits, light, x, y, top_k)


def suggestions_from_logits(
    model: PreTrainedModel, logits: torch.Tensor, lightness: np.ndarray, x: float, y: float, top_k: int
) -> list[dict]:
    """The top ``top_k`` modes of ``logits`` (one image's, ``(1, bins, grid h, grid w)``) at pixel (x, y) of
    ``lightness`` (the full-resolution photo the model saw), as :func:`suggest_colors` returns them."""
    from colorizers.color import lightness_ab_to_rgb_uint8

    height, width = lightness.shape
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
    pixel_l = np.full((1, 1), lightness[min(int(y), height - 1), min(int(x), width - 1)], np.float32)
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


# `transformers.pipeline("image-colorization", model=...)` builds this class (colorizers' import registers it, as
# it registers the model families with the Auto classes).
PIPELINE_REGISTRY.register_pipeline(
    TASK, pipeline_class=ImageColorizationPipeline, pt_model=AutoModelForImageToImage, type="image"
)

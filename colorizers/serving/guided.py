"""One photo guided by colour hints, click after click, with one forward pass of the model per click.

A click in the app's Guide tab needs three predictions of the model, at the working size: with the hints placed
so far (its likely colours at the clicked point, as :func:`colorizers.suggest_colors` gives them), with the new
hint as well (the result, as :func:`colorizers.colorize` gives it) and without hints (the automatic colours the
result falls back to away from the hints, ``colorizers.processing.hint_locality``). :class:`GuidedPhoto` holds one
decoded photo under one model with the predictions made for it, and computes the ones it lacks in **one**
batched forward pass: the first click runs the model once on two inputs (no hints doubles as "the hints so far"),
every later click once on one input (the previous click made the other two), and undoing a hint runs nothing.

:class:`GuidedPhotos` keeps the recent ones, by upload file and model name within a pixel budget, so a photo is
decoded once per upload instead of once per request. The results are those of ``colorize`` and
``suggest_colors`` (tests/test_app_guide.py compares them), and so are the refusals (``HintError`` and
``ValueError`` with the library's messages).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from colorizers.image_processing_colorizer import working_size
from colorizers.limits import LimitError, admit_pixels, check_deadline, compute
from colorizers.pipelines import has_color_distribution, predicted_ab, suggestions_from_logits
from colorizers.processing.hint_locality import localize_hints
from colorizers.processing.hints import Hint, HintError, parse_hints, render_hints
from colorizers.serving.policy import LoadedModel

Hints = tuple[Hint, ...]  # parsed hints: hashable, a key of the predictions kept
KEEP = 4  # predictions kept per photo: the automatic one, the last click's and the ones an undo comes back to
TOP_K = 5  # suggested colours per click


@dataclass(frozen=True)
class Prediction:
    """The model's output for the photo under some hints: normalised ab and, for a model that predicts a colour
    distribution, its logits (the colours it considered at each cell of its grid)."""

    ab: torch.Tensor  # (1, 2, h, w) at the working size, float32
    logits: torch.Tensor | None  # (1, bins, grid h, grid w); None for a regression model


class GuidedPhoto:
    """A photo's full-resolution lightness under one model, and the predictions made for it so far.

    ``max_working_size`` (the server's limit) refuses a model whose working size is above it (``LimitError``). Requests for the same
    photo take turns (a lock), so two of them never compute the same prediction twice; inside a request each
    result first takes one of the server's compute slots (``colorizers.limits.compute``), then the lock.
    """

    def __init__(self, lightness: np.ndarray, loaded: LoadedModel, *, max_working_size: int | None = None):
        self.lightness, self.loaded = lightness, loaded
        self.height, self.width = lightness.shape
        size = dict(loaded.processor.size)
        edge = max(working_size(self.height, self.width, size))
        if max_working_size is not None and edge > max_working_size:
            raise LimitError(
                f"Model {loaded.name!r} works at {edge} pixels (longest edge), above this server's limit of "
                f"{max_working_size} (max_working_size).",
                limit="max_working_size",
                value=max_working_size,
            )
        self.pixel_values = loaded.processor.preprocess_lightness([lightness], size=size)["pixel_values"]
        self.distribution = has_color_distribution(loaded.model)
        self._predictions: OrderedDict[tuple[Hints, float | None], Prediction] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def pixels(self) -> int:
        return self.height * self.width

    # Checks, before any work -----------------------------------------------------------------------------

    def parse(self, hints: Any) -> Hints:
        """``hints`` (dicts or ``Hint``) checked against the photo's size (``parse_hints``'s refusals)."""
        return tuple(parse_hints(hints, self.width, self.height))

    def check_hints(self, hints: Hints) -> None:
        """Refuse hints for a model without hint inputs (``colorize``'s message)."""
        model = self.loaded.model
        if hints and not getattr(model.config, "use_hints", False):
            raise HintError(
                f"this {model.config.model_type} model has no hint inputs: it cannot take colour hints "
                "(use a hint-capable model such as chroma)"
            )

    def check_distribution(self) -> None:
        """Refuse suggestions from a model that predicts no colour distribution (``suggest_colors``'s message)."""
        if not self.distribution:
            raise ValueError(
                f"this {self.loaded.model.config.model_type} model predicts one colour per pixel: it has no "
                "colours to suggest"
            )

    def check_point(self, x: float, y: float) -> None:
        """Refuse a point outside the photo (the same check as a hint's)."""
        parse_hints([{"x": x, "y": y, "ab": [0, 0]}], self.width, self.height)

    # Results -------------------------------------------------------------------------------------------------

    def colorize(self, hints: Hints, temperature: float | None = None) -> Image.Image:
        """The photo colorized under ``hints`` (parsed and checked), at the input's size."""
        temperature = self._temperature(temperature)
        with compute(), self._lock:  # a compute slot (inside a request), then the photo
            self._predict(self._for_image(hints, temperature))
            return self._image(hints, temperature)

    def suggest(self, x: float, y: float, hints: Hints, top_k: int = TOP_K) -> list[dict]:
        """The model's likely colours at pixel (x, y) under ``hints`` (checked; see :meth:`check_point`)."""
        with compute(), self._lock:  # a compute slot (inside a request), then the photo
            self._predict(self._for_logits(hints, None))
            return self._suggestions(x, y, hints, top_k)

    def click(
        self, x: float, y: float, placed: Hints, guided: Hints, temperature: float | None = None
    ) -> tuple[list[dict], Image.Image]:
        """A click: the likely colours at (x, y) under the hints ``placed`` before it, and the photo colorized
        under ``guided`` (those and the new one), from one forward pass at most."""
        temperature = self._temperature(temperature)
        with compute(), self._lock:  # a compute slot (inside a request), then the photo
            self._predict(self._for_logits(placed, temperature) + self._for_image(guided, temperature))
            return self._suggestions(x, y, placed, TOP_K), self._image(guided, temperature)

    # The predictions -----------------------------------------------------------------------------------------

    def _temperature(self, temperature: float | None) -> float | None:
        return temperature if self.distribution else None  # vividness is for distribution models

    def _for_image(self, hints: Hints, temperature: float | None) -> list[tuple[Hints, float | None]]:
        return [(hints, temperature), ((), temperature)] if hints else [(hints, temperature)]

    def _for_logits(self, hints: Hints, temperature: float | None) -> list[tuple[Hints, float | None]]:
        if self._logits(hints) is not None:  # logits do not depend on the temperature: any kept one serves
            return []
        return [(hints, temperature)]

    def _logits(self, hints: Hints) -> torch.Tensor | None:
        for key in reversed(self._predictions):
            if key[0] == hints:
                self._predictions.move_to_end(key)
                return self._predictions[key].logits
        return None

    def _predict(self, wanted: Sequence[tuple[Hints, float | None]]) -> None:
        """Compute the ``wanted`` predictions not kept yet, in one forward pass (they share one temperature)."""
        missing = [key for key in dict.fromkeys(wanted) if key not in self._predictions]
        if missing:
            ab, logits = self._forward([hints for hints, _ in missing], missing[0][1])
            for index, key in enumerate(missing):
                part = None if logits is None else logits[index : index + 1]
                self._predictions[key] = Prediction(ab[index : index + 1], part)
        for key in wanted:
            self._predictions.move_to_end(key)
        while len(self._predictions) > max(KEEP, len(wanted)):
            self._predictions.popitem(last=False)

    def _forward(self, batch: list[Hints], temperature: float | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        model = self.loaded.model
        parameter = next(model.parameters())
        pixel_values = self.pixel_values.to(parameter.device, parameter.dtype)
        inputs = self._hint_inputs(batch, pixel_values) if any(batch) else {}
        if temperature is not None:
            inputs["temperature"] = temperature
        check_deadline()
        was_training = model.training
        model.eval()
        try:
            with torch.inference_mode():
                outputs = model(pixel_values=pixel_values.repeat(len(batch), 1, 1, 1), **inputs)
                logits = getattr(outputs, "logits", None)
                return predicted_ab(outputs).float(), None if logits is None else logits.float()
        finally:
            model.train(was_training)

    def _hint_inputs(self, batch: list[Hints], like: torch.Tensor) -> dict[str, torch.Tensor]:
        """The hints of each input drawn at the working size (``hint_ab``, ``hint_mask``; zeros for none)."""
        drawn = [render_hints(list(hints), (self.height, self.width), tuple(like.shape[-2:])) for hints in batch]
        hint_ab = torch.from_numpy(np.stack([ab for ab, _ in drawn])).to(like.device, like.dtype)
        hint_mask = torch.from_numpy(np.stack([mask for _, mask in drawn])).to(like.device, like.dtype)
        return {"hint_ab": hint_ab, "hint_mask": hint_mask}

    def _image(self, hints: Hints, temperature: float | None) -> Image.Image:
        """The kept prediction under ``hints``, kept local to the hints, joined with the full-resolution L."""
        ab = self._predictions[hints, temperature].ab
        with torch.inference_mode():
            if hints:  # as colorize(): the hints' effect blended into the automatic prediction near them only
                pixel_values = self.pixel_values.to(ab.device)
                drawn = self._hint_inputs([hints], pixel_values)
                automatic = self._predictions[(), temperature].ab
                ab = localize_hints(automatic, ab, pixel_values, drawn["hint_ab"], drawn["hint_mask"])
            check_deadline()
            return self.loaded.processor.post_process_colorization(ab, [self.lightness])[0]

    def _suggestions(self, x: float, y: float, hints: Hints, top_k: int) -> list[dict]:
        """The top modes of the predicted distribution at (x, y), as ``suggest_colors`` picks them."""
        return suggestions_from_logits(self.loaded.model, self._logits(hints), self.lightness, x, y, top_k)


class GuidedPhotos:
    """The recently guided photos, by upload file and model name: at most ``capacity``, of at most ``max_pixels``
    pixels together (a larger photo is guided without being kept). A photo's lightness is shared by its models."""

    def __init__(self, capacity: int = 4, max_pixels: int = 16_000_000):
        self.capacity = max(0, capacity)
        self.max_pixels = max_pixels
        self._photos: OrderedDict[tuple[Hashable, str], GuidedPhoto] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._photos)

    def get(
        self,
        file: Hashable | None,
        loaded: Callable[[], LoadedModel],
        name: str,
        decode: Callable[[], np.ndarray],
        *,
        max_working_size: int | None = None,
    ) -> GuidedPhoto:
        """The photo of upload ``file`` (None: not to be kept) under model ``name``: kept, or ``decode()``d (its
        lightness, before the model is ``loaded()``: a bad file is refused first). A kept photo is admitted into
        the request's room for its pixels (``colorizers.limits.admit_pixels``), as decoding it would be."""
        with self._lock:
            photo = self._photos.get((file, name)) if file is not None else None
            lightness = photo.lightness if photo is not None else self._lightness(file) if file is not None else None
        if lightness is None:
            lightness = decode()
        else:
            admit_pixels(lightness.size)
        model = loaded()
        if photo is None or photo.loaded is not model:  # the cache may have loaded the model again since
            photo = GuidedPhoto(lightness, model, max_working_size=max_working_size)
            self._keep(file, name, photo)
        return photo

    def _lightness(self, file: Hashable | None) -> np.ndarray | None:
        return next((photo.lightness for (kept, _), photo in self._photos.items() if kept == file), None)

    def _keep(self, file: Hashable | None, name: str, photo: GuidedPhoto) -> None:
        if file is None or photo.pixels > self.max_pixels:
            return
        with self._lock:
            self._photos[file, name] = photo
            self._photos.move_to_end((file, name))
            while len(self._photos) > self.capacity or self._pixels() > self.max_pixels:
                self._photos.popitem(last=False)

    def _pixels(self) -> int:
        return sum({id(photo.lightness): photo.pixels for photo in self._photos.values()}.values())


__all__ = ["KEEP", "TOP_K", "GuidedPhoto", "GuidedPhotos", "Hints", "Prediction"]

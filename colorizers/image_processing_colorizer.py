"""The colorizers image processor: any PIL image -> normalised L at the model's working size, and
predicted ab -> a full-resolution RGB image that keeps the input's own L.

It follows the transformers image-processor API (saved as ``preprocessor_config.json``, loadable
with ``AutoImageProcessor``) on the PIL/NumPy backend; every setting is validated when it is built
(``processor_settings``). It imports only NumPy, PIL, transformers and its siblings ``color.py``,
``upsampling.py`` and ``processor_settings.py`` (and OpenCV when it is installed, for speed), so it
can travel to the Hub as remote code.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image, ImageOps
from transformers.image_processing_backends import PilBackend
from transformers.image_processing_utils import BatchFeature
from transformers.image_utils import PILImageResampling, SizeDict
from transformers.processing_utils import ImagesKwargs

from colorizers.color import gray_to_lightness, normalize_lightness, rgb_to_lab, rgb_to_lightness
from colorizers.processing.processor_settings import (
    MAX_GUIDED_EPS,
    MAX_GUIDED_RADIUS,
    MAX_SIZE,
    MIN_SIZE,
    check_guided_eps,
    check_guided_radius,
    check_settings,
    check_size,
)
from colorizers.processing.upsampling import (  # noqa: F401 - re-exported: these lived here
    BAND_PIXELS,
    GUIDED_EPS,
    GUIDED_RADIUS,
    box_mean,
    guided_upsample,
    resize_plane,
    resize_planes,
    row_bands,
    upsample_to_rgb,
)

_ALPHA_MODES = {"LA", "La", "RGBA", "RGBa", "PA"}


def _composite_on_white(array: np.ndarray) -> np.ndarray:
    """(H, W, C+1) uint8 with alpha last -> (H, W, C) float in [0, 1] over a white background."""
    colour = array[..., :-1].astype(np.float32) / 255.0
    alpha = array[..., -1:].astype(np.float32) / 255.0
    out = colour * alpha + (1.0 - alpha)
    return out[..., 0] if out.shape[-1] == 1 else out


def image_to_array(image: Any) -> np.ndarray:
    """Decode any supported image into sRGB: ``(H, W)`` gray or ``(H, W, 3)`` colour.

    The result is uint8 where the source is 8-bit, else float32 in [0, 1]. Rules per input:

    * PIL: EXIF orientation applied; modes 1/L -> gray; LA/RGBA/PA and palette images with
      transparency are composited on white; I;16* -> /65535; I (32-bit int) -> /255 when every
      value fits 8 bits, else /65535; F -> taken as [0, 1] when its maximum is <= 1, else /255;
      CMYK, YCbCr and other modes through PIL's conversion to RGB.
    * NumPy: ``(H, W)``, ``(H, W, 1|3|4)``; uint8 as is, uint16 /65535, float taken as [0, 1]
      (values outside are clipped), bool as 0/1.
    * torch tensors are converted to NumPy; ``(C, H, W)`` with C in 1, 3, 4 is moved to last.
    """
    if isinstance(image, Image.Image):
        return _pil_to_array(image)
    if type(image).__module__.startswith("torch"):
        image = image.detach().cpu().numpy()
        if image.ndim == 3 and image.shape[0] in (1, 3, 4) and image.shape[-1] not in (1, 3, 4):
            image = np.moveaxis(image, 0, -1)
    if isinstance(image, np.ndarray):
        return _numpy_to_array(image)
    raise TypeError(f"expected a PIL image, a NumPy array or a torch tensor, got {type(image).__name__}")


def _pil_to_array(image: Image.Image) -> np.ndarray:
    image.load()  # decode now so a truncated file fails here, with PIL's own message
    if image.width < 1 or image.height < 1:
        raise ValueError(f"image has no pixels ({image.width}x{image.height})")
    try:
        orientation = image.getexif().get(0x0112, 1)  # EXIF orientation
    except Exception:  # noqa: BLE001 - unreadable EXIF: the pixels as stored
        orientation = 1
    if orientation not in (None, 1):  # exif_transpose copies even when there is nothing to turn
        image = ImageOps.exif_transpose(image)
    mode = image.mode
    if mode == "P":
        mode = "PA" if "transparency" in image.info else "RGB"
        image = image.convert("RGBA" if mode == "PA" else "RGB")
    elif mode == "1":
        image, mode = image.convert("L"), "L"
    if mode in ("L", "RGB"):
        return np.asarray(image)
    if mode in _ALPHA_MODES:
        if mode in ("La", "RGBa"):  # premultiplied alpha: undo it the way PIL knows how
            image = image.convert("LA" if mode == "La" else "RGBA")
        elif mode == "PA":
            image = image.convert("RGBA")
        return _composite_on_white(np.asarray(image))
    if mode.startswith("I;16"):
        return np.asarray(image, dtype=np.float32) / 65535.0
    if mode == "I":
        values = np.asarray(image, dtype=np.float32)
        scale = 255.0 if values.max(initial=0) <= 255 else 65535.0
        return np.clip(values / scale, 0.0, 1.0)
    if mode == "F":
        values = np.nan_to_num(np.asarray(image, dtype=np.float32))
        scale = 1.0 if values.max(initial=0) <= 1.0 else 255.0
        return np.clip(values / scale, 0.0, 1.0)
    try:
        return np.asarray(image.convert("RGB"))
    except (ValueError, OSError) as error:
        raise ValueError(f"cannot convert a PIL image of mode {image.mode!r} to RGB: {error}") from error


def _numpy_to_array(array: np.ndarray) -> np.ndarray:
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise ValueError(f"expected an array shaped (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {array.shape}")
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"image has no pixels ({array.shape})")
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    elif array.dtype == np.uint16:
        array = array.astype(np.float32) / 65535.0
    elif array.dtype != np.uint8:
        array = np.clip(np.nan_to_num(array.astype(np.float32)), 0.0, 1.0)
    if array.ndim == 3 and array.shape[-1] == 4:
        if array.dtype == np.uint8:
            return _composite_on_white(array)
        return array[..., :3] * array[..., 3:] + (1.0 - array[..., 3:])
    return array


def image_to_lightness(image: Any) -> np.ndarray:
    """Any supported image -> CIELAB L, float32 ``(H, W)`` at full resolution (large images in bands of rows)."""
    array = image_to_array(image)
    convert = gray_to_lightness if array.ndim == 2 else rgb_to_lightness
    height, width = array.shape[:2]
    if height * width <= BAND_PIXELS:
        return convert(array)
    lightness = np.empty((height, width), np.float32)
    for start, stop in row_bands(height, width):
        lightness[start:stop] = convert(array[start:stop])
    return lightness


def image_to_lab(image: Any) -> np.ndarray:
    """Any supported image -> CIELAB float32 ``(H, W, 3)``; gray images get ab = 0."""
    array = image_to_array(image)
    if array.ndim == 3:
        return rgb_to_lab(array)
    lab = np.zeros(array.shape + (3,), np.float32)
    lab[..., 0] = gray_to_lightness(array)
    return lab


def working_size(height: int, width: int, size: SizeDict | dict) -> tuple[int, int]:
    """The (height, width) a model sees for an image of ``height`` x ``width``.

    ``size`` is ``{"height", "width"}`` (fixed, aspect ignored: batches of mixed shapes stack), or
    ``{"longest_edge"}`` / ``{"shortest_edge"}`` (aspect ratio kept, rounded to whole pixels).
    """
    size = dict(size)
    if size.get("height") and size.get("width"):
        return int(size["height"]), int(size["width"])
    for key, pick in (("longest_edge", max), ("shortest_edge", min)):
        if size.get(key):
            scale = size[key] / pick(height, width)
            return max(1, round(height * scale)), max(1, round(width * scale))
    raise ValueError(f"size must hold 'height' and 'width', 'longest_edge' or 'shortest_edge', got {size}")


def nominal_edge(size: SizeDict | dict) -> int | None:
    """The one number of pixels a size dict stands for, to tell a user ("works at 224 px"): its
    ``longest_edge``, else the larger of ``height`` and ``width``, else its ``shortest_edge``; None
    when it holds none of them."""
    size = dict(size)
    edge = (
        size.get("longest_edge") or max(size.get("height") or 0, size.get("width") or 0) or size.get("shortest_edge")
    )
    return int(edge) if edge else None


class ColorizerImageProcessorKwargs(ImagesKwargs, total=False):
    return_lightness: bool
    edge_aware: bool
    guided_radius: int
    guided_eps: float


class ColorizerImageProcessor(PilBackend):
    r"""Turns images into the L input of a colorization model and its ab output back into images.

    ``preprocess`` (or calling the processor) returns a ``BatchFeature`` with

    * ``pixel_values``: L normalised to [-1, 1] (``colorizers.color``), shaped (B, 1, h, w) at the
      working size given by ``size``; a list of (1, h, w) when shapes differ within the batch;
    * ``original_sizes``: the (height, width) of every input;
    * ``lightness`` (with ``return_lightness=True``): every input's L at full resolution, for
      ``post_process_colorization``.

    Colour inputs are treated as their grayscale version: only their L is used.

    Args:
        size (`dict[str, int]`, defaults to `{"longest_edge": 256}`):
            Working size: `{"height", "width"}`, `{"longest_edge"}` or `{"shortest_edge"}`.
        resample (`PILImageResampling`, defaults to `BILINEAR`):
            Filter used to resize L to the working size (and ab back to full size when
            `edge_aware=False`).
        edge_aware (`bool`, defaults to `True`):
            Upsample predicted ab with the fast guided filter (``guided_upsample``), the full-resolution
            L as the guide, so colour stops at the edges of L; `False` resizes ab with `resample` alone.
        guided_radius (`int`, defaults to `GUIDED_RADIUS`):
            Window radius of the guided filter, in pixels of the ab prediction.
        guided_eps (`float`, defaults to `GUIDED_EPS`):
            Regularisation of the guided filter, on L scaled to [0, 1].
    """

    model_input_names = ["pixel_values"]
    valid_kwargs = ColorizerImageProcessorKwargs
    size = {"longest_edge": 256}
    default_to_square = True
    resample = PILImageResampling.BILINEAR
    do_resize = True
    do_rescale = False
    do_normalize = False
    do_convert_rgb = False
    return_lightness = False
    edge_aware = True
    guided_radius = GUIDED_RADIUS
    guided_eps = GUIDED_EPS

    def __init__(self, **kwargs):
        settings = set(self.valid_kwargs.__annotations__)
        for key in kwargs:  # transformers sets every key as an attribute: none may replace a method
            if key not in settings and (key.startswith("_") or hasattr(type(self), key)):
                raise ValueError(f"{key} is not a setting of the colorizers image processor")
        if kwargs.get("size") is not None:  # before transformers turns a bad one into its own error
            check_size(kwargs["size"])
        super().__init__(**kwargs)
        check_settings(self)

    def process_image(self, image, **kwargs) -> np.ndarray:
        """Any supported input -> its CIELAB L, (1, H, W) float32 at full resolution."""
        return image_to_lightness(image)[None]

    def _preprocess(
        self,
        images: list[np.ndarray],
        do_resize: bool = True,
        size: SizeDict | None = None,
        resample=None,
        return_tensors=None,
        return_lightness: bool = False,
        **kwargs,
    ) -> BatchFeature:
        return self.preprocess_lightness(
            [lightness[0] for lightness in images],
            size=size if do_resize else None,
            resample=resample,
            return_tensors=return_tensors,
            return_lightness=return_lightness,
        )

    def preprocess_lightness(
        self,
        lightness: list[np.ndarray],
        *,
        size: SizeDict | dict | None = None,
        resample=None,
        return_tensors="pt",
        return_lightness: bool = False,
    ) -> BatchFeature:
        """Like ``preprocess`` but from already decoded full-resolution L planes ``(H, W)`` in [0, 100].

        ``size=None`` keeps each plane's own size.
        """
        resample = self.resample if resample is None else resample
        pixel_values, original_sizes = [], []
        for plane in lightness:
            height, width = plane.shape
            original_sizes.append((height, width))
            target = working_size(height, width, size) if size is not None else (height, width)
            pixel_values.append(normalize_lightness(resize_plane(plane, *target, resample))[None])
        skip = ["original_sizes", "lightness"]
        if len({values.shape for values in pixel_values}) == 1:
            pixel_values = np.stack(pixel_values)
        else:  # ragged: one tensor per image
            skip.append("pixel_values")
            if str(return_tensors) in ("pt", "TensorType.PYTORCH"):
                import torch

                pixel_values = [torch.from_numpy(values) for values in pixel_values]
        data = {"pixel_values": pixel_values, "original_sizes": original_sizes}
        if return_lightness:
            data["lightness"] = list(lightness)
        return BatchFeature(data=data, tensor_type=return_tensors, skip_tensor_conversion=skip)

    def post_process_colorization(
        self, predicted_ab, lightness, *, output_type: str = "pil", edge_aware: bool | None = None
    ) -> list:
        """Join predicted ab with the original full-resolution L.

        Args:
            predicted_ab: normalised ab, a (B, 2, h, w) tensor or array, or a list of (2, h, w), at
                any resolution (the working size, or a fraction of it).
            lightness: the full-resolution L of each input, a list of (H, W) arrays (from
                ``preprocess(..., return_lightness=True)``).
            output_type: ``"pil"`` for PIL RGB images, ``"np"`` for uint8 (H, W, 3) arrays.
            edge_aware: overrides the processor's ``edge_aware`` for this call (``None``: keep it).

        The ab planes are upsampled to each input's own size, edge-aware (guided by the full-resolution
        L) unless ``edge_aware`` is off, and recombined with its own L, so no detail is lost whatever
        the working size; out-of-gamut colours lose chroma, not lightness. An ab prediction at least as
        large as its image on both sides is resized plainly: there is nothing to upsample. Images above
        ``BAND_PIXELS`` are processed in bands of rows (``colorizers.processing.upsampling``), without full-size float planes.
        """
        if output_type not in ("pil", "np"):
            raise ValueError(f"output_type must be 'pil' or 'np', got {output_type!r}")
        if len(predicted_ab) != len(lightness):
            raise ValueError(f"got {len(predicted_ab)} ab predictions for {len(lightness)} images")
        edge_aware = self.edge_aware if edge_aware is None else edge_aware
        if edge_aware:
            radius, eps = self.guided_radius, self.guided_eps
            check_guided_radius(radius)  # again: they may have been changed since the processor was built
            check_guided_eps(eps)
        outputs = []
        for ab, light in zip(predicted_ab, lightness):
            ab = ab.detach().float().cpu().numpy() if hasattr(ab, "detach") else np.asarray(ab, np.float32)
            if ab.ndim != 3 or ab.shape[0] != 2:
                raise ValueError(f"each ab prediction must be shaped (2, h, w), got {ab.shape}")
            outputs.append(
                upsample_to_rgb(
                    ab,
                    light,
                    edge_aware=edge_aware,
                    radius=radius if edge_aware else 1,
                    eps=eps if edge_aware else 1e-3,
                    resample=self.resample,
                    as_image=output_type == "pil",
                )
            )
        return outputs


__all__ = [
    "MAX_GUIDED_EPS",
    "MAX_GUIDED_RADIUS",
    "MAX_SIZE",
    "MIN_SIZE",
    "ColorizerImageProcessor",
    "check_settings",
    "check_size",
    "guided_upsample",
    "image_to_array",
    "image_to_lab",
    "image_to_lightness",
    "nominal_edge",
    "working_size",
]

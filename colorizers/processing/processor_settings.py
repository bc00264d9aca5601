"""What a ``ColorizerImageProcessor`` may be set to: every setting a ``preprocessor_config.json`` can hold is
checked for type and range when the processor is built (``check_settings``), so that a config from anywhere
is refused with a ``ValueError`` naming the field and what it may hold, never a traceback in the middle of
colorizing or a working plane of a billion pixels.

Like the processor, it imports only NumPy, transformers and the standard library, so it travels to the Hub
as remote code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from transformers.image_utils import PILImageResampling, SizeDict

# Bounds of the settings a processor (and so a ``preprocessor_config.json``) may hold: anything outside is refused
# when the processor is built, before a working plane of a billion pixels or a guided-filter window of that
# radius can be allocated.
MIN_SIZE, MAX_SIZE = 8, 4096  # pixels of a size dict's every value (the presets work at 32 to 256)
MAX_GUIDED_RADIUS = 64  # pixels of the ab prediction (the default is 1)
MAX_GUIDED_EPS = 1.0  # on L scaled to [0, 1]: anything above smooths like a plain resize already
SIZE_FORMS = ({"height", "width"}, {"longest_edge"}, {"shortest_edge"})
_BOOLEAN_SETTINGS = (
    "do_resize",
    "do_rescale",
    "do_normalize",
    "do_convert_rgb",
    "default_to_square",
    "return_lightness",
    "edge_aware",
    "do_pad",
    "do_center_crop",
    "disable_grouping",
)
# transformers settings this processor has no use for: a config that sets one is not a colorizers config
_UNUSED_SETTINGS = (
    "crop_size",
    "pad_size",
    "image_mean",
    "image_std",
    "data_format",
    "input_data_format",
    "device",
    "return_tensors",
    "image_seq_length",
)


def _is_whole(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def check_size(size: Any) -> None:
    """A processor's ``size``: ``{"longest_edge": n}``, ``{"shortest_edge": n}`` or ``{"height": h, "width": w}``,
    each a whole number of pixels from ``MIN_SIZE`` to ``MAX_SIZE``; ``ValueError`` naming what is wrong otherwise."""
    forms = '{"longest_edge": n}, {"shortest_edge": n} or {"height": h, "width": w}'
    if not isinstance(size, (Mapping, SizeDict)):
        raise ValueError(f"size must be a dict, {forms}, got {size!r}")
    values = {key: value for key, value in dict(size).items() if value is not None}
    if set(values) not in SIZE_FORMS:
        raise ValueError(f"size must be one of {forms}, got {values!r}")
    for key, value in values.items():
        if not _is_whole(value) or not MIN_SIZE <= value <= MAX_SIZE:
            raise ValueError(
                f"size[{key!r}] must be a whole number of pixels from {MIN_SIZE} to {MAX_SIZE}, got {value!r}"
            )


def check_guided_radius(radius: Any) -> None:
    if not _is_whole(radius) or not 0 <= radius <= MAX_GUIDED_RADIUS:
        raise ValueError(
            f"guided_radius must be a whole number of pixels from 0 to {MAX_GUIDED_RADIUS}, got {radius!r}"
        )


def check_guided_eps(eps: Any) -> None:
    if not _is_real(eps) or not math.isfinite(eps) or not 0 < eps <= MAX_GUIDED_EPS:
        raise ValueError(f"guided_eps must be a number above 0 and at most {MAX_GUIDED_EPS:g}, got {eps!r}")


def check_settings(processor: Any) -> None:
    """Every setting of a ``ColorizerImageProcessor`` of the type and in the range it is used with, so that a
    ``preprocessor_config.json`` from anywhere is refused when loaded (``ValueError`` naming the field and what it
    may hold), never a traceback in the middle of colorizing or a gigantic allocation."""
    check_size(processor.size)
    resample = processor.resample
    allowed = {int(member) for member in PILImageResampling}
    if not _is_whole(resample) or int(resample) not in allowed:
        names = ", ".join(f"{int(member)} ({member.name})" for member in sorted(PILImageResampling, key=int))
        raise ValueError(f"resample must be one of PIL's resampling filters {names}, got {resample!r}")
    for name in _BOOLEAN_SETTINGS:
        value = getattr(processor, name, None)
        if value is not None and not isinstance(value, (bool, np.bool_)):
            raise ValueError(f"{name} must be true or false, got {value!r}")
    check_guided_radius(processor.guided_radius)
    check_guided_eps(processor.guided_eps)
    factor = processor.rescale_factor
    if factor is not None and (not _is_real(factor) or not math.isfinite(factor) or factor <= 0):
        raise ValueError(f"rescale_factor must be a positive number, got {factor!r}")
    for name in _UNUSED_SETTINGS:
        value = getattr(processor, name, None)
        if value is not None:
            raise ValueError(
                f"{name} is not a setting of the colorizers image processor (it must be absent), got {value!r}"
            )


__all__ = [
    "MAX_GUIDED_EPS",
    "MAX_GUIDED_RADIUS",
    "MAX_SIZE",
    "MIN_SIZE",
    "SIZE_FORMS",
    "check_guided_eps",
    "check_guided_radius",
    "check_settings",
    "check_size",
]

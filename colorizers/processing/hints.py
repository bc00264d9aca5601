"""Colour hints: the extra input of hint-capable models (hint ab + mask), simulated for training.

A hint says "this spot has this colour". Models with ``config.use_hints`` take two normalised ab
channels (zero where no hint) and a mask channel (1 where a hint is). Training shows them random
true-colour hints on part of the images (Zhang et al. 2017, "Real-Time User-Guided Image
Colorization with Learned Deep Priors": a geometric number of hints, small square patches whose
colour is the patch's mean ab), and no hints on the rest, so one model serves both uses.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from colorizers.color import rgb_to_lab


def simulate_hints(
    labels: torch.Tensor,
    generator: torch.Generator,
    *,
    probability: float = 0.5,
    mean_hints: float = 8.0,
    max_hints: int = 64,
    max_patch: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random true-colour hints for normalised ab ``labels`` (B, 2, H, W).

    Each image gets hints with ``probability``; their number follows a geometric distribution of mean
    ``mean_hints`` (at most ``max_hints``), each a square patch of side 1..``max_patch`` pixels (default
    about 1/16 of the shorter side) at a uniform position, holding the patch's mean ab. Returns
    ``(hint_ab, hint_mask)`` shaped (B, 2, H, W) and (B, 1, H, W) on the labels' device.
    """
    if not 0 <= probability <= 1:
        raise ValueError(f"probability must be in [0, 1], got {probability}")
    if mean_hints < 1:
        raise ValueError(f"mean_hints must be at least 1, got {mean_hints}")
    batch, _, height, width = labels.shape
    max_patch = max_patch or max(1, min(height, width) // 16)
    hint_ab = torch.zeros_like(labels)
    hint_mask = labels.new_zeros(batch, 1, height, width)
    draws = torch.rand(batch, generator=generator)
    # geometric on {1, 2, ...} with mean `mean_hints`: P(n) = p (1 - p)^(n - 1), p = 1 / mean
    uniform = torch.rand(batch, generator=generator).clamp_min(1e-12)
    if mean_hints > 1:
        counts = (torch.log(uniform) / math.log(1.0 - 1.0 / mean_hints)).floor().long() + 1
    else:
        counts = torch.ones(batch, dtype=torch.long)
    counts = counts.clamp(1, max_hints)
    for index in range(batch):
        if draws[index] >= probability:
            continue
        number = int(counts[index])
        sides = torch.randint(1, max_patch + 1, (number,), generator=generator).tolist()
        tops = torch.rand(number, generator=generator).tolist()
        lefts = torch.rand(number, generator=generator).tolist()
        for side, top, left in zip(sides, tops, lefts):
            side_h, side_w = min(side, height), min(side, width)
            y, x = int(top * (height - side_h + 1)), int(left * (width - side_w + 1))
            patch = labels[index, :, y : y + side_h, x : x + side_w]
            hint_ab[index, :, y : y + side_h, x : x + side_w] = patch.mean(dim=(1, 2), keepdim=True)
            hint_mask[index, :, y : y + side_h, x : x + side_w] = 1.0
    return hint_ab, hint_mask


# ----------------------------------------------------------------------------------------------
# User hints: parsed, checked, and drawn at the model's working size
# ----------------------------------------------------------------------------------------------

MAX_HINTS = 1000
AB_LIMIT = 110.0  # |a|, |b| beyond this are outside every screen's gamut (colorizers.color.AB_SCALE)


class HintError(ValueError):
    """A hint that cannot be used; the message names which one and why."""


@dataclass(frozen=True)
class Hint:
    """One user hint: the point (x, y) in the original image's pixels, a radius and an ab colour.

    The colour is kept as CIELAB a*b*: a hint says "this hue and saturation here", applied at the
    image's own lightness (a light-blue pick on a dark coat gives a dark blue coat).
    """

    x: float
    y: float
    a: float
    b: float
    radius: float | None = None  # original pixels; None: 1% of the image's longer side

    def to_dict(self) -> dict:
        data = {"x": self.x, "y": self.y, "ab": [round(self.a, 3), round(self.b, 3)]}
        if self.radius is not None:
            data["radius"] = self.radius
        return data


def color_to_ab(color: Any) -> tuple[float, float]:
    """A colour as ``#rrggbb`` / ``#rgb`` text, an (r, g, b) triple of 0..255, or ``{"ab": [a, b]}``,
    ``{"rgb": [r, g, b]}``, ``{"hex": "#..."}`` -> its CIELAB (a, b)."""
    if isinstance(color, dict):
        if "ab" in color:
            a, b = _numbers(color["ab"], 2, "ab")
            if abs(a) > AB_LIMIT or abs(b) > AB_LIMIT:
                raise HintError(
                    f"ab colour ({a:g}, {b:g}) is outside [-{AB_LIMIT:g}, {AB_LIMIT:g}]: no screen shows it"
                )
            return a, b
        if "rgb" in color:
            return color_to_ab(color["rgb"])
        if "hex" in color:
            return color_to_ab(color["hex"])
        raise HintError(f"a colour object needs 'ab', 'rgb' or 'hex', got keys {sorted(color)}")
    if isinstance(color, str):
        text = color.strip().lstrip("#")
        if len(text) == 3:
            text = "".join(c * 2 for c in text)
        if len(text) != 6 or any(c not in "0123456789abcdefABCDEF" for c in text):
            raise HintError(f"colour {color!r} is not #rrggbb or #rgb hex")
        rgb = [int(text[i : i + 2], 16) for i in (0, 2, 4)]
    else:
        rgb = _numbers(color, 3, "rgb")
        if any(not 0 <= v <= 255 for v in rgb):
            raise HintError(f"rgb colour {tuple(rgb)} must have components in 0..255")
    lab = rgb_to_lab(np.array([[rgb]], np.float32) / 255.0)[0, 0]
    return float(lab[1]), float(lab[2])


def _numbers(values: Any, count: int, what: str) -> list[float]:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__") or len(values) != count:
        raise HintError(f"{what} needs {count} numbers, got {values!r}")
    try:
        numbers = [float(v) for v in values]
    except (TypeError, ValueError):
        raise HintError(f"{what} needs {count} numbers, got {values!r}") from None
    if not all(math.isfinite(v) for v in numbers):
        raise HintError(f"{what} needs finite numbers, got {values!r}")
    return numbers


def parse_hints(hints: Any, width: int, height: int) -> list[Hint]:
    """Check user hints against an image of ``width`` x ``height`` pixels.

    Each hint is a `Hint` or a dict ``{"x": .., "y": .., "color": <see color_to_ab>, "radius": ..}``
    (``"ab"``, ``"rgb"`` or ``"hex"`` may stand in for ``"color"``). Points must lie inside the
    image; radii are clamped to [0, a quarter of the longer side]; at most 1,000 hints.
    """
    if hints is None:
        return []
    if isinstance(hints, (str, bytes, dict)) or not hasattr(hints, "__iter__"):
        raise HintError(f"hints must be a list of hints, got {type(hints).__name__}")
    hints = list(hints)
    if len(hints) > MAX_HINTS:
        raise HintError(f"{len(hints)} hints given; at most {MAX_HINTS} are accepted")
    parsed = []
    for number, hint in enumerate(hints, start=1):
        try:
            parsed.append(_parse_one(hint, width, height))
        except HintError as error:
            raise HintError(f"hint {number}: {error}") from None
    return parsed


def _parse_one(hint: Any, width: int, height: int) -> Hint:
    if isinstance(hint, Hint):
        x, y, (a, b), radius = hint.x, hint.y, color_to_ab({"ab": [hint.a, hint.b]}), hint.radius
    elif isinstance(hint, dict):
        unknown = set(hint) - {"x", "y", "radius", "color", "ab", "rgb", "hex"}
        if unknown:
            raise HintError(f"unknown keys {sorted(unknown)}")
        if "x" not in hint or "y" not in hint:
            raise HintError("needs 'x' and 'y' (pixels from the top-left corner)")
        x, y = _numbers([hint["x"], hint["y"]], 2, "x, y")
        colour_keys = [key for key in ("color", "ab", "rgb", "hex") if key in hint]
        if len(colour_keys) != 1:
            raise HintError("needs exactly one colour: 'color', 'ab', 'rgb' or 'hex'")
        key = colour_keys[0]
        a, b = color_to_ab(hint[key] if key == "color" else {key: hint[key]})
        radius = hint.get("radius")
        if radius is not None:
            (radius,) = _numbers([radius], 1, "radius")
    else:
        raise HintError(f"must be a Hint or a dict, got {type(hint).__name__}")
    if not (0 <= x < width and 0 <= y < height):
        raise HintError(f"point ({x:g}, {y:g}) is outside the {width}x{height} image")
    if radius is not None:
        radius = min(max(radius, 0.0), max(width, height) / 4)
    return Hint(x=x, y=y, a=a, b=b, radius=radius)


def render_hints(hints: list[Hint], original_size: tuple[int, int], working_size: tuple[int, int]):
    """Hints drawn as discs at the working size: ``(hint_ab, hint_mask)`` float32 arrays shaped
    (2, h, w) and (1, h, w), ab normalised (ab / 110). Later hints cover earlier ones.

    Every hint covers at least the working-size pixel its point falls in.
    """
    height, width = original_size
    work_h, work_w = working_size
    hint_ab = np.zeros((2, work_h, work_w), np.float32)
    hint_mask = np.zeros((1, work_h, work_w), np.float32)
    scale_x, scale_y = work_w / width, work_h / height
    rows, columns = np.mgrid[0:work_h, 0:work_w]
    for hint in hints:
        radius = hint.radius if hint.radius is not None else 0.01 * max(width, height)
        centre_x, centre_y = (hint.x + 0.5) * scale_x - 0.5, (hint.y + 0.5) * scale_y - 0.5
        disc = ((columns - centre_x) / max(radius * scale_x, 0.5)) ** 2 + (
            (rows - centre_y) / max(radius * scale_y, 0.5)
        ) ** 2 <= 1
        disc[min(int(hint.y * scale_y), work_h - 1), min(int(hint.x * scale_x), work_w - 1)] = True
        hint_ab[0][disc], hint_ab[1][disc] = hint.a / AB_LIMIT, hint.b / AB_LIMIT
        hint_mask[0][disc] = 1.0
    return hint_ab, hint_mask


MAX_HINTS_JSON_BYTES = 1_000_000  # hints sent as JSON text (1,000 hints take about 60 kB)
MAX_HINTS_FILE_BYTES = 16_000_000  # a hints file (it may map many file names to their hints)
MAX_JSON_DEPTH = 16  # [ and { inside each other; hints need 6 at most
_STRUCTURE = re.compile(r'[\[\]{}"\\]')


def json_depth(text: str, stop: int = MAX_JSON_DEPTH) -> int:
    """How deeply ``[`` and ``{`` nest in JSON ``text`` (strings skipped), counting no further than ``stop + 1``."""
    depth = deepest = 0
    in_string, escaped_until = False, -1
    for match in _STRUCTURE.finditer(text):
        position, character = match.start(), match.group()
        if position < escaped_until:
            continue
        if in_string:
            if character == "\\":
                escaped_until = position + 2
            elif character == '"':
                in_string = False
        elif character == '"':
            in_string = True
        elif character in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > stop:
                break
        elif character in "]}":
            depth -= 1
    return deepest


def parse_hints_json(text: str | bytes, *, max_bytes: int = MAX_HINTS_JSON_BYTES, what: str = "The hints text") -> Any:
    """JSON text (of hints) as Python data; text over ``max_bytes`` or nested deeper than :data:`MAX_JSON_DEPTH` is
    refused before it is parsed. Raises :class:`HintError` with one line starting with ``what``."""
    size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise HintError(f"{what} is {size:,} bytes, above the limit of {max_bytes:,} bytes")
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        if json_depth(text) > MAX_JSON_DEPTH:
            raise HintError(f"{what} is nested too deeply (more than {MAX_JSON_DEPTH} levels of [ ] and {{ }})")
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise HintError(f"{what} is not valid JSON: {error}") from None
    except RecursionError:  # the depth check above makes this unreachable; kept as a guard
        raise HintError(f"{what} is nested too deeply") from None


def load_hints_file(path: str, max_bytes: int = MAX_HINTS_FILE_BYTES) -> Any:
    """Hints from a JSON file: a list of hints, or ``{"hints": [...]}``, or ``{"file name": [...], ...}``.

    Only a regular file of at most ``max_bytes`` is read: a named pipe, a device (``/dev/zero``), a socket or a
    folder is refused without reading from it (nor waiting for a writer)."""
    from pathlib import Path

    try:
        descriptor = os.open(Path(path).expanduser(), os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except (OSError, RuntimeError) as error:
        raise HintError(f"cannot read hints file {path}: {getattr(error, 'strerror', None) or error}") from None
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "a named pipe, device or socket"
            raise HintError(f"hints file {path} is not a regular file ({kind})")
        with os.fdopen(os.dup(descriptor), "rb") as file:
            data = file.read(max_bytes + 1)
    except OSError as error:
        raise HintError(f"cannot read hints file {path}: {error.strerror or error}") from None
    finally:
        os.close(descriptor)
    if len(data) > max_bytes:
        raise HintError(f"hints file {path} is larger than the limit of {max_bytes:,} bytes")
    data = parse_hints_json(data, max_bytes=max_bytes, what=f"hints file {path}")
    if isinstance(data, dict) and set(data) == {"hints"}:
        data = data["hints"]
    if not isinstance(data, (list, dict)):
        raise HintError(f"hints file {path} must hold a list of hints or an object mapping file names to lists")
    return data

"""Temporal stability for video colorization, for any model.

Colorizing a film frame by frame makes its colours flicker: a model's prediction for the same wall
changes a little with every shift of the framing. :class:`TemporalStabilizer` removes that flicker
after the model, so it works with every model. It runs at the model's working size, on the L the
model saw and the ab it predicted (a few thousand pixels, a millisecond or two a frame):

1. **Motion.** Dense optical flow (OpenCV's DIS) from the current L to the previous L gives, for
   every pixel, where it was in the previous frame.
2. **Fit.** The previous L is warped along that flow and compared with the current L, after removing
   the mean brightness change (old films flicker in brightness too): the residual ``r`` per pixel
   says how well the warp explains the new frame.
3. **Scene cut.** When more than ``cut_fraction`` of the pixels are unexplained (``r`` above
   ``cut_residual`` L units), or the flow leaves the frame for most of them, the shot has changed:
   the memory is dropped and the frame takes the model's prediction as it is.
4. **Blend.** Within a shot the previous output ab is carried forward along the flow and blended
   with the fresh prediction: ``ab = w * warp(ab_prev) + (1 - w) * ab_pred`` with
   ``w = carry * exp(-(r / tolerance)^2)``, and ``w = 0`` where the flow points outside the previous
   frame. Occlusions, new content and moving objects the warp does not explain take the fresh
   prediction; the rest is an exponential average along motion paths over about
   ``1 / (1 - carry)`` frames, so random frame-to-frame changes shrink while colour still follows
   the content.

The defaults (``carry`` 0.97, ``tolerance`` 8 L units, a cut when 30% of the pixels are off by more
than 6 L units, DIS's MEDIUM preset) were chosen on the synthetic clips of ``benchmarks/video.py``,
whose true motion and colours are known; on every pair of kodak24 photos the cut test fires with a
wide margin, and within those clips' shots it never comes close.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MIN_FLOW_EDGE = 16  # below this many pixels a side, DIS has too little to work on: no carrying


def lightness_to_uint8(lightness: np.ndarray) -> np.ndarray:
    """CIELAB L in [0, 100] -> uint8 0..255, the input DIS flow takes."""
    return cv2.convertScaleAbs(np.asarray(lightness, np.float32), alpha=2.55)


@dataclass
class MotionFit:
    """How the previous frame maps onto the current one."""

    map_x: np.ndarray  # where each current pixel was in the previous frame (float32 pixels)
    map_y: np.ndarray
    inside: np.ndarray  # bool: that place lies inside the previous frame
    residual: np.ndarray  # |L - warped previous L| after removing the mean brightness change
    unexplained: float  # fraction of pixels the warp does not explain (outside, or residual > cut_residual)


class TemporalStabilizer:
    """Carries colour along optical flow from frame to frame within a shot (see the module's doc).

    Call it on each frame in order with the L the model saw (``(h, w)``, 0..100) and the ab it
    predicted (``(2, h, w)``, normalised or not: it is returned in the same units); it returns the
    stabilized ab. ``last_cut`` tells whether that frame started a new shot.
    """

    def __init__(
        self,
        carry: float = 0.97,
        tolerance: float = 8.0,
        cut_residual: float = 6.0,
        cut_fraction: float = 0.3,
        preset: int = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
    ):
        if not 0.0 <= carry < 1.0:
            raise ValueError(f"carry must be in [0, 1), got {carry}")
        if tolerance <= 0 or cut_residual <= 0 or not 0.0 < cut_fraction <= 1.0:
            raise ValueError("tolerance and cut_residual must be positive, cut_fraction in (0, 1]")
        self.carry, self.tolerance = float(carry), float(tolerance)
        self.cut_residual, self.cut_fraction = float(cut_residual), float(cut_fraction)
        self._flow = cv2.DISOpticalFlow_create(preset)
        self.reset()

    def reset(self) -> None:
        """Forget the previous frame: the next one starts a new shot."""
        self._light = self._light_u8 = self._ab = self._grid = None
        self.last_cut = True

    def fit(
        self,
        previous: np.ndarray,
        current: np.ndarray,
        previous_u8: np.ndarray | None = None,
        current_u8: np.ndarray | None = None,
    ) -> MotionFit:
        """Flow from ``current`` back to ``previous`` (two L planes of one shape) and how well it fits."""
        height, width = current.shape
        if self._grid is None or self._grid[0].shape != current.shape:
            self._grid = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
        previous_u8 = lightness_to_uint8(previous) if previous_u8 is None else previous_u8
        current_u8 = lightness_to_uint8(current) if current_u8 is None else current_u8
        flow = self._flow.calc(current_u8, previous_u8, None)
        map_x, map_y = self._grid[0] + flow[..., 0], self._grid[1] + flow[..., 1]
        inside = (map_x >= -0.5) & (map_x <= width - 0.5) & (map_y >= -0.5) & (map_y <= height - 0.5)
        warped = cv2.remap(previous, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        difference = current - warped
        if inside.any():
            difference -= np.float32(difference[inside].mean())  # a global brightness change is not motion
        residual = np.abs(difference)
        unexplained = float(np.mean(~inside | (residual > self.cut_residual)))
        return MotionFit(map_x, map_y, inside, residual, unexplained)

    def is_cut(self, fit: MotionFit) -> bool:
        return fit.unexplained > self.cut_fraction

    def __call__(self, lightness: np.ndarray, ab: np.ndarray) -> np.ndarray:
        lightness = np.ascontiguousarray(lightness, np.float32)
        ab = np.asarray(ab, np.float32)
        if ab.ndim != 3 or ab.shape[0] != 2 or ab.shape[1:] != lightness.shape:
            raise ValueError(f"ab must be shaped (2, h, w) like the L plane {lightness.shape}, got {ab.shape}")
        light_u8 = lightness_to_uint8(lightness)
        output = ab
        cut = self._light is None or self._light.shape != lightness.shape or min(lightness.shape) < MIN_FLOW_EDGE
        if not cut:
            fit = self.fit(self._light, lightness, self._light_u8, light_u8)
            cut = self.is_cut(fit)
            if not cut:
                carried = cv2.remap(self._ab, fit.map_x, fit.map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                weight = np.exp(-np.square(fit.residual * np.float32(1.0 / self.tolerance)))
                weight *= np.float32(self.carry) * fit.inside
                fresh = np.moveaxis(ab, 0, -1)
                blended = fresh + weight[..., None] * (carried - fresh)
                output = np.ascontiguousarray(np.moveaxis(blended, -1, 0))
        self.last_cut = cut
        self._light, self._light_u8 = lightness, light_u8
        self._ab = np.ascontiguousarray(np.moveaxis(output, 0, -1))
        return output


def scene_cuts(lightness_frames, **options) -> list[int]:
    """Indices of the frames that start a new shot (always including 0), from their L planes alone."""
    stabilizer = TemporalStabilizer(**options)
    cuts, previous, previous_u8 = [], None, None
    for index, light in enumerate(lightness_frames):
        light = np.ascontiguousarray(light, np.float32)
        light_u8 = lightness_to_uint8(light)
        if (
            previous is None
            or previous.shape != light.shape
            or stabilizer.is_cut(stabilizer.fit(previous, light, previous_u8, light_u8))
        ):
            cuts.append(index)
        previous, previous_u8 = light, light_u8
    return cuts


__all__ = ["MotionFit", "TemporalStabilizer", "lightness_to_uint8", "scene_cuts"]

"""sRGB <-> CIELAB (D65 white, 2 degree observer), numerically matching scikit-image.

Two implementations with the same maths:

* NumPy, channels-last ``(..., 3)``, float32, for pre/post-processing of images of any size;
* torch, channels-first ``(B, 3, H, W)``, batched and differentiable, for losses and metrics on GPU.

The one normalisation used by every processor, model, loss and metric in colorizers:

    model input   L_norm  = L / 50 - 1     L  in [0, 100]            -> [-1, 1]
    model target  ab_norm = ab / 110       sRGB gamut a in [-86, 98],
                                                      b in [-108, 95] -> about [-1, 1]

The scale 110 (rather than the 128 of seed reports 2 and 3) makes the sRGB gamut fill the range
of a ``tanh`` output, so no output unit is wasted on colours no screen can show.

This module imports only NumPy and torch: it travels to the Hub next to the image processor as
remote code.
"""

from __future__ import annotations

import numpy as np

try:  # torch is optional for the NumPy path (remote-code processors may run without it)
    import torch
except ImportError:  # pragma: no cover - torch is a hard dependency of the package itself
    torch = None

L_SCALE = 50.0
L_OFFSET = 1.0
AB_SCALE = 110.0

# sRGB primaries to XYZ, as in scikit-image (which follows easyrgb.com).
XYZ_FROM_RGB = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ]
)
RGB_FROM_XYZ = np.linalg.inv(XYZ_FROM_RGB)
D65_WHITE = np.array([0.95047, 1.0, 1.08883])

# Matrices folded with the white point: linear RGB -> XYZ/white and back, so one matmul each way.
_RGB_TO_XYZN = (XYZ_FROM_RGB / D65_WHITE[:, None]).astype(np.float32)
_XYZN_TO_RGB = (RGB_FROM_XYZ * D65_WHITE[None, :]).astype(np.float32)
_Y_FROM_RGB = XYZ_FROM_RGB[1].astype(np.float32)

_EPSILON = 0.008856  # CIE threshold on t = X/Xn (scikit-image's constants)
_KAPPA_SLOPE = 7.787
_F_OFFSET = 16.0 / 116.0
_F_THRESHOLD = 0.2068966  # f(_EPSILON), threshold in the inverse direction


def normalize_lightness(lightness):
    """L in [0, 100] -> model input in [-1, 1]. Works on NumPy arrays and torch tensors."""
    return lightness / L_SCALE - L_OFFSET


def denormalize_lightness(lightness_norm):
    return (lightness_norm + L_OFFSET) * L_SCALE


def normalize_ab(ab):
    """ab in CIELAB units -> model target, about [-1, 1]."""
    return ab / AB_SCALE


def denormalize_ab(ab_norm):
    return ab_norm * AB_SCALE


# ----------------------------------------------------------------------------------------------
# NumPy, channels last
# ----------------------------------------------------------------------------------------------

# Decoding 8-bit sRGB through a table is exact and ~10x cheaper than the power law per pixel.
_U8_TO_LINEAR = np.where(
    np.arange(256) / 255.0 > 0.04045,
    ((np.arange(256) / 255.0 + 0.055) / 1.055) ** 2.4,
    np.arange(256) / 255.0 / 12.92,
).astype(np.float32)
# Luminance of 8-bit RGB is a sum of three table look-ups; L of 8-bit gray is one.
_U8_TO_Y = [(_U8_TO_LINEAR.astype(np.float64) * weight).astype(np.float32) for weight in XYZ_FROM_RGB[1]]
_Y_OF_GRAY = _U8_TO_LINEAR.astype(np.float64) * XYZ_FROM_RGB[1].sum()
_U8_TO_LIGHTNESS = np.where(
    _Y_OF_GRAY > _EPSILON, 116.0 * np.cbrt(_Y_OF_GRAY) - 16.0, 116.0 * (_KAPPA_SLOPE * _Y_OF_GRAY + _F_OFFSET) - 16.0
).astype(np.float32)
# Encoding linear light to 8-bit sRGB through a table indexed by 16-bit linear values: the table's
# step (1.5e-5 in linear light) is far below half an 8-bit sRGB step everywhere, so it rounds like
# the exact power law, at the cost of one look-up.
_LINEAR_STEPS = 65535
_LINEAR_TO_U8 = np.round(
    255.0
    * np.where(
        np.arange(_LINEAR_STEPS + 1) / _LINEAR_STEPS > 0.0031308,
        1.055 * (np.arange(_LINEAR_STEPS + 1) / _LINEAR_STEPS) ** (1 / 2.4) - 0.055,
        12.92 * np.arange(_LINEAR_STEPS + 1) / _LINEAR_STEPS,
    )
).astype(np.uint8)


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    """sRGB (uint8 0..255, or float 0..1) -> linear light, float32."""
    if rgb.dtype == np.uint8:
        return _U8_TO_LINEAR[rgb]
    rgb = np.asarray(rgb, dtype=np.float32)
    return np.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92).astype(np.float32)


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """Linear light -> sRGB float in [0, 1] (clipped), float32."""
    linear = np.clip(linear, 0.0, 1.0).astype(np.float32, copy=False)
    return np.where(linear > 0.0031308, 1.055 * linear ** (1 / 2.4) - 0.055, 12.92 * linear)


def linear_to_srgb_uint8(linear: np.ndarray) -> np.ndarray:
    """Linear light -> rounded 8-bit sRGB (clipped), through the 16-bit table."""
    index = np.clip(linear, 0.0, 1.0) * np.float32(_LINEAR_STEPS) + np.float32(0.5)
    return _LINEAR_TO_U8[index.astype(np.uint16)]


def _f(t: np.ndarray) -> np.ndarray:
    return np.where(t > _EPSILON, np.cbrt(t), _KAPPA_SLOPE * t + _F_OFFSET)


def _f_inverse(f: np.ndarray) -> np.ndarray:
    return np.where(f > _F_THRESHOLD, f * f * f, (f - _F_OFFSET) / _KAPPA_SLOPE)


def _check_channels_last(array: np.ndarray, name: str) -> None:
    if array.ndim < 1 or array.shape[-1] != 3:
        raise ValueError(f"{name} must have 3 channels in its last axis, got shape {array.shape}")


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB ``(..., 3)`` (uint8, or float in [0, 1]) -> CIELAB float32, as ``skimage.color.rgb2lab``."""
    rgb = np.asarray(rgb)
    _check_channels_last(rgb, "rgb")
    fxyz = _f(srgb_to_linear(rgb) @ _RGB_TO_XYZN.T)
    lab = np.empty(fxyz.shape, dtype=np.float32)
    lab[..., 0] = 116.0 * fxyz[..., 1] - 16.0
    lab[..., 1] = 500.0 * (fxyz[..., 0] - fxyz[..., 1])
    lab[..., 2] = 200.0 * (fxyz[..., 1] - fxyz[..., 2])
    return lab


def rgb_to_lightness(rgb: np.ndarray) -> np.ndarray:
    """sRGB ``(..., 3)`` -> L only, float32 ``(...)``: the cheap path for grayscale inputs."""
    rgb = np.asarray(rgb)
    _check_channels_last(rgb, "rgb")
    if rgb.dtype == np.uint8:
        y = _U8_TO_Y[0][rgb[..., 0]]
        y += _U8_TO_Y[1][rgb[..., 1]]
        y += _U8_TO_Y[2][rgb[..., 2]]
    else:
        y = srgb_to_linear(rgb) @ _Y_FROM_RGB
    return (116.0 * _f(y) - 16.0).astype(np.float32)


def gray_to_lightness(gray: np.ndarray) -> np.ndarray:
    """A single-channel sRGB image (uint8, or float in [0, 1]) -> L, float32.

    For R = G = B the luminance is the decoded gray value itself (the Y row of the matrix sums
    to 1), so no matrix product is needed; 8-bit gray is a single table look-up.
    """
    gray = np.asarray(gray)
    if gray.dtype == np.uint8:
        return _U8_TO_LIGHTNESS[gray]
    y = srgb_to_linear(gray) * np.float32(_Y_FROM_RGB.sum())
    return (116.0 * _f(y) - 16.0).astype(np.float32)


def _lab_to_linear_planes(lightness: np.ndarray, a: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    """L, a, b planes -> linear R, G, B planes (unclipped), float32, without interleaving copies."""
    fy = (lightness + np.float32(16.0)) * np.float32(1 / 116.0)
    x = _f_inverse(fy + a * np.float32(1 / 500.0))
    y = _f_inverse(fy)
    z = _f_inverse(fy - b * np.float32(1 / 200.0))
    m = _XYZN_TO_RGB
    return [m[row, 0] * x + m[row, 1] * y + m[row, 2] * z for row in range(3)]


def _fit_gamut(lightness: np.ndarray, a: np.ndarray, b: np.ndarray, iterations: int) -> list[np.ndarray]:
    """Linear RGB planes of (L, a, b), out-of-gamut pixels with their chroma reduced to fit.

    The chroma factor ``s`` in [0, 1] applied to ab is found by bisection per pixel; neutral colours
    (s = 0) are always in gamut for L in [0, 100], so the bisection always has a valid lower end.
    """
    tolerance = 1e-6
    planes = _lab_to_linear_planes(lightness, a, b)
    outside = np.zeros(lightness.shape, bool)
    for plane in planes:
        outside |= (plane < -tolerance) | (plane > 1.0 + tolerance)
    if outside.any():
        light_bad, a_bad, b_bad = lightness[outside], a[outside], b[outside]
        low = np.zeros(light_bad.shape, np.float32)
        high = np.ones(light_bad.shape, np.float32)
        for _ in range(iterations):
            mid = (low + high) * np.float32(0.5)
            candidate = _lab_to_linear_planes(light_bad, a_bad * mid, b_bad * mid)
            fits = np.ones(light_bad.shape, bool)
            for plane in candidate:
                fits &= (plane >= -tolerance) & (plane <= 1.0 + tolerance)
            low = np.where(fits, mid, low)
            high = np.where(fits, high, mid)
        for plane, fixed in zip(planes, _lab_to_linear_planes(light_bad, a_bad * low, b_bad * low)):
            plane[outside] = fixed
    return planes


def lab_to_rgb(lab: np.ndarray, *, preserve_lightness: bool = True, iterations: int = 12) -> np.ndarray:
    """CIELAB ``(..., 3)`` -> sRGB float32 in [0, 1].

    With ``preserve_lightness=False`` this is ``skimage.color.lab2rgb`` (out-of-gamut colours are
    clipped per channel, which changes their lightness). With ``preserve_lightness=True`` (the
    default), out-of-gamut pixels instead have their chroma reduced until they fit: hue and L are
    kept, so a colorized photo keeps exactly the tones of the original.
    """
    lab = np.asarray(lab, dtype=np.float32)
    _check_channels_last(lab, "lab")
    if not preserve_lightness:
        lightness, a, b = lab[..., 0], lab[..., 1], lab[..., 2]
        # scikit-image clips negative Z (very large b) to 0 before the inverse transform
        b = np.minimum(b, 200.0 * (lightness + 16.0) / 116.0)
        return linear_to_srgb(np.stack(_lab_to_linear_planes(lightness, a, b), axis=-1))
    planes = _fit_gamut(np.clip(lab[..., 0], 0.0, 100.0), lab[..., 1], lab[..., 2], iterations)
    return linear_to_srgb(np.stack(planes, axis=-1))


def lab_to_rgb_uint8(lab: np.ndarray, *, preserve_lightness: bool = True) -> np.ndarray:
    """CIELAB -> sRGB uint8 (rounded), the form images are saved and scored in."""
    lab = np.asarray(lab, dtype=np.float32)
    _check_channels_last(lab, "lab")
    if not preserve_lightness:
        return (lab_to_rgb(lab, preserve_lightness=False) * 255.0 + 0.5).astype(np.uint8)
    return lightness_ab_to_rgb_uint8(lab[..., 0], lab[..., 1], lab[..., 2])


def lightness_ab_to_rgb_uint8(
    lightness: np.ndarray, a: np.ndarray, b: np.ndarray, *, iterations: int = 12
) -> np.ndarray:
    """Separate L, a, b planes (H, W) -> sRGB uint8 (H, W, 3), lightness preserved (see ``lab_to_rgb``).

    The fast path of post-processing: no (H, W, 3) float intermediate is built.
    """
    planes = _fit_gamut(
        np.clip(np.asarray(lightness, np.float32), 0.0, 100.0),
        np.asarray(a, np.float32),
        np.asarray(b, np.float32),
        iterations,
    )
    rgb = np.empty(planes[0].shape + (3,), np.uint8)
    for channel, plane in enumerate(planes):
        rgb[..., channel] = linear_to_srgb_uint8(plane)
    return rgb


# ----------------------------------------------------------------------------------------------
# torch, channels first (B, 3, H, W); differentiable everywhere (no NaN gradients at 0)
# ----------------------------------------------------------------------------------------------


def _torch_constant(array: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    dtype = like.dtype if like.is_floating_point() else torch.float32
    return torch.as_tensor(array, dtype=dtype, device=like.device)


def _check_channels_first(tensor: torch.Tensor, name: str) -> None:
    if tensor.ndim != 4 or tensor.shape[1] != 3:
        raise ValueError(f"{name} must be shaped (batch, 3, height, width), got {tuple(tensor.shape)}")


def rgb_to_lab_torch(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB float in [0, 1], ``(B, 3, H, W)`` -> CIELAB ``(B, 3, H, W)``, differentiable."""
    _check_channels_first(rgb, "rgb")
    rgb = rgb.float() if not rgb.is_floating_point() else rgb
    # Clamps keep pow/cbrt away from 0 and negatives in the branch torch.where does not select:
    # their gradients would otherwise be inf/NaN and poison the selected branch too.
    high = ((rgb.clamp(min=0.04045) + 0.055) / 1.055) ** 2.4
    linear = torch.where(rgb > 0.04045, high, rgb / 12.92)
    xyz = torch.einsum("ij,bjhw->bihw", _torch_constant(_RGB_TO_XYZN, rgb), linear)
    fxyz = torch.where(xyz > _EPSILON, xyz.clamp(min=_EPSILON) ** (1.0 / 3.0), _KAPPA_SLOPE * xyz + _F_OFFSET)
    fx, fy, fz = fxyz.unbind(dim=1)
    return torch.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], dim=1)


def lab_to_rgb_torch(lab: torch.Tensor) -> torch.Tensor:
    """CIELAB ``(B, 3, H, W)`` -> sRGB in [0, 1] (clipped per channel, as scikit-image), differentiable."""
    _check_channels_first(lab, "lab")
    lightness, a, b = lab.unbind(dim=1)
    fy = (lightness + 16.0) / 116.0
    fxyz = torch.stack([fy + a / 500.0, fy, (fy - b / 200.0).clamp(min=0.0)], dim=1)
    xyz = torch.where(fxyz > _F_THRESHOLD, fxyz**3, (fxyz - _F_OFFSET) / _KAPPA_SLOPE)
    linear = torch.einsum("ij,bjhw->bihw", _torch_constant(_XYZN_TO_RGB, lab), xyz).clamp(0.0, 1.0)
    high = 1.055 * linear.clamp(min=0.0031308) ** (1.0 / 2.4) - 0.055
    return torch.where(linear > 0.0031308, high, 12.92 * linear)

import numpy as np
import pytest
import torch
from skimage import color as skcolor

from colorizers import color


@pytest.fixture
def rgb_u8(rng):
    image = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    image[0, :8] = [
        [0, 0, 0],
        [255, 255, 255],
        [255, 0, 0],
        [0, 255, 0],
        [0, 0, 255],
        [255, 255, 0],
        [0, 255, 255],
        [7, 7, 7],
    ]
    return image


def test_rgb_to_lab_matches_scikit_image(rgb_u8):
    expected = skcolor.rgb2lab(rgb_u8)
    np.testing.assert_allclose(color.rgb_to_lab(rgb_u8), expected, atol=1e-3)
    np.testing.assert_allclose(color.rgb_to_lab(rgb_u8 / 255.0), expected, atol=1e-3)
    np.testing.assert_allclose(color.rgb_to_lightness(rgb_u8), expected[..., 0], atol=1e-3)


def test_gray_lightness_matches_scikit_image(rgb_u8):
    gray = rgb_u8[..., 1]
    expected = skcolor.rgb2lab(np.repeat(gray[..., None], 3, axis=-1))[..., 0]
    np.testing.assert_allclose(color.gray_to_lightness(gray), expected, atol=1e-3)


def test_lab_to_rgb_matches_scikit_image_including_out_of_gamut(rng):
    lab = np.stack(
        [rng.uniform(0, 100, (50, 70)), rng.uniform(-128, 127, (50, 70)), rng.uniform(-128, 127, (50, 70))], -1
    )
    with pytest.warns(UserWarning):  # scikit-image warns about the negative Z it clips; so do we match it
        expected = skcolor.lab2rgb(lab)
    np.testing.assert_allclose(color.lab_to_rgb(lab, preserve_lightness=False), expected, atol=1e-3)


def test_round_trip_in_gamut(rgb_u8):
    back = color.lab_to_rgb_uint8(color.rgb_to_lab(rgb_u8))
    assert np.abs(back.astype(int) - rgb_u8).max() <= 1


def test_lightness_preserving_gamut_mapping_keeps_l_and_hue(rng):
    lab = np.stack(
        [rng.uniform(0, 100, (80, 80)), rng.uniform(-128, 127, (80, 80)), rng.uniform(-128, 127, (80, 80))], -1
    ).astype(np.float32)
    rgb = color.lab_to_rgb_uint8(lab)
    back = skcolor.rgb2lab(rgb)
    assert np.abs(back[..., 0] - lab[..., 0]).max() < 0.5
    # hue kept where chroma survives: the ab direction of the result agrees with the request
    chroma = np.hypot(back[..., 1], back[..., 2])
    strong = chroma > 10
    requested, got = lab[strong][:, 1:], back[strong][:, 1:]
    cosine = (requested * got).sum(-1) / (np.linalg.norm(requested, axis=-1) * chroma[strong])
    assert np.median(cosine) > 0.98
    # plain clipping (scikit-image's behaviour) does change L on the same data
    with pytest.warns(UserWarning):
        clipped = skcolor.rgb2lab(skcolor.lab2rgb(lab))
    assert np.abs(clipped[..., 0] - lab[..., 0]).max() > 5


def test_normalisation_is_inverse_and_documented_range():
    lightness = np.array([0.0, 50.0, 100.0])
    np.testing.assert_allclose(color.normalize_lightness(lightness), [-1, 0, 1])
    np.testing.assert_allclose(color.denormalize_lightness(color.normalize_lightness(lightness)), lightness)
    assert color.normalize_ab(np.array(color.AB_SCALE)) == 1.0
    gamut = skcolor.rgb2lab(np.random.default_rng(1).integers(0, 256, (4096, 1, 3), dtype=np.uint8))
    assert np.abs(color.normalize_ab(gamut[..., 1:])).max() <= 1.0


def test_torch_path_matches_numpy_and_is_batched(rgb_u8):
    batch = torch.from_numpy(np.stack([rgb_u8, rgb_u8[::-1]]) / 255.0).permute(0, 3, 1, 2).float()
    lab = color.rgb_to_lab_torch(batch)
    assert lab.shape == batch.shape
    np.testing.assert_allclose(lab[0].permute(1, 2, 0).numpy(), skcolor.rgb2lab(rgb_u8), atol=1e-3)
    np.testing.assert_allclose(lab[1].permute(1, 2, 0).numpy(), skcolor.rgb2lab(rgb_u8[::-1]), atol=1e-3)
    rgb = color.lab_to_rgb_torch(lab)
    torch.testing.assert_close(rgb, batch, atol=1e-3, rtol=0)


def test_torch_path_gradients_are_finite_everywhere():
    # black, white, the linear-segment thresholds and out-of-gamut Lab all sit on branch edges
    rgb = torch.tensor([0.0, 1.0, 0.04045, 0.5]).view(1, 1, 2, 2).repeat(1, 3, 1, 1).requires_grad_()
    color.rgb_to_lab_torch(rgb).sum().backward()
    assert torch.isfinite(rgb.grad).all()
    lab = torch.tensor([[0.0, 100.0], [50.0, 8.0]]).view(1, 1, 2, 2)
    lab = torch.cat([lab, torch.full_like(lab, 120.0), torch.full_like(lab, -120.0)], 1).requires_grad_()
    color.lab_to_rgb_torch(lab).sum().backward()
    assert torch.isfinite(lab.grad).all()


def test_shape_errors_name_the_problem():
    with pytest.raises(ValueError, match="3 channels"):
        color.rgb_to_lab(np.zeros((4, 4, 2)))
    with pytest.raises(ValueError, match=r"\(batch, 3, height, width\)"):
        color.rgb_to_lab_torch(torch.zeros(3, 4, 4))

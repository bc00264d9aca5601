"""The conditional PatchGAN discriminator: what is particular to it (patch grid, BCE over patches, the GAN step).

Shapes, gradients, save/load, config round trip and validation: tests/test_modeling_common.py."""

import pytest
import torch
import torch.nn.functional as F
from conftest import tiny_model
from transformers import AutoModel, AutoModelForImageToImage

import colorizers
from colorizers.models import FAMILIES
from colorizers.models.discriminator import (
    TINY_CONFIG,
    ColorizerDiscriminatorConfig,
    ColorizerDiscriminatorModel,
)


def tiny_discriminator(**overrides):
    torch.manual_seed(0)
    return ColorizerDiscriminatorModel(ColorizerDiscriminatorConfig(**{**TINY_CONFIG, **overrides}))


def _pair(batch, height, width):
    return torch.rand(batch, 1, height, width) * 2 - 1, torch.rand(batch, 2, height, width) * 2 - 1


def test_patch_grid_of_tiny_widths():
    # Tiny widths [4, 8]: one stride-2 layer, so a side n gives n // 2 - 2 logits (n padded up to 6).
    model = tiny_discriminator()
    assert model.minimum_side == 6
    assert [model.patch_grid_size(*size) for size in [(32, 32), (37, 23), (3, 5)]] == [(14, 14), (16, 9), (1, 1)]


def test_default_is_the_pix2pix_70x70_patchgan():
    config = ColorizerDiscriminatorConfig()
    assert list(config.hidden_sizes) == [64, 128, 256, 512] and config.negative_slope == 0.2
    with torch.device("meta"):
        model = ColorizerDiscriminatorModel(config)
    assert 2.7e6 < sum(p.numel() for p in model.parameters()) < 2.8e6
    assert [layer.conv.stride for layer in model.layers] == [(2, 2), (2, 2), (2, 2), (1, 1)]
    assert isinstance(model.layers[0].norm, torch.nn.Identity)
    assert all(isinstance(layer.norm, torch.nn.BatchNorm2d) for layer in model.layers[1:])
    assert model.patch_grid_size(256, 256) == (30, 30) and model.patch_grid_size(64, 48) == (6, 4)


def test_default_forward_matches_patch_grid():
    torch.manual_seed(0)
    model = ColorizerDiscriminatorModel(ColorizerDiscriminatorConfig()).eval()
    with torch.no_grad():
        logits = model(*_pair(1, 64, 48)).logits
    assert logits.shape == (1, 1, 6, 4)


def test_loss_is_bce_over_every_patch():
    model = tiny_discriminator().eval()
    pixel_values, ab = _pair(2, 20, 16)
    with torch.no_grad():
        logits = model(pixel_values=pixel_values, ab=ab).logits
        real = model(pixel_values=pixel_values, ab=ab, labels=1.0).loss
        fake = model(pixel_values=pixel_values, ab=ab, labels=torch.tensor(0.0)).loss
        mixed = model(pixel_values=pixel_values, ab=ab, labels=torch.tensor([1.0, 0.0])).loss
    torch.testing.assert_close(real, F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits)))
    torch.testing.assert_close(fake, F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits)))
    target = torch.ones_like(logits)
    target[1] = 0
    torch.testing.assert_close(mixed, F.binary_cross_entropy_with_logits(logits, target))


def test_conditioning_on_lightness_matters():
    model = tiny_discriminator().eval()
    pixel_values, ab = _pair(1, 16, 16)
    with torch.no_grad():
        first = model(pixel_values=pixel_values, ab=ab).logits
        second = model(pixel_values=-pixel_values, ab=ab).logits
    assert not torch.allclose(first, second)


# One label per image, never per patch (a batch-size mismatch is in the common suite).
@pytest.mark.parametrize("labels", [torch.ones(2, 1), torch.ones(2, 1, 6, 6)])
def test_labels_of_wrong_shape_are_rejected(labels):
    with pytest.raises(ValueError, match="labels must be"):
        tiny_discriminator()(*_pair(2, 16, 16), labels=labels)


def test_mismatched_inputs_are_rejected():
    model = tiny_discriminator()
    with pytest.raises(ValueError, match="ab must be shaped"):
        model(pixel_values=torch.zeros(1, 1, 16, 16), ab=torch.zeros(1, 2, 16, 15))
    with pytest.raises(ValueError, match="pixel_values must be shaped"):
        model(pixel_values=torch.zeros(1, 3, 16, 16), ab=torch.zeros(1, 2, 16, 16))


def test_saved_next_to_a_generator(tmp_path):
    # The layout a training script writes: the generator at the top, the discriminator in a sub-folder.
    generator = tiny_model("unet-gan").eval()
    discriminator = tiny_discriminator().eval()
    generator.save_pretrained(tmp_path)
    discriminator.save_pretrained(tmp_path / "discriminator")
    assert type(AutoModel.from_pretrained(tmp_path)) is type(generator)
    assert type(colorizers.load_model(str(tmp_path))) is type(generator)
    assert type(AutoModel.from_pretrained(tmp_path / "discriminator")) is ColorizerDiscriminatorModel


def test_is_registered_but_not_a_colorizer():
    family = FAMILIES["discriminator"]
    assert family.PRESETS == [] and family.AUTO_CLASSES == [
        (ColorizerDiscriminatorConfig, ColorizerDiscriminatorModel)
    ]
    assert not [n for n in colorizers.list_models() if "discriminator" in n]
    assert ColorizerDiscriminatorConfig not in AutoModelForImageToImage._model_mapping


def test_one_conditional_gan_step_trains_both_networks():
    # What the training script does with a GAN preset: generator and discriminator gradients both flow.
    generator = tiny_model("unet-gan").train()
    discriminator = tiny_discriminator().train()
    pixel_values = torch.rand(2, 1, 32, 32) * 2 - 1
    real_ab = torch.rand(2, 2, 32, 32) * 2 - 1
    outputs = generator(pixel_values=pixel_values, labels=real_ab)
    loss_d = 0.5 * (
        discriminator(pixel_values=pixel_values, ab=real_ab, labels=1.0).loss
        + discriminator(pixel_values=pixel_values, ab=outputs.ab.detach(), labels=0.0).loss
    )
    loss_d.backward()
    assert all(p.grad is None for p in generator.parameters())
    discriminator.zero_grad()
    loss_g = discriminator(pixel_values=pixel_values, ab=outputs.ab, labels=1.0).loss
    loss_g = loss_g + generator.config.gan_l1_weight * outputs.loss
    loss_g.backward()
    assert all(p.grad is not None for p in generator.parameters())
    assert all(p.grad is not None for p in discriminator.parameters())

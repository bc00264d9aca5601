"""Family checks for seed report 5's strided U-Net ("strided-unet", "unet-gan") and NetGen ("gan")."""

import torch
from conftest import tiny_model
from torch import nn

import colorizers


def test_presets_declare_their_objective():
    # the GANs weigh L1 1000, not pix2pix's 100: at 100 their adversarial term cost them 1-2 dB against gray
    expected = {
        "strided-unet": (True, "regression", "mse", 100),
        "unet-gan": (True, "gan", "l1", 1000),
        "gan": (False, "gan", "l1", 1000),
    }
    for name, (skips, objective, loss_type, l1_weight) in expected.items():
        config = colorizers.get_preset(name).make_config()
        assert (config.skip_connections, config.training_objective, config.loss_type) == (skips, objective, loss_type)
        assert list(config.hidden_sizes) == [64, 128, 256, 512, 512]
        assert config.negative_slope == 0.1 and config.gan_l1_weight == l1_weight and config.image_size == 256


def test_faithful_sizes():
    # 5 strided convs + 5 transposed convs; the skips add the encoder widths to decoder steps 2-5.
    assert colorizers.count_parameters("strided-unet") == colorizers.count_parameters("unet-gan") == 9_371_202
    assert colorizers.count_parameters("gan") == 7_821_762


def test_every_transposed_convolution_exactly_doubles():
    model = colorizers.create_model("strided-unet").eval()
    sides = []
    hooks = [
        m.register_forward_hook(lambda m, i, o: sides.append((i[0].shape[-1], o.shape[-1])))
        for m in model.modules()
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))
    ]
    with torch.no_grad():
        model(pixel_values=torch.zeros(1, 1, 64, 64))
    for hook in hooks:
        hook.remove()
    assert sides == [(64, 32), (32, 16), (16, 8), (8, 4), (4, 2), (2, 4), (4, 8), (8, 16), (16, 32), (32, 64)]


def test_skip_connections_concatenate_same_resolution_encoder_features():
    def channels(model, attribute):
        return [getattr(block.conv, attribute) for block in model.decoder] + [getattr(model.head, attribute)]

    with_skips, without = colorizers.create_model("strided-unet"), colorizers.create_model("gan")
    # Steps 2-5 read [decoder output, e4 | e3 | e2 | e1]; step 1 reads the bottleneck e5 alone.
    assert channels(with_skips, "in_channels") == [512, 512 + 512, 256 + 256, 128 + 128, 64 + 64]
    assert channels(without, "in_channels") == [512, 512, 256, 128, 64]
    assert channels(with_skips, "out_channels") == channels(without, "out_channels") == [512, 256, 128, 64, 2]


def test_loss_follows_loss_type():
    pixel_values = torch.rand(2, 1, 16, 16) * 2 - 1
    labels = torch.rand(2, 2, 16, 16) * 2 - 1
    for name, loss_fn in [("strided-unet", nn.functional.mse_loss), ("unet-gan", nn.functional.l1_loss)]:
        model = tiny_model(name).eval()
        with torch.no_grad():
            outputs = model(pixel_values=pixel_values, labels=labels)
        torch.testing.assert_close(outputs.loss, loss_fn(outputs.ab, labels))


def test_starts_from_the_gray_prediction():
    model = colorizers.create_model("strided-unet").eval()
    with torch.no_grad():
        ab = model(pixel_values=torch.rand(1, 1, 64, 64) * 2 - 1).ab
    assert ab.abs().max() < 0.1


def test_gan_l1_weight_accepts_integers():
    assert colorizers.get_preset("unet-gan").make_config(gan_l1_weight=10).gan_l1_weight == 10

import torch
import torch.nn.functional as F
from conftest import tiny_model

import colorizers


def test_cifar_faithful_size_matches_report():
    # The report's ~3.4M: 1.42M encoder (3 convs + dense 4096 -> 256) and 2.01M decoder.
    assert colorizers.count_parameters("cifar-ae") == 3_431_811


def test_cifar_predicts_at_its_fixed_size():
    # A 64x48 input is predicted at input_size (16 here) and the RGB resized back, bilinearly.
    model = tiny_model("cifar-ae").eval()
    side = model.config.input_size
    lightness = torch.rand(1, 1, 64, 48) * 2 - 1
    small = F.interpolate(lightness, size=(side, side), mode="bilinear", antialias=True)
    with torch.no_grad():
        expected = F.interpolate(model(pixel_values=small).rgb, size=(64, 48), mode="bilinear")
        torch.testing.assert_close(model(pixel_values=lightness).rgb, expected)


def test_cifar_dropout_only_in_training():
    model = tiny_model("cifar-ae", dropout=0.5)
    pixel_values = torch.rand(1, 1, 16, 16) * 2 - 1
    with torch.no_grad():
        model.eval()
        torch.testing.assert_close(model(pixel_values=pixel_values).rgb, model(pixel_values=pixel_values).rgb)
        model.train()
        assert not torch.equal(model(pixel_values=pixel_values).rgb, model(pixel_values=pixel_values).rgb)

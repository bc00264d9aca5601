import pytest
import torch

import colorizers


def test_unet_faithful_size_matches_report():
    assert 7.7e6 < colorizers.count_parameters("unet") < 7.9e6


@pytest.mark.parametrize("hidden_sizes", [[32, -64], [16]])
def test_unet_rejects_bad_widths(hidden_sizes):
    with pytest.raises(Exception, match="hidden_sizes"):
        colorizers.get_preset("unet").make_config(hidden_sizes=hidden_sizes)


@pytest.mark.parametrize("variant,side", [(1, 224), (2, 224), (2, 111), (1, 3), (2, 5)])
def test_vanilla_output_matches_input_size(variant, side):
    model = colorizers.create_model(f"vanilla-v{variant}", hidden_sizes=[4, 4]).eval()
    with torch.no_grad():
        assert model(pixel_values=torch.zeros(1, 1, side, side + 1)).ab.shape == (1, 2, side, side + 1)


def test_vanilla_rejects_unknown_variant():
    with pytest.raises(Exception, match="variant"):
        colorizers.get_preset("vanilla-v1").make_config(variant=3)

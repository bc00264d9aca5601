"""Family checks for seed report 1's U-Net ("unet") and vanilla CNNs ("vanilla-v1", "vanilla-v2")."""

import colorizers


def test_unet_faithful_size_matches_report():
    assert 7.7e6 < colorizers.count_parameters("unet") < 7.9e6


def test_vanilla_variants_match_report_layout():
    # Both: two valid (unpadded) 3x3 convolutions; v1 a 5x5 transposed convolution, v2 an 8x8 stride-2 one.
    for name, kernel, stride in [("vanilla-v1", (5, 5), (1, 1)), ("vanilla-v2", (8, 8), (2, 2))]:
        model = colorizers.create_model(name)
        assert [(conv.kernel_size, conv.padding) for conv in (model.conv1, model.conv2)] == [((3, 3), (0, 0))] * 2
        assert (model.head.kernel_size, model.head.stride, model.head.out_channels) == (kernel, stride, 2)

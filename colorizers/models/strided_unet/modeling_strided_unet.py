"""Strided U-Net and plain encoder-decoder (GAN generator) colorizers (seed report 5)."""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from colorizers.models.modeling_utils import (
    AbColorizerMixin,
    ColorizerOutput,
    ColorizerPreTrainedModel,
    pad_to_multiple,
)
from colorizers.objectives import ColorDistributionHead, objective_channels

from .configuration_strided_unet import StridedUNetColorizerConfig


@dataclass
class StridedUNetColorizerOutput(ColorizerOutput):
    """The output of `StridedUNetColorizerModel`: `colorizers.models.modeling_utils.ColorizerOutput`'s fields.

    `loss` is the reconstruction loss (`config.loss_type`); for GAN training it is the L1 term only, the
    adversarial term is the training script's.
    """


class StridedUNetColorizerDownBlock(nn.Module):
    """Conv3x3 stride 2 -> BatchNorm -> LeakyReLU: halves the side (rounding up)."""

    def __init__(self, in_channels: int, out_channels: int, negative_slope: float):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1, bias=False)
        self.norm = nn.BatchNorm2d(out_channels)
        self.negative_slope = negative_slope

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.norm(self.conv(hidden_states)), self.negative_slope)


class StridedUNetColorizerUpBlock(nn.Module):
    """ConvTranspose3x3 stride 2 (padding 1, output_padding 1: exactly doubles the side) -> BatchNorm -> ReLU."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.ConvTranspose2d(in_channels, out_channels, 3, stride=2, padding=1, output_padding=1, bias=False)
        self.norm = nn.BatchNorm2d(out_channels)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm(self.conv(hidden_states)))


class StridedUNetColorizerPreTrainedModel(ColorizerPreTrainedModel):
    config_class = StridedUNetColorizerConfig
    base_model_prefix = "strided_unet"
    leaky_relu = True  # the encoder's; the decoder's transposed convolutions feed ReLU


class StridedUNetColorizerModel(AbColorizerMixin, StridedUNetColorizerPreTrainedModel):
    colorizer_output_class = StridedUNetColorizerOutput

    def __init__(self, config: StridedUNetColorizerConfig):
        super().__init__(config)
        sizes = list(config.hidden_sizes)
        self.encoder = nn.ModuleList(
            StridedUNetColorizerDownBlock(in_size, out_size, config.negative_slope)
            for in_size, out_size in zip([1] + sizes[:-1], sizes)
        )
        # Decoder step k (k = 1..L) outputs the width of encoder level L-k (the mirror), the last one 2 (ab).
        # Step 1 reads the bottleneck; step k > 1 reads [previous decoder output, encoder level L-k+1].
        out_sizes = sizes[-2::-1]
        in_sizes = [sizes[-1]] + [
            out_size + (skip_size if config.skip_connections else 0)
            for out_size, skip_size in zip(out_sizes, sizes[-2::-1])
        ]
        self.decoder = nn.ModuleList(
            StridedUNetColorizerUpBlock(in_size, out_size) for in_size, out_size in zip(in_sizes[:-1], out_sizes)
        )
        self.head = nn.ConvTranspose2d(
            in_sizes[-1], objective_channels(config), 3, stride=2, padding=1, output_padding=1
        )
        # the classification and hybrid objectives decode the head's scores over ab bins at full resolution
        self.color_head = ColorDistributionHead(config) if config.objective != "regression" else None
        self.post_init()

    def colorizer_scores(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The ab scores of the last convolution (or scores over ab bins), cropped to the input's size."""
        height, width = pixel_values.shape[-2:]
        hidden_states = pad_to_multiple(pixel_values, 2 ** len(self.encoder))
        skips = []
        for block in self.encoder:
            hidden_states = block(hidden_states)
            skips.append(hidden_states)
        # skips[-1] is the bottleneck the first decoder step reads; the others join steps 2.. in reverse.
        for step, block in enumerate([*self.decoder, self.head]):
            if step > 0 and self.config.skip_connections:
                hidden_states = torch.cat([hidden_states, skips[-1 - step]], dim=1)
            hidden_states = block(hidden_states)
        return hidden_states[..., :height, :width]


__all__ = ["StridedUNetColorizerModel", "StridedUNetColorizerPreTrainedModel", "StridedUNetColorizerOutput"]

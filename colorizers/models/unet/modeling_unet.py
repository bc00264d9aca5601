"""Keras-style U-Net colorizer (seed report 1)."""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers.modeling_layers import GradientCheckpointingLayer

from colorizers.models.modeling_utils import (
    AbColorizerMixin,
    ColorizerOutput,
    ColorizerPreTrainedModel,
    pad_to_multiple,
)
from colorizers.objectives import ColorDistributionHead, objective_channels

from .configuration_unet import UNetColorizerConfig


@dataclass
class UNetColorizerOutput(ColorizerOutput):
    """The output of `UNetColorizerModel`: `colorizers.models.modeling_utils.ColorizerOutput`'s fields."""


class UNetColorizerDoubleConv(GradientCheckpointingLayer):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv2(F.relu(self.conv1(hidden_states))))


class UNetColorizerUpBlock(GradientCheckpointingLayer):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.upsample = nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2)
        self.conv = UNetColorizerDoubleConv(2 * out_channels, out_channels)

    def forward(self, hidden_states: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([self.upsample(hidden_states), skip], dim=1))


class UNetColorizerPreTrainedModel(ColorizerPreTrainedModel):
    config_class = UNetColorizerConfig
    base_model_prefix = "unet"
    supports_gradient_checkpointing = True


class UNetColorizerModel(AbColorizerMixin, UNetColorizerPreTrainedModel):
    colorizer_output_class = UNetColorizerOutput

    def __init__(self, config: UNetColorizerConfig):
        super().__init__(config)
        sizes = list(config.hidden_sizes)
        self.encoder = nn.ModuleList(
            UNetColorizerDoubleConv(in_size, out_size) for in_size, out_size in zip([1] + sizes[:-1], sizes)
        )
        self.decoder = nn.ModuleList(
            UNetColorizerUpBlock(in_size, out_size) for in_size, out_size in zip(sizes[:0:-1], sizes[-2::-1])
        )
        self.head = nn.Conv2d(sizes[0], objective_channels(config), 3, padding=1)
        # the classification and hybrid objectives decode the head's scores over ab bins at full resolution
        self.color_head = ColorDistributionHead(config) if config.objective != "regression" else None
        self.post_init()

    def colorizer_scores(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The ab scores of the last convolution (or scores over ab bins), cropped to the input's size."""
        height, width = pixel_values.shape[-2:]
        hidden_states = pad_to_multiple(pixel_values, 2 ** (len(self.encoder) - 1))
        skips = []
        for level, block in enumerate(self.encoder):
            if level > 0:
                hidden_states = F.max_pool2d(hidden_states, 2)
            hidden_states = block(hidden_states)
            skips.append(hidden_states)
        for block, skip in zip(self.decoder, reversed(skips[:-1])):
            hidden_states = block(hidden_states, skip)
        return self.head(hidden_states)[..., :height, :width]


__all__ = ["UNetColorizerModel", "UNetColorizerPreTrainedModel", "UNetColorizerOutput"]

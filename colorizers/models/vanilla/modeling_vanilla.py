"""Vanilla CNN colorizers (seed report 1)."""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from colorizers.models.modeling_utils import AbColorizerMixin, ColorizerOutput, ColorizerPreTrainedModel
from colorizers.objectives import ColorDistributionHead, objective_channels

from .configuration_vanilla import VanillaColorizerConfig


@dataclass
class VanillaColorizerOutput(ColorizerOutput):
    """The output of `VanillaColorizerModel`: `colorizers.models.modeling_utils.ColorizerOutput`'s fields."""


class VanillaColorizerPreTrainedModel(ColorizerPreTrainedModel):
    config_class = VanillaColorizerConfig
    base_model_prefix = "vanilla"


class VanillaColorizerModel(AbColorizerMixin, VanillaColorizerPreTrainedModel):
    colorizer_output_class = VanillaColorizerOutput

    def __init__(self, config: VanillaColorizerConfig):
        super().__init__(config)
        first, second = config.hidden_sizes
        self.conv1 = nn.Conv2d(1, first, 3)
        self.conv2 = nn.Conv2d(first, second, 3)
        if config.variant == 1:
            self.head = nn.ConvTranspose2d(second, objective_channels(config), 5)
        else:
            self.head = nn.ConvTranspose2d(second, objective_channels(config), 8, stride=2)
        # the classification and hybrid objectives decode the head's scores over ab bins at full resolution
        self.color_head = ColorDistributionHead(config) if config.objective != "regression" else None
        self.post_init()

    def colorizer_scores(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The ab scores of the last convolution (or scores over ab bins), cropped to the input's size."""
        height, width = pixel_values.shape[-2:]
        minimum, multiple = (5, 1) if self.config.variant == 1 else (8, 2)
        pad_h = max(minimum - height, 0) + (-max(height, minimum)) % multiple
        pad_w = max(minimum - width, 0) + (-max(width, minimum)) % multiple
        hidden_states = F.pad(pixel_values, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else pixel_values

        hidden_states = F.relu(self.conv1(hidden_states))
        if self.config.variant == 2:
            hidden_states = F.max_pool2d(hidden_states, 2)
        hidden_states = F.relu(self.conv2(hidden_states))
        return self.head(hidden_states)[..., :height, :width]


__all__ = ["VanillaColorizerModel", "VanillaColorizerPreTrainedModel", "VanillaColorizerOutput"]

"""CIFAR-10 dense autoencoder colorizer (seed report 4)."""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import initialization as init
from transformers.utils import ModelOutput

from colorizers.models.modeling_utils import ColorizerPreTrainedModel
from colorizers.objectives import regression_loss

from .configuration_cifar import CifarColorizerConfig


@dataclass
class CifarColorizerOutput(ModelOutput):
    """
    loss (`torch.FloatTensor`, *optional*): regression loss against `labels` (RGB), when given.
    rgb (`torch.FloatTensor` of shape `(batch, 3, height, width)`): predicted sRGB in [0, 1], at the
        input's height and width (`colorizers.predicted_ab` converts it to normalised ab).
    """

    loss: torch.FloatTensor | None = None
    rgb: torch.FloatTensor | None = None


def resize(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bilinear resize, antialiased (an area-like filter when shrinking); a no-op at the same size.

    Every output is a convex combination of inputs, so values in [0, 1] stay in [0, 1].
    """
    if images.shape[-2:] == (height, width):
        return images
    # antialiased resizing has no bfloat16 kernel on CPU: under bf16 autocast it runs in float32
    resized = F.interpolate(images.float(), size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    return resized.to(images.dtype)


class CifarColorizerPreTrainedModel(ColorizerPreTrainedModel):
    config_class = CifarColorizerConfig
    base_model_prefix = "cifar"

    def _init_weights(self, module):
        super()._init_weights(module)  # the near-zero output layer starts training from mid-gray (ab = 0)
        if isinstance(module, nn.Linear):
            # The dense layers are linear (no activation): Glorot, Keras' default, as in the report.
            init.xavier_uniform_(module.weight)
            init.zeros_(module.bias)


class CifarColorizerModel(CifarColorizerPreTrainedModel):
    r"""Seed report 4's autoencoder. Fixed-size: every input is resized to `config.input_size` squared
    (bilinear, antialiased) before the encoder, and the sigmoid RGB output is resized back to the input's
    height and width (bilinear). The output is `rgb` in [0, 1], not `ab`; labels are RGB in [0, 1] of
    the same shape `(batch, 3, height, width)`.
    """

    def __init__(self, config: CifarColorizerConfig):
        super().__init__(config)
        sizes = list(config.hidden_sizes)
        self.encoder = nn.ModuleList(
            nn.Conv2d(in_size, out_size, 3, stride=2, padding=1) for in_size, out_size in zip([1] + sizes[:-1], sizes)
        )
        self.dropout = nn.Dropout(config.dropout)
        self.grid_size = config.input_size // 2 ** len(sizes)
        flat_size = sizes[-1] * self.grid_size**2
        self.to_latent = nn.Linear(flat_size, config.latent_size)
        self.from_latent = nn.Linear(config.latent_size, flat_size)
        # ConvTranspose3x3 stride 2 doubling the side exactly (Keras' padding="same").
        self.decoder = nn.ModuleList(
            nn.ConvTranspose2d(in_size, out_size, 3, stride=2, padding=1, output_padding=1)
            for in_size, out_size in zip([sizes[-1]] + sizes[:0:-1], sizes[::-1])
        )
        self.head = nn.ConvTranspose2d(sizes[0], 3, 3, padding=1)
        self.post_init()

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> CifarColorizerOutput | tuple:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch, 1, height, width)`): L normalised to [-1, 1].
        labels (`torch.FloatTensor` of shape `(batch, 3, height, width)`, *optional*): target sRGB in [0, 1].
        """
        height, width = pixel_values.shape[-2:]
        side = self.config.input_size
        hidden_states = resize(pixel_values, side, side)
        for conv in self.encoder:
            hidden_states = self.dropout(F.relu(conv(hidden_states)))
        latent = self.to_latent(hidden_states.flatten(1))
        hidden_states = self.from_latent(latent).view(-1, self.config.hidden_sizes[-1], self.grid_size, self.grid_size)
        for deconv in self.decoder:
            hidden_states = F.relu(deconv(hidden_states))
        rgb = resize(torch.sigmoid(self.head(hidden_states)), height, width)

        loss = None
        if labels is not None:
            loss = regression_loss(rgb, labels, self.config.loss_type, self.config.huber_delta)
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if not return_dict:
            return (loss, rgb) if loss is not None else (rgb,)
        return CifarColorizerOutput(loss=loss, rgb=rgb)


__all__ = ["CifarColorizerModel", "CifarColorizerPreTrainedModel", "CifarColorizerOutput"]

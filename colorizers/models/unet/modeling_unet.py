"""Keras-style U-Net colorizer (seed report 1). Self-contained: imports only torch and transformers."""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.utils import ModelOutput

from .configuration_unet import UNetColorizerConfig
from .objectives_unet import ColorDistributionHead, objective_channels


@dataclass
class UNetColorizerOutput(ModelOutput):
    """
    loss (`torch.FloatTensor`, *optional*): regression loss against `labels`, when given.
    ab (`torch.FloatTensor` of shape `(batch, 2, height, width)`): predicted ab, normalised (ab / 110).
    logits (`torch.FloatTensor` of shape `(batch, bins, height, width)`, *optional*): scores over the quantised ab
        bins (classification and hybrid objectives).
    confidence (`torch.FloatTensor` of shape `(batch, 1, height, width)`, *optional*): per-pixel confidence in
        [0, 1] (one minus the normalised entropy), when asked for.
    """

    loss: torch.FloatTensor | None = None
    ab: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    confidence: torch.FloatTensor | None = None


def regression_loss(prediction: torch.Tensor, labels: torch.Tensor, loss_type: str, huber_delta: float):
    if labels.shape != prediction.shape:
        raise ValueError(
            f"labels must be shaped like the prediction {tuple(prediction.shape)}, got {tuple(labels.shape)}"
        )
    labels = labels.to(prediction.dtype)
    if loss_type == "l1":
        return F.l1_loss(prediction, labels)
    if loss_type == "huber":
        return F.huber_loss(prediction, labels, delta=huber_delta)
    return F.mse_loss(prediction, labels)


def pad_to_multiple(pixel_values: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad the bottom/right edges so both sides are multiples of `multiple` (reflect where possible)."""
    height, width = pixel_values.shape[-2:]
    pad_h, pad_w = -height % multiple, -width % multiple
    if pad_h == 0 and pad_w == 0:
        return pixel_values
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(pixel_values, (0, pad_w, 0, pad_h), mode=mode)


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


class UNetColorizerPreTrainedModel(PreTrainedModel):
    config_class = UNetColorizerConfig
    base_model_prefix = "unet"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    supports_gradient_checkpointing = True

    def _init_weights(self, module):
        # He initialisation suits the ReLU stacks; transformers' default N(0, 0.02) starves deep CNNs.
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            if module is getattr(self, "head", None):
                # A near-zero head starts training from the gray prediction (ab = 0), not from noise.
                init.normal_(module.weight, std=1e-3)
            else:
                init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            if module.bias is not None:
                init.zeros_(module.bias)


class UNetColorizerModel(UNetColorizerPreTrainedModel):
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

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        temperature: float | None = None,
        output_confidence: bool = False,
        return_dict: bool | None = None,
        **kwargs,
    ) -> UNetColorizerOutput | tuple:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch, 1, height, width)`): L normalised to [-1, 1].
        labels (`torch.FloatTensor` of shape `(batch, 2, height, width)`, *optional*): target ab, normalised.
        temperature (`float`, *optional*): annealed-mean temperature of the classification and hybrid objectives
            (default `config.default_temperature`).
        output_confidence (`bool`): also return the per-pixel confidence map (classification and hybrid objectives).
        """
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
        scores = self.head(hidden_states)[..., :height, :width]
        if self.color_head is not None:  # classification / hybrid objective: scores over ab bins
            ab, logits, loss, confidence_map = self.color_head(
                scores, height, width, labels, temperature, output_confidence
            )
        else:
            ab, logits, loss, confidence_map = scores, None, None, None
            if self.config.output_activation == "tanh":
                ab = torch.tanh(ab)
            if labels is not None:
                loss = regression_loss(ab, labels, self.config.loss_type, self.config.huber_delta)
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if not return_dict:
            return tuple(value for value in (loss, ab, logits, confidence_map) if value is not None)
        return UNetColorizerOutput(loss=loss, ab=ab, logits=logits, confidence=confidence_map)


__all__ = ["UNetColorizerModel", "UNetColorizerPreTrainedModel", "UNetColorizerOutput"]

"""Vanilla CNN colorizers (seed report 1). Self-contained: imports only torch and transformers."""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_vanilla import VanillaColorizerConfig
from .objectives_vanilla import ColorDistributionHead, objective_channels


# Copied from colorizers.models.unet.modeling_unet.UNetColorizerOutput with UNet->Vanilla
@dataclass
class VanillaColorizerOutput(ModelOutput):
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


# Copied from colorizers.models.unet.modeling_unet.regression_loss
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


class VanillaColorizerPreTrainedModel(PreTrainedModel):
    config_class = VanillaColorizerConfig
    base_model_prefix = "vanilla"
    main_input_name = "pixel_values"
    input_modalities = ("image",)

    def _init_weights(self, module):
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            if module is getattr(self, "head", None):
                init.normal_(module.weight, std=1e-3)  # start from the gray prediction
            else:
                init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            if module.bias is not None:
                init.zeros_(module.bias)


class VanillaColorizerModel(VanillaColorizerPreTrainedModel):
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

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        temperature: float | None = None,
        output_confidence: bool = False,
        return_dict: bool | None = None,
        **kwargs,
    ) -> VanillaColorizerOutput | tuple:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch, 1, height, width)`): L normalised to [-1, 1].
        labels (`torch.FloatTensor` of shape `(batch, 2, height, width)`, *optional*): target ab, normalised.
        temperature (`float`, *optional*): annealed-mean temperature of the classification and hybrid objectives
            (default `config.default_temperature`).
        output_confidence (`bool`): also return the per-pixel confidence map (classification and hybrid objectives).
        """
        height, width = pixel_values.shape[-2:]
        minimum, multiple = (5, 1) if self.config.variant == 1 else (8, 2)
        pad_h = max(minimum - height, 0) + (-max(height, minimum)) % multiple
        pad_w = max(minimum - width, 0) + (-max(width, minimum)) % multiple
        hidden_states = F.pad(pixel_values, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else pixel_values

        hidden_states = F.relu(self.conv1(hidden_states))
        if self.config.variant == 2:
            hidden_states = F.max_pool2d(hidden_states, 2)
        hidden_states = F.relu(self.conv2(hidden_states))
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
        return VanillaColorizerOutput(loss=loss, ab=ab, logits=logits, confidence=confidence_map)


__all__ = ["VanillaColorizerModel", "VanillaColorizerPreTrainedModel", "VanillaColorizerOutput"]

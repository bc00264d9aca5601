"""ResNet-18 colorizer (seed reports 1 and 5)."""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import ResNetConfig
from transformers.models.resnet.modeling_resnet import ResNetConvLayer, ResNetEmbeddings, ResNetStage

from colorizers.models.modeling_utils import (
    AbColorizerMixin,
    ColorizerOutput,
    ColorizerPreTrainedModel,
    pad_to_multiple,
)
from colorizers.objectives import ColorDistributionHead, objective_channels

from .configuration_resnet import ResNetColorizerConfig

# The backbone's total stride: stem conv (2) x max-pool (2) x second stage (2).
BACKBONE_STRIDE = 8


@dataclass
class ResNetColorizerOutput(ColorizerOutput):
    """The output of `ResNetColorizerModel`: `colorizers.models.modeling_utils.ColorizerOutput`'s fields."""


def backbone_resnet_config(config: ResNetColorizerConfig) -> ResNetConfig:
    """The transformers `ResNetConfig` of the backbone: one input channel, ResNet-18's basic blocks."""
    return ResNetConfig(
        num_channels=1,
        embedding_size=config.embedding_size,
        hidden_sizes=list(config.backbone_hidden_sizes),
        depths=list(config.backbone_depths),
        layer_type="basic",
        hidden_act="relu",
        downsample_in_first_stage=False,
    )


class ResNetColorizerBackbone(nn.Module):
    """ResNet-18 up to `layer2`: transformers' ResNet stem and its first two stages (1/8 resolution)."""

    def __init__(self, config: ResNetColorizerConfig):
        super().__init__()
        resnet_config = backbone_resnet_config(config)
        self.embedder = ResNetEmbeddings(resnet_config)
        in_sizes = [resnet_config.embedding_size, resnet_config.hidden_sizes[0]]
        # As transformers' ResNetEncoder: the first stage keeps the resolution, the second halves it.
        self.stages = nn.ModuleList(
            ResNetStage(resnet_config, in_size, out_size, stride=stride, depth=depth)
            for in_size, out_size, stride, depth in zip(
                in_sizes, resnet_config.hidden_sizes, (1, 2), resnet_config.depths
            )
        )

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        hidden_states = self.embedder(pixel_values)
        for stage in self.stages:
            hidden_states = stage(hidden_states)
        return hidden_states


class ResNetColorizerPreTrainedModel(ColorizerPreTrainedModel):
    config_class = ResNetColorizerConfig
    base_model_prefix = "resnet_colorizer"
    # ResNet's own initialisation (He, fan-out), after transformers' of every module
    output_layer = "output_conv"
    he_mode = "fan_out"
    default_init_modules = (nn.Module,)


class ResNetColorizerModel(AbColorizerMixin, ResNetColorizerPreTrainedModel):
    colorizer_output_class = ResNetColorizerOutput

    def __init__(self, config: ResNetColorizerConfig):
        super().__init__(config)
        first, second, third = config.head_hidden_sizes
        self.backbone = ResNetColorizerBackbone(config)
        self.head = nn.Sequential(
            ResNetConvLayer(config.backbone_hidden_sizes[-1], first),  # Conv3x3, BN, ReLU
            nn.Upsample(scale_factor=2),
            ResNetConvLayer(first, second),
            ResNetConvLayer(second, second),
            nn.Upsample(scale_factor=2),
            ResNetConvLayer(second, third),
        )
        self.output_conv = nn.Conv2d(
            third, objective_channels(config), 3, padding=1
        )  # followed by the last Upsample x2 in forward
        # the classification and hybrid objectives decode the head's scores over ab bins at full resolution
        # (the scores are read at 1/2 resolution, before the last nearest upsampling)
        self.color_head = ColorDistributionHead(config, stride=2) if config.objective != "regression" else None
        self.post_init()

    def load_pretrained_backbone(self, backbone_id: str | None = None, **from_pretrained_kwargs):
        """Copy the stem and first two stages of a pretrained `transformers.ResNetModel` into the backbone.

        The checkpoint (`backbone_id`, by default `config.backbone_id`: `microsoft/resnet-18`) is read
        from safetensors only. Its stem convolution's RGB input channels are summed into the one L
        channel, as both seed reports did: for a gray image (R = G = B) this gives the same response
        as the RGB network. Its sizes must match this model's config. Returns the model.
        """
        from transformers import ResNetModel

        source = ResNetModel.from_pretrained(
            backbone_id or self.config.backbone_id, use_safetensors=True, **from_pretrained_kwargs
        )
        expected = backbone_resnet_config(self.config)
        found = source.config
        checks = {
            "layer_type": (found.layer_type, expected.layer_type),
            "downsample_in_first_stage": (found.downsample_in_first_stage, expected.downsample_in_first_stage),
            "embedding_size": (found.embedding_size, expected.embedding_size),
            "hidden_sizes[:2]": (list(found.hidden_sizes[:2]), expected.hidden_sizes),
            "depths[:2]": (list(found.depths[:2]), expected.depths),
        }
        mismatched = [f"{name} {have} (expected {want})" for name, (have, want) in checks.items() if have != want]
        if mismatched:
            raise ValueError(
                f"backbone {backbone_id or self.config.backbone_id!r} does not fit this config: {', '.join(mismatched)}"
            )

        with torch.no_grad():
            stem, our_stem = source.embedder.embedder, self.backbone.embedder.embedder
            our_stem.convolution.weight.copy_(stem.convolution.weight.sum(dim=1, keepdim=True))
            our_stem.normalization.load_state_dict(stem.normalization.state_dict())
            for ours, theirs in zip(self.backbone.stages, source.encoder.stages):
                ours.load_state_dict(theirs.state_dict())
        return self

    def colorizer_scores(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Scores over ab bins at 1/2 resolution (the color head upsamples and crops them); for regression the
        ab, after the last Upsample x2, cropped to the input's size."""
        height, width = pixel_values.shape[-2:]
        hidden_states = self.backbone(pad_to_multiple(pixel_values, BACKBONE_STRIDE))
        scores = self.output_conv(self.head(hidden_states))
        if self.color_head is not None:
            return scores
        return F.interpolate(scores, scale_factor=2, mode="nearest")[..., :height, :width]


__all__ = ["ResNetColorizerModel", "ResNetColorizerPreTrainedModel", "ResNetColorizerOutput"]

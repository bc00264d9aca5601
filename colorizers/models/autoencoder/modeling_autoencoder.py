"""Autoencoder colorizers of seed report 2: the strided baseline and the VGG-16 fusion model.

Besides torch, transformers and ``colorizers`` modules it imports huggingface_hub and safetensors (both
transformers dependencies), only inside `load_pretrained_backbone`.
"""

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel

from colorizers.models.modeling_utils import (
    ColorizerOutput,
    FrozenBackboneMixin,
    StridedConvEncoder,
    colorizer_output,
    init_convolution,
    lightness_to_imagenet,
    pad_to_multiple,
)
from colorizers.objectives import ColorDistributionHead, objective_channels

from .configuration_autoencoder import AutoencoderColorizerConfig

# Convolutions per VGG-16 block; with a ReLU after each conv and a max-pool after each block this
# puts the convolutions at torchvision's/timm's indices features.0, 2, 5, 7, 10, 12, 14, 17, ..., 28.
VGG16_BLOCK_DEPTHS = (2, 2, 3, 3, 3)


@dataclass
class AutoencoderColorizerOutput(ColorizerOutput):
    """The output of `AutoencoderColorizerModel`: `colorizers.models.modeling_utils.ColorizerOutput`'s fields."""


class AutoencoderColorizerStridedEncoder(StridedConvEncoder):
    """8 Conv3x3 (ReLU, same padding), stride 2 at layers 1, 3 and 5: H/8 x W/8."""


class AutoencoderColorizerVGG16Encoder(nn.Module):
    """VGG-16's convolutional part up to its last max-pool (H/32 x W/32), torchvision's module layout."""

    def __init__(self, config: AutoencoderColorizerConfig):
        super().__init__()
        layers, in_size = [], 3
        for depth, out_size in zip(VGG16_BLOCK_DEPTHS, config.vgg_hidden_sizes):
            for _ in range(depth):
                layers += [nn.Conv2d(in_size, out_size, 3, padding=1), nn.ReLU()]
                in_size = out_size
            layers.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*layers)
        self.out_channels = in_size

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.features(lightness_to_imagenet(pixel_values))


class AutoencoderColorizerDecoder(nn.Module):
    """Conv128, up, Conv64, up, Conv32, Conv16, Conv2 (tanh), up; `extra_upsamplings` more x2 first."""

    def __init__(self, config: AutoencoderColorizerConfig, in_channels: int, extra_upsamplings: int):
        super().__init__()
        sizes = list(config.decoder_hidden_sizes)
        self.layers = nn.ModuleList(
            nn.Conv2d(in_size, out_size, 3, padding=1) for in_size, out_size in zip([in_channels] + sizes[:-1], sizes)
        )
        self.head = nn.Conv2d(sizes[-1], objective_channels(config), 3, padding=1)
        self.extra_upsamplings = extra_upsamplings

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        if self.extra_upsamplings:
            hidden_states = F.interpolate(hidden_states, scale_factor=2**self.extra_upsamplings, mode="nearest")
        for index, layer in enumerate(self.layers):
            hidden_states = F.relu(layer(hidden_states))
            if index < 2:  # after Conv128 and Conv64
                hidden_states = F.interpolate(hidden_states, scale_factor=2, mode="nearest")
        return F.interpolate(self.head(hidden_states), scale_factor=2, mode="nearest")


class AutoencoderColorizerPreTrainedModel(FrozenBackboneMixin, PreTrainedModel):
    config_class = AutoencoderColorizerConfig
    base_model_prefix = "autoencoder"
    main_input_name = "pixel_values"
    input_modalities = ("image",)

    def _init_weights(self, module):
        init_convolution(module, getattr(getattr(self, "decoder", None), "head", None))  # He, and a near-zero head

    def freeze_backbone_if_configured(self) -> None:
        """Stop gradients to a VGG-16 encoder when `config.freeze_backbone` says so (as the report did)."""
        if self.config.encoder_type == "vgg16" and self.config.freeze_backbone:
            self.encoder.requires_grad_(False)


class AutoencoderColorizerModel(AutoencoderColorizerPreTrainedModel):
    def __init__(self, config: AutoencoderColorizerConfig):
        super().__init__(config)
        if config.encoder_type == "vgg16":
            self.encoder = AutoencoderColorizerVGG16Encoder(config)
        else:
            self.encoder = AutoencoderColorizerStridedEncoder(config)
        self.fusion = nn.Conv2d(self.encoder.out_channels, config.fusion_size, 1)
        # The decoder upsamples x8; a deeper encoder gets the missing factor as extra x2 upsamplings.
        extra_upsamplings = config.total_stride.bit_length() - 1 - 3
        self.decoder = AutoencoderColorizerDecoder(config, config.fusion_size, extra_upsamplings)
        # the classification and hybrid objectives decode the head's scores over ab bins at full resolution
        self.color_head = ColorDistributionHead(config) if config.objective != "regression" else None
        self.post_init()
        self.freeze_backbone_if_configured()

    def load_pretrained_backbone(
        self,
        backbone_id: str | None = None,
        *,
        revision: str | None = None,
        token: str | bool | None = None,
        local_files_only: bool | None = None,
    ) -> "AutoencoderColorizerModel":
        """Copy ImageNet VGG-16 weights into the encoder (VGG-16 encoder only).

        `backbone_id` (default `config.backbone_id`) is a Hub repository whose `model.safetensors`
        holds a timm or torchvision VGG-16 state dict (`features.{i}.weight` / `.bias`), a local
        folder holding that file, or the path of a safetensors file. Other keys (the classifier
        head) are ignored. Returns the model.
        """
        if self.config.encoder_type != "vgg16":
            raise ValueError(
                f"load_pretrained_backbone needs encoder_type='vgg16', this model's is {self.config.encoder_type!r}"
            )
        from safetensors.torch import load_file

        source = backbone_id or self.config.backbone_id
        path = Path(source).expanduser()
        if path.is_dir():
            path = path / "model.safetensors"
            if not path.is_file():
                raise FileNotFoundError(f"{path.parent} holds no model.safetensors")
        elif not path.is_file():
            from huggingface_hub import hf_hub_download

            path = hf_hub_download(
                source, "model.safetensors", revision=revision, token=token, local_files_only=local_files_only
            )
        state_dict = {
            key.removeprefix("features."): tensor
            for key, tensor in load_file(str(path)).items()
            if key.startswith("features.")
        }
        try:
            self.encoder.features.load_state_dict(state_dict, strict=True)
        except RuntimeError as error:
            raise ValueError(
                f"{source} does not hold VGG-16 `features.*` weights matching this encoder: {error}"
            ) from error
        return self

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        temperature: float | None = None,
        output_confidence: bool = False,
        return_dict: bool | None = None,
        **kwargs,
    ) -> AutoencoderColorizerOutput | tuple:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch, 1, height, width)`): L normalised to [-1, 1].
        labels (`torch.FloatTensor` of shape `(batch, 2, height, width)`, *optional*): target ab, normalised.
        temperature (`float`, *optional*): annealed-mean temperature of the classification and hybrid objectives
            (default `config.default_temperature`).
        output_confidence (`bool`): also return the per-pixel confidence map (classification and hybrid objectives).
        """
        height, width = pixel_values.shape[-2:]
        hidden_states = pad_to_multiple(pixel_values, self.config.total_stride)
        # Nothing before the encoder learns: a frozen encoder needs no graph.
        encoder_trains = any(parameter.requires_grad for parameter in self.encoder.parameters())
        with torch.set_grad_enabled(torch.is_grad_enabled() and encoder_trains):
            hidden_states = self.encoder(hidden_states)
        hidden_states = F.relu(self.fusion(hidden_states))
        scores = self.decoder(hidden_states)[..., :height, :width]
        return colorizer_output(
            self,
            scores,
            height,
            width,
            labels,
            temperature,
            output_confidence,
            return_dict,
            AutoencoderColorizerOutput,
        )


__all__ = ["AutoencoderColorizerModel", "AutoencoderColorizerPreTrainedModel", "AutoencoderColorizerOutput"]

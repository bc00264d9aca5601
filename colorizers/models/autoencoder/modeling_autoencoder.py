"""Autoencoder colorizers of seed report 2: the strided baseline and the VGG-16 fusion model.

Self-contained: imports only torch and transformers (huggingface_hub and safetensors, both
transformers dependencies, only inside `load_pretrained_backbone`).
"""

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_autoencoder import AutoencoderColorizerConfig
from .objectives_autoencoder import ColorDistributionHead, objective_channels

# ImageNet statistics of the 0..1 RGB input the pretrained VGG-16 expects.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Convolutions per VGG-16 block; with a ReLU after each conv and a max-pool after each block this
# puts the convolutions at torchvision's/timm's indices features.0, 2, 5, 7, 10, 12, 14, 17, ..., 28.
VGG16_BLOCK_DEPTHS = (2, 2, 3, 3, 3)
# The strided encoder's convolutions that halve the resolution (layers 1, 3 and 5).
STRIDED_LAYERS = (0, 2, 4)


# Copied from colorizers.models.unet.modeling_unet.UNetColorizerOutput with UNet->Autoencoder
@dataclass
class AutoencoderColorizerOutput(ModelOutput):
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


# Copied from colorizers.models.unet.modeling_unet.pad_to_multiple
def pad_to_multiple(pixel_values: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad the bottom/right edges so both sides are multiples of `multiple` (reflect where possible)."""
    height, width = pixel_values.shape[-2:]
    pad_h, pad_w = -height % multiple, -width % multiple
    if pad_h == 0 and pad_w == 0:
        return pixel_values
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(pixel_values, (0, pad_w, 0, pad_h), mode=mode)


def lightness_to_imagenet(pixel_values: torch.Tensor) -> torch.Tensor:
    """L normalised to [-1, 1] -> the 0..1 gray image repeated to RGB, ImageNet-normalised."""
    gray = (pixel_values + 1) / 2
    mean = torch.tensor(IMAGENET_MEAN, dtype=gray.dtype, device=gray.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=gray.dtype, device=gray.device).view(1, 3, 1, 1)
    return (gray.expand(-1, 3, -1, -1) - mean) / std


class AutoencoderColorizerStridedEncoder(nn.Module):
    """8 Conv3x3 (ReLU, same padding), stride 2 at layers 1, 3 and 5: H/8 x W/8."""

    def __init__(self, config: AutoencoderColorizerConfig):
        super().__init__()
        sizes = list(config.encoder_hidden_sizes)
        self.layers = nn.ModuleList(
            nn.Conv2d(in_size, out_size, 3, stride=2 if index in STRIDED_LAYERS else 1, padding=1)
            for index, (in_size, out_size) in enumerate(zip([1] + sizes[:-1], sizes))
        )
        self.out_channels = sizes[-1]

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        hidden_states = pixel_values
        for layer in self.layers:
            hidden_states = F.relu(layer(hidden_states))
        return hidden_states


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


class AutoencoderColorizerPreTrainedModel(PreTrainedModel):
    config_class = AutoencoderColorizerConfig
    base_model_prefix = "autoencoder"
    main_input_name = "pixel_values"
    input_modalities = ("image",)

    def _init_weights(self, module):
        # He initialisation suits the ReLU stacks; transformers' default N(0, 0.02) starves deep CNNs.
        if isinstance(module, nn.Conv2d):
            decoder = getattr(self, "decoder", None)
            if decoder is not None and module is decoder.head:
                # A near-zero head starts training from the gray prediction (ab = 0), not from noise.
                init.normal_(module.weight, std=1e-3)
            else:
                init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            if module.bias is not None:
                init.zeros_(module.bias)

    def freeze_backbone_if_configured(self) -> None:
        """Stop gradients to a VGG-16 encoder when `config.freeze_backbone` says so (as the report did)."""
        if self.config.encoder_type == "vgg16" and self.config.freeze_backbone:
            self.encoder.requires_grad_(False)

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        # Loading replaces every parameter with a fresh, trainable one: freeze again afterwards.
        loaded = super().from_pretrained(*args, **kwargs)
        (loaded[0] if isinstance(loaded, tuple) else loaded).freeze_backbone_if_configured()
        return loaded


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
        return AutoencoderColorizerOutput(loss=loss, ab=ab, logits=logits, confidence=confidence_map)


__all__ = ["AutoencoderColorizerModel", "AutoencoderColorizerPreTrainedModel", "AutoencoderColorizerOutput"]

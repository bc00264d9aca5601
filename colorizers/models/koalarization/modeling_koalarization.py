"""Deep Koalarization colorizer (seed report 3). Self-contained: imports only torch and transformers."""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModelForImageClassification, PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_koalarization import KoalarizationColorizerConfig
from .objectives_koalarization import ColorDistributionHead, objective_channels

# ImageNet statistics of the 0..1 RGB input the pretrained classifier expects.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The encoder's convolutions that halve the resolution (layers 1, 3 and 5).
STRIDED_LAYERS = (0, 2, 4)
# The decoder convolutions followed by a nearest x2 upsampling (Conv 128 and the second Conv 64);
# the last one follows the 2-channel output convolution.
UPSAMPLE_AFTER = (0, 2)


# Copied from colorizers.models.unet.modeling_unet.UNetColorizerOutput with UNet->Koalarization
@dataclass
class KoalarizationColorizerOutput(ModelOutput):
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


def lightness_to_imagenet(pixel_values: torch.Tensor, size: int) -> torch.Tensor:
    """L normalised to [-1, 1] -> the 0..1 gray image at `size` x `size`, repeated to RGB, ImageNet-normalised."""
    gray = (pixel_values + 1) / 2
    if gray.shape[-2:] != (size, size):
        gray = F.interpolate(gray, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    mean = torch.tensor(IMAGENET_MEAN, dtype=gray.dtype, device=gray.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=gray.dtype, device=gray.device).view(1, 3, 1, 1)
    return (gray.expand(-1, 3, -1, -1) - mean) / std


class KoalarizationColorizerEncoder(nn.Module):
    """8 Conv3x3 (ReLU, same padding), stride 2 at layers 1, 3 and 5: H/8 x W/8."""

    def __init__(self, config: KoalarizationColorizerConfig):
        super().__init__()
        sizes = list(config.encoder_hidden_sizes)
        self.layers = nn.ModuleList(
            nn.Conv2d(in_size, out_size, 3, stride=2 if index in STRIDED_LAYERS else 1, padding=1)
            for index, (in_size, out_size) in enumerate(zip([1] + sizes[:-1], sizes))
        )

    # Copied from colorizers.models.autoencoder.modeling_autoencoder.AutoencoderColorizerStridedEncoder.forward
    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        hidden_states = pixel_values
        for layer in self.layers:
            hidden_states = F.relu(layer(hidden_states))
        return hidden_states


class KoalarizationColorizerDecoder(nn.Module):
    """Conv 128, up x2, Conv 64, Conv 64, up x2, Conv 32, Conv 2 (tanh), up x2."""

    def __init__(self, config: KoalarizationColorizerConfig):
        super().__init__()
        sizes = list(config.decoder_hidden_sizes)
        self.layers = nn.ModuleList(
            nn.Conv2d(in_size, out_size, 3, padding=1)
            for in_size, out_size in zip([config.fusion_size] + sizes[:-1], sizes)
        )
        self.head = nn.Conv2d(sizes[-1], objective_channels(config), 3, padding=1)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        for index, layer in enumerate(self.layers):
            hidden_states = F.relu(layer(hidden_states))
            if index in UPSAMPLE_AFTER:
                hidden_states = F.interpolate(hidden_states, scale_factor=2, mode="nearest")
        return F.interpolate(self.head(hidden_states), scale_factor=2, mode="nearest")


class KoalarizationColorizerPreTrainedModel(PreTrainedModel):
    config_class = KoalarizationColorizerConfig
    base_model_prefix = "koalarization"
    main_input_name = "pixel_values"
    input_modalities = ("image",)

    def _init_weights(self, module):
        # He initialisation suits the ReLU stacks; transformers' default N(0, 0.02) starves deep CNNs.
        # The classifier is a PreTrainedModel of its own: transformers initialises it with its own rules.
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
        """Stop gradients to the classifier when `config.freeze_backbone` says so (as the report did)."""
        if self.config.freeze_backbone and self.classifier is not None:
            self.classifier.requires_grad_(False)
            self.classifier.eval()

    # Copied from colorizers.models.autoencoder.modeling_autoencoder.AutoencoderColorizerPreTrainedModel.from_pretrained
    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        # Loading replaces every parameter with a fresh, trainable one: freeze again afterwards.
        loaded = super().from_pretrained(*args, **kwargs)
        (loaded[0] if isinstance(loaded, tuple) else loaded).freeze_backbone_if_configured()
        return loaded


class KoalarizationColorizerModel(KoalarizationColorizerPreTrainedModel):
    def __init__(self, config: KoalarizationColorizerConfig):
        super().__init__(config)
        self.encoder = KoalarizationColorizerEncoder(config)
        # Without global features (report 3's ablation) there is no classifier and the fusion sees the encoder only.
        self.classifier = None
        embedding_size = 0
        if config.use_global_features:
            self.classifier = AutoModelForImageClassification.from_config(config.classifier_config)
            embedding_size = config.classifier_config.num_labels
        self.fusion = nn.Conv2d(config.encoder_hidden_sizes[-1] + embedding_size, config.fusion_size, 1)
        self.decoder = KoalarizationColorizerDecoder(config)
        # the classification and hybrid objectives decode the head's scores over ab bins at full resolution
        self.color_head = ColorDistributionHead(config) if config.objective != "regression" else None
        self.post_init()
        self.freeze_backbone_if_configured()

    def train(self, mode: bool = True):
        # A frozen classifier keeps its batch-norm statistics: it stays in eval mode while the rest trains.
        super().train(mode)
        if self.config.freeze_backbone and self.classifier is not None:
            self.classifier.eval()
        return self

    def load_pretrained_backbone(self, backbone_id: str | None = None, **kwargs) -> "KoalarizationColorizerModel":
        """Make the global branch a pretrained classifier (default `config.backbone_id`, a Hub id or local folder).

        The checkpoint is read with `AutoModelForImageClassification.from_pretrained(backbone_id,
        use_safetensors=True, **kwargs)`. It replaces the classifier whatever its architecture (the
        shipped preset's is a narrow ResNet-50 trained from scratch; `microsoft/resnet-50` is the
        report's full one), and its config, labels included, replaces `config.classifier_config`. It
        must read 3 channels and give as many logits as the fusion layer takes. Frozen if
        `config.freeze_backbone`. Returns the model.
        """
        if self.classifier is None:
            raise ValueError("this model has no global branch (use_global_features=False): no backbone to load")
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
        self.freeze_backbone_if_configured()
        return self

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        temperature: float | None = None,
        output_confidence: bool = False,
        return_dict: bool | None = None,
        **kwargs,
    ) -> KoalarizationColorizerOutput | tuple:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch, 1, height, width)`): L normalised to [-1, 1].
        labels (`torch.FloatTensor` of shape `(batch, 2, height, width)`, *optional*): target ab, normalised.
        temperature (`float`, *optional*): annealed-mean temperature of the classification and hybrid objectives
            (default `config.default_temperature`).
        output_confidence (`bool`): also return the per-pixel confidence map (classification and hybrid objectives).
        """
        height, width = pixel_values.shape[-2:]
        hidden_states = self.encoder(pad_to_multiple(pixel_values, self.config.total_stride))

        if self.classifier is not None:
            # Global features: the classifier's logits on the whole (unpadded) gray image, tiled over the grid.
            classifier_trains = any(parameter.requires_grad for parameter in self.classifier.parameters())
            with torch.set_grad_enabled(torch.is_grad_enabled() and classifier_trains):
                classifier_inputs = lightness_to_imagenet(pixel_values, self.config.classifier_image_size)
                embedding = self.classifier(pixel_values=classifier_inputs).logits
            embedding = embedding.to(hidden_states.dtype)[:, :, None, None].expand(-1, -1, *hidden_states.shape[-2:])
            hidden_states = torch.cat([hidden_states, embedding], dim=1)
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
        return KoalarizationColorizerOutput(loss=loss, ab=ab, logits=logits, confidence=confidence_map)


__all__ = ["KoalarizationColorizerModel", "KoalarizationColorizerPreTrainedModel", "KoalarizationColorizerOutput"]

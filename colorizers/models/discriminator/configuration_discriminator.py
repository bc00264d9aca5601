"""Configuration of the conditional PatchGAN discriminator the GAN colorizers train against (seed report 5)."""

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

from colorizers.models.modeling_utils import check_stack_widths


@strict
class ColorizerDiscriminatorConfig(PreTrainedConfig):
    r"""Conditional convolutional discriminator (seed report 5's NetDis) in the pix2pix PatchGAN shape.

    It judges a colorization given its lightness: the input is L concatenated with ab (3 channels,
    both normalised as the colorizers' processor does) and the output is one logit per image patch.

    Layers (all Conv4x4, padding 1), with the default widths 64-128-256-512:
        Conv s2 -> 64, LeakyReLU (no normalisation)
        Conv s2 -> 128, BatchNorm, LeakyReLU
        Conv s2 -> 256, BatchNorm, LeakyReLU
        Conv s1 -> 512, BatchNorm, LeakyReLU
        Conv s1 -> 1 (patch logits)
    In general the first width is stride 2 without normalisation, the middle ones stride 2 with
    BatchNorm and the last stride 1 with BatchNorm. A side of n pixels gives
    ``n // 2 ** (len(hidden_sizes) - 1) - 2`` logits (256 -> 30, each seeing a 70x70 patch); sides below
    ``3 * 2 ** (len(hidden_sizes) - 1)`` (24 by default) are replicate-padded to it (one logit).

    This is not a colorizer: it has no presets and no image processor; it is registered with
    `AutoConfig` / `AutoModel` only, so a saved discriminator reloads with `AutoModel.from_pretrained`.

    Args:
        hidden_sizes (`list[int]`, defaults to `[64, 128, 256, 512]`):
            Channels of the hidden convolutions, as above. At least 2.
        negative_slope (`float`, defaults to 0.2):
            Slope of the LeakyReLU activations, in [0, 1) (pix2pix's 0.2).
    """

    model_type = "colorizer_discriminator"

    hidden_sizes: list[int] | tuple[int, ...] = (64, 128, 256, 512)
    negative_slope: float | int = 0.2

    def validate_architecture(self):
        check_stack_widths(self, "layers")
        if not 0 <= self.negative_slope < 1:
            raise ValueError(f"negative_slope must be in [0, 1), got {self.negative_slope}")


__all__ = ["ColorizerDiscriminatorConfig"]

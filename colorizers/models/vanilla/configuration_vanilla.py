"""Configuration of the vanilla CNN colorizers (seed report 1, variants 1 and 2)."""

from huggingface_hub.dataclasses import strict

from colorizers.models.modeling_utils import AbColorizerConfig


@strict
class VanillaColorizerConfig(AbColorizerConfig):
    r"""The two small "vanilla" CNNs of seed report 1, which predict ab from L with unpadded convolutions.

    * variant 1: Conv3x3(32, valid, ReLU) -> Conv3x3(16, valid, ReLU) -> ConvTranspose5x5(2, valid).
      A side of n pixels goes n -> n-2 -> n-4 -> n, so the output matches the input exactly.
    * variant 2: Conv3x3(32, valid, ReLU) -> MaxPool2 -> Conv3x3(16, valid, ReLU) ->
      ConvTranspose8x8(2, stride 2). An even side n goes n -> n-2 -> n/2-1 -> n/2-3 -> n. Odd
      sides are padded by one pixel (replicate) and the output cropped.

    Inputs smaller than the minimum a variant can take (5 for variant 1, 8 for variant 2) are padded
    and the output cropped, so any size works. The report trained with MSE (`loss_type`'s default).

    Args:
        variant (`int`, defaults to 1): 1 or 2, as above.
        hidden_sizes (`list[int]`, defaults to `[32, 16]`): channels of the two convolutions.
        output_activation (`str`, defaults to `"none"`): `"none"` (linear; the report's final ReLU on
            0..255-offset ab clips nothing, so linear is its equivalent on signed ab) or `"tanh"`.
        (the ab colorizer's arguments, from colorizers.models.modeling_utils.AbColorizerConfig)
        image_size (`int`, defaults to 224): default working resolution (longest edge); the report's 224.
    """

    model_type = "colorizer_vanilla"

    variant: int = 1
    hidden_sizes: list[int] | tuple[int, ...] = (32, 16)
    image_size: int = 224

    def validate_architecture(self):
        if self.variant not in (1, 2):
            raise ValueError(f"variant must be 1 or 2, got {self.variant}")
        if len(self.hidden_sizes) != 2 or any(size <= 0 for size in self.hidden_sizes):
            raise ValueError(f"hidden_sizes must be two positive channel counts, got {list(self.hidden_sizes)}")
        if self.image_size < 8:
            raise ValueError(f"image_size must be at least 8, got {self.image_size}")


__all__ = ["VanillaColorizerConfig"]

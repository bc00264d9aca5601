"""Configuration of the vanilla CNN colorizers (seed report 1, variants 1 and 2)."""

from huggingface_hub.dataclasses import strict

from colorizers.objectives import ObjectiveConfig, check_objective_config, check_regression_config


@strict
class VanillaColorizerConfig(ObjectiveConfig):
    r"""The two small "vanilla" CNNs of seed report 1, which predict ab from L with unpadded convolutions.

    * variant 1: Conv3x3(32, valid, ReLU) -> Conv3x3(16, valid, ReLU) -> ConvTranspose5x5(2, valid).
      A side of n pixels goes n -> n-2 -> n-4 -> n, so the output matches the input exactly.
    * variant 2: Conv3x3(32, valid, ReLU) -> MaxPool2 -> Conv3x3(16, valid, ReLU) ->
      ConvTranspose8x8(2, stride 2). An even side n goes n -> n-2 -> n/2-1 -> n/2-3 -> n. Odd
      sides are padded by one pixel (replicate) and the output cropped.

    Inputs smaller than the minimum a variant can take (5 for variant 1, 8 for variant 2) are padded
    and the output cropped, so any size works.

    Args:
        variant (`int`, defaults to 1): 1 or 2, as above.
        hidden_sizes (`list[int]`, defaults to `[32, 16]`): channels of the two convolutions.
        output_activation (`str`, defaults to `"none"`): `"none"` (linear; the report's final ReLU on
            0..255-offset ab clips nothing, so linear is its equivalent on signed ab) or `"tanh"`.
        loss_type (`str`, defaults to `"mse"`): `"mse"` (the report's), `"l1"` or `"huber"`.
        huber_delta (`float`, defaults to 0.1): Huber transition point, normalised ab units.
        (the objective's arguments, from colorizers.objectives.ObjectiveConfig)
        distribution_stride (`int`, defaults to 4): classification and hybrid predict one colour distribution
            per cell of this many pixels (the scores are average-pooled; Zhang et al. predicted at 1/4), and
            the decoded ab is upsampled bilinearly.
        image_size (`int`, defaults to 224): default working resolution (longest edge); the report's 224.
    """

    model_type = "colorizer_vanilla"

    variant: int = 1
    hidden_sizes: list[int] | tuple[int, ...] = (32, 16)
    output_activation: str = "none"
    loss_type: str = "mse"
    huber_delta: float = 0.1
    distribution_stride: int = 4
    image_size: int = 224

    def validate_architecture(self):
        check_objective_config(self)
        if self.variant not in (1, 2):
            raise ValueError(f"variant must be 1 or 2, got {self.variant}")
        if len(self.hidden_sizes) != 2 or any(size <= 0 for size in self.hidden_sizes):
            raise ValueError(f"hidden_sizes must be two positive channel counts, got {list(self.hidden_sizes)}")
        check_regression_config(self)
        if self.image_size < 8:
            raise ValueError(f"image_size must be at least 8, got {self.image_size}")


__all__ = ["VanillaColorizerConfig"]

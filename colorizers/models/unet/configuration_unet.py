"""Configuration of the Keras-style U-Net colorizer (seed report 1)."""

from huggingface_hub.dataclasses import strict

from colorizers.models.modeling_utils import AbColorizerConfig, check_stack_widths


@strict
class UNetColorizerConfig(AbColorizerConfig):
    r"""U-Net that predicts the ab channels of CIELAB from L (seed report 1, "Vanilla / U-Net / ResNet").

    Encoder: double Conv3x3 (ReLU, same padding) blocks at `hidden_sizes`, MaxPool2 between them.
    Decoder: ConvTranspose2x2 stride 2, concatenation with the encoder block of the same size, double
    Conv3x3, back up to the first width; a final Conv3x3 to 2 channels. The default widths
    32-64-128-256-512 give the report's ~7.8M parameters. The report trained with MSE (`loss_type`'s default).

    The model is fully convolutional: inputs whose sides are not multiples of
    ``2 ** (len(hidden_sizes) - 1)`` are reflect-padded and the output cropped back, so any size works.

    Args:
        hidden_sizes (`list[int]`, defaults to `[32, 64, 128, 256, 512]`):
            Channels of each encoder level (the decoder mirrors them). At least 2 levels.
        output_activation (`str`, defaults to `"none"`):
            `"none"` (linear, the equivalent of the report's ReLU on 0..255-offset ab) or `"tanh"`.
        (the ab colorizer's arguments, from colorizers.models.modeling_utils.AbColorizerConfig)
        image_size (`int`, defaults to 256):
            Default working resolution (longest edge) for inference and training.
    """

    model_type = "colorizer_unet"

    hidden_sizes: list[int] | tuple[int, ...] = (32, 64, 128, 256, 512)

    def validate_architecture(self):
        check_stack_widths(self, "levels")
        if self.image_size < 2 ** (len(self.hidden_sizes) - 1):
            raise ValueError(
                f"image_size must be at least {2 ** (len(self.hidden_sizes) - 1)} for {len(self.hidden_sizes)} "
                f"levels, got {self.image_size}"
            )


__all__ = ["UNetColorizerConfig"]

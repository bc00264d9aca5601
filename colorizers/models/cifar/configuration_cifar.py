"""Configuration of the CIFAR-10 dense autoencoder colorizer (seed report 4)."""

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

from colorizers.objectives import check_regression_config


@strict
class CifarColorizerConfig(PreTrainedConfig):
    r"""The CIFAR-10 convolutional autoencoder with a dense bottleneck of seed report 4; predicts RGB from L.

    Encoder: Conv3x3 stride 2 (same padding) at each of `hidden_sizes` (64, 128, 256), each followed by
    ReLU and dropout; flatten (4 x 4 x 256 = 4096 at 32x32); Dense to `latent_size` (256, linear).
    Decoder: Dense back to 4096 (linear); reshape to 4 x 4 x 256; ConvTranspose3x3 stride 2 (ReLU) at
    the reversed widths (256, 128, 64); ConvTranspose3x3 stride 1 to 3 channels; sigmoid. The defaults
    give the report's ~3.4M parameters (3,431,811).

    This model is fixed-size: it resizes its input to `input_size` x `input_size` internally (bilinear
    with antialiasing, an area-like filter when shrinking) and resizes its RGB output back to the
    input's height and width (bilinear), so inputs of any size and aspect ratio are accepted but colour
    is only ever predicted at `input_size` resolution.

    Differences from the report: its input was gray / 255 in [0, 1]; here it is the package's normalised
    L (L / 50 - 1, in [-1, 1]) like every colorizer's, a monotone function of the same luminance. The
    RGB output is converted to ab by `colorizers.predicted_ab` and joined with the input L, so the
    lightness of the predicted RGB is not used at inference.

    Args:
        hidden_sizes (`list[int]`, defaults to `[64, 128, 256]`):
            Channels of the strided encoder convolutions; the decoder mirrors them. At least 1.
        latent_size (`int`, defaults to 256):
            Width of the dense latent vector.
        dropout (`float`, defaults to 0.2):
            Dropout probability after each encoder convolution, in [0, 1).
        input_size (`int`, defaults to 32):
            Side of the square the model works at; a multiple of `2 ** len(hidden_sizes)`.
        loss_type (`str`, defaults to `"mse"`):
            Loss on RGB in [0, 1] when `labels` are given: `"mse"` (the report's L2), `"l1"` or `"huber"`
            (the alternatives the report discusses).
        huber_delta (`float`, defaults to 0.1):
            Transition point of the Huber (smooth L1) loss, in RGB units of [0, 1].
        image_size (`int`, defaults to 32):
            Default working resolution (longest edge) of the image processor: CIFAR-10's 32.
    """

    model_type = "colorizer_cifar"
    # What the model predicts (the only colorizer that predicts RGB): tells training which target to use.
    output_space = "rgb"

    hidden_sizes: list[int] | tuple[int, ...] = (64, 128, 256)
    latent_size: int = 256
    dropout: float = 0.2
    input_size: int = 32
    loss_type: str = "mse"
    huber_delta: float = 0.1
    image_size: int = 32

    def validate_architecture(self):
        if len(self.hidden_sizes) < 1 or any(size <= 0 for size in self.hidden_sizes):
            raise ValueError(
                f"hidden_sizes must be at least one positive channel count, got {list(self.hidden_sizes)}"
            )
        if self.latent_size <= 0:
            raise ValueError(f"latent_size must be positive, got {self.latent_size}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        stride = 2 ** len(self.hidden_sizes)
        if self.input_size < stride or self.input_size % stride:
            raise ValueError(
                f"input_size must be a positive multiple of {stride} for {len(self.hidden_sizes)} stride-2 "
                f"convolutions, got {self.input_size}"
            )
        check_regression_config(self, output_activations=None)
        if self.image_size < 1:
            raise ValueError(f"image_size must be positive, got {self.image_size}")


__all__ = ["CifarColorizerConfig"]

"""Configuration of the ResNet-18 colorizer (seed reports 1 and 5)."""

from huggingface_hub.dataclasses import strict

from colorizers.models.modeling_utils import AbColorizerConfig


@strict
class ResNetColorizerConfig(AbColorizerConfig):
    r"""The first half of ResNet-18 followed by an upsampling head; predicts the ab channels of CIELAB from L.

    Backbone (seed reports 1 and 5): ResNet-18's stem (Conv7x7 stride 2, BN, ReLU, MaxPool3x3 stride 2)
    and its first two stages of basic blocks (`layer1`, `layer2`), built from transformers' own ResNet
    (`ResNetConfig(num_channels=1, layer_type="basic")`) so that the weights of `backbone_id`
    (`microsoft/resnet-18`) map onto it; their RGB stem convolution is summed to the one L channel
    (`ResNetColorizerModel.load_pretrained_backbone`). Output: `backbone_hidden_sizes[-1]` channels
    (128) at 1/8 of the input resolution.

    Head, with `head_hidden_sizes = [h0, h1, h2]` (default 128, 64, 32, the reports'): Conv3x3 -> h0, BN,
    ReLU, Upsample x2, Conv3x3 -> h1, BN, ReLU, Conv3x3 h1 -> h1, BN, ReLU, Upsample x2, Conv3x3 -> h2,
    BN, ReLU, Conv3x3 h2 -> 2, Upsample x2 (nearest, torch's default, as in the reports' code).
    The convolutions followed by BN carry no bias (it would be cancelled by BN); the defaults give
    954,434 parameters (676,800 in the backbone).

    Seed report 5's network output 3 channels; this family predicts the 2 ab channels of seed report 1
    and recombines them with the input L, as every colorizer here does. Seed report 1 trained with MSE at
    224x224, seed report 5 with sqrt(MSE) (same minimiser); the default loss is `"mse"`.

    The model is fully convolutional: inputs whose sides are not multiples of 8 are reflect-padded and
    the output cropped back, so any size works.

    Args:
        backbone_id (`str`, defaults to `"microsoft/resnet-18"`):
            Hub id or local folder of the `transformers.ResNetModel` whose stem and first two stages
            `load_pretrained_backbone()` copies. Its sizes must match the ones below.
        embedding_size (`int`, defaults to 64):
            Channels of the stem convolution (ResNet-18: 64).
        backbone_hidden_sizes (`list[int]`, defaults to `[64, 128]`):
            Channels of the two backbone stages used (ResNet-18's first two).
        backbone_depths (`list[int]`, defaults to `[2, 2]`):
            Basic blocks in each of the two stages (ResNet-18's first two).
        head_hidden_sizes (`list[int]`, defaults to `[128, 64, 32]`):
            Channels of the head's three widths, as above.
        output_activation (`str`, defaults to `"none"`):
            `"none"` (linear, as in the reports) or `"tanh"`.
        (the ab colorizer's arguments, from colorizers.models.modeling_utils.AbColorizerConfig)
        image_size (`int`, defaults to 224):
            Default working resolution (longest edge); seed report 1's 224.
    """

    model_type = "colorizer_resnet"

    backbone_id: str = "microsoft/resnet-18"
    embedding_size: int = 64
    backbone_hidden_sizes: list[int] | tuple[int, ...] = (64, 128)
    backbone_depths: list[int] | tuple[int, ...] = (2, 2)
    head_hidden_sizes: list[int] | tuple[int, ...] = (128, 64, 32)
    image_size: int = 224

    def validate_architecture(self):
        if self.embedding_size <= 0:
            raise ValueError(f"embedding_size must be positive, got {self.embedding_size}")
        if len(self.backbone_hidden_sizes) != 2 or any(size <= 0 for size in self.backbone_hidden_sizes):
            raise ValueError(
                f"backbone_hidden_sizes must be two positive channel counts, got {list(self.backbone_hidden_sizes)}"
            )
        if len(self.backbone_depths) != 2 or any(depth < 1 for depth in self.backbone_depths):
            raise ValueError(
                f"backbone_depths must be two block counts of at least 1, got {list(self.backbone_depths)}"
            )
        if len(self.head_hidden_sizes) != 3 or any(size <= 0 for size in self.head_hidden_sizes):
            raise ValueError(
                f"head_hidden_sizes must be three positive channel counts, got {list(self.head_hidden_sizes)}"
            )
        if self.image_size < 8:
            raise ValueError(f"image_size must be at least 8 (the backbone's stride), got {self.image_size}")


__all__ = ["ResNetColorizerConfig"]

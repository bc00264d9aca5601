from colorizers.registry import Preset

from .configuration_vanilla import VanillaColorizerConfig
from .modeling_vanilla import VanillaColorizerModel, VanillaColorizerOutput, VanillaColorizerPreTrainedModel

AUTO_CLASSES = [(VanillaColorizerConfig, VanillaColorizerModel)]

PRESETS = [
    Preset(
        name="vanilla-v1",
        config_class=VanillaColorizerConfig,
        config={"variant": 1},
        description="Vanilla CNN variant 1: two valid 3x3 convolutions and a 5x5 transposed convolution",
        reference="seed 1: Vanilla / U-Net / ResNet comparison (vanilla CNN, variant 1)",
    ),
    Preset(
        name="vanilla-v2",
        config_class=VanillaColorizerConfig,
        config={"variant": 2},
        description="Vanilla CNN variant 2: max-pooling and an 8x8 stride-2 transposed convolution",
        reference="seed 1: Vanilla / U-Net / ResNet comparison (vanilla CNN, variant 2)",
    ),
]

TINY_CONFIG = {"hidden_sizes": [4, 4], "image_size": 16}

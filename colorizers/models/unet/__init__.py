from colorizers.registry import Preset

from .configuration_unet import UNetColorizerConfig
from .modeling_unet import UNetColorizerModel, UNetColorizerOutput, UNetColorizerPreTrainedModel

AUTO_CLASSES = [(UNetColorizerConfig, UNetColorizerModel)]

PRESETS = [
    Preset(
        name="unet",
        config_class=UNetColorizerConfig,
        description="Keras-style U-Net 32..512, the faithful size (~7.8M parameters)",
        reference="seed 1: Vanilla / U-Net / ResNet comparison (U-Net)",
    ),
]

TINY_CONFIG = {"hidden_sizes": [4, 8, 16], "image_size": 32}

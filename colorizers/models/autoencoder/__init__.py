from colorizers.registry import Preset

from .configuration_autoencoder import AutoencoderColorizerConfig
from .modeling_autoencoder import (
    AutoencoderColorizerModel,
    AutoencoderColorizerOutput,
    AutoencoderColorizerPreTrainedModel,
)

AUTO_CLASSES = [(AutoencoderColorizerConfig, AutoencoderColorizerModel)]

PRESETS = [
    Preset(
        name="ae-baseline",
        config_class=AutoencoderColorizerConfig,
        config={"encoder_type": "strided", "image_size": 256},
        description="Baseline autoencoder: 8 strided Conv3x3, Conv1x1 fusion, nearest-upsampling decoder, tanh",
        reference="seed 2: Baseline autoencoder vs VGG-16 fusion (baseline autoencoder)",
    ),
    Preset(
        name="ae-vgg16",
        config_class=AutoencoderColorizerConfig,
        config={"encoder_type": "vgg16", "image_size": 224},
        description="VGG-16 fusion: a frozen ImageNet encoder (VGG-16; shipped with EfficientNet-Lite0 in its role), Conv1x1 fusion, upsampling decoder",
        reference="seed 2: Baseline autoencoder vs VGG-16 fusion (VGG-16 fusion model)",
    ),
]

# One tiny config serves both presets: each encoder type reads only its own widths.
TINY_CONFIG = {
    "encoder_hidden_sizes": [4, 4, 8, 8, 8, 8, 8, 8],
    "vgg_hidden_sizes": [4, 4, 8, 8, 8],
    "fusion_size": 8,
    "decoder_hidden_sizes": [8, 8, 4, 4],
    "image_size": 32,
}

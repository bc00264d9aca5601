from colorizers.registry import Preset

from .configuration_cifar import CifarColorizerConfig
from .modeling_cifar import CifarColorizerModel, CifarColorizerOutput, CifarColorizerPreTrainedModel

AUTO_CLASSES = [(CifarColorizerConfig, CifarColorizerModel)]

PRESETS = [
    Preset(
        name="cifar-ae",
        config_class=CifarColorizerConfig,
        description="CIFAR-10 autoencoder with a 256-d dense latent, 32x32 RGB output (~3.4M parameters)",
        reference="seed 4: CIFAR-10 dense autoencoder (predicts RGB; fixed 32x32 working size)",
    ),
]

TINY_CONFIG = {"hidden_sizes": [4, 4, 8], "latent_size": 8, "input_size": 16, "image_size": 16}

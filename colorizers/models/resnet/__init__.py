from colorizers.registry import Preset

from .configuration_resnet import ResNetColorizerConfig
from .modeling_resnet import ResNetColorizerModel, ResNetColorizerOutput, ResNetColorizerPreTrainedModel

AUTO_CLASSES = [(ResNetColorizerConfig, ResNetColorizerModel)]

PRESETS = [
    Preset(
        name="resnet18",
        config_class=ResNetColorizerConfig,
        description="ResNet-18 up to layer2 (ImageNet-initialisable) with an upsampling head (~0.95M parameters)",
        reference="seeds 1 and 5: ResNet-18 first half + upsampling head (predicts ab; seed 5 output 3 channels)",
    ),
]

TINY_CONFIG = {
    "embedding_size": 4,
    "backbone_hidden_sizes": [4, 8],
    "backbone_depths": [1, 1],
    "head_hidden_sizes": [8, 4, 4],
    "image_size": 32,
}

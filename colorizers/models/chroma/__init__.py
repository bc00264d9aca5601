from colorizers.registry import Preset

from .configuration_chroma import ChromaColorizerConfig
from .modeling_chroma import ChromaColorizerModel, ChromaColorizerOutput, ChromaColorizerPreTrainedModel

AUTO_CLASSES = [(ChromaColorizerConfig, ChromaColorizerModel)]

PRESETS = [
    Preset(
        name="chroma",
        config_class=ChromaColorizerConfig,
        config={"backbone": "efficientnet-lite0"},
        description="colorizers' flagship: ImageNet-pretrained EfficientNet-Lite0 encoder, feature-pyramid decoder, "
        "ab classification + regression (hybrid), global context and semantic head, colour hints",
        reference="colorizers' own (Zhang et al. 2016/2017 objectives, Iizuka et al. 2016 global branch, "
        "EfficientNet-Lite0 encoder of Tan & Le 2019)",
    ),
]

TINY_CONFIG = {  # the from-scratch encoder: tests of the pretrained one live in tests/test_efficientnet_lite.py
    "backbone": "none",
    "stem_size": 4,
    "hidden_sizes": [8, 8],
    "depths": [1, 1],
    "dilations": [2],
    "global_size": 8,
    "decoder_size": 8,
    "output_stride": 2,
    "image_size": 32,
}

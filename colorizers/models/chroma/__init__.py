from ...registry import Preset
from .configuration_chroma import ChromaColorizerConfig
from .modeling_chroma import ChromaColorizerModel, ChromaColorizerOutput, ChromaColorizerPreTrainedModel

AUTO_CLASSES = [(ChromaColorizerConfig, ChromaColorizerModel)]

PRESETS = [
    Preset(
        name="chroma",
        config_class=ChromaColorizerConfig,
        description="colorizers' flagship: multi-scale encoder-decoder, global context, ab classification "
        "+ regression (hybrid), semantic head, colour hints",
        reference="colorizers' own (Zhang et al. 2016/2017 objectives, Iizuka et al. 2016 global branch)",
    ),
]

TINY_CONFIG = {
    "stem_size": 4,
    "hidden_sizes": [8, 8],
    "depths": [1, 1],
    "dilations": [2],
    "global_size": 8,
    "decoder_size": 8,
    "output_stride": 2,
    "image_size": 32,
}

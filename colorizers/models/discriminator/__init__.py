"""The conditional PatchGAN discriminator the GAN colorizers ("unet-gan", "gan") train against.

Not a colorizer: no presets (it is registered with AutoConfig / AutoModel only). A training script
saves it with ``save_pretrained`` in a ``discriminator/`` sub-folder of the generator's output folder.
"""

from .configuration_discriminator import ColorizerDiscriminatorConfig
from .modeling_discriminator import (
    ColorizerDiscriminatorModel,
    ColorizerDiscriminatorOutput,
    ColorizerDiscriminatorPreTrainedModel,
)

AUTO_CLASSES = [(ColorizerDiscriminatorConfig, ColorizerDiscriminatorModel)]

PRESETS = []

TINY_CONFIG = {"hidden_sizes": [4, 8]}

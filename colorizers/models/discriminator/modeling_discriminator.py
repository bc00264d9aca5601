"""Conditional PatchGAN discriminator for the GAN colorizers (seed report 5's NetDis, pix2pix shape).

Its base class, and so its He initialisation, is the colorizers' (``colorizers.models.modeling_utils``).

How a training script uses and saves it, next to the generator::

    from transformers import AutoModel
    from colorizers.models.discriminator import ColorizerDiscriminatorConfig, ColorizerDiscriminatorModel

    discriminator = ColorizerDiscriminatorModel(ColorizerDiscriminatorConfig())
    # a discriminator step: real pairs -> 1, generated pairs -> 0 (generator output detached)
    fake_ab = generator(pixel_values=lightness).ab
    loss_d = 0.5 * (discriminator(pixel_values=lightness, ab=real_ab, labels=1.0).loss
                    + discriminator(pixel_values=lightness, ab=fake_ab.detach(), labels=0.0).loss)
    # a generator step: BCE against "real" + gan_l1_weight * the generator's own reconstruction loss
    loss_g = (discriminator(pixel_values=lightness, ab=fake_ab, labels=1.0).loss
              + generator.config.gan_l1_weight * generator(pixel_values=lightness, labels=real_ab).loss)

    generator.save_pretrained(output_dir)                          # what users load and push
    discriminator.save_pretrained(output_dir / "discriminator")    # resumes GAN training
    discriminator = AutoModel.from_pretrained(output_dir / "discriminator")

The `discriminator/` sub-folder holds its own `config.json` and `model.safetensors`; it is not needed for
inference, so a push of the generator folder may leave it out (`ignore_patterns=["discriminator/*"]`).
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers.utils import ModelOutput

from colorizers.models.modeling_utils import ColorizerPreTrainedModel

from .configuration_discriminator import ColorizerDiscriminatorConfig


@dataclass
class ColorizerDiscriminatorOutput(ModelOutput):
    """
    loss (`torch.FloatTensor`, *optional*): BCE-with-logits of every patch against `labels`, when given.
    logits (`torch.FloatTensor` of shape `(batch, 1, patches_h, patches_w)`): one "real" logit per patch.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None


class ColorizerDiscriminatorLayer(nn.Module):
    """Conv4x4 (padding 1) -> optional BatchNorm -> LeakyReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, normalize: bool, negative_slope: float):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 4, stride=stride, padding=1, bias=not normalize)
        self.norm = nn.BatchNorm2d(out_channels) if normalize else nn.Identity()
        self.negative_slope = negative_slope

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.norm(self.conv(hidden_states)), self.negative_slope)


class ColorizerDiscriminatorPreTrainedModel(ColorizerPreTrainedModel):
    config_class = ColorizerDiscriminatorConfig
    base_model_prefix = "discriminator"
    output_layer_std = 0.02  # pix2pix's init for the logit layer
    leaky_relu = True


class ColorizerDiscriminatorModel(ColorizerDiscriminatorPreTrainedModel):
    def __init__(self, config: ColorizerDiscriminatorConfig):
        super().__init__(config)
        sizes = list(config.hidden_sizes)
        last = len(sizes) - 1
        self.layers = nn.ModuleList(
            ColorizerDiscriminatorLayer(
                in_size,
                out_size,
                stride=1 if index == last else 2,
                normalize=index > 0,
                negative_slope=config.negative_slope,
            )
            for index, (in_size, out_size) in enumerate(zip([3] + sizes[:-1], sizes))
        )
        self.head = nn.Conv2d(sizes[-1], 1, 4, stride=1, padding=1)
        self.post_init()

    @property
    def minimum_side(self) -> int:
        """The smallest side that yields one logit; smaller inputs are replicate-padded to it."""
        return 3 * 2 ** (len(self.layers) - 1)

    def patch_grid_size(self, height: int, width: int) -> tuple[int, int]:
        """The (height, width) of the logits for an input of the given size."""
        factor = 2 ** (len(self.layers) - 1)
        return tuple(max(side, self.minimum_side) // factor - 2 for side in (height, width))

    def forward(
        self,
        pixel_values: torch.Tensor,
        ab: torch.Tensor,
        labels: float | torch.Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> ColorizerDiscriminatorOutput | tuple:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch, 1, height, width)`): L normalised to [-1, 1].
        ab (`torch.FloatTensor` of shape `(batch, 2, height, width)`): real or generated ab, normalised.
        labels (`float` or `torch.FloatTensor` of shape `(batch,)`, *optional*): 1 for real pairs, 0 for
            generated ones (soft values allowed); every patch of an image gets its image's label.
        """
        if pixel_values.ndim != 4 or pixel_values.shape[1] != 1:
            raise ValueError(f"pixel_values must be shaped (batch, 1, height, width), got {tuple(pixel_values.shape)}")
        batch, _, height, width = pixel_values.shape
        if tuple(ab.shape) != (batch, 2, height, width):
            raise ValueError(
                f"ab must be shaped {(batch, 2, height, width)} to match pixel_values, got {tuple(ab.shape)}"
            )
        targets = None
        if labels is not None:
            targets = torch.as_tensor(labels, dtype=pixel_values.dtype, device=pixel_values.device)
            if targets.ndim == 0:
                targets = targets.expand(batch)
            if tuple(targets.shape) != (batch,):
                raise ValueError(
                    f"labels must be a number or shaped (batch,) = ({batch},), got {tuple(targets.shape)}"
                )

        hidden_states = torch.cat([pixel_values, ab.to(pixel_values.dtype)], dim=1)
        pad_h, pad_w = max(self.minimum_side - height, 0), max(self.minimum_side - width, 0)
        if pad_h or pad_w:
            hidden_states = F.pad(hidden_states, (0, pad_w, 0, pad_h), mode="replicate")
        for layer in self.layers:
            hidden_states = layer(hidden_states)
        logits = self.head(hidden_states)

        loss = None
        if targets is not None:
            loss = F.binary_cross_entropy_with_logits(logits, targets.view(batch, 1, 1, 1).expand_as(logits))
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if not return_dict:
            return (loss, logits) if loss is not None else (logits,)
        return ColorizerDiscriminatorOutput(loss=loss, logits=logits)


__all__ = ["ColorizerDiscriminatorModel", "ColorizerDiscriminatorPreTrainedModel", "ColorizerDiscriminatorOutput"]

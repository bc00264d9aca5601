"""Adversarial losses for the conditional GAN presets (pix2pix-style: BCE on patch logits).

The regression losses (mse, l1, huber) live in each model: a model given ``labels`` returns its
own loss, so what a family trains with is declared in its config (``loss_type``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """BCE pushing real patches to 1 and fake ones to 0, halved as in pix2pix to slow D down."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return 0.5 * (real + fake)


def generator_adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss: BCE of the discriminator's verdict on fakes against 'real'."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def frozen_forward(module: torch.nn.Module, *args, **kwargs):
    """Call ``module`` with its parameters detached: gradients reach the inputs, never the weights.

    The generator's adversarial term must not leave gradients in the discriminator (they would be
    added to its next update), and toggling ``requires_grad`` on a DDP-wrapped module is unsafe.
    """
    parameters = {name: parameter.detach() for name, parameter in module.named_parameters()}
    buffers = dict(module.named_buffers())
    return torch.func.functional_call(module, {**parameters, **buffers}, args, kwargs)

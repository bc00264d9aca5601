"""Training objectives for colour: regression on ab, classification over quantised ab, or both.

Regression (mse / l1 / huber on normalised ab) is what every seed report trained with; its optimum
under uncertainty is the *mean* colour, which for an ambiguous object is a desaturated brown. The
classification objective of Zhang et al. 2016 ("Colorful Image Colorization") predicts a
distribution over about 300 in-gamut ab bins instead:

* ``ab_bin_centers``: the centres of a ``grid_step`` grid over ab that some lightness can show in
  sRGB (313 bins for the usual step of 10);
* ``soft_encode`` / ``classification_loss``: targets spread over the ``neighbors`` nearest bins
  with a Gaussian of ``sigma`` ab units (or one-hot), and a cross-entropy weighted per pixel by
  ``rebalance_weights`` of the empirical colour prior (``color_prior``), so rare saturated colours
  are not drowned by the common desaturated ones;
* ``annealed_mean``: decoding with a temperature: 1 is the distribution's mean (safe, dull), lower
  values move towards its mode (vivid); ``confidence`` is one minus the normalised entropy.

The hybrid objective adds a regression term on the decoded (temperature 1) ab, which keeps the mean
accurate (PSNR) while the cross-entropy keeps the distribution's shape (vividness on demand).

``ColorDistributionHead`` packs all of this for a model family: a family whose config sets
``objective="classification"`` or ``"hybrid"`` gives its last convolution ``objective_channels(config)``
outputs and hands them to the head, which decodes, upsamples, scores and measures confidence the same
way for every family. ``ObjectiveConfig`` is the base of those families' configs: it holds the objective's
fields and writes their documentation into each family's docstring; ``check_objective_config`` and
``check_regression_config`` validate the config fields the families share.

This module is the one source of all of it: the families import it, and a Hub repository of any family carries
this very file as its ``objectives.py`` (``colorizers.hub.remote_code`` assembles the remote code at push time),
so it imports nothing but the standard library, torch, transformers, huggingface_hub and ``colorizers.color``
(which travels with it).
"""

# No "from __future__ import annotations" here: @strict checks ObjectiveConfig's fields against their real types.
import functools
import math

import torch
import torch.nn.functional as F
from huggingface_hub.dataclasses import strict
from torch import nn
from transformers import PreTrainedConfig

from colorizers.color import AB_SCALE, D65_WHITE, XYZ_FROM_RGB  # model-side ab = ab / AB_SCALE

OBJECTIVES = ("regression", "classification", "hybrid")
# The most vivid temperature the app offers (vividness 100): decoding there ignores prior_correction.
VIVID_TEMPERATURE = 0.2
REGRESSION_LOSSES = ("mse", "l1", "huber")


@functools.lru_cache(maxsize=8)
def _in_gamut_ab_cells(grid_step: float, ab_range: float) -> torch.Tensor:
    """The computation behind ``ab_bin_centers``, once per grid: it probes every cell at 99 lightness levels
    (80 ms), and models, tests and the training script ask for the same grid again and again."""
    # Each cell is probed at 5x5 points; CIELAB -> linear sRGB is written out here in torch and float64, with
    # colorizers.color's constants (its conversions are float32).
    # explicit device: models are also built under torch.device("meta") (parameter counts, loading)
    cpu = {"dtype": torch.float64, "device": "cpu"}
    centres = torch.arange(-ab_range, ab_range + 1e-6, grid_step, **cpu)
    offsets = torch.linspace(-0.5, 0.5, 5, **cpu) * grid_step
    probes = (centres[:, None] + offsets[None, :]).reshape(-1)
    a, b = torch.meshgrid(probes, probes, indexing="ij")
    lightness = torch.arange(1.0, 100.0, 1.0, **cpu)[:, None, None]
    fy = (lightness + 16.0) / 116.0
    fx, fz = fy + a / 500.0, fy - b / 200.0

    def finv(f):
        return torch.where(f > 6.0 / 29.0, f**3, 3.0 * (6.0 / 29.0) ** 2 * (f - 4.0 / 29.0))

    xyz = torch.stack([finv(fx) * float(D65_WHITE[0]), finv(fy).expand_as(fx), finv(fz) * float(D65_WHITE[2])], dim=-1)
    rgb_from_xyz = torch.linalg.inv(torch.tensor(XYZ_FROM_RGB, **cpu))
    linear = xyz @ rgb_from_xyz.T
    shown = ((linear >= 0.0) & (linear <= 1.0)).all(dim=-1).any(dim=0)  # (P, P) probes
    count = centres.numel()
    cells = shown.reshape(count, offsets.numel(), count, offsets.numel()).any(dim=3).any(dim=1)
    a_cells, b_cells = torch.meshgrid(centres, centres, indexing="ij")
    return torch.stack([a_cells[cells], b_cells[cells]], dim=-1).float()


def ab_bin_centers(grid_step: float = 10.0, ab_range: float = 110.0) -> torch.Tensor:
    """Centres (Q, 2), in ab units, of the ``grid_step`` cells over [-ab_range, ab_range]^2 that hold at
    least one colour an sRGB screen can show at some lightness (313 cells for Zhang et al.'s step of 10).
    """
    return _in_gamut_ab_cells(float(grid_step), float(ab_range)).clone()  # a copy: callers may write to theirs


def nearest_bins(ab: torch.Tensor, centers: torch.Tensor, neighbors: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For ab (N, 2) in ab units: indices (N, k) of the k nearest centres and squared distances (N, k)."""
    distances = torch.cdist(ab.float(), centers.float()).pow(2)
    squared, indices = distances.topk(neighbors, dim=1, largest=False)
    return indices, squared


def soft_encode(ab: torch.Tensor, centers: torch.Tensor, neighbors: int = 5, sigma: float = 5.0):
    """Targets for ab (N, 2) in ab units: bin indices (N, k) and weights (N, k) summing to 1.

    ``neighbors=1`` is the one-hot encoding; otherwise a Gaussian of ``sigma`` ab units over the k
    nearest bins (Zhang et al. 2016: k = 5, sigma = 5).
    """
    indices, squared = nearest_bins(ab, centers, neighbors)
    if neighbors == 1:
        return indices, torch.ones_like(squared)
    weights = torch.softmax(-squared / (2.0 * sigma**2), dim=1)
    return indices, weights


def rebalance_weights(prior: torch.Tensor, rebalance_lambda: float) -> torch.Tensor:
    """Per-bin loss weights w ~ 1 / ((1 - lambda) p + lambda / Q), scaled so that E_p[w] = 1.

    ``rebalance_lambda=1`` gives every bin weight 1 (no rebalancing); Zhang et al. used 0.5.
    """
    prior = prior.float().clamp_min(0)
    prior = prior / prior.sum().clamp_min(1e-12)
    weights = 1.0 / ((1.0 - rebalance_lambda) * prior + rebalance_lambda / prior.numel())
    return weights / (prior * weights).sum().clamp_min(1e-12)


def pool_labels(labels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Normalised ab labels (B, 2, H, W) averaged down to the prediction grid ``size``."""
    if tuple(labels.shape[-2:]) == tuple(size):
        return labels
    return F.adaptive_avg_pool2d(labels, size)


def classification_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    centers: torch.Tensor,
    bin_weights: torch.Tensor | None = None,
    *,
    neighbors: int = 5,
    sigma: float = 5.0,
) -> torch.Tensor:
    """Class-rebalanced cross-entropy between logits (B, Q, h, w) and normalised ab labels (B, 2, H, W).

    Labels are averaged onto the logits' grid, encoded over their nearest bins, and each pixel's
    cross-entropy is weighted by the weight of its nearest bin (``bin_weights``, none = 1).
    """
    height, width = logits.shape[-2:]
    target = pool_labels(labels.to(logits.dtype), (height, width))
    target = target.permute(0, 2, 3, 1).reshape(-1, 2).float() * AB_SCALE
    indices, weights = soft_encode(target, centers, neighbors, sigma)
    log_probabilities = F.log_softmax(logits.float().permute(0, 2, 3, 1).reshape(-1, logits.shape[1]), dim=1)
    cross_entropy = -(weights * log_probabilities.gather(1, indices)).sum(dim=1)
    if bin_weights is not None:
        cross_entropy = cross_entropy * bin_weights.float()[indices[:, 0]]
    return cross_entropy.mean()


def prior_corrected_logits(logits: torch.Tensor, bin_weights: torch.Tensor, strength: float) -> torch.Tensor:
    """Undo ``strength`` (0..1) of the class rebalancing a model was trained with.

    A cross-entropy weighted by w(q) is minimised by p'(q|x) ~ w(q) p(q|x): rare colours are boosted.
    Subtracting log w from the logits recovers the calibrated p(q|x) (strength 1: accurate, muted) while
    strength 0 keeps the rebalanced distribution (vivid); this is the logit adjustment of long-tail
    classification (Menon et al. 2021).
    """
    if strength == 0:
        return logits
    return (
        logits
        - strength * torch.log(bin_weights.to(logits.device, logits.dtype).clamp_min(1e-12))[None, :, None, None]
    )


def annealed_mean(logits: torch.Tensor, centers: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Normalised ab (B, 2, h, w) from logits (B, Q, h, w): the mean of softmax(logits / temperature).

    Temperature 1 is the distribution's mean; towards 0 it approaches the mode (Zhang et al.'s
    "annealed mean", 0.38 in their paper).
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    probabilities = torch.softmax(logits.float() / temperature, dim=1)
    ab = torch.einsum("bqhw,qc->bchw", probabilities, centers.float().to(logits.device))
    return (ab / AB_SCALE).to(logits.dtype)


def confidence(logits: torch.Tensor) -> torch.Tensor:
    """Per-pixel confidence (B, 1, h, w) in [0, 1]: one minus the entropy over log(Q)."""
    log_probabilities = F.log_softmax(logits.float(), dim=1)
    entropy = -(log_probabilities.exp() * log_probabilities).sum(dim=1, keepdim=True)
    return (1.0 - entropy / math.log(logits.shape[1])).clamp(0.0, 1.0).to(logits.dtype)


def regression_loss(prediction: torch.Tensor, labels: torch.Tensor, loss_type: str, huber_delta: float):
    """``loss_type``'s loss ("mse", "l1" or "huber" with ``huber_delta``) of ``prediction`` against ``labels``."""
    if labels.shape != prediction.shape:
        raise ValueError(
            f"labels must be shaped like the prediction {tuple(prediction.shape)}, got {tuple(labels.shape)}"
        )
    labels = labels.to(prediction.dtype)
    if loss_type == "l1":
        return F.l1_loss(prediction, labels)
    if loss_type == "huber":
        return F.huber_loss(prediction, labels, delta=huber_delta)
    return F.mse_loss(prediction, labels)


def bin_histogram(ab: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """Counts (Q,) of the nearest bin of every ab value (N, 2), in ab units."""
    indices, _ = nearest_bins(ab.reshape(-1, 2), centers, 1)
    return torch.bincount(indices[:, 0], minlength=centers.shape[0]).double()


def smooth_prior(counts: torch.Tensor, centers: torch.Tensor, sigma: float = 5.0) -> torch.Tensor:
    """Bin counts -> a probability over bins, smoothed with a Gaussian of ``sigma`` ab units (Zhang et al.)."""
    distances = torch.cdist(centers.double(), centers.double()).pow(2)
    kernel = torch.exp(-distances / (2.0 * sigma**2))
    smoothed = kernel @ counts.double()
    return (smoothed / smoothed.sum().clamp_min(1e-12)).float()


def color_distribution(model) -> tuple[nn.Module, int] | None:
    """A distribution model's ``color_head`` (``ab_bins``, ``color_prior``, ``set_color_prior``) and the stride of
    its distribution grid in pixels; None for a regression model."""
    if getattr(model.config, "objective", "regression") == "regression":
        return None
    return model.color_head, model.color_head.grid_stride


# Where a family's docstring lists the objective's arguments; ObjectiveConfig puts their documentation there.
OBJECTIVE_ARGUMENTS = "        (the objective's arguments, from colorizers.objectives.ObjectiveConfig)\n"
_OBJECTIVE_ARGUMENTS_DOC = """\
        objective (`str`, defaults to `"{objective}"`): the colour objective (`colorizers.objectives`):
            `"regression"` (`loss_type` on ab), `"classification"` (Zhang et al. 2016's class-rebalanced
            cross-entropy over quantised ab, decoded by the annealed mean) or `"hybrid"` (both); with the last two
            the final convolution gives one score per in-gamut ab bin.
        regression_weight (`float`, defaults to {regression_weight}): weight of `"hybrid"`'s regression term.
        ab_grid_step (`float`, defaults to {ab_grid_step}): side of the ab quantisation cells, in ab units.
        soft_encoding_neighbors (`int`, defaults to {soft_encoding_neighbors}): bins a target is spread over
            (1 = one-hot).
        soft_encoding_sigma (`float`, defaults to {soft_encoding_sigma}): Gaussian width of the soft encoding, ab
            units.
        rebalance_lambda (`float`, defaults to {rebalance_lambda}): mix of the colour prior with uniform; 1 = no
            rebalancing.
        default_temperature (`float`, defaults to {default_temperature}): annealed-mean temperature when none is
            asked for.
        prior_correction (`float`, defaults to {prior_correction}): how much of the class rebalancing to undo
            when decoding, 0..1: the rebalanced cross-entropy learns p(q|x) boosted by the rebalancing weights
            w(q); decoding from logits - prior_correction * log w goes from that vivid distribution (0) to the
            calibrated one (1: higher PSNR, muted colours). Lower temperatures are more vivid only when this is
            small (the calibrated mode of an uncertain pixel is a muted colour).
"""


@strict
class ObjectiveConfig(PreTrainedConfig):
    """Base of the family configs whose model predicts ab with one of this module's objectives: the objective's
    fields, with the defaults the seed families use (a family redeclares a field to change its default).

    A subclass's docstring names the place of their documentation with the line ``OBJECTIVE_ARGUMENTS``; the
    documentation, with that family's own defaults, is written there when the class is created, so it is
    written once and cannot drift from the defaults. ``check_objective_config`` validates the fields.
    """

    objective: str = "regression"
    regression_weight: float | int = 10.0
    ab_grid_step: float | int = 10.0
    soft_encoding_neighbors: int = 5
    soft_encoding_sigma: float | int = 5.0
    rebalance_lambda: float | int = 0.5
    default_temperature: float | int = 0.6
    prior_correction: float | int = 0.0

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__doc__ and OBJECTIVE_ARGUMENTS in cls.__doc__:
            defaults = {name: getattr(cls, name) for name in ObjectiveConfig.__annotations__}
            cls.__doc__ = cls.__doc__.replace(OBJECTIVE_ARGUMENTS, _OBJECTIVE_ARGUMENTS_DOC.format(**defaults))


def objective_channels(config) -> int:
    """Output channels of a family's last convolution: 2 ab values for regression, else one score per ab bin."""
    if config.objective == "regression":
        return 2
    return int(ab_bin_centers(float(config.ab_grid_step)).shape[0])


def check_regression_config(config, output_activations: tuple[str, ...] | None = ("none", "tanh")) -> None:
    """Validate the regression fields a family config shares: ``output_activation`` (one of
    ``output_activations``; None: the family has no such field), ``loss_type`` and ``huber_delta``."""
    if output_activations is not None and config.output_activation not in output_activations:
        raise ValueError(f"output_activation must be one of {output_activations}, got {config.output_activation!r}")
    if config.loss_type not in REGRESSION_LOSSES:
        raise ValueError(f"loss_type must be one of {REGRESSION_LOSSES}, got {config.loss_type!r}")
    if not config.huber_delta > 0:  # NaN too
        raise ValueError(f"huber_delta must be positive, got {config.huber_delta}")


def check_objective_config(config) -> None:
    """Validate the colour-objective fields a family config shares (objective ... prior_correction)."""
    if config.objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {config.objective!r}")
    for name in ("ab_grid_step", "soft_encoding_sigma", "default_temperature"):
        value = getattr(config, name)
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {value}")
    if not (math.isfinite(config.regression_weight) and config.regression_weight >= 0):
        raise ValueError(f"regression_weight must be a finite number >= 0, got {config.regression_weight}")
    if not (math.isfinite(config.prior_correction) and 0 <= config.prior_correction <= 1):
        raise ValueError(f"prior_correction must be in [0, 1], got {config.prior_correction}")
    if not 2 <= config.ab_grid_step <= 55:
        raise ValueError(f"ab_grid_step must be in [2, 55] ab units, got {config.ab_grid_step}")
    neighbors = config.soft_encoding_neighbors
    if not isinstance(neighbors, int) or not 1 <= neighbors <= 32:
        raise ValueError(f"soft_encoding_neighbors must be an integer in [1, 32], got {neighbors}")
    if not 0 <= config.rebalance_lambda <= 1:
        raise ValueError(f"rebalance_lambda must be in [0, 1], got {config.rebalance_lambda}")
    pool = getattr(config, "distribution_stride", 1)
    if not isinstance(pool, int) or not 1 <= pool <= 16:
        raise ValueError(f"distribution_stride must be an integer in [1, 16], got {pool}")


class ColorDistributionHead(nn.Module):
    """Scores over ab bins (B, Q, h, w) on a grid of ``stride`` pixels -> ab, loss and confidence at full size.

    ``config.distribution_stride`` (when the config has it) average-pools the scores first, so that one
    distribution is predicted per cell of that many pixels (Zhang et al. predicted at 1/4): a
    cross-entropy over 262 bins at every pixel would cost a full-resolution family ten times its
    regression training step.

    Holds the bins (``ab_bins``) and the colour prior measured on the training data (``color_prior``,
    set by ``set_color_prior``) as buffers, so both travel with the weights. Decoding is the annealed
    mean at a run-time temperature after undoing ``config.prior_correction`` of the rebalancing; the
    decoded ab is upsampled bilinearly from the grid. The loss is the class-rebalanced cross-entropy
    (plus ``regression_weight`` x ``loss_type`` on the temperature-1 mean for ``"hybrid"``).
    """

    def __init__(self, config, stride: int = 1):
        super().__init__()
        self.config = config
        self.stride = int(stride)
        # one distribution per distribution_stride pixels, or per cell of the scores' own grid if that is coarser
        self.pool = max(1, int(getattr(config, "distribution_stride", 1)) // self.stride)
        centers = ab_bin_centers(float(config.ab_grid_step))
        self.register_buffer("ab_bins", centers)
        self.register_buffer("color_prior", torch.full((centers.shape[0],), 1.0 / centers.shape[0]))

    @property
    def num_bins(self) -> int:
        return self.ab_bins.shape[0]

    @property
    def grid_stride(self) -> int:
        """Pixels per cell of the distribution grid."""
        return self.stride * self.pool

    def set_color_prior(self, prior: torch.Tensor) -> None:
        """Store the empirical colour prior (one probability per ab bin) measured on the training data."""
        if prior.shape != self.color_prior.shape:
            raise ValueError(
                f"the colour prior needs {self.num_bins} values (one per ab bin), got {tuple(prior.shape)}"
            )
        if not torch.isfinite(prior).all() or (prior < 0).any() or prior.sum() <= 0:
            raise ValueError("the colour prior must be finite, non-negative and not all zero")
        with torch.no_grad():
            self.color_prior.copy_(prior / prior.sum())

    def forward(
        self,
        scores: torch.Tensor,
        height: int,
        width: int,
        labels: torch.Tensor | None = None,
        temperature: float | None = None,
        output_confidence: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """(ab (B, 2, height, width), logits on the grid cells that cover the image, loss or None, confidence or None)."""
        config = self.config
        logits = scores[..., : -(-height // self.stride), : -(-width // self.stride)]
        if self.pool > 1:  # partial cells at the bottom/right edges average the pixels they hold
            logits = F.avg_pool2d(logits, self.pool, ceil_mode=True)
        temperature = float(config.default_temperature if temperature is None else temperature)
        decoding = self.decoding_logits(logits, temperature)
        ab = self.upsample(annealed_mean(decoding, self.ab_bins, temperature), height, width)
        loss = None
        if labels is not None:
            if labels.shape != ab.shape:
                raise ValueError(
                    f"labels must be shaped like the prediction {tuple(ab.shape)}, got {tuple(labels.shape)}"
                )
            weights = rebalance_weights(self.color_prior, float(config.rebalance_lambda))
            loss = classification_loss(
                logits,
                labels,
                self.ab_bins,
                weights,
                neighbors=config.soft_encoding_neighbors,
                sigma=float(config.soft_encoding_sigma),
            )
            if config.objective == "hybrid" and config.regression_weight > 0:
                mean_ab = self.upsample(annealed_mean(logits, self.ab_bins, 1.0), height, width)
                loss = loss + config.regression_weight * regression_loss(
                    mean_ab, labels, config.loss_type, config.huber_delta
                )
        confidence_map = None
        if output_confidence:
            confidence_map = self.upsample(confidence(decoding), height, width)
        return ab, logits, loss, confidence_map

    def decoding_logits(self, logits: torch.Tensor, temperature: float) -> torch.Tensor:
        """The logits decoding starts from: ``config.prior_correction`` of the rebalancing undone.

        Below the default temperature the correction fades, linearly, to ``vivid_prior_correction`` (0 unless the
        config says otherwise) at ``VIVID_TEMPERATURE`` (the app's most vivid setting), so that one vividness axis runs from the calibrated mean to the
        mode of the rebalanced distribution (Zhang et al.'s decoding). Lowering the temperature alone
        barely adds colour to a calibrated distribution: an uncertain pixel's calibrated mode is muted.
        """
        strength = float(self.config.prior_correction)
        # where the fade ends: none by default; a model whose rebalanced mode is more vivid than photos are keeps
        # some correction at its vivid end (``vivid_prior_correction``, chosen on tuning sets)
        vivid = float(getattr(self.config, "vivid_prior_correction", 0.0))
        default = float(self.config.default_temperature)
        if temperature < default and default > VIVID_TEMPERATURE:
            share = min(max((temperature - VIVID_TEMPERATURE) / (default - VIVID_TEMPERATURE), 0.0), 1.0)
            strength = vivid + (strength - vivid) * share
        if strength == 0:
            return logits
        return prior_corrected_logits(
            logits, rebalance_weights(self.color_prior, float(self.config.rebalance_lambda)), strength
        )

    def upsample(self, values: torch.Tensor, height: int, width: int) -> torch.Tensor:
        if self.grid_stride == 1:
            return values[..., :height, :width]
        return F.interpolate(values, scale_factor=self.grid_stride, mode="bilinear", align_corners=False)[
            ..., :height, :width
        ]

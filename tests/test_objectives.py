"""Colour objectives: ab quantisation, soft encoding, rebalancing, annealed mean, confidence; hints; EMA."""

import math
import re

import numpy as np
import pytest
import torch

from colorizers.color import lab_to_rgb
from colorizers.objectives import (
    ab_bin_centers,
    annealed_mean,
    bin_histogram,
    classification_loss,
    confidence,
    rebalance_weights,
    smooth_prior,
    soft_encode,
)
from colorizers.processing.hints import simulate_hints
from colorizers.training.ema import ExponentialMovingAverage


def test_ab_bins_are_the_in_gamut_cells_of_a_10_grid():
    centers = ab_bin_centers(10.0)
    assert centers.shape == (262, 2)
    assert torch.all(centers % 10 == 0)
    assert centers[:, 0].min() == -90 and centers[:, 0].max() == 100
    # every kept cell holds a colour some lightness shows in sRGB: its centre, nudged towards
    # the gray axis by at most half a cell, converts with little clipping at L = 50
    assert torch.equal(ab_bin_centers(20.0), ab_bin_centers(20.0))
    assert ab_bin_centers(20.0).shape[0] < centers.shape[0]
    # the gray cell and saturated primaries are in, an impossible corner is out
    as_set = {tuple(c) for c in centers.tolist()}
    assert (0.0, 0.0) in as_set and (80.0, 70.0) in as_set
    assert (-110.0, -110.0) not in as_set


def test_gray_cell_round_trips_through_lab():
    rgb = lab_to_rgb(np.array([[[50.0, 0.0, 0.0]]], np.float32))
    assert np.allclose(rgb[0, 0], rgb[0, 0, 0], atol=1e-3)


def test_soft_encoding_spreads_over_nearest_bins():
    centers = ab_bin_centers()
    ab = torch.tensor([[0.0, 0.0], [33.0, -12.0]])
    indices, weights = soft_encode(ab, centers, neighbors=5, sigma=5.0)
    assert indices.shape == weights.shape == (2, 5)
    assert torch.allclose(weights.sum(dim=1), torch.ones(2))
    assert centers[indices[0, 0]].tolist() == [0.0, 0.0]
    assert centers[indices[1, 0]].tolist() == [30.0, -10.0]
    assert weights[0, 0] > weights[0, 1]  # the exact bin weighs most
    one_hot_indices, one_hot = soft_encode(ab, centers, neighbors=1)
    assert one_hot.tolist() == [[1.0], [1.0]]
    assert torch.equal(one_hot_indices[:, 0], indices[:, 0])


def test_rebalance_weights_have_unit_expectation_under_the_prior():
    prior = torch.tensor([0.7, 0.2, 0.1, 0.0])
    weights = rebalance_weights(prior, 0.5)
    assert float((prior * weights).sum()) == pytest.approx(1.0, abs=1e-6)
    assert weights[3] > weights[2] > weights[1] > weights[0]  # rare colours weigh more
    assert torch.allclose(rebalance_weights(prior, 1.0), torch.ones(4))


def test_annealed_mean_moves_from_mean_to_mode():
    centers = torch.tensor([[0.0, 0.0], [100.0, 0.0]])
    logits = torch.log(torch.tensor([0.6, 0.4])).reshape(1, 2, 1, 1)
    mean = annealed_mean(logits, centers, 1.0)
    assert mean.shape == (1, 2, 1, 1)
    assert float(mean[0, 0]) == pytest.approx(40.0 / 110.0, abs=1e-5)
    vivid = annealed_mean(logits, centers, 0.05)  # the mode is gray: the mean goes to 0
    assert float(vivid[0, 0]) == pytest.approx(0.0, abs=1e-3)
    with pytest.raises(ValueError, match="temperature must be positive, got 0"):
        annealed_mean(logits, centers, 0)


def test_confidence_is_zero_for_uniform_and_near_one_for_a_peak():
    uniform = torch.zeros(1, 262, 2, 2)
    assert torch.allclose(confidence(uniform), torch.zeros(1, 1, 2, 2), atol=1e-6)
    peaked = torch.full((1, 262, 1, 1), -50.0)
    peaked[0, 7] = 50.0
    assert float(confidence(peaked)) == pytest.approx(1.0, abs=1e-4)


def test_classification_loss_is_lowest_for_the_true_colour():
    centers = ab_bin_centers()
    target_bin = int(torch.cdist(torch.tensor([[40.0, 20.0]]), centers).argmin())
    labels = torch.tensor([40.0, 20.0]).reshape(1, 2, 1, 1).expand(1, 2, 4, 4) / 110.0
    right = torch.zeros(1, centers.shape[0], 2, 2)
    right[:, target_bin] = 10.0
    wrong = torch.zeros(1, centers.shape[0], 2, 2)
    wrong[:, (target_bin + 40) % centers.shape[0]] = 10.0
    assert classification_loss(right, labels, centers) < classification_loss(wrong, labels, centers)
    # a constant per-bin weight scales the loss
    weights = torch.full((centers.shape[0],), 3.0)
    assert classification_loss(right, labels, centers, weights) == pytest.approx(
        3 * float(classification_loss(right, labels, centers)), rel=1e-5
    )


def test_prior_from_histogram_is_a_smoothed_distribution():
    centers = ab_bin_centers()
    ab = torch.tensor([[0.0, 0.0]] * 30 + [[50.0, 50.0]] * 10)
    counts = bin_histogram(ab, centers)
    assert counts.sum() == 40 and counts.max() == 30
    prior = smooth_prior(counts, centers, 5.0)
    assert float(prior.sum()) == pytest.approx(1.0, abs=1e-5)
    gray = int(torch.cdist(torch.zeros(1, 2), centers).argmin())
    assert prior.argmax() == gray
    assert (prior > 0).sum() > 2  # the smoothing reaches the neighbours


def test_simulated_hints_copy_the_true_colour_of_their_patch():
    labels = torch.zeros(4, 2, 32, 32)
    labels[:, 0] = 0.5
    labels[:, 1, :, 16:] = -0.25
    hint_ab, mask = simulate_hints(labels, torch.Generator().manual_seed(0), probability=1.0, max_patch=1)
    assert hint_ab.shape == (4, 2, 32, 32) and mask.shape == (4, 1, 32, 32)
    assert torch.all(mask.sum(dim=(1, 2, 3)) >= 1)
    hinted = mask[:, 0].bool()
    assert torch.allclose(hint_ab[:, 0][hinted], torch.tensor(0.5))
    assert torch.equal(hint_ab[:, 1][hinted], labels[:, 1][hinted])  # 1-pixel patches: exact colour
    assert torch.all(hint_ab[:, :, ~hinted.any(0)] == 0)
    again = simulate_hints(labels, torch.Generator().manual_seed(0), probability=1.0, max_patch=1)
    assert torch.equal(again[0], hint_ab) and torch.equal(again[1], mask)
    none_ab, none_mask = simulate_hints(labels, torch.Generator().manual_seed(0), probability=0.0)
    assert not none_ab.any() and not none_mask.any()
    with pytest.raises(ValueError, match=r"probability must be in \[0, 1\], got 1.5"):
        simulate_hints(labels, torch.Generator(), probability=1.5)


def test_simulated_hint_counts_follow_the_requested_mean():
    labels = torch.zeros(2000, 2, 64, 64)
    _, mask = simulate_hints(labels, torch.Generator().manual_seed(1), probability=1.0, mean_hints=8, max_patch=1)
    counts = mask.sum(dim=(1, 2, 3))  # 1-pixel hints, rarely on the same pixel
    assert 7.0 < float(counts.mean()) < 9.0


def test_ema_warms_up_and_round_trips():
    model = torch.nn.Linear(2, 1, bias=False)
    torch.nn.init.zeros_(model.weight)
    ema = ExponentialMovingAverage(model, decay=0.99)
    assert ema.current_decay() == pytest.approx(0.1)  # (1 + 0) / (10 + 0)
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema.update(model)  # decay (1 + 1) / (10 + 1)
    assert float(ema.model.weight[0, 0]) == pytest.approx(1 - 2 / 11, abs=1e-6)
    restored = ExponentialMovingAverage(model, decay=0.5)
    restored.load_state_dict(ema.state_dict())
    assert restored.num_updates == 1 and restored.decay == 0.99
    assert torch.equal(restored.model.weight, ema.model.weight)
    assert not any(p.requires_grad for p in ema.model.parameters())
    with pytest.raises(ValueError, match=r"EMA decay must be in \[0, 1\), got 1.0"):
        ExponentialMovingAverage(model, decay=1.0)


def test_ema_follows_a_constant_model_exactly():
    model = torch.nn.BatchNorm1d(3)
    ema = ExponentialMovingAverage(model, decay=0.999)
    for _ in range(5):
        ema.update(model)
    for shadow, value in zip(ema.model.state_dict().values(), model.state_dict().values()):
        assert torch.allclose(shadow.float(), value.float())
    assert math.isclose(ema.current_decay(), 6 / 15)


def test_prior_correction_recovers_the_calibrated_distribution():
    from colorizers.objectives import prior_corrected_logits

    p = torch.tensor([0.6, 0.3, 0.1])
    weights = rebalance_weights(torch.tensor([0.7, 0.2, 0.1]), 0.5)
    boosted = torch.log(p * weights).reshape(1, 3, 1, 1)  # what the rebalanced loss learns
    recovered = torch.softmax(prior_corrected_logits(boosted, weights, 1.0), dim=1)
    assert torch.allclose(recovered[0, :, 0, 0], p, atol=1e-6)
    assert torch.equal(prior_corrected_logits(boosted, weights, 0.0), boosted)
    half = torch.softmax(prior_corrected_logits(boosted, weights, 0.5), dim=1)[0, :, 0, 0]
    assert half[2] < torch.softmax(boosted, dim=1)[0, 2, 0, 0] and half[2] > p[2]  # between the two


# --- every family that predicts ab offers the classification and hybrid objectives ----------------------------

# one preset per family whose model predicts ab (the CIFAR autoencoder predicts sRGB); chroma has its own tests
AB_FAMILY_PRESETS = [
    "resnet18",
    "unet",
    "strided-unet",
    "ae-baseline",
    "koalarization-small",
    "vanilla-v1",
    "vanilla-v2",
]


def _family_batch(seed=0):
    generator = torch.Generator().manual_seed(seed)
    pixel_values = torch.rand(2, 1, 24, 40, generator=generator) * 2 - 1
    labels = (torch.rand(2, 2, 24, 40, generator=generator) * 2 - 1) * 0.4
    return pixel_values, labels


@pytest.mark.parametrize("preset", AB_FAMILY_PRESETS)
@pytest.mark.parametrize("objective", ["classification", "hybrid"])
def test_every_ab_family_trains_and_decodes_a_colour_distribution(preset, objective):
    from conftest import tiny_model

    model = tiny_model(preset, objective=objective).train()
    pixel_values, labels = _family_batch()
    output = model(pixel_values=pixel_values, labels=labels, output_confidence=True)
    bins = ab_bin_centers(10.0)
    # one distribution per 4x4 cell (config.distribution_stride), decoded and upsampled to every pixel
    assert output.logits.shape == (2, bins.shape[0], 6, 10)
    assert output.ab.shape == (2, 2, 24, 40) and output.confidence.shape == (2, 1, 24, 40)
    assert 0 <= float(output.confidence.detach().min()) and float(output.confidence.detach().max()) <= 1
    output.loss.backward()
    assert torch.isfinite(output.loss) and output.loss > 0
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())

    model.eval()
    with torch.no_grad():
        # the head starts near zero (a flat distribution): give it scores whose mode is clear
        for module in model.modules():
            if (
                isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))
                and module.out_channels == bins.shape[0]
            ):
                module.weight.normal_(0.0, 1.0)
        logits = model(pixel_values=pixel_values).logits
        cold = model(pixel_values=pixel_values, temperature=1e-3).ab
        warm = model(pixel_values=pixel_values, temperature=1.0).ab
    # a near-zero temperature decodes each cell's most likely bin; 1 decodes the distribution's mean
    head = model.color_head
    mode = bins[logits.argmax(dim=1)].permute(0, 3, 1, 2) / 110.0
    top = logits.topk(2, dim=1).values
    clear = ((top[:, 0] - top[:, 1]) > 0.02)[:, None].expand_as(mode)  # cells without a near-tie for first
    assert clear.any()
    cold_cells = annealed_mean(logits, bins, 1e-3)
    torch.testing.assert_close(cold_cells[clear], mode[clear], rtol=0, atol=1e-4)
    torch.testing.assert_close(cold, head.upsample(cold_cells, 24, 40))
    torch.testing.assert_close(warm, head.upsample(annealed_mean(logits, bins, 1.0), 24, 40))
    # the cells are 4x4 averages of the last convolution's scores
    assert head.grid_stride == 4


@pytest.mark.parametrize("preset", ["resnet18", "koalarization-small"])
def test_a_family_distribution_model_keeps_its_colour_prior_through_save_and_load(preset, tmp_path):
    from conftest import tiny_model
    from transformers import AutoModel

    from colorizers.objectives import color_distribution

    model = tiny_model(preset, objective="hybrid", prior_correction=0.5).eval()
    holder, stride = color_distribution(model)
    assert stride == 4
    prior = torch.linspace(1.0, 3.0, holder.num_bins)
    holder.set_color_prior(prior)
    model.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    torch.testing.assert_close(color_distribution(loaded)[0].color_prior, prior / prior.sum())
    pixel_values, _ = _family_batch(1)
    with torch.no_grad():
        torch.testing.assert_close(loaded(pixel_values=pixel_values).ab, model(pixel_values=pixel_values).ab)
    with pytest.raises(ValueError, match=r"the colour prior needs 262 values \(one per ab bin\), got \(3,\)"):
        holder.set_color_prior(torch.ones(3))


def test_a_regression_family_model_has_no_distribution_and_keeps_its_weight_names():
    from conftest import tiny_model

    from colorizers.objectives import color_distribution

    model = tiny_model("resnet18")
    assert color_distribution(model) is None and model.color_head is None
    assert not any("color_head" in key or "ab_bins" in key for key in model.state_dict())
    assert model.output_conv.out_channels == 2


def test_colorize_applies_temperature_and_confidence_to_any_distribution_family():
    from conftest import tiny_model

    import colorizers

    model = tiny_model("unet", objective="classification").eval()
    image = np.random.default_rng(0).integers(0, 255, (30, 44, 3), dtype=np.uint8)
    vivid, confidence_map = colorizers.colorize(image, model, temperature=0.2, return_confidence=True)
    dull = colorizers.colorize(image, model, temperature=1.5)
    assert vivid.size == dull.size == (44, 30)
    assert confidence_map.shape == (30, 44) and confidence_map.dtype == np.float32
    assert not np.array_equal(np.asarray(vivid), np.asarray(dull))


@pytest.mark.parametrize(
    "overrides,message",
    [
        (
            {"objective": "ordinal"},
            "objective must be one of ('regression', 'classification', 'hybrid'), got 'ordinal'",
        ),
        ({"prior_correction": 1.5}, "prior_correction must be in [0, 1], got 1.5"),
        ({"soft_encoding_neighbors": 0}, "soft_encoding_neighbors must be an integer in [1, 32], got 0"),
        ({"ab_grid_step": 1}, "ab_grid_step must be in [2, 55] ab units, got 1"),
        ({"distribution_stride": 0}, "distribution_stride must be an integer in [1, 16], got 0"),
    ],
)
@pytest.mark.parametrize("preset", ["vanilla-v2", "koalarization-small"])
def test_family_configs_validate_their_objective_fields(preset, overrides, message):
    from huggingface_hub.errors import StrictDataclassClassValidationError

    import colorizers

    with pytest.raises(StrictDataclassClassValidationError, match=re.escape(message)):
        colorizers.get_preset(preset).make_config(**overrides)


def test_prior_correction_fades_out_between_the_default_and_the_vivid_temperature():
    from conftest import tiny_model

    from colorizers.objectives import VIVID_TEMPERATURE, prior_corrected_logits

    model = tiny_model("resnet18", objective="hybrid", prior_correction=0.5, default_temperature=0.6).eval()
    head = model.color_head
    head.set_color_prior(torch.linspace(0.1, 5.0, head.num_bins))
    logits = torch.randn(1, head.num_bins, 3, 3, generator=torch.Generator().manual_seed(0))
    weights = rebalance_weights(head.color_prior, 0.5)
    for temperature, strength in ((1.0, 0.5), (0.6, 0.5), (0.4, 0.25), (VIVID_TEMPERATURE, 0.0), (0.05, 0.0)):
        expected = prior_corrected_logits(logits, weights, strength)
        torch.testing.assert_close(head.decoding_logits(logits, temperature), expected)

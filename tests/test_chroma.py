"""The chroma flagship family: objectives, semantic head, hints, temperature, confidence, save/load."""

import numpy as np
import pytest
import torch
from conftest import tiny_model

import colorizers


# Shapes at other sizes, gradients and save/load of the default (hybrid) model: tests/test_modeling_common.py.
@pytest.mark.parametrize("objective", ["regression", "classification", "hybrid"])
def test_every_objective_trains(objective):
    size = (37, 19)  # odd sides: the logits grid rounds up
    model = tiny_model("chroma", objective=objective, semantic_classes=["cat", "dog", "fish"]).train()
    pixel_values = torch.rand(2, 1, *size) * 2 - 1
    labels = torch.rand(2, 2, *size) * 0.6 - 0.3
    outputs = model(pixel_values=pixel_values, labels=labels, class_labels=torch.tensor([2, -100]))
    assert outputs.ab.shape == (2, 2, *size)
    assert outputs.class_logits.shape == (2, 3)
    assert outputs.ab.abs().max() <= 1.0
    if objective == "regression":
        assert outputs.logits is None
    else:
        stride = model.config.output_stride
        assert outputs.logits.shape == (2, model.color_head.num_bins, -(-size[0] // stride), -(-size[1] // stride))
    assert torch.isfinite(outputs.loss)
    outputs.loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_semantic_loss_is_added_only_with_labels():
    model = tiny_model("chroma", semantic_classes=["a", "b"], semantic_loss_weight=1.0).eval()
    pixel_values, labels = torch.zeros(1, 1, 16, 16), torch.zeros(1, 2, 16, 16)
    base = model(pixel_values=pixel_values, labels=labels).loss
    with_class = model(pixel_values=pixel_values, labels=labels, class_labels=torch.tensor([0])).loss
    logits = model(pixel_values=pixel_values).class_logits
    expected = torch.nn.functional.cross_entropy(logits, torch.tensor([0]))
    assert float((with_class - base).detach()) == pytest.approx(float(expected), rel=1e-4)
    unknown = model(pixel_values=pixel_values, labels=labels, class_labels=torch.tensor([-100])).loss
    assert float(unknown) == pytest.approx(float(base))


def test_hints_change_the_prediction_and_absent_hints_equal_zero_hints():
    model = tiny_model("chroma").eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.1)
    pixel_values = torch.rand(1, 1, 32, 32) * 2 - 1
    hint_ab = torch.zeros(1, 2, 32, 32)
    hint_mask = torch.zeros(1, 1, 32, 32)
    plain = model(pixel_values=pixel_values).ab
    assert torch.equal(plain, model(pixel_values=pixel_values, hint_ab=hint_ab, hint_mask=hint_mask).ab)
    hint_ab[..., 10:14, 10:14] = torch.tensor([0.5, 0.3])[:, None, None]
    hint_mask[..., 10:14, 10:14] = 1
    assert not torch.allclose(plain, model(pixel_values=pixel_values, hint_ab=hint_ab, hint_mask=hint_mask).ab)
    with pytest.raises(ValueError, match=r"hint_ab must be shaped \(1, 2, 32, 32\)"):
        model(pixel_values=pixel_values, hint_ab=torch.zeros(1, 2, 8, 8))
    no_hints = tiny_model("chroma", use_hints=False)
    assert no_hints.stem[0].in_channels == 1
    with pytest.raises(ValueError, match="this model has no hint inputs"):
        no_hints(pixel_values=pixel_values, hint_ab=hint_ab)


def test_temperature_and_confidence():
    model = tiny_model("chroma").eval()
    with torch.no_grad():
        model.head.weight.normal_(0, 1.0)
    pixel_values = torch.rand(1, 1, 32, 32) * 2 - 1
    warm = model(pixel_values=pixel_values, temperature=1.0).ab
    vivid = model(pixel_values=pixel_values, temperature=0.1).ab
    assert not torch.allclose(warm, vivid)
    assert torch.equal(model(pixel_values=pixel_values).ab, model(pixel_values=pixel_values, temperature=0.6).ab)
    confidence = model(pixel_values=pixel_values, output_confidence=True).confidence
    assert confidence.shape == (1, 1, 32, 32)
    assert 0 <= float(confidence.min()) <= float(confidence.max()) <= 1


def test_colour_prior_is_saved_with_the_model(tmp_path):
    model = tiny_model("chroma", semantic_classes=["x", "y"])
    prior = torch.arange(model.color_head.num_bins, dtype=torch.float32) + 1
    model.color_head.set_color_prior(prior)
    model.save_pretrained(tmp_path)
    loaded = colorizers.load_model(str(tmp_path))
    assert torch.allclose(loaded.color_head.color_prior, prior / prior.sum())
    assert torch.equal(loaded.color_head.ab_bins, model.color_head.ab_bins)
    assert list(loaded.config.semantic_classes) == ["x", "y"]
    pixel_values = torch.rand(1, 1, 24, 40) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(loaded(pixel_values=pixel_values).ab, model.eval()(pixel_values=pixel_values).ab)
    with pytest.raises(ValueError, match=f"needs {model.color_head.num_bins} values"):
        model.color_head.set_color_prior(torch.ones(3))
    with pytest.raises(ValueError, match="must be finite, non-negative and not all zero"):
        model.color_head.set_color_prior(torch.zeros(model.color_head.num_bins))


def test_colorize_with_temperature_and_confidence():
    model = tiny_model("chroma").eval()
    image = (np.random.default_rng(0).random((40, 60)) * 255).astype(np.uint8)
    result, confidence = colorizers.colorize(image, model, temperature=0.4, return_confidence=True)
    assert result.size == (60, 40)
    assert confidence.shape == (40, 60) and confidence.dtype == np.float32
    images, maps = colorizers.colorize([image, image[:20]], model, return_confidence=True)
    assert [m.shape for m in maps] == [(40, 60), (20, 60)]
    for bad, message in [(0.01, "between 0.05 and 2.0"), (float("nan"), "finite number"), ("hot", "finite number")]:
        with pytest.raises(ValueError, match=message):
            colorizers.colorize(image, model, temperature=bad)
    regression = tiny_model("resnet18")
    with pytest.raises(ValueError, match="temperature applies to models that predict a colour distribution"):
        colorizers.colorize(image, regression, temperature=0.5)
    _, zeros = colorizers.colorize(image, regression, return_confidence=True)
    assert not zeros.any()


def test_prior_correction_mutes_a_model_trained_with_rebalancing():
    model = tiny_model("chroma").eval()
    prior = torch.full((model.color_head.num_bins,), 1e-4)
    gray = int(torch.cdist(torch.zeros(1, 2), model.color_head.ab_bins).argmin())
    prior[gray] = 1.0  # gray is common: the rebalancing weights favour every other colour
    model.color_head.set_color_prior(prior)
    with torch.no_grad():
        model.head.weight.normal_(0, 0.5)
    pixel_values = torch.rand(1, 1, 32, 32) * 2 - 1
    vivid = model(pixel_values=pixel_values, temperature=1.0).ab.abs().mean()
    model.config.prior_correction = 1.0
    muted = model(pixel_values=pixel_values, temperature=1.0).ab.abs().mean()
    assert muted < vivid


def test_a_frozen_backbone_is_frozen_from_the_start_and_after_loading(tmp_path):
    from colorizers.models.chroma import ChromaColorizerConfig, ChromaColorizerModel

    config = ChromaColorizerConfig(
        backbone="efficientnet-lite0", image_size=64, decoder_size=8, global_size=8, freeze_backbone=True
    )
    model = ChromaColorizerModel(config)
    model.save_pretrained(tmp_path)
    # loading makes fresh, trainable parameters: the loaded model freezes them again
    for candidate in (model, ChromaColorizerModel.from_pretrained(tmp_path).train()):
        encoder = candidate.backbone.encoder
        assert not any(p.requires_grad for p in encoder.parameters()) and not encoder.training
        assert candidate.training and all(p.requires_grad for p in candidate.backbone.laterals.parameters())

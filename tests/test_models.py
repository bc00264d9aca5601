"""One suite over every preset (timm style): each architecture at a tiny size through the same checks."""

import json

import pytest
import torch
from conftest import tiny_model
from transformers import AutoConfig, AutoModel, AutoModelForImageToImage

import colorizers

PRESETS = colorizers.list_models()
# One square size and one odd, non-square size.
SIZES = [(32, 32), (37, 23)]


def _inputs(batch, height, width):
    return torch.rand(batch, 1, height, width) * 2 - 1


@pytest.mark.parametrize("name", PRESETS)
@pytest.mark.parametrize("size", SIZES)
def test_forward_shape_and_finite(name, size):
    model = tiny_model(name).eval()
    with torch.no_grad():
        ab = colorizers.predicted_ab(model(pixel_values=_inputs(2, *size)))
    assert ab.shape == (2, 2, *size)
    assert torch.isfinite(ab).all()


@pytest.mark.parametrize("name", PRESETS)
def test_loss_and_backward_reach_every_parameter(name):
    model = tiny_model(name).train()
    pixel_values = _inputs(2, 32, 32)
    with torch.no_grad():
        reference = model(pixel_values=pixel_values)
    labels_name = "ab" if getattr(reference, "ab", None) is not None else "rgb"
    target = getattr(reference, labels_name)
    labels = torch.rand_like(target) if labels_name == "rgb" else torch.rand_like(target) * 2 - 1
    outputs = model(pixel_values=pixel_values, labels=labels)
    assert outputs.loss is not None and outputs.loss.ndim == 0 and torch.isfinite(outputs.loss)
    outputs.loss.backward()
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    missing = [n for n, p in model.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.abs().sum() > 0)]
    assert not missing, f"no gradient reached {missing}"
    assert len(frozen) < len(list(model.parameters()))


@pytest.mark.parametrize("name", PRESETS)
def test_labels_of_wrong_shape_are_rejected(name):
    model = tiny_model(name)
    with pytest.raises(ValueError, match="labels must be shaped"):
        model(pixel_values=_inputs(1, 32, 32), labels=torch.zeros(1, 5, 7, 7))


@pytest.mark.parametrize("name", PRESETS)
def test_save_and_auto_load_round_trip(name, tmp_path):
    model = tiny_model(name).eval()
    model.save_pretrained(tmp_path)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert "model.safetensors" in files and "config.json" in files
    assert not [f for f in files if f.endswith((".bin", ".pt", ".pth", ".pkl", ".ckpt"))]

    config = AutoConfig.from_pretrained(tmp_path)
    assert type(config) is type(model.config)
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert type(loaded) is type(model)
    assert type(AutoModelForImageToImage.from_pretrained(tmp_path)) is type(model)
    pixel_values = _inputs(2, 37, 23)
    with torch.no_grad():
        expected = colorizers.predicted_ab(model(pixel_values=pixel_values))
        actual = colorizers.predicted_ab(loaded(pixel_values=pixel_values))
    torch.testing.assert_close(actual, expected, rtol=0, atol=0)
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == model.config.model_type


@pytest.mark.parametrize("name", PRESETS)
def test_faithful_preset_builds(name):
    # The full-size preset (not the tiny one) must construct and count its parameters.
    assert colorizers.count_parameters(name) > 0


@pytest.mark.parametrize("name", PRESETS)
def test_init_is_not_transformers_default(name):
    # transformers 5 would otherwise re-initialise every conv to N(0, 0.02): far too small for deep CNNs.
    model = colorizers.create_model(name)
    stds = [m.weight.std().item() for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.weight.numel() > 1000]
    assert stds and max(stds) > 0.03


@pytest.mark.parametrize("name", PRESETS)
def test_config_round_trips_and_rejects_nonsense(name):
    preset = colorizers.get_preset(name)
    config = preset.make_config()
    again = type(config).from_dict(config.to_dict())
    assert again.to_dict() == config.to_dict()
    with pytest.raises(Exception, match="loss_type"):
        preset.make_config(loss_type="cross-entropy-of-vibes")

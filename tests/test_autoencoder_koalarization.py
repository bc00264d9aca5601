"""Family checks for seed reports 2 (ae-baseline, ae-vgg16) and 3 (koalarization)."""

import json

import pytest
import torch
from conftest import tiny_model
from safetensors.torch import save_file
from transformers import AutoModel, ResNetConfig, ResNetForImageClassification

import colorizers
from colorizers.models.koalarization import TINY_CONFIG as KOALA_TINY

VGG16_CONV_INDICES = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]


def _gray(batch, height, width):
    return torch.rand(batch, 1, height, width) * 2 - 1


def _fake_vgg16_state_dict(model):
    """A timm-style VGG-16 checkpoint for the model's (tiny) widths: features.* plus head keys to ignore."""
    state = {f"features.{key}": torch.randn_like(value) for key, value in model.encoder.features.state_dict().items()}
    state["pre_logits.fc1.weight"] = torch.randn(4, 4)
    state["head.fc.weight"] = torch.randn(3, 4)
    return state


# --- seed report 2: baseline autoencoder -----------------------------------------------------------


def test_baseline_layout_matches_report():
    with torch.device("meta"):
        model = colorizers.create_model("ae-baseline")
    strides = [layer.stride[0] for layer in model.encoder.layers]
    assert strides == [2, 1, 2, 1, 2, 1, 1, 1]
    assert [layer.out_channels for layer in model.encoder.layers] == [64, 128, 128, 256, 256, 512, 512, 512]
    assert (model.fusion.in_channels, model.fusion.out_channels, model.fusion.kernel_size) == (512, 256, (1, 1))
    assert [layer.out_channels for layer in model.decoder.layers] + [model.decoder.head.out_channels] == [
        128,
        64,
        32,
        16,
        2,
    ]
    assert not any(isinstance(module, torch.nn.MaxPool2d) for module in model.modules())
    assert model.encoder(torch.empty(1, 1, 32, 48, device="meta")).shape == (1, 512, 4, 6)
    assert model.config.image_size == 256 and colorizers.count_parameters("ae-baseline") == 7_530_642


# --- seed report 2: VGG-16 fusion ------------------------------------------------------------------


def test_vgg16_encoder_has_torchvision_layout_and_size():
    with torch.device("meta"):
        model = colorizers.create_model("ae-vgg16")
    keys = list(model.encoder.features.state_dict())
    assert keys == [f"{i}.{kind}" for i in VGG16_CONV_INDICES for kind in ("weight", "bias")]
    assert sum(p.numel() for p in model.encoder.parameters()) == 14_714_688  # torchvision's vgg16().features
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in model.encoder.modules()) == 5
    assert model.config.image_size == 224 and model.config.backbone_id == "timm/vgg16.tv_in1k"
    assert model.encoder(torch.empty(1, 1, 64, 96, device="meta")).shape == (1, 512, 2, 3)


def test_vgg16_input_is_imagenet_normalised_gray_rgb():
    from colorizers.models.autoencoder.modeling_autoencoder import lightness_to_imagenet

    white = lightness_to_imagenet(torch.ones(1, 1, 2, 2))
    expected = (1 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225])
    torch.testing.assert_close(white[0, :, 0, 0], expected)


def test_vgg16_is_frozen_also_after_loading(tmp_path):
    model = tiny_model("ae-vgg16")
    assert not any(p.requires_grad for p in model.encoder.parameters())
    assert all(p.requires_grad for n, p in model.named_parameters() if not n.startswith("encoder."))
    model.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path)
    assert not any(p.requires_grad for p in loaded.encoder.parameters())

    trainable = tiny_model("ae-vgg16", freeze_backbone=False).train()
    trainable(pixel_values=_gray(2, 32, 32), labels=torch.zeros(2, 2, 32, 32)).loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in trainable.encoder.parameters())


@pytest.mark.parametrize("as_file", [False, True])
def test_vgg16_loads_pretrained_weights_from_local_safetensors(tmp_path, as_file):
    model = tiny_model("ae-vgg16")
    state = _fake_vgg16_state_dict(model)
    save_file(state, str(tmp_path / "model.safetensors"))
    source = tmp_path / "model.safetensors" if as_file else tmp_path
    assert model.load_pretrained_backbone(str(source)) is model
    for index in VGG16_CONV_INDICES:
        torch.testing.assert_close(
            model.encoder.features[index].weight, state[f"features.{index}.weight"], rtol=0, atol=0
        )
        torch.testing.assert_close(model.encoder.features[index].bias, state[f"features.{index}.bias"], rtol=0, atol=0)
    assert not any(p.requires_grad for p in model.encoder.parameters())


def test_vgg16_downloads_model_safetensors_of_backbone_id(tmp_path, monkeypatch):
    import huggingface_hub

    model = tiny_model("ae-vgg16")
    state = _fake_vgg16_state_dict(model)
    save_file(state, str(tmp_path / "weights.safetensors"))
    calls = []

    def fake_download(repo_id, filename, **kwargs):
        calls.append((repo_id, filename))
        return str(tmp_path / "weights.safetensors")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    model.load_pretrained_backbone()
    assert calls == [("timm/vgg16.tv_in1k", "model.safetensors")]
    torch.testing.assert_close(model.encoder.features[28].weight, state["features.28.weight"], rtol=0, atol=0)


def test_vgg16_loader_rejects_mismatched_weights_and_baseline(tmp_path):
    model = tiny_model("ae-vgg16")
    state = _fake_vgg16_state_dict(model)
    state["features.0.weight"] = torch.randn(5, 3, 3, 3)
    save_file(state, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match="VGG-16"):
        model.load_pretrained_backbone(str(tmp_path))
    with pytest.raises(ValueError, match="encoder_type"):
        tiny_model("ae-baseline").load_pretrained_backbone(str(tmp_path))


# --- seed report 3: Deep Koalarization -------------------------------------------------------------


def test_koalarization_layout_matches_report():
    with torch.device("meta"):
        model = colorizers.create_model("koalarization")
    strides = [layer.stride[0] for layer in model.encoder.layers]
    assert strides == [2, 1, 2, 1, 2, 1, 1, 1]
    assert [layer.out_channels for layer in model.encoder.layers] == [64, 128, 128, 256, 256, 512, 512, 256]
    assert (model.fusion.in_channels, model.fusion.out_channels, model.fusion.kernel_size) == (256 + 1000, 256, (1, 1))
    assert [layer.out_channels for layer in model.decoder.layers] + [model.decoder.head.out_channels] == [
        128,
        64,
        64,
        32,
        2,
    ]
    # The shipped preset's global branch: ResNet-50's layout (bottleneck blocks 3-4-6-3, 1000 logits) at a
    # quarter of the widths, 1,993,976 parameters.
    classifier = model.config.classifier_config
    assert type(model.classifier) is ResNetForImageClassification
    assert (classifier.depths, classifier.hidden_sizes, classifier.layer_type) == (
        [3, 4, 6, 3],
        [64, 128, 256, 512],
        "bottleneck",
    )
    assert sum(p.numel() for p in model.classifier.parameters()) == 1_993_976
    assert model.config.classifier_image_size == 224 and model.config.backbone_id == "microsoft/resnet-50"
    # The config's own default is the full microsoft/resnet-50: 25,557,032 parameters, 1000 ImageNet logits.
    with torch.device("meta"):
        full = colorizers.models.koalarization.KoalarizationColorizerModel(
            colorizers.models.koalarization.KoalarizationColorizerConfig()
        )
    assert sum(p.numel() for p in full.classifier.parameters()) == 25_557_032


def test_koalarization_sub_config_serialises_and_reloads(tmp_path):
    model = tiny_model("koalarization").eval()
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())["classifier_config"]
    assert saved["model_type"] == "resnet" and saved["hidden_sizes"] == [8, 16]
    loaded = AutoModel.from_pretrained(tmp_path)
    assert isinstance(loaded.config.classifier_config, ResNetConfig)
    assert loaded.config.classifier_config.num_labels == 10
    assert not any(p.requires_grad for p in loaded.classifier.parameters())


def test_koalarization_global_features_change_the_prediction():
    model = tiny_model("koalarization", output_activation="none").eval()
    pixel_values = _gray(1, 24, 40)
    with torch.no_grad():
        before = model(pixel_values=pixel_values).ab
        model.classifier.classifier[-1].bias.add_(1.0)  # shift every logit of the embedding
        after = model(pixel_values=pixel_values).ab
    assert not torch.equal(before, after)


def test_frozen_classifier_keeps_eval_mode_and_batch_norm_statistics():
    model = tiny_model("koalarization").train()
    assert model.training and model.encoder.training and not model.classifier.training
    statistics = {k: v.clone() for k, v in model.classifier.state_dict().items() if "running" in k}
    model(pixel_values=_gray(2, 32, 32), labels=torch.zeros(2, 2, 32, 32)).loss.backward()
    for key, value in statistics.items():
        torch.testing.assert_close(model.classifier.state_dict()[key], value, rtol=0, atol=0)
    assert all(p.grad is None for p in model.classifier.parameters())


def test_unfrozen_classifier_trains():
    model = tiny_model("koalarization", freeze_backbone=False).train()
    assert model.classifier.training
    model(pixel_values=_gray(2, 32, 32), labels=torch.rand(2, 2, 32, 32) * 2 - 1).loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.classifier.parameters())


def test_koalarization_loads_pretrained_classifier(tmp_path):
    sub_config = ResNetConfig(**{k: v for k, v in KOALA_TINY["classifier_config"].items() if k != "model_type"})
    sub_config.id2label = {i: f"class-{i}" for i in range(10)}
    sub_config.label2id = {v: k for k, v in sub_config.id2label.items()}
    torch.manual_seed(1)
    pretrained = ResNetForImageClassification(sub_config)
    pretrained.save_pretrained(tmp_path / "classifier")

    model = tiny_model("koalarization")
    assert model.load_pretrained_backbone(str(tmp_path / "classifier")) is model
    for key, value in pretrained.state_dict().items():
        torch.testing.assert_close(model.classifier.state_dict()[key], value, rtol=0, atol=0)
    assert model.config.classifier_config.id2label[3] == "class-3"
    assert not any(p.requires_grad for p in model.classifier.parameters())

    # The copied weights and labels survive a save/load round trip.
    model.save_pretrained(tmp_path / "colorizer")
    loaded = AutoModel.from_pretrained(tmp_path / "colorizer")
    torch.testing.assert_close(
        loaded.classifier.classifier[-1].weight, pretrained.classifier[-1].weight, rtol=0, atol=0
    )
    assert loaded.config.classifier_config.id2label[3] == "class-3"


def test_koalarization_adopts_a_classifier_of_another_architecture_with_as_many_logits(tmp_path):
    # As --pretrained_backbone swaps the shipped narrow ResNet-50 for microsoft/resnet-50: same 10 logits here.
    other = ResNetConfig(embedding_size=8, hidden_sizes=[8, 32], depths=[1, 1], num_labels=10)
    pretrained = ResNetForImageClassification(other)
    pretrained.save_pretrained(tmp_path)
    model = tiny_model("koalarization")
    model.load_pretrained_backbone(str(tmp_path))
    assert model.config.classifier_config.hidden_sizes == [8, 32]
    for key, value in pretrained.state_dict().items():
        torch.testing.assert_close(model.classifier.state_dict()[key], value, rtol=0, atol=0)
    assert not any(p.requires_grad for p in model.classifier.parameters())
    assert model(pixel_values=_gray(1, 24, 40)).ab.shape == (1, 2, 24, 40)


def test_koalarization_rejects_a_classifier_with_other_logits(tmp_path):
    ResNetForImageClassification(ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], num_labels=7)).save_pretrained(
        tmp_path
    )
    with pytest.raises(ValueError, match="gives 7 logits, the fusion layer needs 3 and 10"):
        tiny_model("koalarization").load_pretrained_backbone(str(tmp_path))


def test_koalarization_without_global_features_has_no_classifier():
    model = tiny_model("koalarization", use_global_features=False).eval()
    assert model.classifier is None
    assert model.fusion.in_channels == KOALA_TINY["encoder_hidden_sizes"][-1]
    assert model(pixel_values=_gray(2, 24, 40)).ab.shape == (2, 2, 24, 40)
    with pytest.raises(ValueError, match="no global branch"):
        model.load_pretrained_backbone("anything")

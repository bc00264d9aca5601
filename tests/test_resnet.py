import pytest
import torch
from conftest import tiny_model
from transformers import ResNetConfig, ResNetModel

import colorizers


def test_resnet18_faithful_size():
    # ResNet-18 up to layer2 (~0.68M) plus the upsampling head (~0.28M).
    assert colorizers.count_parameters("resnet18") == 954_434


def test_backbone_matches_microsoft_resnet18_layout():
    # Every backbone tensor has a same-shaped twin in microsoft/resnet-18 (the stem conv: 3 -> 1 input channel).
    with torch.device("meta"):
        source = ResNetModel(
            ResNetConfig(embedding_size=64, hidden_sizes=[64, 128, 256, 512], depths=[2, 2, 2, 2], layer_type="basic")
        )
        model = colorizers.create_model("resnet18")
    theirs = {name: tensor.shape for name, tensor in source.state_dict().items()}
    ours = model.backbone.state_dict()
    for name, tensor in ours.items():
        twin = name.replace("stages.", "encoder.stages.", 1) if name.startswith("stages.") else name
        expected = theirs[twin]
        if name == "embedder.embedder.convolution.weight":
            expected = (expected[0], 1, *expected[2:])
        assert tensor.shape == expected, name
    copied = [name for name in theirs if name.startswith(("embedder.", "encoder.stages.0.", "encoder.stages.1."))]
    assert len(copied) == len(ours)


def _fake_resnet(tmp_path, **config):
    torch.manual_seed(1)
    sizes = {"embedding_size": 4, "hidden_sizes": [4, 8, 16], "depths": [1, 1, 1], "layer_type": "basic"}
    source = ResNetModel(ResNetConfig(**{**sizes, **config}))
    with torch.no_grad():  # non-trivial batch-norm statistics, so copying them is visible
        for module in source.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
    source.save_pretrained(tmp_path)
    return source.eval()


def test_load_pretrained_backbone_sums_stem_and_copies_two_stages(tmp_path):
    source = _fake_resnet(tmp_path)
    model = tiny_model("resnet18", backbone_id=str(tmp_path)).eval()
    head_before = {name: tensor.clone() for name, tensor in model.head.state_dict().items()}

    assert model.load_pretrained_backbone() is model

    stem = model.backbone.embedder.embedder.convolution.weight
    torch.testing.assert_close(stem, source.embedder.embedder.convolution.weight.sum(dim=1, keepdim=True))
    # On a gray image the 1-channel backbone answers exactly as the RGB network does up to its second stage.
    lightness = torch.rand(2, 1, 32, 24) * 2 - 1
    with torch.no_grad():
        expected = source(lightness.repeat(1, 3, 1, 1), output_hidden_states=True).hidden_states[2]
        torch.testing.assert_close(model.backbone(lightness), expected)
    for name, tensor in model.head.state_dict().items():
        torch.testing.assert_close(tensor, head_before[name])


def test_load_pretrained_backbone_rejects_other_sizes(tmp_path):
    _fake_resnet(tmp_path, hidden_sizes=[4, 16, 16])
    model = tiny_model("resnet18")
    with pytest.raises(ValueError, match=r"hidden_sizes\[:2\]"):
        model.load_pretrained_backbone(str(tmp_path))

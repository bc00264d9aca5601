"""The weights that ship inside the package: every one loads offline, is trained, and colorizes."""

import json

import numpy as np
import pytest
from PIL import Image
from skimage import color as skcolor

import colorizers
from colorizers.evaluation.metrics import colorfulness
from colorizers.registry import PRETRAINED_DIR

SHIPPED = colorizers.list_models(with_weights=True)
WEIGHTS_LIMIT_MB = (
    175  # every preset's fp16 model.safetensors together (the colour issue's budget; issue 11's was 150)
)
EXTRAS_LIMIT_MB = 10  # the cards, configs, sample grids and loss curves that travel with them


def test_weights_ship_for_the_default_and_fit_the_budget():
    assert SHIPPED, "no preset ships trained weights"
    assert colorizers.DEFAULT_MODEL in SHIPPED
    files = [p for p in PRETRAINED_DIR.rglob("*") if p.is_file()]
    weights = sum(p.stat().st_size for p in files if p.suffix == ".safetensors") / 1e6
    extras = sum(p.stat().st_size for p in files if p.suffix != ".safetensors") / 1e6
    assert weights < WEIGHTS_LIMIT_MB, f"bundled weights take {weights:.1f} MB"
    assert extras < EXTRAS_LIMIT_MB, f"bundled cards and pictures take {extras:.1f} MB"


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_preset_loads_offline_and_colorizes(name, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = colorizers.load_model(name)
    assert not getattr(model, "colorizers_untrained", False)
    assert all(
        p.dtype.is_floating_point and p.dtype.itemsize == 4 for p in model.parameters()
    )  # fp16 on disk, fp32 in use
    photo = Image.fromarray(np.random.default_rng(0).integers(0, 256, (61, 83, 3), dtype=np.uint8))
    result = colorizers.colorize(photo, model)
    assert result.size == photo.size
    assert np.abs(skcolor.rgb2lab(np.asarray(result))[..., 0] - skcolor.rgb2lab(np.asarray(photo))[..., 0]).max() < 0.5
    # a trained model adds colour to a gray photo (an untrained one stays near gray)
    assert colorfulness(np.asarray(colorizers.colorize(photo.convert("L"), model))) > 2


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_folder_is_a_complete_hub_repository(name):
    folder = PRETRAINED_DIR / name
    for file in ("config.json", "preprocessor_config.json", "README.md", "eval_results.json"):
        assert (folder / file).is_file(), file
    # the weights: one file, or shards of at most 20 MB each with their index
    shards = sorted(folder.glob("model*.safetensors"))
    assert (folder / "model.safetensors").is_file() or (folder / "model.safetensors.index.json").is_file()
    assert shards and all(shard.stat().st_size <= 20e6 for shard in shards), [s.name for s in shards]
    assert json.loads((folder / "config.json").read_text())["dtype"] in ("float16", "bfloat16")
    results = json.loads((folder / "eval_results.json").read_text())
    assert results["training"]["command"].startswith("accelerate launch train/train.py")
    card = (folder / "README.md").read_text()
    assert "model-index" in card and "pipeline_tag: image-to-image" in card


def test_colorize_without_a_model_uses_the_default():
    photo = Image.fromarray(np.random.default_rng(1).integers(0, 256, (20, 30), dtype=np.uint8))
    expected = colorizers.colorize(photo, colorizers.load_model(colorizers.DEFAULT_MODEL))
    assert np.array_equal(np.asarray(colorizers.colorize(photo)), np.asarray(expected))


@pytest.mark.parametrize("name", SHIPPED)
def test_default_working_size_is_the_shipped_processors(name):
    from colorizers.registry import default_working_size

    processor = colorizers.load_processor(colorizers.load_model(name))
    assert default_working_size(name) == processor.size["longest_edge"]


def test_loading_prints_no_progress_bar_unless_asked(capfd):
    import colorizers

    colorizers.load_model("resnet18")
    quiet = capfd.readouterr()
    assert "Loading weights" not in quiet.err + quiet.out
    colorizers.load_model("resnet18", progress=True)
    assert "Loading weights" in "".join(capfd.readouterr())
    from transformers.utils import logging as transformers_logging

    before = transformers_logging.is_progress_bar_enabled()
    colorizers.load_model("resnet18")
    assert transformers_logging.is_progress_bar_enabled() == before  # the global setting is restored

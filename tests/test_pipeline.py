import numpy as np
import pytest
import torch
from conftest import tiny_model
from PIL import Image
from skimage import color as skcolor

import colorizers
from colorizers import ColorizerImageProcessor, ModelLoadError


@pytest.fixture
def photo(rng):
    return Image.fromarray(rng.integers(0, 256, (61, 87, 3), dtype=np.uint8))


@pytest.mark.parametrize("name", colorizers.list_models())
def test_every_preset_colorizes_at_full_resolution(name, photo):
    model = tiny_model(name)
    result = colorizers.colorize(photo, model, size=40)
    assert isinstance(result, Image.Image) and result.size == photo.size and result.mode == "RGB"
    original_l = skcolor.rgb2lab(np.asarray(photo))[..., 0]
    assert np.abs(skcolor.rgb2lab(np.asarray(result))[..., 0] - original_l).max() < 0.5


def test_lists_of_mixed_sizes_keep_order_and_sizes(rng):
    model = tiny_model("unet")
    images = [
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)) for shape in [(20, 30), (30, 20), (20, 30, 3)]
    ]
    results = colorizers.colorize(images, model, size=32, batch_size=2)
    assert [r.size for r in results] == [(30, 20), (20, 30), (30, 20)]
    # equal inputs give equal outputs whichever batch they ran in
    again = colorizers.colorize(images[2], model, size=32)
    assert np.array_equal(np.asarray(again), np.asarray(results[2]))


def test_batched_and_single_runs_agree(rng):
    model = tiny_model("unet")
    images = [Image.fromarray(rng.integers(0, 256, (24, 24), dtype=np.uint8)) for _ in range(3)]
    batched = colorizers.colorize(images, model, size=24, batch_size=3)
    for image, result in zip(images, batched):
        single = colorizers.colorize(image, model, size=24)
        assert np.abs(np.asarray(single).astype(int) - np.asarray(result)).max() <= 1


def test_model_given_as_folder_uses_its_processor(tmp_path, photo):
    model = tiny_model("unet")
    model.save_pretrained(tmp_path)
    ColorizerImageProcessor(size={"height": 16, "width": 16}).save_pretrained(tmp_path)
    loaded = colorizers.load_model(str(tmp_path))
    assert loaded.training is False
    assert dict(colorizers.load_processor(loaded).size) == {"height": 16, "width": 16}
    by_path = colorizers.colorize(photo, str(tmp_path))
    by_object = colorizers.colorize(photo, model, processor=ColorizerImageProcessor(size={"height": 16, "width": 16}))
    assert np.array_equal(np.asarray(by_path), np.asarray(by_object))


def test_preset_name_without_weights_is_flagged_untrained(photo, monkeypatch, tmp_path):
    monkeypatch.setattr(colorizers.registry, "PRETRAINED_DIR", tmp_path)  # as if no preset shipped weights
    model = colorizers.load_model("vanilla-v1")
    assert model.colorizers_untrained is True
    assert colorizers.colorize(photo, "vanilla-v1", size=32).size == photo.size


def test_training_mode_is_restored(photo):
    model = tiny_model("unet").train()
    colorizers.colorize(photo, model, size=16)
    assert model.training


def test_bad_arguments_are_named(photo, tmp_path):
    model = tiny_model("vanilla-v1")
    with pytest.raises(ValueError, match="batch_size"):
        colorizers.colorize(photo, model, batch_size=0)
    with pytest.raises(ValueError, match="size must be a positive"):
        colorizers.colorize(photo, model, size=0)
    with pytest.raises(ModelLoadError, match="not a saved model folder"):
        colorizers.load_model(str(tmp_path))
    with pytest.raises(ModelLoadError, match="could not load model 'nobody/no-such-colorizer'"):
        colorizers.load_model("nobody/no-such-colorizer")
    (tmp_path / "weights.bin").write_bytes(b"not a model")
    with pytest.raises(ModelLoadError, match="is a file"):
        colorizers.load_model(str(tmp_path / "weights.bin"))


def test_unknown_preset_suggests_close_names():
    with pytest.raises(KeyError, match="Did you mean unet"):
        colorizers.get_preset("unet2")


def test_predicted_ab_converts_rgb_outputs():
    from transformers.utils import ModelOutput

    gray = torch.full((1, 3, 2, 2), 0.5)
    ab = colorizers.predicted_ab(ModelOutput(rgb=gray))
    assert ab.shape == (1, 2, 2, 2) and ab.abs().max() < 1e-3

import re

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


# --- the image-colorization pipeline ----------------------------------------------------------------------


def _same(first, second) -> bool:
    if isinstance(first, (list, tuple)):
        return len(first) == len(second) and all(_same(a, b) for a, b in zip(first, second))
    return np.array_equal(np.asarray(first), np.asarray(second))


@pytest.fixture
def tiny_folder(tmp_path):
    """A saved tiny chroma (hint inputs, a colour distribution) with a processor at 40 pixels."""
    model = tiny_model("chroma")
    model.save_pretrained(tmp_path)
    ColorizerImageProcessor(size={"longest_edge": 40}).save_pretrained(tmp_path)
    return tmp_path


def test_the_task_is_registered_with_transformers():
    from transformers.pipelines import PIPELINE_REGISTRY

    assert PIPELINE_REGISTRY.check_task("image-colorization")[1]["impl"] is colorizers.ImageColorizationPipeline


def test_transformers_pipeline_equals_colorize_for_a_model_folder(tiny_folder, photo):
    import transformers

    expected = colorizers.colorize(photo, str(tiny_folder))
    for pipe in (
        transformers.pipeline("image-colorization", model=str(tiny_folder), device="cpu"),
        transformers.pipeline("image-colorization", model=colorizers.load_model(str(tiny_folder)), device="cpu"),
        colorizers.ImageColorizationPipeline(str(tiny_folder), device="cpu"),
    ):
        assert isinstance(pipe, colorizers.ImageColorizationPipeline) and pipe.task == "image-colorization"
        assert dict(pipe.image_processor.size) == {"longest_edge": 40}
        result = pipe(photo)
        assert isinstance(result, Image.Image) and result.size == photo.size
        assert _same(result, expected)


def test_transformers_pipeline_equals_colorize_for_the_chroma_preset(photo):
    import transformers

    expected = colorizers.colorize(photo, model="chroma")
    by_name = colorizers.ImageColorizationPipeline("chroma", device="cpu")
    assert _same(by_name(photo), expected)
    assert by_name.defaults["size"] == {"longest_edge": 256} and by_name.defaults["temperature"] == 0.6
    loaded = transformers.pipeline("image-colorization", model=by_name.model, device="cpu")
    assert _same(loaded(photo), expected)
    # the shipped folder itself, in colorizers' float32 (transformers' "auto" keeps the float16 it was saved in)
    folder = transformers.pipeline(
        "image-colorization", model=colorizers.get_preset("chroma").weights_dir, dtype=torch.float32, device="cpu"
    )
    assert _same(folder(photo), expected)


def test_colorizers_pipeline_knows_preset_names_and_hands_other_tasks_to_transformers(photo, monkeypatch):
    import transformers

    by_name = colorizers.pipeline("image-colorization", model="chroma", device="cpu", temperature=0.3)
    assert isinstance(by_name, colorizers.ImageColorizationPipeline) and by_name.task == "image-colorization"
    assert by_name.defaults["temperature"] == 0.3 and by_name.defaults["size"] == {"longest_edge": 256}
    assert _same(by_name(photo), colorizers.colorize(photo, model="chroma", temperature=0.3))
    unnamed = colorizers.pipeline("image-colorization", device="cpu")  # the default model, as colorize() uses
    assert _same(unnamed(photo), colorizers.colorize(photo))
    with pytest.raises(colorizers.ModelLoadError, match="no-such-preset"):
        colorizers.pipeline("image-colorization", model="no-such-preset")

    calls = []
    monkeypatch.setattr(transformers, "pipeline", lambda *args, **kwargs: calls.append((args, kwargs)) or "theirs")
    assert colorizers.pipeline("image-classification", model="some/classifier", device="cpu") == "theirs"
    assert calls == [(("image-classification",), {"model": "some/classifier", "device": "cpu"})]


def test_batches_of_images_equal_colorize(rng):
    model = tiny_model("unet")
    images = [
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)) for shape in [(20, 30), (30, 20), (20, 30, 3)]
    ]
    pipe = colorizers.ImageColorizationPipeline(model, device="cpu", size=32, batch_size=2)
    assert pipe.defaults["batch_size"] == 2 and pipe.defaults["size"] == {"longest_edge": 32}
    results = pipe(images)
    assert [result.size for result in results] == [(30, 20), (20, 30), (30, 20)]
    assert _same(results, colorizers.colorize(images, model, size=32, batch_size=2))
    assert _same(pipe(tuple(images), batch_size=1), colorizers.colorize(images, model, size=32, batch_size=1))
    assert _same(colorizers.colorize(images, pipe), results)  # colorize() takes the pipeline and its defaults


def test_hints_temperature_and_confidence_pass_through(photo):
    model = tiny_model("chroma")
    pipe = colorizers.ImageColorizationPipeline(model, device="cpu", size=40)
    hints = [{"x": 10, "y": 10, "color": "#aa3322", "radius": 4}]
    options = dict(temperature=0.3, hints=hints, edge_aware=False, return_confidence=True)
    images, maps = pipe([photo, photo], **{**options, "hints": [hints, None]})
    expected = colorizers.colorize([photo, photo], model, size=40, **{**options, "hints": [hints, None]})
    assert _same(images, expected[0]) and _same(maps, expected[1]) and maps[0].shape == (61, 87)
    assert not _same(images[0], images[1])  # the hint changed the first image only
    assert not _same(pipe(photo, temperature=0.3), pipe(photo, temperature=1.5))
    # defaults set when building apply to every call, and a call overrides them
    vivid = colorizers.ImageColorizationPipeline(model, device="cpu", size=40, temperature=0.3)
    assert vivid.defaults["temperature"] == 0.3
    assert _same(vivid(photo), pipe(photo, temperature=0.3))
    assert _same(vivid(photo, temperature=1.5), pipe(photo, temperature=1.5))


def test_bad_input_gives_the_errors_of_colorize(photo):
    from colorizers import HintError

    model = tiny_model("vanilla-v1")
    pipe = colorizers.ImageColorizationPipeline(model, device="cpu")
    cases = [
        ({"batch_size": 0}, ValueError, "batch_size must be at least 1, got 0"),
        ({"size": 0}, ValueError, "size must be a positive"),
        ({"size": 10**6}, ValueError, "working resolution must be at most"),
        ({"size": "big"}, TypeError, "size must be an int"),
        ({"temperature": 0.5}, ValueError, "predicts one colour per pixel"),
        ({"hints": [{"x": 1, "y": 1, "color": "#fff"}]}, HintError, "has no hint inputs"),
    ]
    for options, kind, message in cases:
        with pytest.raises(kind, match=message):
            colorizers.colorize(photo, model, **options)
        with pytest.raises(kind, match=message):
            pipe(photo, **options)
    for bad in (None, "not an image", np.zeros((2, 2, 7))):
        with pytest.raises((TypeError, ValueError)) as from_colorize:
            colorizers.colorize(bad, model)
        with pytest.raises(from_colorize.type, match=re.escape(str(from_colorize.value))):
            pipe(bad)
    with pytest.raises(ValueError, match="temperature must be between"):
        colorizers.ImageColorizationPipeline(tiny_model("chroma"), temperature=9)  # checked when built
    with pytest.raises(ValueError, match="a pipeline holds its model"):
        colorizers.colorize(photo, pipe, device="cpu")


def test_the_pipeline_restores_training_mode_and_keeps_the_model_where_colorize_puts_it(photo):
    from colorizers.pipelines import load_pipeline

    model = tiny_model("unet").train()
    pipe = load_pipeline(model, size=16)
    assert pipe.device == torch.device("cpu") and pipe.model is model
    pipe(photo)
    assert model.training
    assert load_pipeline(pipe) is pipe


def test_a_saved_pipeline_loads_back_without_remote_code(tiny_folder, tmp_path, photo):
    import transformers

    pipe = colorizers.ImageColorizationPipeline(str(tiny_folder), device="cpu")
    pipe.save_pretrained(tmp_path / "saved")
    assert sorted(path.name for path in (tmp_path / "saved").iterdir()) == [
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
    ]
    again = transformers.pipeline("image-colorization", model=str(tmp_path / "saved"), device="cpu")
    assert _same(again(photo), pipe(photo))

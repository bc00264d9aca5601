import io

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import color as skcolor
from transformers import AutoImageProcessor

import colorizers
from colorizers import ColorizerImageProcessor
from colorizers.color import denormalize_ab, lab_to_rgb_uint8, lightness_ab_to_rgb_uint8, normalize_ab, rgb_to_lab
from colorizers.image_processing_colorizer import (
    guided_upsample,
    image_to_array,
    nominal_edge,
    resize_plane,
    working_size,
)


def _rgb(rng, height=45, width=67):
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def _modes(rng):
    """One image per PIL mode the processor accepts, with the L scikit-image gives for its RGB meaning."""
    rgb = _rgb(rng)
    gray = rgb[..., 0]
    cases = {}
    cases["RGB"] = (Image.fromarray(rgb), skcolor.rgb2lab(rgb)[..., 0])
    gray_l = skcolor.rgb2lab(np.repeat(gray[..., None], 3, -1))[..., 0]
    cases["L"] = (Image.fromarray(gray), gray_l)
    bits = gray > 127
    cases["1"] = (Image.fromarray(bits), np.where(bits, 100.0, 0.0))
    palette = Image.fromarray(rgb).quantize(16)
    cases["P"] = (palette, skcolor.rgb2lab(np.asarray(palette.convert("RGB")))[..., 0])
    cmyk = Image.fromarray(rgb).convert("CMYK")
    cases["CMYK"] = (cmyk, skcolor.rgb2lab(np.asarray(cmyk.convert("RGB")))[..., 0])
    wide = gray.astype(np.uint16) * 257  # 16-bit with the same meaning as the 8-bit gray
    cases["I;16"] = (Image.fromarray(wide), gray_l)
    cases["I"] = (Image.fromarray(wide.astype(np.int32)), gray_l)
    cases["F"] = (Image.fromarray(gray.astype(np.float32) / 255.0), gray_l)
    # alpha modes: half-transparent pixels composite on white
    alpha = np.full(gray.shape, 128, np.uint8)
    alpha[:, :10] = 255
    alpha[:, -10:] = 0
    a = alpha[..., None] / 255.0
    composited_rgb = rgb / 255.0 * a + (1 - a)
    cases["RGBA"] = (Image.fromarray(np.dstack([rgb, alpha])), skcolor.rgb2lab(composited_rgb)[..., 0])
    composited_gray = gray / 255.0 * alpha / 255.0 + (1 - alpha / 255.0)
    cases["LA"] = (
        Image.merge("LA", [Image.fromarray(gray), Image.fromarray(alpha)]),
        skcolor.rgb2lab(np.repeat(composited_gray[..., None], 3, -1))[..., 0],
    )
    return cases


MODES = ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "I", "F"]


@pytest.mark.parametrize("mode", MODES)
def test_every_pil_mode_gives_its_lightness(mode, rng):
    image, expected_l = _modes(rng)[mode]
    assert image.mode == mode
    processor = ColorizerImageProcessor(size={"height": 32, "width": 32})
    inputs = processor(image, return_tensors="pt", return_lightness=True)
    assert inputs["pixel_values"].shape == (1, 1, 32, 32)
    assert inputs["pixel_values"].dtype == torch.float32
    assert -1.0 <= inputs["pixel_values"].min() and inputs["pixel_values"].max() <= 1.0
    assert inputs["original_sizes"] == [(45, 67)]
    np.testing.assert_allclose(inputs["lightness"][0], expected_l, atol=0.05)


def test_palette_with_transparency_composites_on_white():
    image = Image.new("P", (4, 4), 0)
    image.putpalette([0, 0, 0] * 256)
    image.info["transparency"] = 0
    lightness = colorizers.image_to_lightness(image)
    np.testing.assert_allclose(lightness, 100.0, atol=1e-3)


def test_exif_orientation_is_applied():
    image = Image.new("L", (40, 20), 0)
    image.paste(255, (0, 0, 20, 20))  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes(), quality=100)
    loaded = Image.open(buffer)
    lightness = colorizers.image_to_lightness(loaded)
    assert lightness.shape == (40, 20)
    assert lightness[:15].mean() > 90 and lightness[-15:].mean() < 10  # the white half is now on top


def test_colour_input_is_treated_as_its_grayscale(rng):
    rgb = _rgb(rng)
    gray = Image.fromarray(rgb).convert("L")  # PIL's luma differs from L; the processor uses CIELAB L
    processor = ColorizerImageProcessor()
    from_colour = processor(Image.fromarray(rgb), return_tensors="np")["pixel_values"]
    lab_gray = colorizers.lab_to_rgb(np.dstack([skcolor.rgb2lab(rgb)[..., :1], np.zeros(rgb.shape[:2] + (2,))]))
    from_gray = processor(Image.fromarray((lab_gray * 255 + 0.5).astype(np.uint8)), return_tensors="np")[
        "pixel_values"
    ]
    np.testing.assert_allclose(from_colour, from_gray, atol=0.01)
    assert gray.size == (67, 45)


@pytest.mark.parametrize(
    "size,expected",
    [
        ({"height": 64, "width": 48}, (64, 48)),
        ({"longest_edge": 100}, (67, 100)),
        ({"shortest_edge": 90}, (90, 134)),
    ],
)
def test_working_size_rules(size, expected):
    assert working_size(45 * 2, 67 * 2, size) == expected


@pytest.mark.parametrize(
    "size, expected",
    [
        ({"longest_edge": 224}, 224),
        ({"height": 64, "width": 96}, 96),
        ({"shortest_edge": 128}, 128),
        ({"longest_edge": None, "height": None, "width": None, "shortest_edge": 80}, 80),
        ({}, None),
    ],
)
def test_nominal_edge_is_the_number_a_size_stands_for(size, expected):
    assert nominal_edge(size) == expected


def test_ragged_batches_come_back_as_lists(rng):
    processor = ColorizerImageProcessor(size={"longest_edge": 32})
    inputs = processor([Image.fromarray(_rgb(rng, 40, 20)), Image.fromarray(_rgb(rng, 20, 40))], return_tensors="pt")
    assert [tuple(p.shape) for p in inputs["pixel_values"]] == [(1, 32, 16), (1, 16, 32)]


@pytest.mark.parametrize("edge_aware", [True, False])
@pytest.mark.parametrize("fraction", [1, 4])  # ab at the working size, or at 1/4 of it as some models predict
@pytest.mark.parametrize("height,width", [(257, 131), (31, 500), (7, 5), (2, 3), (3, 2), (1, 1)])
def test_postprocess_keeps_full_resolution_lightness(height, width, fraction, edge_aware, rng):
    image = Image.fromarray(_rgb(rng, height, width))
    processor = ColorizerImageProcessor(size={"longest_edge": 24}, edge_aware=edge_aware)
    inputs = processor(image, return_tensors="pt", return_lightness=True)
    # a strongly saturated prediction: forces gamut mapping on many pixels
    ab = torch.rand(1, 2, *(max(1, n // fraction) for n in inputs["pixel_values"].shape[-2:])) * 2 - 1
    (result,) = processor.post_process_colorization(ab, inputs["lightness"])
    assert result.size == image.size and result.mode == "RGB"
    back_l = skcolor.rgb2lab(np.asarray(result))[..., 0]
    assert np.abs(back_l - skcolor.rgb2lab(np.asarray(image))[..., 0]).max() < 0.5


def test_postprocess_rejects_mismatched_inputs():
    processor = ColorizerImageProcessor()
    with pytest.raises(ValueError, match="2 ab predictions for 1 images"):
        processor.post_process_colorization(torch.zeros(2, 2, 4, 4), [np.zeros((4, 4))])
    with pytest.raises(ValueError, match=r"shaped \(2, h, w\)"):
        processor.post_process_colorization(torch.zeros(1, 3, 4, 4), [np.zeros((4, 4))])


def test_bad_inputs_are_named():
    with pytest.raises(TypeError, match="expected a PIL image"):
        image_to_array("photo.jpg")
    with pytest.raises(ValueError, match="expected an array shaped"):
        image_to_array(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(ValueError, match="no pixels"):
        image_to_array(np.zeros((0, 4), np.uint8))


def test_numpy_and_torch_inputs(rng):
    rgb = _rgb(rng)
    expected = skcolor.rgb2lab(rgb)[..., 0]
    np.testing.assert_allclose(colorizers.image_to_lightness(rgb), expected, atol=1e-3)
    np.testing.assert_allclose(colorizers.image_to_lightness(rgb.astype(np.float32) / 255), expected, atol=1e-3)
    chw = torch.from_numpy(rgb).permute(2, 0, 1).float() / 255
    np.testing.assert_allclose(colorizers.image_to_lightness(chw), expected, atol=1e-3)


def test_save_and_auto_load(tmp_path):
    model = colorizers.create_model("vanilla-v1")
    processor = ColorizerImageProcessor(size={"height": 48, "width": 64})
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    loaded = AutoImageProcessor.from_pretrained(tmp_path)
    assert isinstance(loaded, ColorizerImageProcessor)
    assert dict(loaded.size) == {"height": 48, "width": 64}
    assert (tmp_path / "preprocessor_config.json").is_file()


# ---------------------------------------------------------------------------------------------
# Edge-aware (guided) upsampling of the predicted ab
# ---------------------------------------------------------------------------------------------


def _step_edge(height=64, width=96, edge=43):
    """A dark red left part and a light blue right part, the edge off the 1/4 and 1/8 grids."""
    lab = np.zeros((height, width, 3), np.float32)
    lab[:, :edge] = (35, 45, 25)
    lab[:, edge:] = (70, -20, -35)
    return rgb_to_lab(lab_to_rgb_uint8(lab)), edge


@pytest.mark.parametrize("factor", [4, 8])
def test_guided_upsampling_keeps_colour_on_its_side_of_an_edge(factor):
    reference, edge = _step_edge()
    height, width = reference.shape[:2]
    ab = np.stack([normalize_ab(resize_plane(reference[..., c], height // factor, width // factor)) for c in (1, 2)])
    processor = ColorizerImageProcessor()
    errors = {}
    for edge_aware in (False, True):
        (rgb,) = processor.post_process_colorization(
            [ab], [reference[..., 0]], output_type="np", edge_aware=edge_aware
        )
        error = np.hypot(*np.moveaxis(rgb_to_lab(rgb)[..., 1:] - reference[..., 1:], -1, 0))
        errors[edge_aware] = error[:, edge - 8 : edge + 8]  # the band where bilinear bleeds
    # measured: bilinear 10.3 (1/4) and 21.4 (1/8) ab units on average in the band, guided 2.7 and 2.9
    assert errors[True].mean() < 0.4 * errors[False].mean()
    assert errors[True].mean() < 4.0 and errors[True].max() < 12.0
    assert errors[False].max() > 35.0  # bilinear really does carry the other side's colour over


def test_edge_aware_off_is_plain_bilinear(rng):
    lightness = rng.uniform(0, 100, (45, 67)).astype(np.float32)
    ab = rng.uniform(-0.8, 0.8, (2, 11, 17)).astype(np.float32)
    expected = lightness_ab_to_rgb_uint8(
        lightness, *(denormalize_ab(resize_plane(plane, 45, 67, Image.Resampling.BILINEAR)) for plane in ab)
    )
    by_call = ColorizerImageProcessor().post_process_colorization(
        [ab], [lightness], output_type="np", edge_aware=False
    )
    by_config = ColorizerImageProcessor(edge_aware=False).post_process_colorization(
        [ab], [lightness], output_type="np"
    )
    assert np.array_equal(by_call[0], expected) and np.array_equal(by_config[0], expected)
    guided = ColorizerImageProcessor().post_process_colorization([ab], [lightness], output_type="np")[0]
    assert not np.array_equal(guided, expected)
    forced = ColorizerImageProcessor(edge_aware=False).post_process_colorization(
        [ab], [lightness], output_type="np", edge_aware=True
    )[0]
    assert np.array_equal(forced, guided)


def test_ab_at_full_size_is_left_as_predicted(rng):
    lightness = rng.uniform(0, 100, (9, 13)).astype(np.float32)
    ab = rng.uniform(-0.3, 0.3, (2, 9, 13)).astype(np.float32)
    on, off = (
        ColorizerImageProcessor().post_process_colorization([ab], [lightness], output_type="np", edge_aware=flag)[0]
        for flag in (True, False)
    )
    assert np.array_equal(on, off)


def test_guided_upsample_shapes_range_and_numpy_fallback(rng, monkeypatch):
    import colorizers.processing.upsampling as module  # where the guided filter lives

    for (height, width), (h, w) in [
        ((1, 1), (1, 1)),
        ((2, 3), (1, 1)),
        ((3, 2), (2, 1)),
        ((9, 4), (3, 9)),
        ((50, 70), (13, 18)),
    ]:
        lightness = rng.uniform(0, 100, (height, width)).astype(np.float32)
        ab = rng.uniform(-60, 60, (2, h, w)).astype(np.float32)
        a, b = guided_upsample(ab, lightness, radius=1, eps=1e-3)
        assert a.shape == b.shape == (height, width) and a.dtype == np.float32
        assert np.isfinite(a).all() and np.isfinite(b).all()
        assert ab[0].min() <= a.min() and a.max() <= ab[0].max()
        with monkeypatch.context() as patch:  # remote code may run without OpenCV: NumPy/PIL do the same maths
            patch.setattr(module, "cv2", None)
            a_numpy, b_numpy = guided_upsample(ab, lightness, radius=1, eps=1e-3)
        if height % h == 0 and width % w == 0:  # area averaging agrees exactly on whole-number factors
            np.testing.assert_allclose(a_numpy, a, atol=1e-3)
            np.testing.assert_allclose(b_numpy, b, atol=1e-3)


def test_guided_upsample_is_bilinear_where_lightness_is_flat(rng):
    lightness = np.full((48, 64), 55.0, np.float32)
    ab = rng.uniform(-40, 40, (2, 12, 16)).astype(np.float32)
    for plane, upsampled in zip(ab, guided_upsample(ab, lightness, radius=1, eps=1e-3)):
        np.testing.assert_allclose(upsampled, resize_plane(plane, 48, 64), atol=1e-3)


# every setting a preprocessor_config.json may hold, out of type or range -> the exact message
BAD_SETTINGS = [
    ({"guided_radius": -1}, "guided_radius must be a whole number of pixels from 0 to 64, got -1"),
    ({"guided_radius": 1.5}, "guided_radius must be a whole number of pixels from 0 to 64, got 1.5"),
    ({"guided_radius": 1e9}, "guided_radius must be a whole number of pixels from 0 to 64, got 1000000000.0"),
    ({"guided_radius": 65}, "guided_radius must be a whole number of pixels from 0 to 64, got 65"),
    ({"guided_radius": True}, "guided_radius must be a whole number of pixels from 0 to 64, got True"),
    ({"guided_eps": 0.0}, "guided_eps must be a number above 0 and at most 1, got 0.0"),
    ({"guided_eps": 1.5}, "guided_eps must be a number above 0 and at most 1, got 1.5"),
    ({"guided_eps": float("nan")}, "guided_eps must be a number above 0 and at most 1, got nan"),
    ({"guided_eps": "0.1"}, "guided_eps must be a number above 0 and at most 1, got '0.1'"),
    (
        {"size": {"longest_edge": 1_000_000_000}},
        "size['longest_edge'] must be a whole number of pixels from 8 to 4096, got 1000000000",
    ),
    (
        {"size": {"longest_edge": 256.0}},
        "size['longest_edge'] must be a whole number of pixels from 8 to 4096, got 256.0",
    ),
    ({"size": {"height": 4, "width": 16}}, "size['height'] must be a whole number of pixels from 8 to 4096, got 4"),
    ({"size": {"shortest_edge": -3}}, "size['shortest_edge'] must be a whole number of pixels from 8 to 4096, got -3"),
    (
        {"size": {"height": 16}},
        'size must be one of {"longest_edge": n}, {"shortest_edge": n} or {"height": h, "width": w}, got {\'height\': 16}',
    ),
    (
        {"size": 256},
        'size must be a dict, {"longest_edge": n}, {"shortest_edge": n} or {"height": h, "width": w}, got 256',
    ),
    (
        {"resample": 9},
        "resample must be one of PIL's resampling filters 0 (NEAREST), 1 (LANCZOS), 2 (BILINEAR), 3 (BICUBIC), "
        "4 (BOX), 5 (HAMMING), got 9",
    ),
    ({"edge_aware": "false"}, "edge_aware must be true or false, got 'false'"),
    ({"do_resize": 1}, "do_resize must be true or false, got 1"),
    ({"return_lightness": "yes"}, "return_lightness must be true or false, got 'yes'"),
    ({"rescale_factor": -1.0}, "rescale_factor must be a positive number, got -1.0"),
    (
        {"image_mean": [0.5]},
        "image_mean is not a setting of the colorizers image processor (it must be absent), got (0.5,)",
    ),
    ({"preprocess": 1}, "preprocess is not a setting of the colorizers image processor"),
]


@pytest.mark.parametrize("settings,message", BAD_SETTINGS)
def test_bad_settings_are_refused_when_the_processor_is_built(settings, message):
    with pytest.raises(ValueError) as error:
        ColorizerImageProcessor(**settings)
    assert str(error.value) == message


@pytest.mark.parametrize("settings,message", BAD_SETTINGS[:3] + BAD_SETTINGS[9:10])
def test_bad_settings_in_a_saved_config_are_refused_when_loaded(settings, message, tmp_path):
    import json

    ColorizerImageProcessor().save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "preprocessor_config.json").read_text())
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({**saved, **settings}))
    with pytest.raises(ValueError) as error:
        AutoImageProcessor.from_pretrained(tmp_path, trust_remote_code=False)
    assert str(error.value) == message


def test_settings_at_their_bounds_are_accepted():
    for settings in [
        {"guided_radius": 0, "guided_eps": 1.0, "size": {"longest_edge": 8}},
        {"guided_radius": 64, "guided_eps": 1e-9, "size": {"height": 4096, "width": 8}},
        {"guided_radius": np.int64(3), "guided_eps": np.float32(0.5), "size": {"shortest_edge": 4096}},
        {"resample": 0, "edge_aware": False, "image_mean": None},
    ]:
        ColorizerImageProcessor(**settings)


def test_shipped_processor_configs_are_valid():
    from colorizers.model_io.loading import read_processor
    from colorizers.registry import PRETRAINED_DIR

    files = sorted(PRETRAINED_DIR.glob("*/preprocessor_config.json"))
    assert files
    for file in files:
        assert isinstance(read_processor(file, str(file.parent)), ColorizerImageProcessor), file


@pytest.mark.parametrize(
    "settings,message",
    [
        ({"guided_radius": -1}, "guided_radius must be a whole number of pixels from 0 to 64, got -1"),
        ({"guided_radius": 1.5}, "guided_radius must be a whole number of pixels from 0 to 64, got 1.5"),
        ({"guided_eps": 0.0}, "guided_eps must be a number above 0 and at most 1, got 0.0"),
    ],
)
def test_bad_guided_settings_set_after_building_are_named(settings, message):
    processor = ColorizerImageProcessor()
    for key, value in settings.items():
        setattr(processor, key, value)
    with pytest.raises(ValueError) as error:
        processor.post_process_colorization([np.zeros((2, 2, 2))], [np.zeros((4, 4))])
    assert str(error.value) == message
    processor.post_process_colorization([np.zeros((2, 2, 2))], [np.zeros((4, 4))], edge_aware=False)


def test_edge_aware_settings_round_trip(tmp_path):
    import json

    default = ColorizerImageProcessor()
    assert (default.edge_aware, default.guided_radius, default.guided_eps) == (True, 1, 1e-3)
    ColorizerImageProcessor(edge_aware=False, guided_radius=3, guided_eps=0.02).save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert (saved["edge_aware"], saved["guided_radius"], saved["guided_eps"]) == (False, 3, 0.02)
    loaded = AutoImageProcessor.from_pretrained(tmp_path)
    assert (loaded.edge_aware, loaded.guided_radius, loaded.guided_eps) == (False, 3, 0.02)
    # a config saved before these settings existed loads with the defaults
    for key in ("edge_aware", "guided_radius", "guided_eps"):
        del saved[key]
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(saved))
    older = AutoImageProcessor.from_pretrained(tmp_path)
    assert (older.edge_aware, older.guided_radius, older.guided_eps) == (True, 1, 1e-3)


def test_colorize_passes_edge_aware_through(rng):
    from conftest import tiny_model

    model = tiny_model("vanilla-v1")
    image = Image.fromarray(_rgb(rng, 40, 56))
    processor = ColorizerImageProcessor(size={"longest_edge": 14})
    results = {
        flag: np.asarray(colorizers.colorize(image, model, processor=processor, edge_aware=flag))
        for flag in (None, True, False)
    }
    plain = np.asarray(
        colorizers.colorize(
            image, model, processor=ColorizerImageProcessor(size={"longest_edge": 14}, edge_aware=False)
        )
    )
    assert np.array_equal(results[None], results[True])
    assert np.array_equal(results[False], plain)

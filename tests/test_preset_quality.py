"""Each preset's measured kodak24 quality (colorizers.hub.preset_quality): read from eval_results.json, shown by
``colorizers list`` and by the app's model dropdowns, best first, with presets below gray marked."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from colorizers.commands.main import main
from colorizers.hub import preset_quality
from colorizers.hub.preset_quality import GRAY_KODAK24_PSNR, choice_label, preset_choices, read_quality

ROOT = Path(__file__).resolve().parents[1]


def kodak(psnr, colorfulness=None, **extra):
    return {"dataset_name": "kodak24", "dataset_type": "kodak24", "psnr": psnr, "colorfulness": colorfulness, **extra}


def write(folder: Path, evaluations, baselines=None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    results = {"evaluations": evaluations, **({"baselines": baselines} if baselines is not None else {})}
    (folder / "eval_results.json").write_text(json.dumps(results), encoding="utf-8")
    return folder


@pytest.fixture
def pretrained(tmp_path, monkeypatch):
    """A fake pretrained folder: good (+1.0 dB over its own gray), fine (+0.5 over the protocol's gray),
    bad (-2.0, below gray), and no scores for the rest."""
    tiny = {"dataset_name": "tiny-imagenet validation", "psnr": 30.0, "colorfulness": 9.0}
    write(tmp_path / "good", [tiny, kodak(24.0, 12.4)], {"gray": [tiny, {"dataset_name": "kodak24", "psnr": 23.0}]})
    write(tmp_path / "fine", [kodak(GRAY_KODAK24_PSNR + 0.5, 30.6)], {"gray": tiny})
    write(tmp_path / "bad", [kodak(GRAY_KODAK24_PSNR - 2.0, 45.2)])
    write(tmp_path / "other-set", [tiny])
    monkeypatch.setattr(preset_quality, "PRETRAINED_DIR", tmp_path)
    return tmp_path


def test_read_quality_uses_the_file_s_gray_on_kodak24_else_the_protocol_s(pretrained):
    good = read_quality(pretrained / "good")
    assert good == {"delta_psnr": 1.0, "psnr": 24.0, "gray_psnr": 23.0, "colorfulness": 12.4}
    fine = read_quality(pretrained / "fine")  # its gray baseline is on another set: the protocol's figure
    assert fine["gray_psnr"] == GRAY_KODAK24_PSNR and fine["delta_psnr"] == pytest.approx(0.5)
    assert preset_quality.preset_quality("bad")["delta_psnr"] == pytest.approx(-2.0)
    assert preset_quality.below_gray(preset_quality.preset_quality("bad"))
    assert not preset_quality.below_gray(good)


def test_unmeasured_unreadable_or_nan_is_none(pretrained):
    assert read_quality(pretrained / "other-set") is None
    assert read_quality(pretrained / "missing") is None
    (pretrained / "broken").mkdir()
    (pretrained / "broken" / "eval_results.json").write_text("{not json", encoding="utf-8")
    assert read_quality(pretrained / "broken") is None
    write(pretrained / "nan", [kodak(float("nan"), 3.0)])
    assert read_quality(pretrained / "nan") is None
    write(pretrained / "no-colour", [kodak(23.0)])
    assert read_quality(pretrained / "no-colour")["colorfulness"] is None
    assert preset_quality.describe(read_quality(pretrained / "no-colour")) == "kodak24 +0.54 dB vs gray"


def test_labels_and_order_best_first_unmeasured_then_untrained_last(pretrained):
    names = ["other-set", "bad", "untrained", "fine", "good", "missing"]
    choices = preset_choices(names, trained=lambda name: name != "untrained")
    assert choices == [
        ("good — kodak24 +1.00 dB vs gray, colourfulness 12", "good"),
        ("fine — kodak24 +0.50 dB vs gray, colourfulness 31", "fine"),
        ("bad — ⚠ below gray: kodak24 -2.00 dB vs gray, colourfulness 45", "bad"),
        ("other-set — not measured on kodak24", "other-set"),
        ("missing — not measured on kodak24", "missing"),
        ("untrained (untrained: random weights)", "untrained"),
    ]
    assert choice_label("good", None, trained=False) == "good (untrained: random weights)"


def test_the_app_s_dropdowns_label_and_order_presets_by_their_scores(pretrained, monkeypatch):
    pytest.importorskip("gradio")
    sys.path.insert(0, str(ROOT))
    from colorizers import list_models
    from colorizers.app import compare as app_compare
    from colorizers.app import guide as app_guide
    from colorizers.app import video as app_video
    from colorizers.registry import Preset

    write(pretrained / "vanilla-v2", [kodak(GRAY_KODAK24_PSNR + 0.25, 17.0)])
    write(pretrained / "gan", [kodak(GRAY_KODAK24_PSNR - 4.0, 46.0)])
    write(pretrained / "chroma", [kodak(GRAY_KODAK24_PSNR + 0.72, 28.3)])
    untrained = "vanilla-v1"
    monkeypatch.setattr(Preset, "has_weights", property(lambda self: self.name != untrained))
    order = app_compare.ordered_presets()
    assert order[:3] == ["chroma", "vanilla-v2", "gan"] and order[-1] == untrained
    assert sorted(order) == sorted(list_models())
    labels = dict((name, label) for label, name in app_compare.preset_choices())
    assert labels["chroma"] == "chroma — kodak24 +0.72 dB vs gray, colourfulness 28"
    assert labels["gan"] == "gan — ⚠ below gray: kodak24 -4.00 dB vs gray, colourfulness 46"
    assert labels[untrained] == f"{untrained} (untrained: random weights)"
    assert labels["unet"] == "unet — not measured on kodak24"
    assert app_video.video_presets() == app_compare.preset_choices()
    assert app_compare.preset_label("gan") == labels["gan"]
    assert app_guide.hint_capable_presets()[0] == "chroma"
    assert "⚠ below gray" in app_compare._models_markdown()


def test_list_prints_each_preset_s_figures(pretrained, capsys):
    write(pretrained / "chroma", [kodak(GRAY_KODAK24_PSNR + 0.72, 28.3)])
    write(pretrained / "gan", [kodak(GRAY_KODAK24_PSNR - 4.0, 46.0)])
    assert main(["list"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "kodak24 ΔPSNR vs gray" in lines["preset"] and "colourfulness" in lines["preset"]
    assert "+0.72 dB" in lines["chroma"] and "28.3" in lines["chroma"] and "below gray" not in lines["chroma"]
    assert "-4.00 dB (below gray)" in lines["gan"] and "46.0" in lines["gan"]
    assert lines["unet"].split()[3:5] == ["-", "-"]  # not measured (in the fake folder)

"""The command line starts without torch: --help, argument errors, `list` and a mistyped preset name answer
before any heavy import (what they import is checked, not how long it takes), and what `list` reads from
source and safetensors headers agrees with the registry."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoConfig

import colorizers
from colorizers.commands import presets as cli_presets
from colorizers.commands.main import main
from colorizers.hub import preset_quality
from colorizers.registry import get_preset, list_models, model_class_for

ROOT = Path(__file__).resolve().parents[1]
HEAVY = {"torch", "transformers", "numpy", "PIL", "av", "cv2"}


def run_command(*args, env=None, cwd=ROOT):
    """``python -m colorizers ARGS`` in a fresh process; its result and the top-level modules it imported."""
    environment = {**os.environ, **(env or {})}
    environment = {key: value for key, value in environment.items() if value is not None}
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "colorizers", *map(str, args)],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd,
        timeout=120,
    )
    imported = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    stderr = "".join(line + "\n" for line in result.stderr.splitlines() if not line.startswith("import time:"))
    return result, stderr, imported


@pytest.mark.parametrize(
    "args, code, expected",
    [
        (["--help"], 0, "usage: colorizers"),
        (["colorize", "--help"], 0, "--max-pixels"),
        (["evaluate", "--help"], 0, "--no-gray"),
        (["push", "--help"], 0, "--repo-id"),
        (["colorize", "photos", "-o", "out", "--bogus"], 2, "error: unrecognized arguments: --bogus"),
        (["colorize", "photos"], 2, "error: the following arguments are required: -o/--output"),
        (["colorize", "photos", "-o", "out", "--precision", "fp8"], 2, "argument --precision: invalid choice"),
    ],
)
def test_help_and_argument_errors_import_nothing_heavy(args, code, expected):
    result, stderr, imported = run_command(*args)
    assert result.returncode == code, stderr
    assert expected in result.stdout + stderr
    assert not imported & HEAVY, f"imported {sorted(imported & HEAVY)}"


def test_list_imports_nothing_heavy_and_prints_what_the_registry_holds(capsys):
    result, stderr, imported = run_command("list")
    assert result.returncode == 0, stderr
    assert not imported & HEAVY, f"imported {sorted(imported & HEAVY)}"
    assert main(["list"]) == 0  # in this process: from the registry, the families being imported
    assert result.stdout == capsys.readouterr().out
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines[1:]] == list_models()
    assert "unet" in result.stdout and "7.76M" in result.stdout
    assert "kodak24 ΔPSNR vs gray" in lines[0] and "colourfulness" in lines[0]
    for line, name in zip(lines[1:], list_models()):  # the figures of whatever eval_results.json holds now
        quality = preset_quality.preset_quality(name) if get_preset(name).has_weights else None
        if quality is not None:
            assert f"{quality['delta_psnr']:+.2f} dB" in line
            assert ("(below gray)" in line) == (quality["delta_psnr"] < 0)


def test_presets_read_from_source_are_the_registry_s():
    static = cli_presets._static_presets()
    assert static is not None, "a family's PRESETS is not literal Preset(...) calls: list falls back to torch"
    assert [(info.name, info.description, info.weights_dir) for info in static] == [
        (name, get_preset(name).description, get_preset(name).weights_dir) for name in list_models()
    ]
    assert [info.has_weights for info in static] == [get_preset(name).has_weights for name in list_models()]


@pytest.mark.parametrize("name", list_models(with_weights=True))
def test_parameters_from_safetensors_headers_are_exact(name):
    """The count `list` reads from the shipped headers is the parameter count of the model those weights load
    into (buffers left out): built on the meta device from the shipped config."""
    preset = get_preset(name)
    config = AutoConfig.from_pretrained(preset.weights_dir)
    with torch.device("meta"):
        model = model_class_for(config)(config)
    assert cli_presets.shipped_parameters(preset.weights_dir) == sum(p.numel() for p in model.parameters())


def test_presets_without_weights_are_counted_by_the_registry(tmp_path, monkeypatch, capsys):
    import colorizers.registry

    monkeypatch.setattr(colorizers.registry, "PRETRAINED_DIR", tmp_path / "none")  # every preset untrained
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert f"{colorizers.count_parameters('chroma') / 1e6:.2f}M  untrained" in out


def test_a_mistyped_preset_fails_at_once_naming_the_presets(tmp_path):
    photos = ROOT / "docs" / "samples"
    expected = (
        "error: unknown model 'chromaa': not a preset, a local folder or a Hub id (owner/name). "
        f"Did you mean chroma? Presets: {', '.join(list_models())}\n"
    )
    # the Hub reachable as far as the settings go: before, this waited on its retries (~50 s offline)
    result, stderr, imported = run_command(
        "colorize", photos, "-o", tmp_path / "out", "--model", "chromaa", env={"HF_HUB_OFFLINE": None}
    )
    assert (result.returncode, stderr) == (2, expected)
    assert not imported & HEAVY and not (tmp_path / "out").exists()
    assert main(["evaluate", "--data", str(photos), "-m", "unet", "-m", "unte"]) == 2


def test_model_names_that_are_not_typos_are_left_to_load_model(tmp_path, monkeypatch):
    problem = cli_presets.model_name_problem
    assert problem("unet-gann") and "Did you mean unet-gan" in problem("unet-gann")
    for name in ("chroma", "user/chromaa", "gpt2", "no-such-model", None):
        assert problem(name) is None, name
    monkeypatch.chdir(tmp_path)
    (tmp_path / "chromaa").mkdir()
    assert problem("chromaa") is None  # a local folder of that name


def test_the_command_s_lazy_package_resolves_every_public_name():
    """Under the command the package imports nothing heavy; each public name then resolves to the same object as
    after ``import colorizers``, and touching one registers the families with the Auto classes."""
    script = f"""
import json, runpy, sys
sys.argv = ["colorizers", "list"]
try:
    runpy.run_module("colorizers", run_name="__main__")
except SystemExit:
    pass
import colorizers
heavy = sorted(m for m in {sorted(HEAVY)!r} if m in sys.modules)
assert colorizers._COMMAND and not heavy, heavy
names = {{name: getattr(colorizers, name) for name in colorizers.__all__}}
from transformers import AutoModel
model = AutoModel.from_pretrained({str(get_preset("vanilla-v1").weights_dir)!r})
print(json.dumps({{
    "names": {{name: getattr(value, "__module__", None) and f"{{value.__module__}}.{{getattr(value, '__qualname__', '')}}"
              for name, value in names.items()}},
    "default": colorizers.DEFAULT_MODEL,
    "model": type(model).__name__,
    "registry": colorizers.registry.list_models(),
}}))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120, env=os.environ
    )
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout.splitlines()[-1])
    assert got["names"] == {
        name: getattr(value, "__module__", None) and f"{value.__module__}.{getattr(value, '__qualname__', '')}"
        for name, value in ((name, getattr(colorizers, name)) for name in colorizers.__all__)
    }
    assert (got["default"], got["model"], got["registry"]) == (
        colorizers.DEFAULT_MODEL,
        "VanillaColorizerModel",
        list_models(),
    )


def test_another_package_run_with_dash_m_imports_colorizers_eagerly(tmp_path):
    """Only the colorizers command is lazy: `python -m tool` whose package imports colorizers registers at once."""
    (tmp_path / "tool").mkdir()
    (tmp_path / "tool" / "__init__.py").write_text(
        "import sys\nimport colorizers\nprint(colorizers._COMMAND, 'torch' in sys.modules, 'unet' in "
        "colorizers.registry._PRESETS)\n"
    )
    (tmp_path / "tool" / "__main__.py").write_text("")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    result = subprocess.run(
        [sys.executable, "-m", "tool"], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True", "True"]


def test_ctrl_c_while_torch_imports_is_one_line_and_exit_code_130(tmp_path):
    import signal
    import time

    import numpy as np
    from PIL import Image

    photo = tmp_path / "photo.png"
    Image.fromarray(np.full((8, 8, 3), 128, np.uint8)).save(photo)
    command = [sys.executable, "-m", "colorizers", "colorize", str(photo), "-o", str(tmp_path / "out")]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    # Wait until torch's library is mapped: the command is importing torch (seconds), before any work starts. A
    # fixed delay would be too early on a loaded machine (the signal would land while Python itself starts).
    maps, deadline = Path(f"/proc/{child.pid}/maps"), time.monotonic() + 30
    while maps.exists() and "libtorch" not in maps.read_text() and time.monotonic() < deadline:
        time.sleep(0.01)
    if not maps.exists():  # no /proc on this system
        time.sleep(0.5)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130, err[-2000:]
    assert err.strip().splitlines()[-1] == "interrupted by SIGINT: stopped" and "Traceback" not in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())

"""Each family folder is self-contained (it travels to the Hub as remote code), so a few helpers
are copied between families on purpose, each marked `# Copied from colorizers.<module>.<object>`.
utils/check_copies.py keeps every copy equal to its source: a fix made in one is made in all."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from colorizers.hub.remote_code import RemoteCodeError, check_self_contained
from colorizers.models import FAMILIES

ROOT = Path(__file__).resolve().parent.parent
CHECKER = ROOT / "utils" / "check_copies.py"


def _checker():
    spec = importlib.util.spec_from_file_location("check_copies", CHECKER)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


check_copies = _checker().check_copies


def _run_checker(*args):
    return subprocess.run([sys.executable, str(CHECKER), *map(str, args)], capture_output=True, text=True, timeout=60)


def test_marked_copies_equal_their_source():
    assert [problem.message for problem in check_copies()] == []
    result = _run_checker()
    assert result.returncode == 0, result.stderr
    # the copies this suite relies on are marked (regression_loss in every family but unet and the discriminator)
    marked = sum(
        text.count("# Copied from colorizers.models.unet.modeling_unet.regression_loss\n")
        for text in (
            (ROOT / "colorizers" / "models" / family / f"modeling_{family}.py").read_text() for family in FAMILIES
        )
    )
    assert marked >= 6


def test_drifted_copy_is_named_and_fix_restores_it(tmp_path):
    original = (ROOT / "colorizers" / "models" / "resnet" / "modeling_resnet.py").read_text()
    drifted = original.replace(
        "    return F.mse_loss(prediction, labels)\n", "    return 2 * F.mse_loss(prediction, labels)\n"
    )
    drifted = drifted.replace("predicted ab, normalised (ab / 110).", "predicted ab.", 1)
    assert drifted.count("2 * F.mse_loss") == 1 and "predicted ab.\n" in drifted
    file = tmp_path / "modeling_resnet.py"
    file.write_text(drifted)

    problems = [problem.message for problem in check_copies([file])]
    assert len(problems) == 2, problems
    regression, output = sorted(problems, key=lambda message: "regression_loss" not in message)
    assert str(file) in regression and "regression_loss differs from its source" in regression
    assert "colorizers.models.unet.modeling_unet.regression_loss" in regression
    assert "+    return 2 * F.mse_loss(prediction, labels)" in regression  # the diff shows the drift
    assert "ResNetColorizerOutput differs from its source" in output and "UNetColorizerOutput" in output

    result = _run_checker(file)
    assert result.returncode == 1 and "regression_loss differs" in result.stderr and "--fix" in result.stderr
    assert file.read_text() == drifted  # checking never writes
    result = _run_checker("--fix", file)
    assert result.returncode == 0, result.stderr
    assert "regression_loss rewritten" in result.stdout and "ResNetColorizerOutput rewritten" in result.stdout
    assert file.read_text() == original  # the renamed copy (UNet->ResNet) comes back with its own names
    assert check_copies([file]) == []


def test_markers_that_cannot_be_checked_are_reported(tmp_path):
    file = tmp_path / "modeling_x.py"
    file.write_text(
        "# Copied from colorizers.models.unet.modeling_unet.no_such_helper\n"
        "def no_such_helper():\n    pass\n\n\n"
        "# Copied from colorizers.models.unet.modeling_unet.pad_to_multiple\n"
        "\nPAD = 8\n\n\n"
        "# Copied from colorizers.models.unet.modeling_unet.UNetColorizerOutput with UNet=>X\n"
        "class XColorizerOutput:\n    pass\n"
    )
    missing, misplaced, malformed = sorted(
        (problem.message for problem in check_copies([file])), key=lambda message: int(message.split(":")[1])
    )
    assert "modeling_x.py:1: no_such_helper is marked" in missing and "defines no no_such_helper" in missing
    assert "modeling_x.py:6: '# Copied from' must sit directly above a def or class" in misplaced
    assert "modeling_x.py:11: 'UNet=>X' is not a replacement" in malformed


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_files_import_only_their_folder_and_installed_libraries(family):
    folder = Path(FAMILIES[family].__path__[0])
    for name in (f"configuration_{family}.py", f"modeling_{family}.py"):
        check_self_contained(folder / name)  # the check every push runs on the code it uploads


def test_import_check_refuses_code_that_cannot_travel(tmp_path):
    folder = tmp_path / "family"
    folder.mkdir()
    (folder / "configuration_x.py").write_text("import json\nfrom transformers import PreTrainedConfig\n")
    check_self_contained(folder / "configuration_x.py")
    for source, reason in [
        ("from ..registry import Preset\n", "reaches outside its own folder"),
        ("from .elsewhere import thing\n", "reaches outside its own folder"),
        ("import colorizers.color\n", "imports 'colorizers.color'"),
        ("from scipy import ndimage\n", "imports 'scipy'"),
    ]:
        (folder / "modeling_x.py").write_text("from .configuration_x import X\n" + source)
        with pytest.raises(RemoteCodeError, match=reason):
            check_self_contained(folder / "modeling_x.py")

"""Each family folder is self-contained (it travels to the Hub as remote code), so a few helpers
are copied between families on purpose. Copies must stay identical: a fix made in one is made in all."""

import importlib
import inspect
from pathlib import Path

import pytest

from colorizers.models import FAMILIES
from colorizers.remote_code import RemoteCodeError, check_self_contained

SHARED_HELPERS = ["regression_loss", "pad_to_multiple"]


@pytest.mark.parametrize("helper", SHARED_HELPERS)
def test_copied_helpers_are_identical(helper):
    sources = {}
    for family in FAMILIES:
        module = importlib.import_module(f"colorizers.models.{family}.modeling_{family}")
        if hasattr(module, helper):
            sources.setdefault(inspect.getsource(getattr(module, helper)), []).append(family)
    assert len(sources) == 1, f"{helper} differs between families: {list(sources.values())}"
    assert len(next(iter(sources.values()))) >= 4


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

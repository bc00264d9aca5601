"""Each family folder is self-contained (it travels to the Hub as remote code), so a few helpers
are copied between families on purpose. Copies must stay identical: a fix made in one is made in all."""

import ast
import importlib
import inspect
import sys
from pathlib import Path

import pytest

from colorizers.models import FAMILIES

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
    allowed = set(sys.stdlib_module_names) | {"torch", "transformers", "huggingface_hub", "safetensors"}
    folder = Path(FAMILIES[family].__path__[0])
    for name in (f"configuration_{family}.py", f"modeling_{family}.py"):
        for node in ast.walk(ast.parse((folder / name).read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                assert node.level == 1, f"{name}: relative import outside its folder ({'.' * node.level}{node.module})"
            elif isinstance(node, ast.ImportFrom):
                assert node.module.split(".")[0] in allowed, f"{name} imports {node.module}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name.split(".")[0] in allowed, f"{name} imports {alias.name}"

"""One source for the code the families share, and the remote code assembled from it.

The families import ``colorizers.objectives``, ``colorizers.models.modeling_utils`` and
``colorizers.models.efficientnet_lite`` (the ImageNet encoder of chroma, the autoencoder and Deep Koalarization) like
any other module; no family carries a copy. A Hub repository needs one self-contained folder instead, which
``colorizers.hub.remote_code.remote_code_sources`` assembles at push time from the library's own files (their
``colorizers`` imports pointed at the sibling files, nothing else changed). These tests hold both ends: no copies
in the library, and what every family ships is the library's text.
"""

import ast
import importlib.util
import re
from pathlib import Path

import pytest

import colorizers.color
import colorizers.models.efficientnet_lite
import colorizers.models.modeling_utils
import colorizers.objectives
from colorizers.hub import remote_code
from colorizers.hub.model_folder import ModelFolder
from colorizers.hub.remote_code import RemoteCodeError, check_self_contained, remote_code_sources
from colorizers.models import FAMILIES

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = ROOT / "colorizers"
SHARED = {
    "objectives.py": colorizers.objectives,
    "modeling_utils.py": colorizers.models.modeling_utils,
    "efficientnet_lite.py": colorizers.models.efficientnet_lite,
}
# a colorizers import, and what the assembly makes of it: the same names from the sibling file
LIBRARY_IMPORT = re.compile(r"^(\s*)from (colorizers(?:\.\w+)*|\.+\w*(?:\.\w+)*) import (.*)$")
SIBLING_IMPORT = re.compile(r"^(\s*)from \.(\w+) import (.*)$")


def _folder(family: str, config_class: type, model_class: type) -> ModelFolder:
    return ModelFolder(Path("."), {}, family, config_class.model_type, config_class, model_class, None)


def _models():
    """(family, config class, model class) of every model class a family registers."""
    return [
        pytest.param(family, config_class, model_class, id=f"{family}-{model_class.__name__}")
        for family, module in sorted(FAMILIES.items())
        for config_class, model_class in module.AUTO_CLASSES
    ]


def _library_file(name: str, family: str) -> Path:
    """The library file an assembled file ``name`` of ``family`` comes from."""
    if name in SHARED:
        return Path(SHARED[name].__file__)
    in_family = LIBRARY / "models" / family / name
    if in_family.is_file():
        return in_family
    candidates = [path for path in LIBRARY.rglob(name) if "models" not in path.relative_to(LIBRARY).parts[:1]]
    assert len(candidates) == 1, f"{name}: {candidates}"
    return candidates[0]


def _assert_only_imports_rewritten(shipped: str, library: str, where: str) -> int:
    """Assert ``shipped`` is ``library`` with some ``colorizers`` imports made sibling imports; return how many."""
    shipped_lines, library_lines = shipped.splitlines(), library.splitlines()
    assert len(shipped_lines) == len(library_lines), where
    rewritten = 0
    for number, (ours, theirs) in enumerate(zip(shipped_lines, library_lines), start=1):
        if ours == theirs:
            continue
        original, sibling = LIBRARY_IMPORT.match(theirs), SIBLING_IMPORT.match(ours)
        assert original and sibling, f"{where}:{number}: {theirs!r} shipped as {ours!r}"
        assert original[1] == sibling[1] and original[3] == sibling[3], f"{where}:{number}"
        assert original[2].rpartition(".")[2] == sibling[2], f"{where}:{number}: {theirs!r} -> {ours!r}"
        rewritten += 1
    return rewritten


# ---------------------------------------------------------------------------------------------
# One source: nothing the families share is written twice
# ---------------------------------------------------------------------------------------------


def _top_level_names(file: Path) -> set[str]:
    names = set()
    for node in ast.parse(file.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(target.id for target in node.targets if isinstance(target, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names - {"__all__"}


def test_no_family_defines_what_the_shared_modules_define():
    modules = [*SHARED.values(), colorizers.color]
    shared = set().union(*(_top_level_names(Path(module.__file__)) for module in modules))
    assert {"regression_loss", "pad_to_multiple", "ColorizerOutput", "ColorDistributionHead", "AB_SCALE"} <= shared
    assert {"EfficientNetLiteEncoder", "backbone_weights_file", "lightness_to_gray"} <= shared
    for family in FAMILIES:
        for file in sorted((LIBRARY / "models" / family).glob("*.py")):
            assert not _top_level_names(file) & shared, f"{file.relative_to(ROOT)} defines shared names again"
    assert not list((LIBRARY / "models").glob("*/objectives_*.py"))  # the per-family copies are gone
    for file in LIBRARY.rglob("*.py"):
        assert "# Copied from" not in file.read_text(encoding="utf-8"), file


def test_family_outputs_are_the_shared_output():
    for family, module in FAMILIES.items():
        modeling = importlib.import_module(f"{module.__name__}.modeling_{family}")
        for name in getattr(modeling, "__all__", []):
            cls = getattr(modeling, name)
            if not name.endswith("Output") or family in ("chroma", "cifar", "discriminator"):
                continue  # chroma adds class_logits, cifar predicts rgb, the discriminator patch logits
            assert issubclass(cls, colorizers.models.modeling_utils.ColorizerOutput), name
            assert vars(cls).get("__annotations__", {}) == {}, f"{name} repeats the shared fields"


def test_ab_families_share_one_forward_and_its_config_fields():
    shared = colorizers.models.modeling_utils.AbColorizerMixin
    for family, module in FAMILIES.items():
        if family in ("chroma", "cifar", "discriminator"):  # hints and semantic classes, rgb, patch logits
            continue
        for config_class, model_class in module.AUTO_CLASSES:
            assert model_class.forward is shared.forward, model_class
            assert issubclass(config_class, colorizers.models.modeling_utils.AbColorizerConfig), config_class
            assert model_class.colorizer_output_class.__name__ == model_class.__name__.replace("Model", "Output")


def test_families_with_a_frozen_backbone_share_one_freezing():
    shared = colorizers.models.modeling_utils.FrozenBackboneMixin
    freezing = [
        model_class
        for module in FAMILIES.values()
        for config_class, model_class in module.AUTO_CLASSES
        if "freeze_backbone" in config_class.__dataclass_fields__
    ]
    assert len(freezing) == 3  # chroma, the autoencoder and Deep Koalarization
    for model_class in freezing:
        assert issubclass(model_class, shared), model_class
        for name in ("train", "sync_backbone_freezing", "from_pretrained"):
            assert getattr(model_class, name).__qualname__.startswith(shared.__name__), (model_class, name)


def test_modeling_utils_is_not_a_family():
    assert "modeling_utils" not in FAMILIES
    assert all(Path(module.__file__).name == "__init__.py" for module in FAMILIES.values())


# ---------------------------------------------------------------------------------------------
# The assembled remote code: the library's own text, self-contained
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family, config_class, model_class", _models())
def test_assembled_remote_code_is_self_contained(family, config_class, model_class, tmp_path):
    sources = remote_code_sources(_folder(family, config_class, model_class))
    assert {f"configuration_{family}.py", f"modeling_{family}.py", "image_processing_colorizer.py"} <= set(sources)
    for name, text in sources.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    for name in sources:
        check_self_contained(tmp_path / name)  # the check every push runs, here against the written folder
    for name, text in sources.items():
        _assert_only_imports_rewritten(text, _library_file(name, family).read_text(encoding="utf-8"), name)


@pytest.mark.parametrize("family", sorted(name for name, module in FAMILIES.items() if module.PRESETS))
def test_every_family_with_presets_ships_the_library_objectives(family):
    config_class, model_class = FAMILIES[family].AUTO_CLASSES[0]
    sources = remote_code_sources(_folder(family, config_class, model_class))
    library = Path(colorizers.objectives.__file__).read_text(encoding="utf-8")
    # the library's text with its one colorizers import (colorizers.color's constants) made a sibling import
    assert _assert_only_imports_rewritten(sources["objectives.py"], library, "objectives.py") == 1
    assert "from .color import AB_SCALE" in sources["objectives.py"]
    assert sources["color.py"] == (LIBRARY / "color.py").read_text(encoding="utf-8")


def test_a_change_to_a_library_constant_changes_what_every_family_ships(tmp_path, monkeypatch):
    # edited copies of the library's files stand in for the library (the assembly reads the files it finds)
    edits = {
        "colorizers.objectives": ("VIVID_TEMPERATURE = 0.2\n", "VIVID_TEMPERATURE = 0.25\n"),
        "colorizers.color": ("AB_SCALE = 110.0\n", "AB_SCALE = 128.0\n"),
    }
    find_spec = importlib.util.find_spec
    edited = {}
    for module, (old, new) in edits.items():
        text = Path(find_spec(module).origin).read_text(encoding="utf-8")
        assert text.count(old) == 1, module
        edited[module] = tmp_path / f"{module.rpartition('.')[2]}.py"
        edited[module].write_text(text.replace(old, new), encoding="utf-8")

    def edited_find_spec(name, *args, **kwargs):
        if name in edited:
            return importlib.util.spec_from_file_location(name, edited[name])
        return find_spec(name, *args, **kwargs)

    monkeypatch.setattr(remote_code.importlib.util, "find_spec", edited_find_spec)
    for family, module in FAMILIES.items():
        if not module.PRESETS:
            continue
        sources = remote_code_sources(_folder(family, *module.AUTO_CLASSES[0]))
        assert "AB_SCALE = 128.0\n" in sources["color.py"], family
        assert "VIVID_TEMPERATURE = 0.25\n" in sources["objectives.py"], family


# ---------------------------------------------------------------------------------------------
# What the assembly refuses
# ---------------------------------------------------------------------------------------------


def _fake_module(tmp_path, monkeypatch, file_name: str, source: str) -> type:
    """A class of a module ``<package>.<file_name>`` holding ``source`` (a package of its own per test, outside
    colorizers), to start an assembly from."""
    name = "fake_" + re.sub(r"\W", "_", tmp_path.name)
    package = tmp_path / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / file_name).write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    return type("FakeModel", (), {"__module__": f"{name}.{file_name.removesuffix('.py')}"})


def _assemble(model_class: type) -> dict[str, str]:
    config_class = FAMILIES["unet"].AUTO_CLASSES[0][0]
    return remote_code_sources(_folder("fake", config_class, model_class))


def test_assembly_follows_absolute_and_relative_library_imports(tmp_path, monkeypatch):
    fake = _fake_module(
        tmp_path,
        monkeypatch,
        "modeling_fake.py",
        "import torch\n\nfrom colorizers.models.modeling_utils import pad_to_multiple\n",
    )
    sources = _assemble(fake)
    assert sources["modeling_fake.py"] == "import torch\n\nfrom .modeling_utils import pad_to_multiple\n"
    # followed recursively: modeling_utils imports colorizers.objectives, which imports colorizers.color
    assert {"modeling_utils.py", "objectives.py", "color.py", "configuration_unet.py"} <= set(sources)
    # a library module's relative imports are followed too: chroma's config imports its sibling module
    chroma = remote_code_sources(_folder("chroma", *FAMILIES["chroma"].AUTO_CLASSES[0]))
    assert "from .configuration_chroma import ChromaColorizerConfig" in chroma["modeling_chroma.py"]
    # the EfficientNet-Lite shared by three families travels with each of them, one flattened file
    for family in ("chroma", "autoencoder", "koalarization"):
        sources = remote_code_sources(_folder(family, *FAMILIES[family].AUTO_CLASSES[0]))
        assert "from .efficientnet_lite import" in sources[f"modeling_{family}.py"], family
        assert "class EfficientNetLiteEncoder(nn.Module):" in sources["efficientnet_lite.py"], family


@pytest.mark.parametrize(
    "source, message",
    [
        ("from colorizers.models import FAMILIES\n", "imports from colorizers.models, a package"),
        ("from colorizers import load_model\n", "imports from colorizers, a package"),
        ("from colorizers.models.unet import UNetColorizerModel\n", "colorizers.models.unet, a package"),
        ("import colorizers.color\n", "'import colorizers.color' cannot travel as remote code"),
        ("import json, colorizers\n", "'import colorizers' cannot travel as remote code"),
        ("from colorizers.no_such_module import thing\n", "colorizers.no_such_module, which is not a module of"),
        ("from colorizers.no_such.module import thing\n", "colorizers.no_such.module, which is not a module of"),
    ],
)
def test_assembly_refuses_imports_it_cannot_flatten(tmp_path, monkeypatch, source, message):
    fake = _fake_module(tmp_path, monkeypatch, "modeling_fake.py", "import torch\n" + source)
    with pytest.raises(RemoteCodeError, match=re.escape(message)) as raised:
        _assemble(fake)
    assert "modeling_fake.py" in str(raised.value)  # the file to fix is named


def test_assembly_refuses_two_modules_with_one_file_name(tmp_path, monkeypatch):
    # a module named color.py next to the library's colorizers.color, which the image processor brings along
    fake = _fake_module(tmp_path, monkeypatch, "color.py", "import torch\n")
    with pytest.raises(RemoteCodeError, match=r"two remote-code files are both named color\.py: .*colorizers\.color"):
        _assemble(fake)


# ---------------------------------------------------------------------------------------------
# check_self_contained: the one check every uploaded file passes
# ---------------------------------------------------------------------------------------------


def test_import_check_refuses_code_that_cannot_travel(tmp_path):
    folder = tmp_path / "family"
    folder.mkdir()
    (folder / "configuration_x.py").write_text("import json\nfrom transformers import PreTrainedConfig\n")
    check_self_contained(folder / "configuration_x.py")
    for source, reason in [
        ("from ..registry import Preset\n", "reaches outside its own folder"),
        ("from .elsewhere import thing\n", "reaches outside its own folder"),
        ("import colorizers.color\n", "imports 'colorizers.color'"),
        ("from colorizers.objectives import AB_SCALE\n", "imports 'colorizers.objectives'"),
        ("from scipy import ndimage\n", "imports 'scipy'"),
    ]:
        (folder / "modeling_x.py").write_text("from .configuration_x import X\n" + source)
        with pytest.raises(RemoteCodeError, match=reason):
            check_self_contained(folder / "modeling_x.py")


def test_library_family_files_are_not_remote_code_themselves():
    # the library's files import the shared modules; only the assembled folder is self-contained
    with pytest.raises(RemoteCodeError, match=r"imports 'colorizers\."):
        check_self_contained(LIBRARY / "models" / "unet" / "modeling_unet.py")

"""Remote code: what a Hub repository of a colorizer carries so that ``trust_remote_code=True``
loads it with transformers alone (the counterpart of transformers' ``dynamic_module_utils``).

The library keeps one source for everything the families share (``colorizers.objectives``,
``colorizers.models.modeling_utils``, the image processor and its colour code): families import it like any
other module. A Hub repository needs one flat folder instead, so the files are assembled at push time:

* ``remote_code_sources(model)``: the family's configuration and modeling modules, the image processor's
  module and every ``colorizers`` module they import, followed recursively, each rewritten so that its
  ``colorizers`` imports become imports of its sibling files (``from colorizers.color import x`` ->
  ``from .color import x``); nothing else in a file changes;
* ``check_self_contained(file)``: the one check that a module imports nothing but its sibling files,
  the standard library and ``REMOTE_CODE_PACKAGES`` (run on every assembled file before every push, and by
  the test-suite on every family);
* ``add_remote_code(model, folder)``: writes those files into a staged repository and the
  ``auto_map`` entries of ``config.json`` and ``preprocessor_config.json``.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import sys
from collections.abc import Iterable
from pathlib import Path

from colorizers.hub.model_folder import HubError, ModelFolder, NotASavedModelError
from colorizers.image_processing_colorizer import ColorizerImageProcessor
from colorizers.registry import create_processor

# Modules the uploaded code may import besides its own files (checked before every push).
# cv2 is optional there: the image processor imports it inside try/except and falls back to NumPy and PIL.
REMOTE_CODE_PACKAGES = {"torch", "transformers", "huggingface_hub", "safetensors", "numpy", "PIL", "cv2"}
LIBRARY = "colorizers"


class RemoteCodeError(HubError):
    """A module cannot travel as remote code: it reaches outside its folder or imports a package a
    colorizers-free environment may lack."""


def _module_file(cls: type) -> Path:
    return Path(sys.modules[cls.__module__].__file__).resolve()


def _absolute_module(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The dotted name an import statement of ``module`` names (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    parts = module.split(".") if is_package else module.split(".")[:-1]
    base = parts[: len(parts) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _flattened(module: str) -> tuple[str, list[str]]:
    """The source of library ``module`` with each library import made a sibling import, and the modules it
    imports from the library."""
    spec = _find_spec(module)
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        raise RemoteCodeError(f"remote code needs the module {module}, which has no Python source file")
    file = Path(spec.origin)
    is_package = file.name == "__init__.py"
    if is_package:
        raise RemoteCodeError(f"remote code cannot carry the package {module}: import its modules instead")
    text = file.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    needed: list[str] = []
    for node in ast.walk(ast.parse(text, filename=str(file))):
        for alias in node.names if isinstance(node, ast.Import) else []:
            if _in_library(alias.name):
                raise RemoteCodeError(
                    f"{file}: 'import {alias.name}' cannot travel as remote code (its uses are not rewritten); "
                    f"use 'from <module> import <names>'"
                )
        if not isinstance(node, ast.ImportFrom):
            continue
        target = _absolute_module(node, module, is_package)
        if not _in_library(target):
            continue
        if _find_spec(target) is None:
            raise RemoteCodeError(f"{file} imports from {target}, which is not a module of {LIBRARY}")
        if _is_package(target):
            raise RemoteCodeError(
                f"{file} imports from {target}, a package: remote code can only follow imports of modules "
                f"(import from the module that defines the names)"
            )
        needed.append(target)
        row = node.lineno - 1
        head = lines[row][node.col_offset :]
        keyword = head.index(" import")
        lines[row] = lines[row][: node.col_offset] + f"from .{target.rpartition('.')[2]}" + head[keyword:]
    return "".join(lines), needed


def _in_library(module: str) -> bool:
    return module == LIBRARY or module.startswith(LIBRARY + ".")


def _find_spec(module: str):
    try:
        return importlib.util.find_spec(module)
    except ModuleNotFoundError:  # a parent package that does not exist
        return None


def _is_package(module: str) -> bool:
    spec = _find_spec(module)
    return spec is not None and spec.submodule_search_locations is not None


def remote_code_sources(model: ModelFolder) -> dict[str, str]:
    """The ``.py`` files a repo needs for ``trust_remote_code`` loading: file name -> source text.

    Starts from the family's configuration and modeling modules and the image processor's module and follows
    every import of a ``colorizers`` module; each file is the library's own source with those imports pointed
    at its siblings (one flat folder, as transformers' dynamic modules need). Two modules with one file name
    are refused; every file is checked to import nothing but its siblings, the standard library and
    ``REMOTE_CODE_PACKAGES``, so the folder runs without colorizers installed.
    """
    origins: dict[str, str] = {}
    sources: dict[str, str] = {}
    queue = [cls.__module__ for cls in (model.config_class, model.model_class, ColorizerImageProcessor)]
    while queue:
        module = queue.pop(0)
        name = module.rpartition(".")[2] + ".py"
        if name in origins:
            if origins[name] != module:
                raise RemoteCodeError(f"two remote-code files are both named {name}: {origins[name]} and {module}")
            continue
        origins[name] = module
        sources[name], needed = _flattened(module)
        queue.extend(needed)
    for name, text in sources.items():
        _check_source(text, name, set(sources))
    return sources


def check_self_contained(file: str | Path, siblings: Iterable[str] | None = None) -> None:
    """Raise ``RemoteCodeError`` unless ``file`` imports only ``siblings`` (file names; by default the
    ``.py`` files of its folder) relatively, the standard library and ``REMOTE_CODE_PACKAGES``."""
    file = Path(file)
    names = set(siblings) if siblings is not None else {item.name for item in file.parent.glob("*.py")}
    _check_source(file.read_text(encoding="utf-8"), str(file), names)


def _check_source(text: str, file: str, names: set[str]) -> None:
    stdlib = set(sys.stdlib_module_names)
    tree = ast.parse(text, filename=file)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            if node.level > 1 or not node.module or f"{node.module.split('.')[0]}.py" not in names:
                raise RemoteCodeError(
                    f"{file} cannot travel as remote code: its relative import "
                    f"'{'.' * node.level}{node.module or ''}' reaches outside its own folder"
                )
            continue
        modules = (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module]
            if isinstance(node, ast.ImportFrom)
            else []
        )
        for module in modules:
            top = (module or "").split(".")[0]
            if top and top not in stdlib and top not in REMOTE_CODE_PACKAGES:
                raise RemoteCodeError(
                    f"{file} cannot travel as remote code: it imports {module!r} (allowed: its own folder, the "
                    f"standard library and {', '.join(sorted(REMOTE_CODE_PACKAGES))})"
                )


def auto_map(model: ModelFolder) -> dict[str, str]:
    """The ``config.json`` ``auto_map`` entries that point the Auto classes at the remote code."""
    config_ref = f"{_module_file(model.config_class).stem}.{model.config_class.__name__}"
    model_ref = f"{_module_file(model.model_class).stem}.{model.model_class.__name__}"
    return {"AutoConfig": config_ref, "AutoModel": model_ref, "AutoModelForImageToImage": model_ref}


def processor_config(model: ModelFolder) -> dict:
    """The folder's ``preprocessor_config.json`` (or the default processor's) with its ``auto_map``."""
    file = model.path / "preprocessor_config.json"
    if file.is_file():
        try:
            config = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise NotASavedModelError(f"{file} is not valid JSON: {error}") from error
        kind = config.get("image_processor_type")
        if kind not in (None, ColorizerImageProcessor.__name__):
            raise NotASavedModelError(f"{file} is for a {kind}, not the colorizers image processor")
    else:  # the processor every model of this config uses when its folder ships none
        from transformers import AutoConfig

        model_config = AutoConfig.from_pretrained(str(model.path), local_files_only=True, trust_remote_code=False)
        config = json.loads(create_processor(model_config).to_json_string())
    config["image_processor_type"] = ColorizerImageProcessor.__name__
    module = _module_file(ColorizerImageProcessor).stem
    config["auto_map"] = {
        **config.get("auto_map", {}),
        "AutoImageProcessor": f"{module}.{ColorizerImageProcessor.__name__}",
    }
    return config


def add_remote_code(model: ModelFolder, folder: str | Path) -> None:
    """Copy the remote code into ``folder`` and write its ``config.json`` and ``preprocessor_config.json``
    with the ``auto_map`` entries (the model folder itself is only read)."""
    folder = Path(folder)
    for name, source in remote_code_sources(model).items():
        (folder / name).write_text(source, encoding="utf-8")
    config = dict(model.config)
    config["auto_map"] = {**(config.get("auto_map") or {}), **auto_map(model)}
    (folder / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    (folder / "preprocessor_config.json").write_text(
        json.dumps(processor_config(model), indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )


__all__ = [
    "REMOTE_CODE_PACKAGES",
    "RemoteCodeError",
    "add_remote_code",
    "auto_map",
    "check_self_contained",
    "processor_config",
    "remote_code_sources",
]

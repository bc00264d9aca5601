"""Remote code: what a Hub repository of a colorizer carries so that ``trust_remote_code=True``
loads it with transformers alone (the counterpart of transformers' ``dynamic_module_utils``).

* ``remote_code_files(model)``: the family's configuration and modeling modules, the image
  processor's module and what they import relatively;
* ``check_self_contained(file)``: the one check that a module imports nothing but its sibling files,
  the standard library and ``REMOTE_CODE_PACKAGES`` (run before every push, and by the test-suite on
  every family folder);
* ``add_remote_code(model, folder)``: copies those files into a staged repository and writes the
  ``auto_map`` entries of ``config.json`` and ``preprocessor_config.json``.
"""

from __future__ import annotations

import ast
import json
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path

from .image_processing_colorizer import ColorizerImageProcessor
from .model_folder import HubError, ModelFolder, NotASavedModelError
from .registry import create_processor

# Modules the uploaded code may import besides its own files (checked before every push).
# cv2 is optional there: the image processor imports it inside try/except and falls back to NumPy and PIL.
REMOTE_CODE_PACKAGES = {"torch", "transformers", "huggingface_hub", "safetensors", "numpy", "PIL", "cv2"}


class RemoteCodeError(HubError):
    """A module cannot travel as remote code: it reaches outside its folder or imports a package a
    colorizers-free environment may lack."""


def _module_file(cls: type) -> Path:
    return Path(sys.modules[cls.__module__].__file__).resolve()


def remote_code_files(model: ModelFolder) -> dict[str, Path]:
    """The ``.py`` files a repo needs for ``trust_remote_code`` loading: name -> source file.

    The family's configuration and modeling modules, the image processor module and everything they
    import relatively, all from one folder level. Checked to import nothing but their siblings and
    ``REMOTE_CODE_PACKAGES`` (plus the standard library), so they run without colorizers installed.
    """
    from transformers.dynamic_module_utils import get_relative_import_files

    files: dict[str, Path] = {}
    for cls in (model.config_class, model.model_class, ColorizerImageProcessor):
        source = _module_file(cls)
        for file in [source, *map(Path, get_relative_import_files(str(source)))]:
            file = file.resolve()
            if files.setdefault(file.name, file) != file:
                raise RemoteCodeError(
                    f"two remote-code files are both named {file.name}: {files[file.name]} and {file}"
                )
    for file in files.values():
        check_self_contained(file, files)
    return files


def check_self_contained(file: str | Path, siblings: Iterable[str] | None = None) -> None:
    """Raise ``RemoteCodeError`` unless ``file`` imports only ``siblings`` (file names; by default the
    ``.py`` files of its folder) relatively, the standard library and ``REMOTE_CODE_PACKAGES``."""
    file = Path(file)
    names = set(siblings) if siblings is not None else {item.name for item in file.parent.glob("*.py")}
    stdlib = set(sys.stdlib_module_names)
    tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
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
    for name, source in remote_code_files(model).items():
        shutil.copyfile(source, folder / name)
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
    "remote_code_files",
]

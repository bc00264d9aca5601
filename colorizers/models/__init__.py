"""Model families. Every sub-package is one family; importing this package registers them all. Plain modules
here are not families: ``modeling_utils`` holds the code the families share.

A family package exposes:
  * ``AUTO_CLASSES``: ``[(ConfigClass, ModelClass), ...]`` to register with transformers' Auto
    classes (a colorizer also gets ``AutoModelForImageToImage`` and the colorizers image processor);
  * ``PRESETS``: the family's named presets (``colorizers.registry.Preset``);
  * ``TINY_CONFIG``: config values for the smallest model of the same architecture, used by the
    test-suite and smoke runs.
"""

from __future__ import annotations

import importlib
import pkgutil

from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoModelForImageToImage

from colorizers.image_processing_colorizer import ColorizerImageProcessor
from colorizers.registry import register_preset

FAMILIES = {}


def _register(config_class, model_class, is_colorizer: bool) -> None:
    AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
    AutoModel.register(config_class, model_class, exist_ok=True)
    if is_colorizer:
        AutoModelForImageToImage.register(config_class, model_class, exist_ok=True)
        AutoImageProcessor.register(
            config_class, image_processor_classes={"pil": ColorizerImageProcessor}, exist_ok=True
        )


for _info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
    if not _info.ispkg:
        continue
    _family = importlib.import_module(f"{__name__}.{_info.name}")
    FAMILIES[_info.name] = _family
    _colorizer_configs = {preset.config_class for preset in _family.PRESETS}
    for _config_class, _model_class in _family.AUTO_CLASSES:
        _register(_config_class, _model_class, is_colorizer=_config_class in _colorizer_configs)
    for _preset in _family.PRESETS:
        register_preset(_preset)

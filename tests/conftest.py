import os

# Tests never reach the network: the Hub is offline for every test unless a test sets up its own server.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import colorizers  # noqa: E402
from colorizers.models import FAMILIES  # noqa: E402


def family_of(preset_name: str):
    preset = colorizers.get_preset(preset_name)
    return FAMILIES[preset.config_class.__module__.split(".")[2]]


def tiny_model(preset_name: str, **overrides):
    """The preset's architecture at its family's tiny size, deterministically initialised."""
    torch.manual_seed(0)
    return colorizers.create_model(preset_name, **{**family_of(preset_name).TINY_CONFIG, **overrides})


@pytest.fixture
def rng():
    return np.random.default_rng(0)

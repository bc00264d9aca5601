"""Hub packaging through HTTP with the real client: push, pull, revisions, remote code, cards.

A Hub-protocol server (``tests/hub_server.py``) runs on 127.0.0.1 at a free port for this module.
``huggingface_hub`` reads ``HF_ENDPOINT``, ``HF_HUB_OFFLINE``, ``HF_HUB_CACHE`` ... once, when it is
first imported (``conftest.py`` imports it with ``HF_HUB_OFFLINE=1``), so in this process the tests set
the environment variables *and* patch the values the client reads at call time
(``huggingface_hub.constants``, and transformers' shared ``HfApi``, which keeps the endpoint it was
created with); ``monkeypatch`` restores all of it. The remote-code test runs a fresh interpreter, which
reads the environment as usual.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import site
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_model
from hub_server import HubServer
from huggingface_hub import HfApi, ModelCard, constants
from PIL import Image
from transformers import AutoImageProcessor, AutoModel

import colorizers
from colorizers.commands.main import main as cli_main
from colorizers.hub import model_card, model_folder, remote_code
from colorizers.hub import publish as hub
from colorizers.model_io.loading import ModelLoadError
from colorizers.registry import match_preset

TOKEN = "hf_test_write_token"
FILE_TOKEN = "hf_test_token_from_login_file"
USER = "tester"
PRESETS = colorizers.list_models()
ROOT = Path(__file__).resolve().parent.parent

EVAL_RESULTS = {
    "evaluations": [
        {
            "dataset_name": "kodak24",
            "dataset_type": "kodak24",
            "split": "test",
            "num_images": 24,
            "size": 256,
            "psnr": 23.4172,
            "ssim": 0.93121,
            "colorfulness": 14.25,
            "reference_colorfulness": 36.57,
            "colorfulness_gap": -22.32,
        },
        {
            "dataset_name": "cbsd68",
            "dataset_type": "cbsd68",
            "split": "test",
            "num_images": 68,
            "size": None,
            "psnr": 22.9,
            "ssim": 0.9402,
            "colorfulness": 12.5,
            "reference_colorfulness": 33.86,
            "colorfulness_gap": -21.36,
        },
    ],
    "training": {
        "command": "accelerate launch train/train.py --model unet",
        "dataset": "tiny-imagenet",
        "steps": 200,
        "resolution": 64,
        "loss": "mse",
    },
}


# ---------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def no_other_hosts():
    """Fail if anything in this module resolves a host other than the test server's (the real Hub)."""
    real_getaddrinfo = socket.getaddrinfo
    contacted = []

    def guarded(host, *args, **kwargs):
        if host not in ("127.0.0.1", "localhost", "::1"):
            contacted.append(host)
            raise OSError(f"test_hub reached for {host!r}: only the test Hub may be contacted")
        return real_getaddrinfo(host, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket, "getaddrinfo", guarded)
        yield
    assert contacted == []


@pytest.fixture(scope="module")
def hub_server():
    """The test Hub for this module; stopping it must leave no thread behind."""
    server = HubServer(user=USER, tokens={TOKEN, FILE_TOKEN}).start()
    try:
        yield server
    finally:
        server.stop()
        assert server.threads() == []
        assert not [thread for thread in threading.enumerate() if thread.name.startswith("test-hub")]


def _point_client_at(mp: pytest.MonkeyPatch, url: str, cache: Path) -> None:
    for name, value in {
        "HF_ENDPOINT": url,
        "HF_HUB_CACHE": str(cache),
        "HF_TOKEN": TOKEN,
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        # transformers would ask the Hub's safetensors-conversion bot about a pickle-only repo (its pytest setting)
        "DISABLE_SAFETENSORS_CONVERSION": "1",
    }.items():
        mp.setenv(name, value)
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        mp.delenv(name, raising=False)
    # The values huggingface_hub computed from the environment at import time.
    mp.setattr(constants, "ENDPOINT", url)
    mp.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", url + "/{repo_id}/resolve/{revision}/{filename}")
    mp.setattr(constants, "HF_URL_HOSTS", constants.HF_URL_HOSTS | {"127.0.0.1"})
    mp.setattr(constants, "HF_HUB_OFFLINE", False)
    mp.setattr(constants, "HF_HUB_CACHE", str(cache))
    mp.setattr(constants, "HF_HUB_DISABLE_XET", True)
    mp.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    mp.setattr(constants, "HF_TOKEN_PATH", str(cache.parent / "no-login-token"))
    mp.setattr(constants, "HF_STORED_TOKENS_PATH", str(cache.parent / "no-stored-tokens"))
    import huggingface_hub.hf_api
    import transformers.utils.hub

    mp.setattr(huggingface_hub.hf_api.api, "endpoint", url)  # behind the module-level functions
    mp.setattr(transformers.utils.hub, "_hf_api", None)  # rebuilt on first use, against our endpoint


@pytest.fixture
def hub_env(hub_server, tmp_path, monkeypatch):
    """Client pointed at the test Hub, with a per-test cache; returns the server."""
    _point_client_at(monkeypatch, hub_server.url, tmp_path / "hf-cache")
    return hub_server


def _save_folder(model, folder: Path, *, extras: bool = False) -> Path:
    model.save_pretrained(folder)
    colorizers.create_processor(model.config).save_pretrained(folder)
    if extras:  # what a training run leaves next to the model
        (folder / "eval_results.json").write_text(json.dumps(EVAL_RESULTS))
        Image.new("RGB", (12, 6), (200, 80, 20)).save(folder / "samples.png")
        Image.new("RGB", (12, 6), (20, 80, 200)).save(folder / "loss_curves.png")
        (folder / "checkpoints" / "checkpoint_0").mkdir(parents=True)
        (folder / "checkpoints" / "checkpoint_0" / "model.safetensors").write_bytes(b"not for the hub")
        torch.save({"step": 1}, folder / "optimizer.bin")
        torch.save(model.state_dict(), folder / "pytorch_model.bin")
        (folder / "scratch.py").write_text("print('my notes')\n")
    return folder


def _perturbed(model):
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05)
    return model


def _fingerprint(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _input_for(model) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    side = int(model.config.image_size)
    return torch.rand(2, 1, side, side - 4, generator=generator) * 2 - 1


def _outputs(model, pixel_values: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return colorizers.predicted_ab(model.eval()(pixel_values=pixel_values))


@pytest.fixture(scope="module")
def published(hub_server, tmp_path_factory):
    """Every preset pushed twice (v1 then v2 weights) to ``tester/colorizers-<preset>``."""
    base = tmp_path_factory.mktemp("published")
    info = {}
    with pytest.MonkeyPatch.context() as mp:
        _point_client_at(mp, hub_server.url, base / "hf-cache")
        for name in PRESETS:
            repo_id = f"{USER}/colorizers-{name}"
            v1 = tiny_model(name).eval()
            folder1 = _save_folder(v1, base / name / "v1", extras=name == "unet")
            before = _fingerprint(folder1)
            first = hub.push_to_hub(folder1, repo_id)
            assert _fingerprint(folder1) == before, "push modified the user's folder"
            v2 = _perturbed(tiny_model(name)).eval()
            folder2 = _save_folder(v2, base / name / "v2", extras=name == "unet")
            second = hub.push_to_hub(folder2, repo_id, commit_message="v2 weights")
            pixel_values = _input_for(v1)
            info[name] = {
                "repo_id": repo_id,
                "first": first.oid,
                "second": second.oid,
                "pixel_values": pixel_values,
                "v1": _outputs(v1, pixel_values),
                "v2": _outputs(v2, pixel_values),
                "class": type(v1),
                "folder": folder1,
            }
    return info


# ---------------------------------------------------------------------------------------------
# Push and pull, every preset
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PRESETS)
def test_pull_by_id_and_revision(hub_env, published, name):
    entry = published[name]
    repo_id = entry["repo_id"]
    assert entry["first"] != entry["second"]
    assert not torch.equal(entry["v1"], entry["v2"])

    latest = AutoModel.from_pretrained(repo_id)  # colorizers installed: its own classes, no remote code
    assert type(latest) is entry["class"]
    assert torch.equal(_outputs(latest, entry["pixel_values"]), entry["v2"])

    pinned = colorizers.load_model(repo_id, revision=entry["first"])
    assert type(pinned) is entry["class"]
    assert torch.equal(_outputs(pinned, entry["pixel_values"]), entry["v1"])

    processor = AutoImageProcessor.from_pretrained(repo_id)
    assert isinstance(processor, colorizers.ColorizerImageProcessor)
    assert processor.size["longest_edge"] == latest.config.image_size


def test_uploaded_files_and_history(hub_env, published):
    api = HfApi()
    entry = published["unet"]
    files = set(api.list_repo_files(entry["repo_id"], revision=entry["first"]))
    assert files == {
        ".gitattributes",
        "README.md",
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
        "configuration_unet.py",
        "modeling_unet.py",
        "objectives.py",
        "modeling_utils.py",
        "image_processing_colorizer.py",
        "processor_settings.py",
        "upsampling.py",
        "color.py",
        "eval_results.json",
        "samples.png",
        "loss_curves.png",
    }  # no checkpoints/, optimizer state, pickles, nor the user's own scratch.py
    commits = api.list_repo_commits(entry["repo_id"])
    assert [commit.commit_id for commit in commits[:2]] == [entry["second"], entry["first"]]
    assert commits[0].title == "v2 weights"
    assert commits[1].title.startswith("Upload unet colorizer")

    config = json.loads(Path(api.hf_hub_download(entry["repo_id"], "config.json")).read_text())
    assert config["auto_map"] == {
        "AutoConfig": "configuration_unet.UNetColorizerConfig",
        "AutoModel": "modeling_unet.UNetColorizerModel",
        "AutoModelForImageToImage": "modeling_unet.UNetColorizerModel",
    }
    processor_config = json.loads(Path(api.hf_hub_download(entry["repo_id"], "preprocessor_config.json")).read_text())
    assert processor_config["auto_map"] == {"AutoImageProcessor": "image_processing_colorizer.ColorizerImageProcessor"}


def test_local_folder_and_local_files_only(hub_env, published, monkeypatch):
    entry = published["resnet18"]
    snapshot = HfApi().snapshot_download(entry["repo_id"], revision=entry["first"])
    from_folder = colorizers.load_model(snapshot)
    assert torch.equal(_outputs(from_folder, entry["pixel_values"]), entry["v1"])
    colorizers.load_model(entry["repo_id"])  # fills the cache for main

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # no HTTP at all from here on
    requests_before = len(hub_env.requests)
    offline = colorizers.load_model(entry["repo_id"], local_files_only=True)
    assert torch.equal(_outputs(offline, entry["pixel_values"]), entry["v2"])
    pinned = AutoModel.from_pretrained(entry["repo_id"], revision=entry["first"], local_files_only=True)
    assert torch.equal(_outputs(pinned, entry["pixel_values"]), entry["v1"])
    with pytest.raises(ModelLoadError):
        colorizers.load_model(published["unet"]["repo_id"], local_files_only=True)  # never downloaded here
    assert len(hub_env.requests) == requests_before


def test_push_to_new_branch_with_cli(hub_env, tmp_path, capsys):
    folder = _save_folder(tiny_model("vanilla-v2").eval(), tmp_path / "run")
    repo_id = f"{USER}/cli-branch"
    argv = ["push", str(folder), "--repo-id", repo_id, "--revision", "experiment", "--commit-message", "from the cli"]
    assert cli_main(argv) == 0
    assert repo_id in capsys.readouterr().out

    api = HfApi()
    assert {branch.name for branch in api.list_repo_refs(repo_id).branches} == {"main", "experiment"}
    assert api.list_repo_files(repo_id) == [".gitattributes"]  # main untouched
    assert api.list_repo_commits(repo_id, revision="experiment")[0].title == "from the cli"
    model = colorizers.load_model(repo_id, revision="experiment")
    assert model.config.variant == 2
    card = ModelCard.load(HfApi().hf_hub_download(repo_id, "README.md", revision="experiment"))
    assert 'revision="experiment"' in card.text  # the usage snippets pin the branch

    assert cli_main(["push", str(folder), "--repo-id", f"{USER}/cli-private", "--private"]) == 0
    assert api.model_info(f"{USER}/cli-private").private is True


# ---------------------------------------------------------------------------------------------
# Remote code: no colorizers on sys.path
# ---------------------------------------------------------------------------------------------

REMOTE_SCRIPT = r"""
import json, sys
sys.path.append(sys.argv[1])  # site-packages without colorizers (see _isolated_site)
try:
    import colorizers
except ModuleNotFoundError:
    pass
else:
    raise SystemExit("colorizers is importable: the subprocess is not isolated")
assert not any("colorizers" in entry or entry.startswith(sys.argv[4]) for entry in sys.path), sys.path

import numpy as np
import torch
from PIL import Image
from transformers import AutoImageProcessor, AutoModel

import os, re, shutil
from huggingface_hub import hf_hub_download

image = Image.open(sys.argv[3])
shutil.copy(sys.argv[3], "old_photo.jpg")  # the file name the card's snippet opens
results = {}
for name, job in json.loads(open(sys.argv[2]).read()).items():
    model = AutoModel.from_pretrained(job["repo_id"], trust_remote_code=True, revision=job["revision"]).eval()
    processor = AutoImageProcessor.from_pretrained(job["repo_id"], trust_remote_code=True, revision=job["revision"])
    assert type(model).__module__.startswith("transformers_modules."), type(model).__module__
    assert type(processor).__module__.startswith("transformers_modules."), type(processor).__module__
    inputs = processor(image, return_tensors="pt")
    with torch.no_grad():
        direct = model(pixel_values=torch.from_numpy(np.load(job["pixel_values"]))).to_tuple()[-1]
    np.save(job["out"] + ".direct.npy", direct.numpy())
    np.save(job["out"] + ".pixels.npy", inputs["pixel_values"].numpy())

    # The model card's "without colorizers" snippet, run as written (on the repo's main branch).
    card = open(hf_hub_download(job["repo_id"], "README.md")).read()
    snippet = next(block for block in re.findall(r"```python\n(.*?)```", card, re.S) if "trust_remote_code" in block)
    exec(compile(snippet, "model-card-snippet", "exec"), {})
    os.replace("old_photo_colorized.png", job["out"] + ".snippet.png")
    results[name] = {"model_class": type(model).__name__, "processor_class": type(processor).__name__}
print(json.dumps(results))
"""


def _isolated_site(target: Path) -> Path:
    """A folder of links to every site-packages entry except colorizers (and its editable finder)."""
    target.mkdir()
    for directory in site.getsitepackages() + [site.getusersitepackages()]:
        if not os.path.isdir(directory):
            continue
        for name in os.listdir(directory):
            if "colorizers" in name.lower() or (target / name).exists():
                continue
            (target / name).symlink_to(Path(directory) / name)
    return target


def test_trust_remote_code_without_colorizers(hub_env, published, tmp_path):
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (23, 37, 3), dtype=np.uint8))
    image_path = tmp_path / "photo.png"
    image.save(image_path)
    jobs = {}
    for name, entry in published.items():
        np.save(tmp_path / f"{name}.input.npy", entry["pixel_values"].numpy())
        jobs[name] = {
            "repo_id": entry["repo_id"],
            "revision": entry["first"],
            "pixel_values": str(tmp_path / f"{name}.input.npy"),
            "out": str(tmp_path / name),
        }
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    (tmp_path / "remote.py").write_text(REMOTE_SCRIPT)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "PYTHONHOME", "PYTHONSTARTUP")
    }
    env.update(
        HF_ENDPOINT=hub_env.url,
        HF_HUB_CACHE=str(tmp_path / "remote-cache"),
        HF_MODULES_CACHE=str(tmp_path / "modules"),
        HF_TOKEN=TOKEN,
        HF_HUB_DISABLE_XET="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        OMP_NUM_THREADS="1",
    )
    command = [sys.executable, "-I", "-S", str(tmp_path / "remote.py")]
    command += [str(_isolated_site(tmp_path / "site")), str(tmp_path / "jobs.json"), str(image_path), str(ROOT)]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-4000:]
    remote = json.loads(result.stdout.strip().splitlines()[-1])

    assert set(remote) == set(PRESETS)
    for name, entry in published.items():
        pinned = colorizers.load_model(entry["repo_id"], revision=entry["first"])
        assert remote[name]["model_class"] == type(pinned).__name__
        assert remote[name]["processor_class"] == "ColorizerImageProcessor"
        with torch.no_grad():
            local = pinned(pixel_values=entry["pixel_values"]).to_tuple()[-1]
        # Same code and weights; only the thread count differs (OMP_NUM_THREADS=1 there), which can
        # reorder float sums: equal to float32 rounding.
        remote_output = torch.from_numpy(np.load(tmp_path / f"{name}.direct.npy"))
        torch.testing.assert_close(remote_output, local, rtol=1e-5, atol=1e-6, msg=name)
        pixels = colorizers.load_processor(pinned)(image, return_tensors="pt")["pixel_values"]
        assert np.array_equal(np.load(tmp_path / f"{name}.pixels.npy"), pixels.numpy()), name
        # the card's snippet, without colorizers, colorizes as colorizers.colorize() does (main = v2);
        # RGB-predicting models convert with scikit-image there (float64) and torch here (float32)
        expected = np.asarray(colorizers.colorize(image, colorizers.load_model(entry["repo_id"])), dtype=int)
        difference = np.asarray(Image.open(tmp_path / f"{name}.snippet.png"), dtype=int) - expected
        assert np.abs(difference).max() <= 1, name


# ---------------------------------------------------------------------------------------------
# Refusals and errors
# ---------------------------------------------------------------------------------------------


def test_pickle_only_repo_is_refused(hub_env, tmp_path, monkeypatch):
    model = tiny_model("unet")
    folder = tmp_path / "pickles"
    model.config.save_pretrained(folder)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    api = HfApi()
    repo_id = f"{USER}/pickles-only"
    api.create_repo(repo_id)
    api.upload_folder(repo_id=repo_id, folder_path=folder)

    with pytest.raises(ModelLoadError, match="safetensors"):
        colorizers.load_model(repo_id)  # refused (loading.py's message: "no model.safetensors")
    monkeypatch.delenv("DISABLE_SAFETENSORS_CONVERSION")  # as for users: refused before transformers runs
    with pytest.raises(ModelLoadError, match=r"only as pickle files \(pytorch_model\.bin\).*arbitrary code"):
        colorizers.load_model(repo_id)
    assert not [path for _, path in hub_env.requests if "/discussions" in path]  # no conversion request
    with pytest.raises(ModelLoadError, match="only as pickle files"):
        colorizers.load_model(str(folder))
    with pytest.raises(OSError):
        AutoModel.from_pretrained(repo_id, use_safetensors=True)
    assert not [path for method, path in hub_env.requests if method == "GET" and path.endswith("pytorch_model.bin")]

    with pytest.raises(hub.NotASavedModelError, match="pytorch_model.bin"):
        hub.push_to_hub(folder, f"{USER}/never-created")


def test_missing_and_rejected_tokens(hub_env, tmp_path, monkeypatch, capsys):
    folder = _save_folder(tiny_model("vanilla-v1"), tmp_path / "run")
    monkeypatch.delenv("HF_TOKEN")
    requests_before = len(hub_env.requests)
    with pytest.raises(hub.MissingTokenError, match="HF_TOKEN.*hf auth login"):
        hub.push_to_hub(folder, f"{USER}/no-token")
    assert cli_main(["push", str(folder), "--repo-id", f"{USER}/no-token"]) == 2
    assert "no Hugging Face token" in capsys.readouterr().err
    assert len(hub_env.requests) == requests_before  # refused before any request

    token_file = tmp_path / "login-token"  # where `hf auth login` stores it
    token_file.write_text(FILE_TOKEN)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(token_file))
    assert hub.push_to_hub(folder, f"{USER}/file-token").oid

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(hub.HubError, match="offline mode"):
        hub.push_to_hub(folder, f"{USER}/offline")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)

    monkeypatch.setenv("HF_TOKEN", "hf_revoked")
    with pytest.raises(hub.HubError, match="refused the token"):
        hub.push_to_hub(folder, f"{USER}/bad-token")


@pytest.mark.parametrize("repo_id", ["", "bad repo!", "org/name/extra", "org/-name-", "org--x/name", "a" * 97])
def test_invalid_repo_id(hub_env, tmp_path, repo_id):
    folder = _save_folder(tiny_model("vanilla-v1"), tmp_path / "run")
    requests_before = len(hub_env.requests)
    with pytest.raises(hub.InvalidRepoIdError, match="repository id"):
        hub.push_to_hub(folder, repo_id)
    assert len(hub_env.requests) == requests_before


def test_not_a_saved_model(hub_env, tmp_path, capsys):
    requests_before = len(hub_env.requests)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(hub.NotASavedModelError, match="no config.json"):
        hub.push_to_hub(empty, f"{USER}/x")
    with pytest.raises(hub.NotASavedModelError, match="not a folder"):
        hub.push_to_hub(tmp_path / "missing", f"{USER}/x")

    no_weights = tmp_path / "no-weights"
    tiny_model("unet").config.save_pretrained(no_weights)
    with pytest.raises(hub.NotASavedModelError, match="no model.safetensors"):
        hub.push_to_hub(no_weights, f"{USER}/x")

    broken = _save_folder(tiny_model("unet"), tmp_path / "broken")
    (broken / "model.safetensors").write_bytes(b"\x00" * 4)
    with pytest.raises(hub.NotASavedModelError, match="not a readable safetensors file"):
        hub.push_to_hub(broken, f"{USER}/x")

    from colorizers.models.discriminator import ColorizerDiscriminatorConfig, ColorizerDiscriminatorModel

    torch.manual_seed(0)
    discriminator = tmp_path / "discriminator"
    ColorizerDiscriminatorModel(ColorizerDiscriminatorConfig(hidden_sizes=[4, 8])).save_pretrained(discriminator)
    with pytest.raises(hub.NotASavedModelError, match="does not hold a colorizer"):
        hub.push_to_hub(discriminator, f"{USER}/x")
    assert cli_main(["push", str(discriminator), "--repo-id", f"{USER}/x"]) == 2
    assert "does not hold a colorizer" in capsys.readouterr().err
    assert len(hub_env.requests) == requests_before  # refused before any request


# ---------------------------------------------------------------------------------------------
# Model cards
# ---------------------------------------------------------------------------------------------


def test_card_round_trips_with_eval_results(hub_env, published):
    entry = published["unet"]
    card = ModelCard.load(entry["repo_id"])  # by id, from the Hub
    data = card.data
    assert data.library_name == "transformers"
    assert data.pipeline_tag == "image-to-image"
    assert data.license == "apache-2.0"
    assert data.datasets == ["tiny-imagenet"]
    assert {"colorization", "colorizers-unet"} <= set(data.tags)
    assert data.model_name == "colorizers-unet"
    measured = {(result.dataset_name, result.metric_type): result.metric_value for result in data.eval_results}
    expected = {
        (item["dataset_name"], metric): round(item[metric], 4)
        for item in EVAL_RESULTS["evaluations"]
        for metric in ("psnr", "ssim", "colorfulness")
    }
    assert measured == expected
    assert data.eval_results == model_card.eval_results_from(EVAL_RESULTS)
    assert {result.dataset_split for result in data.eval_results} == {"test"}
    assert "| kodak24 | test | 24 | 256 px | 23.42 | 0.9312 | 14.25 | 36.57 | -22.32 |" in card.text
    assert "![Gray input, colorized output and the true colours](samples.png)" in card.text
    assert "![Loss curves](loss_curves.png)" in card.text
    assert f'colorizers.load_model("{entry["repo_id"]}")' in card.text
    assert "accelerate launch train/train.py --model unet" in card.text
    assert "not evaluated" not in card.text.lower()
    first = ModelCard.load(HfApi().hf_hub_download(entry["repo_id"], "README.md", revision=entry["first"]))
    assert first.data.eval_results == data.eval_results


def test_card_without_results_says_not_evaluated(hub_env, published):
    entry = published["gan"]
    card = ModelCard.load(entry["repo_id"])
    assert card.data.eval_results is None
    assert "model-index" not in card.content.split("---")[1]
    assert "**Not evaluated:**" in card.text
    assert "Training data" in card.text and "**Not recorded:**" in card.text
    assert "gan" in card.data.tags


def test_card_from_training_run_results(tmp_path):
    """The shape train/train.py writes: a local dataset path, a measured gray baseline, extra settings."""
    folder = _save_folder(tiny_model("gan"), tmp_path / "run")
    evaluation = {**EVAL_RESULTS["evaluations"][0], "dataset_name": "tiny-val", "dataset_type": "tiny-val"}
    results = {
        "evaluations": [{**evaluation, "split": "validation", "size": 64}],
        "baselines": {
            "gray": {
                "dataset_name": "tiny-val",
                "num_images": 24,
                "psnr": 22.0,
                "ssim": 0.93,
                "colorfulness": 0.1,
                "reference_colorfulness": 30.2,
                "colorfulness_gap": -30.1,
            }
        },
        "training": {
            **EVAL_RESULTS["training"],
            "preset": "gan",
            "dataset": "/data/shared/tiny-imagenet",
            "rank_weight_checksums": [0.123456789] * 50,
            "filtered": {"train": {"kept": 9, "dropped": 1}},
            "curve": [
                {"step": 500, "images": 16000, "loss": 0.0213, "psnr": 21.5, "colorfulness": 9.04},
                {"step": 1000, "images": 32000, "loss": 0.01871, "psnr": 22.456, "colorfulness": 14.25, "corr_a": 0.3},
            ],
        },
    }
    (folder / "eval_results.json").write_text(json.dumps(results))
    card = model_card.render_model_card(folder)
    assert "### Validation curve" in card.text and '"curve"' not in card.text and "| curve |" not in card.text
    assert "| 500 | 16,000 | 0.0213 | 21.50 | 9.0 | – | – |" in card.text
    assert "| 1,000 | 32,000 | 0.0187 | 22.46 | 14.2 | 0.30 | – |" in card.text
    assert card.data.datasets is None  # a local path is no Hub dataset id
    assert "trained on **tiny-imagenet (a local copy)**" in card.text and "/data/shared" not in card.text
    assert "| tiny-val | validation | 24 | 64 px | 22.00 | 0.9300 | 0.10 | 30.20 | -30.10 |" in card.text
    assert "rank weight checksums" not in card.text and '| filtered | {"train"' in card.text
    assert "the `gan` preset" in card.text
    assert {(result.dataset_name, result.dataset_split) for result in card.data.eval_results} == {
        ("tiny-val", "validation")
    }


def test_card_has_no_curve_for_a_run_validated_once(tmp_path):
    folder = _save_folder(tiny_model("unet"), tmp_path / "run")
    curve = [{"step": 10, "images": 40, "loss": 0.02, "psnr": 20.0}]
    (folder / "eval_results.json").write_text(json.dumps({**EVAL_RESULTS, "training": {"steps": 10, "curve": curve}}))
    card = hub.render_model_card(folder)
    assert "| optimisation steps | 10 |" in card.text and "Validation curve" not in card.text


def test_card_shows_auc_where_measured(tmp_path):
    folder = _save_folder(tiny_model("unet"), tmp_path / "run")
    measured = {**EVAL_RESULTS["evaluations"][0], "auc": 91.2345, "auc_rebalanced": 61.5}
    (folder / "eval_results.json").write_text(json.dumps({"evaluations": [measured, EVAL_RESULTS["evaluations"][1]]}))
    card = hub.render_model_card(folder)
    assert "| AuC (%) | AuC rebalanced (%) |" in card.text
    assert "| kodak24 | test | 24 | 256 px | 23.42 | 0.9312 | 14.25 | 36.57 | -22.32 | 91.23 | 61.50 |" in card.text
    assert "| cbsd68 | test | 68 | processor default | 22.90 | 0.9402 | 12.50 | 33.86 | -21.36 | – | – |" in card.text
    values = {(r.dataset_name, r.metric_type): r.metric_value for r in card.data.eval_results}
    assert values[("kodak24", "auc")] == 91.2345 and values[("kodak24", "auc_rebalanced")] == 61.5
    assert ("cbsd68", "auc") not in values


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_renders_a_card(tmp_path, name):
    folder = _save_folder(tiny_model(name), tmp_path / name)
    # tiny configs of two presets of one family can be identical: name the preset, as train.py does
    path = model_card.write_model_card(folder, preset_name=name)
    assert path == folder / "README.md"
    card = ModelCard.load(path)
    source = model_card.card_source(model_folder.inspect_model_folder(folder).family)
    assert source["presets"][name]["faithfulness"].split()[0] in card.text
    assert f"the `{name}` preset" in card.text
    first_paragraphs = card.text.split("# ", 1)[1].split("\n\n")[:3]  # the title, the preset line, then this
    assert first_paragraphs[2] == f"> **Faithfulness to its report:** {source['presets'][name]['in_one_line']}"
    if name != "chroma":  # the seed presets point to their report's reproduced comparison
        assert f"{source['presets'][name]['reproduced_in']} in the colorizers README" in card.text
    assert "@" in card.text.split("## Citation", 1)[1]  # a BibTeX entry
    assert "**Not evaluated:**" in card.text
    assert "{{" not in card.text and "{%" not in card.text


def test_preset_is_matched_from_config(tmp_path):
    for name in PRESETS:
        config = colorizers.get_preset(name).make_config().to_dict()
        assert match_preset(config).name == name
        retrained = {**config, "image_size": 64, "loss_type": "l1"}  # tuning values do not change the preset
        assert match_preset(retrained).name == name
    tiny_model("unet").save_pretrained(tmp_path / "unet")
    assert model_folder.inspect_model_folder(tmp_path / "unet").preset.name == "unet"


def test_remote_code_files_are_self_contained():
    # every family with presets ships its two modules plus the processor and its colour maths, assembled flat
    for family, module in colorizers.models.FAMILIES.items():
        if not module.PRESETS:
            continue
        config_class, model_class = module.AUTO_CLASSES[0]
        fake = model_folder.ModelFolder(
            Path("."), {}, family, config_class.model_type, config_class, model_class, None
        )
        expected = {
            f"configuration_{family}.py",
            f"modeling_{family}.py",
            "image_processing_colorizer.py",
            "color.py",
            "upsampling.py",
            "processor_settings.py",
        }
        sources = remote_code.remote_code_sources(fake)
        assert expected <= set(sources)
        # the library's own text, with only its colorizers imports pointed at the sibling files
        assert "from .color import" in sources["image_processing_colorizer.py"]
        assert not re.search(r"^\s*(from|import) colorizers", "".join(sources.values()), re.M)


# ---------------------------------------------------------------------------------------------
# The server itself: headers and error codes the client relies on
# ---------------------------------------------------------------------------------------------


def _request(url: str, method: str = "GET", headers: dict | None = None, data: bytes | None = None):
    request = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_server_protocol_details(hub_server, published):
    entry = published["unet"]
    base = f"{hub_server.url}/{entry['repo_id']}/resolve"
    status, headers, body = _request(f"{base}/main/config.json", "HEAD")
    assert status == 200 and body == b""
    assert headers["X-Repo-Commit"] == entry["second"]
    size = int(headers["Content-Length"])
    assert headers["ETag"].startswith('"') and len(headers["ETag"]) == 42

    status, headers, body = _request(f"{base}/{entry['first']}/config.json", headers={"Range": "bytes=2-9"})
    assert status == 206 and len(body) == 8
    assert headers["Content-Range"].startswith("bytes 2-9/")
    assert headers["X-Repo-Commit"] == entry["first"]
    status, headers, _ = _request(f"{base}/main/config.json", headers={"Range": f"bytes={size + 5}-"})
    assert status == 416

    for url, code in [
        (f"{base}/main/generation_config.json", "EntryNotFound"),
        (f"{base}/no-such-branch/config.json", "RevisionNotFound"),
        (f"{hub_server.url}/{USER}/no-such-repo/resolve/main/config.json", "RepoNotFound"),
    ]:
        status, headers, _ = _request(url, "HEAD")
        assert (status, headers.get("X-Error-Code")) == (404, code), url

    create = json.dumps({"name": "colorizers-unet", "organization": USER, "type": "model"}).encode()
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    assert _request(f"{hub_server.url}/api/repos/create", "POST", auth, create)[0] == 409
    assert _request(f"{hub_server.url}/api/repos/create", "POST", {}, create)[0] == 401
    assert _request(f"{hub_server.url}/api/whoami-v2")[0] == 401


def test_card_says_where_a_model_falls_below_the_gray_prediction_and_why(tmp_path):
    folder = _save_folder(tiny_model("chroma"), tmp_path / "chroma")
    below = copy.deepcopy(EVAL_RESULTS)
    below["evaluations"][0]["psnr"] = 21.0  # kodak24: gray scores 22.46; cbsd68 stays above its 22.51
    (folder / "eval_results.json").write_text(json.dumps(below))
    text = model_card.render_model_card(folder, preset_name="chroma").text
    line = next(line for line in text.splitlines() if line.startswith("> **Below the gray prediction's PSNR**"))
    assert "on kodak24: 1.46 dB below it (21.00 vs 22.46 dB). Why: its default decoding, chosen on tuning sets" in line
    assert "cbsd68" not in line
    above = _save_folder(tiny_model("chroma"), tmp_path / "above", extras=True)
    assert "Below the gray prediction" not in model_card.render_model_card(above, preset_name="chroma").text


def test_a_push_refuses_an_index_with_missing_or_escaping_shards(tmp_path):
    (tmp_path / "model-00001-of-00002.safetensors").write_bytes(b"")
    index = tmp_path / "model.safetensors.index.json"
    shards = {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}
    index.write_text(json.dumps({"weight_map": shards}))
    with pytest.raises(
        model_folder.NotASavedModelError, match="missing weight shards listed in its index: model-00002"
    ):
        model_folder.weight_files(tmp_path)
    index.write_text(json.dumps({"weight_map": {"a": "../elsewhere.safetensors"}}))
    with pytest.raises(model_folder.NotASavedModelError, match="names weight files outside its folder"):
        model_folder.weight_files(tmp_path)
    index.write_text("{not json")
    with pytest.raises(model_folder.NotASavedModelError, match="is not a valid safetensors index"):
        model_folder.weight_files(tmp_path)
    index.unlink()
    assert model_folder.weight_files(tmp_path) == []
    (tmp_path / "model.safetensors").write_bytes(b"")
    assert model_folder.weight_files(tmp_path) == [tmp_path / "model.safetensors"]

"""Shipped weights are verified against the checksums recorded when they shipped (colorizers.model_io.checksums)."""

import json
import shutil

import pytest

import colorizers
from colorizers import registry
from colorizers.model_io.checks import ModelLoadError
from colorizers.model_io.checksums import CHECKSUMS_FILE, ChecksumError, record_checksums, verify_checksums

SHIPPED = colorizers.list_models(with_weights=True)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_preset_matches_its_recorded_checksums(name):
    folder = registry.get_preset(name).weights_dir
    recorded = json.loads((folder / CHECKSUMS_FILE).read_text())
    assert recorded and all(len(value) == 64 for value in recorded.values())
    verify_checksums(folder, name)  # raises on any difference


@pytest.fixture
def shipped_copy(tmp_path, monkeypatch):
    """vanilla-v1's shipped folder copied into a pretrained/ of our own, which the registry then reads."""
    root = tmp_path / "pretrained"
    shutil.copytree(registry.get_preset("vanilla-v1").weights_dir, root / "vanilla-v1")
    monkeypatch.setattr(registry, "PRETRAINED_DIR", root)
    return root / "vanilla-v1"


def test_an_intact_copy_loads(shipped_copy):
    assert colorizers.load_model("vanilla-v1").config.model_type == "colorizer_vanilla"


def test_a_flipped_bit_is_refused_by_name(shipped_copy):
    weights = shipped_copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0x01  # inside the last tensor: the file still parses, its numbers are wrong
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError) as refused:
        colorizers.load_model("vanilla-v1")
    assert str(refused.value) == (
        "preset 'vanilla-v1': model.safetensors is damaged (its SHA-256 differs from the one recorded when it "
        "shipped); reinstall colorizers"
    )


def test_missing_or_unrecorded_files_are_refused(shipped_copy):
    (shipped_copy / "model-00001-of-00002.safetensors").write_bytes(b"{}")
    with pytest.raises(ChecksumError, match=r"are not the ones checksums.json records"):
        verify_checksums(shipped_copy, "vanilla-v1")
    record_checksums(shipped_copy)
    verify_checksums(shipped_copy, "vanilla-v1")  # recorded again: accepted
    (shipped_copy / CHECKSUMS_FILE).unlink()
    with pytest.raises(ChecksumError, match=r"^preset 'vanilla-v1' ships no checksums.json: its weights cannot be"):
        verify_checksums(shipped_copy, "vanilla-v1")

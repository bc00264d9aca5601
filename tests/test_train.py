"""The training script, run for real: subprocesses, 2-process gloo runs, kills and resumes."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

import colorizers

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "train" / "train.py"
TINY_UNET = ["--model", "unet", "--config_overrides", '{"hidden_sizes": [4, 8]}', "--resolution", "16"]


def _load_train_module():
    spec = importlib.util.spec_from_file_location("colorizers_train_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


train_script = _load_train_module()


def _colour_image(rng, height=24, width=32):
    image = np.zeros((height, width, 3), np.uint8)
    image[..., 0] = rng.integers(0, 256)
    image[..., 1] = np.linspace(0, 255, width, dtype=np.uint8)[None]
    image[..., 2] = rng.integers(0, 256, (height, width))
    return Image.fromarray(image)


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    """12 colour images in nested folders, 3 grayscale ones, one corrupt file."""
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("photos")
    (root / "nested").mkdir()
    for index in range(12):
        _colour_image(rng).save(root / ("nested" if index % 2 else ".") / f"colour{index}.png")
    for index in range(3):
        Image.fromarray(rng.integers(0, 256, (24, 32), dtype=np.uint8)).save(root / f"gray{index}.png")
    (root / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    return root


@pytest.fixture(scope="module")
def validation_folder(tmp_path_factory):
    rng = np.random.default_rng(1)
    root = tmp_path_factory.mktemp("validation")
    for index in range(7):  # odd on purpose: 2 processes get uneven shares
        _colour_image(rng, 20, 20).save(root / f"val{index}.png")
    return root


def _env():
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return env


def _train(*args, launcher=(), timeout=300, cache=None):
    command = [sys.executable, *launcher, str(SCRIPT), *map(str, args)]
    if cache is not None:
        command += ["--cache_dir", str(cache)]
    return subprocess.run(command, capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=timeout)


def _weights(path: Path) -> dict:
    return load_file(str(path))


def test_two_process_run_syncs_weights_and_gathers_every_image_once(image_folder, validation_folder, tmp_path):
    out = tmp_path / "run"
    result = _train(
        *TINY_UNET, "--train_data_dir", image_folder, "--validation_data_dir", validation_folder,
        "--output_dir", out, "--train_batch_size", 2, "--eval_batch_size", 2, "--max_train_steps", 3,
        "--validation_steps", 2, "--checkpointing_steps", 2, "--logging_steps", 1,
        launcher=("-m", "accelerate.commands.launch", "--config_file", str(ROOT / "train" / "configs" / "multi_cpu.yaml")),
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
    for name in ("config.json", "model.safetensors", "preprocessor_config.json", "sample_grid.png", "loss_curves.png", "README.md"):
        assert (out / name).is_file(), name
    model = colorizers.load_model(str(out))
    photo = Image.open(validation_folder / "val0.png")
    assert colorizers.colorize(photo, model).size == photo.size
    assert dict(colorizers.load_processor(model).size) == {"longest_edge": 16}


def test_resume_after_sigkill_matches_a_straight_run(image_folder, tmp_path):
    common = [*TINY_UNET, "--train_data_dir", image_folder, "--validation_split_percentage", 20,
              "--train_batch_size", 2, "--max_train_steps", 8, "--checkpointing_steps", 4,
              "--validation_steps", 100, "--logging_steps", 1, "--num_validation_images", 0]
    straight = _train(*common, "--output_dir", tmp_path / "straight", cache=tmp_path / "cache")
    assert straight.returncode == 0, straight.stderr[-3000:]

    interrupted = tmp_path / "interrupted"
    command = [sys.executable, str(SCRIPT), *map(str, common), "--output_dir", str(interrupted), "--cache_dir", str(tmp_path / "cache")]
    process = subprocess.Popen(command, env=_env(), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    halfway = interrupted / "checkpoints" / "checkpoint-4"
    deadline = time.monotonic() + 240
    while not (halfway / "training_state.json").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert (halfway / "training_state.json").exists()

    resumed = _train(*common, "--output_dir", interrupted, "--resume_from_checkpoint", halfway, cache=tmp_path / "cache")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed from" in resumed.stderr and "at step 4" in resumed.stderr
    expected, actual = _weights(tmp_path / "straight" / "model.safetensors"), _weights(interrupted / "model.safetensors")
    assert expected.keys() == actual.keys()
    for key in expected:
        assert torch.equal(expected[key], actual[key]), key


def test_sigterm_writes_a_loadable_checkpoint_and_latest_ignores_partial_ones(image_folder, tmp_path):
    out = tmp_path / "run"
    command = [sys.executable, str(SCRIPT), *TINY_UNET, "--train_data_dir", str(image_folder), "--output_dir", str(out),
               "--validation_split_percentage", "20", "--train_batch_size", "2", "--max_train_steps", "100000",
               "--checkpointing_steps", "100000", "--validation_steps", "100000", "--logging_steps", "1",
               "--dataloader_num_workers", "1", "--cache_dir", str(tmp_path / "cache")]
    # its own process group, signalled as a whole: what preemption and Ctrl-C do (workers included)
    process = subprocess.Popen(command, env=_env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    metrics = out / "metrics.jsonl"
    deadline = time.monotonic() + 240
    while (not metrics.exists() or len(metrics.read_text().splitlines()) < 3) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr[-3000:]
    assert "stopped by SIGTERM" in stderr
    (checkpoint,) = train_script.complete_checkpoints(out)
    step = json.loads((checkpoint / "training_state.json").read_text())["global_step"]
    assert step >= 3 and checkpoint.name == f"checkpoint-{step}"
    loaded = colorizers.load_model(str(checkpoint))
    assert isinstance(loaded, colorizers.create_model("unet", hidden_sizes=[4, 8]).__class__)

    # a crash mid-save leaves either a staging folder or a folder without its completion marker
    (out / "checkpoints" / f".tmp-checkpoint-{step + 5}").mkdir()
    partial = out / "checkpoints" / f"checkpoint-{step + 10}"
    partial.mkdir()
    (partial / "model.safetensors").write_bytes(b"half")
    assert train_script.resolve_checkpoint("latest", out) == checkpoint

    # and a fresh run refuses to clobber the run it would otherwise overwrite
    again = _train(*TINY_UNET, "--train_data_dir", image_folder, "--output_dir", out, "--max_train_steps", 1)
    assert again.returncode == 2 and "already holds checkpoints" in again.stderr


def test_gan_mode_updates_generator_and_discriminator(image_folder, tmp_path):
    out = tmp_path / "gan"
    overrides = {"hidden_sizes": [4, 8, 8], "discriminator": {"hidden_sizes": [4, 8]}}
    result = _train(
        "--model", "unet-gan", "--config_overrides", json.dumps(overrides), "--resolution", 32,
        "--train_data_dir", image_folder, "--validation_split_percentage", 20, "--output_dir", out,
        "--train_batch_size", 2, "--max_train_steps", 2, "--checkpointing_steps", 1, "--checkpoints_total_limit", 5,
        "--validation_steps", 100, "--logging_steps", 1, cache=tmp_path / "cache",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    first, second = out / "checkpoints" / "checkpoint-1", out / "checkpoints" / "checkpoint-2"
    for weights in ("model.safetensors", "model_1.safetensors"):  # generator, discriminator
        before, after = _weights(first / weights), _weights(second / weights)
        changed = [key for key in before if before[key].is_floating_point() and not torch.equal(before[key], after[key])]
        assert changed, f"{weights} did not change between steps 1 and 2"
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert all("discriminator_loss" in r for r in records if "train_loss" in r)
    assert json.loads((out / "eval_results.json").read_text())["training"]["loss"] == "gan"
    discriminator = colorizers.load_model(str(out / "discriminator"))
    assert discriminator.config.model_type == "colorizer_discriminator"


@pytest.mark.parametrize(
    "args,message",
    [
        (["--train_data_dir", "{missing}"], "does not exist"),
        (["--train_data_dir", "{empty}"], "is empty"),
        (["--train_data_dir", "{junk}"], "no decodable colour image"),
        (["--train_data_dir", "{images}", "--model", "no-such-model"], "unknown model 'no-such-model'"),
        (["--train_data_dir", "{images}", "--resolution", "3"], "cannot be built with these settings"),
        (["--train_data_dir", "{images}", "--config_overrides", "{not json"], "not valid JSON"),
    ],
)
def test_bad_setups_exit_2_with_one_clear_message(args, message, image_folder, tmp_path):
    (tmp_path / "empty").mkdir()
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "fake.png").write_text("not an image")
    (junk / "also.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    paths = {"missing": tmp_path / "missing", "empty": tmp_path / "empty", "junk": junk, "images": image_folder}
    for key, value in paths.items():
        args = [a.replace("{" + key + "}", str(value)) for a in args]
    base = ["--model", "unet", "--resolution", "16", "--output_dir", str(tmp_path / "out"), "--max_train_steps", "1"]
    result = _train(*base, *args, cache=tmp_path / "cache")
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr[-2000:]
    assert "Traceback" not in result.stderr


def test_gray_filter_drops_gray_and_corrupt_keeps_colour():
    import datasets

    from colorizers.data import filter_images

    rng = np.random.default_rng(2)
    images = [_colour_image(rng) for _ in range(4)]
    images += [Image.fromarray(rng.integers(0, 256, (24, 32), dtype=np.uint8)).convert("RGB") for _ in range(2)]  # gray stored as RGB
    images += [Image.fromarray(rng.integers(0, 256, (24, 32), dtype=np.uint8))]  # mode L
    dataset = datasets.Dataset.from_dict({"image": images}, features=datasets.Features({"image": datasets.Image()}))
    rows = dataset.cast_column("image", datasets.Image(decode=False)).to_list()
    rows.append({"image": {"bytes": b"garbage", "path": None}})
    dataset = datasets.Dataset.from_list(rows, features=datasets.Features({"image": datasets.Image(decode=False)}))
    kept, counts = filter_images(dataset, "image")
    assert counts == {"kept": 4, "grayscale": 3, "undecodable": 1}
    assert len(kept) == 4
    _, unfiltered = filter_images(dataset, "image", max_share=None)
    assert unfiltered == {"kept": 7, "grayscale": 0, "undecodable": 1}


def test_samples_are_reproducible_and_augmented():
    from colorizers.data import Augmentation, make_sample

    image = _colour_image(np.random.default_rng(3), 40, 50)
    augmentation = Augmentation(max_rotation=10)
    a = make_sample(image, 16, augmentation=augmentation, rng=np.random.default_rng(7))
    b = make_sample(image, 16, augmentation=augmentation, rng=np.random.default_rng(7))
    c = make_sample(image, 16, augmentation=augmentation, rng=np.random.default_rng(8))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["labels"], c["labels"])
    assert a["pixel_values"].shape == (1, 16, 16) and a["labels"].shape == (2, 16, 16) and a["rgb"].shape == (3, 16, 16)
    # the three views describe the same pixels
    lab = colorizers.rgb_to_lab_torch(a["rgb"][None])[0]
    torch.testing.assert_close(colorizers.normalize_lightness(lab[:1]), a["pixel_values"], atol=1e-4, rtol=0)
    torch.testing.assert_close(colorizers.normalize_ab(lab[1:]), a["labels"], atol=1e-4, rtol=0)


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "rmsprop"])
@pytest.mark.parametrize("schedule", ["constant", "cosine", "plateau"])
def test_every_optimizer_and_schedule_combination_steps(optimizer, schedule):
    args = train_script.parse_args(["--model", "unet", "--train_data_dir", ".", "--output_dir", "x", "--lr_scheduler", schedule,
                                    "--optimizer", optimizer, "--lr_warmup_steps", "2"])
    model = colorizers.create_model("unet", hidden_sizes=[4, 8])
    opt = train_script.build_optimizer(optimizer, model.parameters(), 1e-3, 0.01)
    sched = train_script.build_scheduler(args, opt, total_steps=10, num_processes=1)
    before = [p.detach().clone() for p in model.parameters()]
    rates = []
    for _ in range(3):
        model(pixel_values=torch.rand(2, 1, 16, 16), labels=torch.rand(2, 2, 16, 16)).loss.backward()
        opt.step()
        opt.zero_grad()
        sched.step(1.0) if schedule == "plateau" else sched.step()
        rates.append(opt.param_groups[0]["lr"])
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    if schedule == "plateau":
        for _ in range(60):
            sched.step(1.0)  # no improvement: the rate drops, but never below the floor
        assert opt.param_groups[0]["lr"] == pytest.approx(args.min_learning_rate)
    elif schedule == "constant":
        assert rates == pytest.approx([5e-4, 1e-3, 1e-3])  # linear warm-up over 2 steps, then flat
    else:
        assert rates[0] == pytest.approx(5e-4) and rates[1] == pytest.approx(1e-3) and rates[2] < 1e-3


@pytest.mark.parametrize("loss_type", ["mse", "l1", "huber"])
def test_each_regression_loss(loss_type):
    model = colorizers.create_model("unet", hidden_sizes=[4, 8], loss_type=loss_type)
    labels = torch.full((1, 2, 16, 16), 0.5)
    prediction = colorizers.predicted_ab(model(pixel_values=torch.zeros(1, 1, 16, 16)))
    expected = {
        "mse": torch.nn.functional.mse_loss(prediction, labels),
        "l1": torch.nn.functional.l1_loss(prediction, labels),
        "huber": torch.nn.functional.huber_loss(prediction, labels, delta=0.1),
    }[loss_type]
    torch.testing.assert_close(model(pixel_values=torch.zeros(1, 1, 16, 16), labels=labels).loss, expected)


def test_gan_losses_and_frozen_forward():
    from colorizers.losses import discriminator_loss, frozen_forward, generator_adversarial_loss

    confident = torch.full((2, 1, 3, 3), 20.0)
    assert discriminator_loss(confident, -confident) < 1e-6
    assert generator_adversarial_loss(-confident) > 10
    discriminator = colorizers.models.FAMILIES["discriminator"].ColorizerDiscriminatorModel(
        colorizers.models.FAMILIES["discriminator"].ColorizerDiscriminatorConfig(hidden_sizes=[4, 8])
    )
    ab = torch.zeros(1, 2, 24, 24, requires_grad=True)
    logits = frozen_forward(discriminator, pixel_values=torch.zeros(1, 1, 24, 24), ab=ab).logits
    generator_adversarial_loss(logits).backward()
    assert ab.grad is not None and ab.grad.abs().sum() > 0
    assert all(p.grad is None for p in discriminator.parameters())


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


def test_streaming_run_filters_lazily_and_finishes(image_folder, tmp_path):
    out = tmp_path / "stream"
    result = _train(
        *TINY_UNET, "--train_data_dir", image_folder, "--validation_data_dir", image_folder, "--streaming",
        "--output_dir", out, "--train_batch_size", 2, "--max_train_steps", 3, "--logging_steps", 1,
        "--dataloader_num_workers", 1, cache=tmp_path / "cache",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((out / "eval_results.json").read_text())
    assert results["evaluations"][0]["num_images"] == 12  # the 3 gray and the corrupt file dropped on the fly
    assert results["training"]["steps"] == 3

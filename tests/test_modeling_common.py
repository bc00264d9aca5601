"""One model suite over every registered model type (transformers' ``ModelTesterMixin``, for colorizers).

Every preset, and every registered model that is not a colorizer (the GAN discriminator), goes through
the same checks at its family's ``TINY_CONFIG``: output shapes at square, odd and non-square sizes,
the loss with and without labels, gradients, ``return_dict=False``, save/load through the Auto
classes, eval-mode determinism, parameter counts, gradient checkpointing, config serialisation and
config validation. The per-family test files keep only what is particular to their family.

A new family is covered as soon as it registers: presets are picked up from the registry, and
``test_every_registered_model_type_is_covered`` fails for a model type without presets that this
file does not yet know how to feed.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass

import pytest
import torch
from conftest import family_of, tiny_model
from huggingface_hub.errors import (
    StrictDataclassClassValidationError,
    StrictDataclassFieldValidationError,
)
from transformers import AutoConfig, AutoModel, AutoModelForImageToImage

import colorizers
from colorizers import registry
from colorizers.models import FAMILIES
from colorizers.models.modeling_utils import AB_COLORIZER_ARGUMENTS, AbColorizerConfig
from colorizers.objectives import OBJECTIVE_ARGUMENTS, ObjectiveConfig

# A square size, odd and non-square sizes (both orientations) and sizes below every model's stride.
SIZES = [(32, 32), (37, 19), (9, 70), (3, 5), (1, 1)]
BATCH = 2

# Registered model types without presets (not colorizers): how the suite feeds them. The discriminator
# judges an (L, ab) pair and answers one logit per patch; its labels are 1 (real) or 0 (generated) per image.
NON_COLORIZER_TYPES = {"colorizer_discriminator"}


@dataclass(frozen=True)
class ModelCase:
    """One model the suite runs: a preset, or a registered model class with no preset."""

    id: str
    family: str
    config_class: type
    model_class: type
    preset: str | None = None

    def build(self, **overrides):
        """The model at its family's tiny size, deterministically initialised."""
        if self.preset is not None:
            return tiny_model(self.preset, **overrides)
        torch.manual_seed(0)
        return self.model_class(self.config_class(**{**FAMILIES[self.family].TINY_CONFIG, **overrides}))

    def tiny_config(self):
        if self.preset is not None:
            return colorizers.get_preset(self.preset).make_config(**FAMILIES[self.family].TINY_CONFIG)
        return self.config_class(**FAMILIES[self.family].TINY_CONFIG)

    @property
    def is_colorizer(self) -> bool:
        return self.preset is not None

    @property
    def output_name(self) -> str:
        """The output field holding the prediction (the one `return_dict=False` puts first after the loss)."""
        if not self.is_colorizer:
            return "logits"
        return "rgb" if getattr(self.config_class, "output_space", "ab") == "rgb" else "ab"

    def inputs(self, batch: int, height: int, width: int, seed: int = 0) -> dict:
        generator = torch.Generator().manual_seed(seed)
        inputs = {"pixel_values": torch.rand(batch, 1, height, width, generator=generator) * 2 - 1}
        if self.config_class.model_type == "colorizer_discriminator":
            inputs["ab"] = torch.rand(batch, 2, height, width, generator=generator) * 2 - 1
        return inputs

    def labels(self, batch: int, height: int, width: int, seed: int = 1) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed)
        if self.output_name == "logits":
            return (torch.arange(batch) % 2 == 0).float()  # real, generated, real, ...
        if self.output_name == "rgb":
            return torch.rand(batch, 3, height, width, generator=generator)
        return torch.rand(batch, 2, height, width, generator=generator) * 2 - 1

    def bad_labels(self, batch: int, height: int, width: int) -> tuple[torch.Tensor, str]:
        """Labels of the wrong shape, and the start of the error they must raise."""
        if self.output_name == "logits":
            return torch.ones(batch + 1), "labels must be a number or shaped"
        return torch.zeros(batch, 5, height // 2 + 1, width), "labels must be shaped like the prediction"

    def expected_shape(self, model, batch: int, height: int, width: int) -> tuple:
        if self.output_name == "logits":
            return (batch, 1, *model.patch_grid_size(height, width))
        return (batch, 3 if self.output_name == "rgb" else 2, height, width)


def _cases() -> list[ModelCase]:
    cases = []
    for name in colorizers.list_models():
        preset = colorizers.get_preset(name)
        family = preset.config_class.__module__.split(".")[2]
        model_class = registry.model_class_for(preset.make_config(**FAMILIES[family].TINY_CONFIG))
        cases.append(ModelCase(name, family, preset.config_class, model_class, preset=name))
    preset_configs = {case.config_class for case in cases}
    for family, package in FAMILIES.items():
        for config_class, model_class in package.AUTO_CLASSES:
            if config_class not in preset_configs and config_class.model_type in NON_COLORIZER_TYPES:
                cases.append(ModelCase(config_class.model_type, family, config_class, model_class))
    return cases


CASES = _cases()
CASE_IDS = [case.id for case in CASES]
PRESET_CASES = [case for case in CASES if case.is_colorizer]


def _parametrize_cases(cases=CASES):
    return pytest.mark.parametrize("case", cases, ids=[case.id for case in cases])


def test_every_registered_model_type_is_covered():
    covered = {case.model_class for case in CASES}
    registered = {model_class for package in FAMILIES.values() for _, model_class in package.AUTO_CLASSES}
    assert registered <= covered, (
        f"no case for {sorted(c.__name__ for c in registered - covered)}: give the family a preset, or teach "
        "ModelCase how to feed it and add its model_type to NON_COLORIZER_TYPES"
    )
    assert {case.preset for case in PRESET_CASES} == set(colorizers.list_models())


# --- forward ---------------------------------------------------------------------------------------


@_parametrize_cases()
@pytest.mark.parametrize("size", SIZES, ids=[f"{h}x{w}" for h, w in SIZES])
def test_output_shapes_without_labels(case, size):
    model = case.build().eval()
    with torch.no_grad():
        outputs = model(**case.inputs(BATCH, *size))
    prediction = getattr(outputs, case.output_name)
    assert prediction.shape == case.expected_shape(model, BATCH, *size)
    assert torch.isfinite(prediction).all()
    assert outputs.loss is None
    if case.is_colorizer:
        assert colorizers.predicted_ab(outputs).shape == (BATCH, 2, *size)
        # exactly one colour representation: the one the config's output_space names
        other = "ab" if case.output_name == "rgb" else "rgb"
        assert getattr(outputs, other, None) is None
    if case.output_name == "rgb":
        assert 0 <= prediction.min() and prediction.max() <= 1
    if getattr(model.config, "output_activation", None) == "tanh":
        assert prediction.abs().max() <= 1


@_parametrize_cases()
def test_loss_with_labels_and_backward_reaches_every_trainable_parameter(case):
    model = case.build().train()
    outputs = model(**case.inputs(BATCH, 32, 32), labels=case.labels(BATCH, 32, 32))
    assert outputs.loss is not None and outputs.loss.ndim == 0 and torch.isfinite(outputs.loss)
    outputs.loss.backward()
    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    assert trainable, "the model has no trainable parameter"
    missing = [name for name, p in trainable if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"no gradient reached {missing}"
    assert all(p.grad is None for p in model.parameters() if not p.requires_grad)


@_parametrize_cases()
def test_labels_of_wrong_shape_are_rejected(case):
    model = case.build()
    labels, message = case.bad_labels(1, 16, 16)
    with pytest.raises(ValueError, match=message):
        model(**case.inputs(1, 16, 16), labels=labels)


@_parametrize_cases()
def test_return_dict_false_gives_a_tuple_loss_first(case):
    model = case.build().eval()
    inputs, labels = case.inputs(BATCH, 37, 19), case.labels(BATCH, 37, 19)
    with torch.no_grad():
        outputs = model(**inputs, labels=labels)
        as_tuple = model(**inputs, labels=labels, return_dict=False)
        plain = model(**inputs, return_dict=False)
    assert type(as_tuple) is tuple and type(plain) is tuple
    assert len(as_tuple) == len(outputs.to_tuple())
    torch.testing.assert_close(as_tuple[0], outputs.loss, rtol=0, atol=0)
    for mine, theirs in zip(as_tuple, outputs.to_tuple()):
        torch.testing.assert_close(mine, theirs, rtol=0, atol=0)
    # without labels there is no loss: the prediction comes first
    torch.testing.assert_close(plain[0], getattr(outputs, case.output_name), rtol=0, atol=0)


@_parametrize_cases()
def test_eval_mode_is_deterministic(case):
    model = case.build().eval()
    inputs = case.inputs(BATCH, 37, 19)
    with torch.no_grad():
        first = getattr(model(**inputs), case.output_name)
        second = getattr(model(**inputs), case.output_name)
    torch.testing.assert_close(first, second, rtol=0, atol=0)


# --- save and load ---------------------------------------------------------------------------------


@_parametrize_cases()
def test_save_and_auto_load_round_trip(case, tmp_path):
    model = case.build()
    with torch.no_grad():  # move BatchNorm running statistics off their defaults: they must be saved too
        model.train()(**case.inputs(4, 16, 16, seed=3))
    model.eval().save_pretrained(tmp_path)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert "model.safetensors" in files and "config.json" in files
    assert not [f for f in files if f.endswith((".bin", ".pt", ".pth", ".pkl", ".ckpt"))]
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == model.config.model_type

    assert type(AutoConfig.from_pretrained(tmp_path)) is type(model.config)
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert type(loaded) is type(model)
    if case.is_colorizer:
        assert type(AutoModelForImageToImage.from_pretrained(tmp_path)) is type(model)
    else:
        assert type(model.config) not in AutoModelForImageToImage._model_mapping
    for name, buffer in model.named_buffers():
        torch.testing.assert_close(loaded.get_buffer(name), buffer, rtol=0, atol=0)
    inputs = case.inputs(BATCH, 37, 19)
    with torch.no_grad():
        expected = getattr(model(**inputs), case.output_name)
        actual = getattr(loaded(**inputs), case.output_name)
    torch.testing.assert_close(actual, expected, rtol=0, atol=0)


# --- parameters and gradient checkpointing ---------------------------------------------------------


@_parametrize_cases()
def test_num_parameters_matches_count_parameters(case, monkeypatch):
    model = case.build()
    if case.is_colorizer:
        # colorizers.count_parameters (meta device) for the preset with its family's tiny values
        preset = colorizers.get_preset(case.preset)
        tiny = dataclasses.replace(preset, config={**preset.config, **FAMILIES[case.family].TINY_CONFIG})
        monkeypatch.setattr(registry, "get_preset", lambda name: tiny if name == case.preset else preset)
        expected = colorizers.count_parameters(case.preset)
    else:
        with torch.device("meta"):
            expected = sum(p.numel() for p in case.model_class(case.tiny_config()).parameters())
    assert model.num_parameters() == expected == sum(p.numel() for p in model.parameters())
    assert model.num_parameters(only_trainable=True) == sum(p.numel() for p in model.parameters() if p.requires_grad)


@_parametrize_cases()
def test_gradient_checkpointing(case):
    # transformers 5 names it activation checkpointing; `supports_gradient_checkpointing` still says who has it
    model = case.build()
    if not model.supports_gradient_checkpointing:
        with pytest.raises(ValueError, match="does not support activation checkpointing"):
            model.activation_checkpointing_enable()
        return
    reference = case.build().train()
    model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    assert model.is_activation_checkpointing
    layers = [m for m in model.modules() if getattr(m, "gradient_checkpointing", False)]
    assert layers, "gradient checkpointing is enabled but no layer checkpoints"
    calls = []

    def counting(function):
        def checkpointed(*args, **kwargs):
            calls.append(function)
            return function(*args, **kwargs)

        return checkpointed

    for layer in layers:  # count the checkpointed calls through the function transformers gave each layer
        layer._gradient_checkpointing_func = counting(layer._gradient_checkpointing_func)

    inputs, labels = case.inputs(BATCH, 32, 32), case.labels(BATCH, 32, 32)
    model.train()
    loss = model(**inputs, labels=labels).loss
    expected_loss = reference(**inputs, labels=labels).loss
    assert len(calls) >= len(layers)
    torch.testing.assert_close(loss, expected_loss)
    loss.backward()
    expected_loss.backward()
    for (name, parameter), twin in zip(model.named_parameters(), reference.parameters()):
        if parameter.requires_grad:
            torch.testing.assert_close(parameter.grad, twin.grad, msg=name)

    model.activation_checkpointing_disable()
    assert not model.is_activation_checkpointing
    assert not any(getattr(m, "gradient_checkpointing", False) for m in model.modules())


@pytest.mark.parametrize("name", colorizers.list_models())
def test_full_size_preset_builds_and_counts_its_parameters(name):
    assert colorizers.count_parameters(name) > 0


@pytest.mark.parametrize("name", colorizers.list_models())
def test_init_is_not_transformers_default(name):
    # transformers 5 would otherwise re-initialise every conv to N(0, 0.02): far too small for deep CNNs.
    model = colorizers.create_model(name)
    stds = [
        m.weight.std().item() for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.weight.numel() > 1000
    ]
    assert stds and max(stds) > 0.03


# --- configuration ---------------------------------------------------------------------------------


@_parametrize_cases()
def test_config_dict_and_json_round_trip(case):
    configs = [case.tiny_config()]
    configs.append(colorizers.get_preset(case.preset).make_config() if case.is_colorizer else case.config_class())
    for config in configs:
        as_dict = config.to_dict()
        assert type(config).from_dict(as_dict).to_dict() == as_dict
        again = type(config).from_dict(json.loads(config.to_json_string()))
        assert again.to_dict() == as_dict
        assert as_dict["model_type"] == type(config).model_type


# (family, bad values, the start of the error): each names the field it rejects.
INVALID_CONFIGS = [
    ("unet", {"hidden_sizes": [16]}, "hidden_sizes needs at least 2 levels"),
    ("unet", {"hidden_sizes": [32, -64]}, "hidden_sizes must all be positive"),
    ("unet", {"loss_type": "cross-entropy-of-vibes"}, "loss_type must be one of"),
    ("unet", {"image_size": 8}, "image_size must be at least 16 for 5 levels"),
    ("vanilla", {"variant": 3}, "variant must be 1 or 2"),
    ("vanilla", {"hidden_sizes": [4]}, "hidden_sizes must be two positive channel counts"),
    ("vanilla", {"huber_delta": 0.0}, "huber_delta must be positive"),
    ("resnet", {"backbone_hidden_sizes": [64, 128, 256]}, "backbone_hidden_sizes must be two positive channel counts"),
    ("resnet", {"backbone_depths": [2, 0]}, "backbone_depths must be two block counts of at least 1"),
    ("resnet", {"head_hidden_sizes": [128, -64, 32]}, "head_hidden_sizes must be three positive channel counts"),
    ("resnet", {"embedding_size": 0}, "embedding_size must be positive"),
    ("strided_unet", {"training_objective": "adversarial"}, "training_objective must be one of"),
    ("strided_unet", {"gan_l1_weight": -1.0}, "gan_l1_weight must be a finite number >= 0"),
    ("strided_unet", {"gan_l1_weight": float("inf")}, "gan_l1_weight must be a finite number >= 0"),
    ("strided_unet", {"negative_slope": 1.0}, r"negative_slope must be in \[0, 1\)"),
    ("strided_unet", {"hidden_sizes": [8]}, "hidden_sizes needs at least 2 levels"),
    ("strided_unet", {"hidden_sizes": [8, 0]}, "hidden_sizes must all be positive"),
    ("strided_unet", {"output_activation": "sigmoid"}, "output_activation must be one of"),
    ("strided_unet", {"image_size": 16}, "image_size must be at least 32 for 5 levels"),
    ("cifar", {"input_size": 36}, "input_size must be a positive multiple of 8"),
    ("cifar", {"input_size": 4}, "input_size must be a positive multiple of 8"),
    ("cifar", {"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
    ("cifar", {"latent_size": 0}, "latent_size must be positive"),
    ("cifar", {"hidden_sizes": []}, "hidden_sizes must be at least one positive channel count"),
    ("autoencoder", {"encoder_type": "resnet"}, "encoder_type must be one of"),
    ("autoencoder", {"encoder_hidden_sizes": [64, 128]}, "encoder_hidden_sizes must be 8 positive channel counts"),
    ("autoencoder", {"vgg_hidden_sizes": [64, 0]}, "vgg_hidden_sizes must be 5 positive channel counts"),
    (
        "autoencoder",
        {"encoder_type": "vgg16", "image_size": 16},
        "image_size must be at least 32 for the vgg16 encoder",
    ),
    ("autoencoder", {"fusion_size": 0}, "fusion_size must be positive"),
    ("autoencoder", {"backbone_id": ""}, "backbone_id must name a Hub repository or a local folder"),
    (
        "koalarization",
        {"classifier_config": {"model_type": "resnet", "num_channels": 1}},
        "classifier_config.num_channels must be 3",
    ),
    (
        "koalarization",
        {"classifier_config": {"model_type": "gpt2"}},
        "classifier_config must be the config of an image classifier",
    ),
    ("koalarization", {"decoder_hidden_sizes": [128, 64]}, "decoder_hidden_sizes must be 4 positive channel counts"),
    ("koalarization", {"classifier_image_size": 0}, "classifier_image_size must be positive"),
    ("koalarization", {"fusion_size": -1}, "fusion_size must be positive"),
    ("chroma", {"objective": "gan"}, "objective must be one of"),
    ("chroma", {"hidden_sizes": []}, "hidden_sizes must be a non-empty list"),
    ("chroma", {"depths": [1]}, "depths needs one entry per level of hidden_sizes"),
    ("chroma", {"output_stride": 3}, "output_stride must be a power of two"),
    ("chroma", {"rebalance_lambda": 1.5}, r"rebalance_lambda must be in \[0, 1\]"),
    ("chroma", {"default_temperature": 0}, "default_temperature must be a finite number > 0"),
    ("chroma", {"soft_encoding_neighbors": 0}, r"soft_encoding_neighbors must be an integer in \[1, 32\]"),
    ("chroma", {"semantic_classes": ["a", "a"]}, "semantic_classes must not repeat a name"),
    ("chroma", {"ab_grid_step": 1}, r"ab_grid_step must be in \[2, 55\]"),
    ("chroma", {"prior_correction": 1.5}, r"prior_correction must be in \[0, 1\]"),
    ("discriminator", {"hidden_sizes": [4]}, "hidden_sizes needs at least 2 layers"),
    ("discriminator", {"hidden_sizes": [4, -8]}, "hidden_sizes must all be positive"),
    ("discriminator", {"negative_slope": 1.5}, r"negative_slope must be in \[0, 1\)"),
    ("discriminator", {"negative_slope": -0.1}, r"negative_slope must be in \[0, 1\)"),
]


def _config_class(family):
    ((config_class, _),) = FAMILIES[family].AUTO_CLASSES
    return config_class


def test_every_family_has_invalid_config_cases():
    assert {family for family, _, _ in INVALID_CONFIGS} == set(FAMILIES)


@pytest.mark.parametrize(
    "family,overrides,message",
    INVALID_CONFIGS,
    ids=[f"{family}-{'-'.join(overrides)}-{i}" for i, (family, overrides, _) in enumerate(INVALID_CONFIGS)],
)
def test_config_validation_names_the_field(family, overrides, message):
    with pytest.raises(StrictDataclassClassValidationError, match=message):
        _config_class(family)(**overrides)


# A value of the wrong type is refused by the strict dataclass before validate_architecture runs.
WRONGLY_TYPED = {"strided_unet": ("skip_connections", "yes"), "discriminator": ("negative_slope", "steep")}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_config_type_errors_name_the_field(family):
    field, value = WRONGLY_TYPED.get(family, ("image_size", "large"))
    with pytest.raises(StrictDataclassFieldValidationError, match=f"Field '{field}' expected"):
        _config_class(family)(**{field: value})


def test_tiny_configs_are_valid_for_every_preset():
    # family_of and the cases agree on every preset's family, and its tiny config builds a valid config
    for case in PRESET_CASES:
        assert family_of(case.preset) is FAMILIES[case.family]
        assert type(case.tiny_config()) is case.config_class


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_config_field_is_documented_once_with_its_default(family):
    import dataclasses

    from transformers import PreTrainedConfig

    config_class = _config_class(family)
    inherited = {field.name for field in dataclasses.fields(PreTrainedConfig)}
    doc = config_class.__doc__
    # ObjectiveConfig and AbColorizerConfig wrote the shared arguments in their places
    assert OBJECTIVE_ARGUMENTS not in doc and AB_COLORIZER_ARGUMENTS not in doc
    shared = {**ObjectiveConfig.__annotations__, **AbColorizerConfig.__annotations__}
    for field in dataclasses.fields(config_class):
        if field.name in inherited:
            continue
        entries = re.findall(rf"^        {field.name} \(`.*?, (?:defaults to|\*optional\*)([^:]*)", doc, re.M)
        assert len(entries) == 1, f"{config_class.__name__}: {field.name} is documented {len(entries)} times"
        if field.name in shared:
            assert entries[0].strip(' `")') == str(field.default), (field.name, entries[0])


@pytest.mark.parametrize("family", sorted(f for f in FAMILIES if issubclass(_config_class(f), ObjectiveConfig)))
def test_the_objective_fields_a_family_inherits_are_type_checked(family):
    with pytest.raises(StrictDataclassFieldValidationError, match="Field 'soft_encoding_neighbors' expected int"):
        _config_class(family)(soft_encoding_neighbors=2.5)
    with pytest.raises(StrictDataclassFieldValidationError, match="Field 'prior_correction' with value 'x'"):
        _config_class(family)(prior_correction="x")

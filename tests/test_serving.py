"""colorizers.serving.policy: model names, loading with precise refusals, the LRU model cache, request folders."""

import os
import threading
import time

import pytest
import torch
from conftest import tiny_model

import colorizers.registry
from colorizers.limits import Gate, Limits
from colorizers.models.discriminator import ColorizerDiscriminatorConfig, ColorizerDiscriminatorModel
from colorizers.registry import default_working_size, preset_model_types
from colorizers.serving.policy import (
    LoadedModel,
    ModelCache,
    ModelPolicy,
    ModelResolver,
    RequestError,
    RequestFolders,
    check_model_name,
    client_key,
    guarded,
    hub_reachable,
    parse_model_names,
    request_client,
    resolve_model,
    safe_filename,
)


@pytest.mark.parametrize("name", ["vanilla-v1", "someone/some-colorizer", "a.b/c_d-e"])
def test_presets_and_hub_ids_are_plausible_names(name):
    check_model_name(name)  # no error


def test_an_existing_path_is_a_plausible_name(tmp_path):
    check_model_name(str(tmp_path))


@pytest.mark.parametrize(
    "name, message",
    [
        (
            "no-such-model",
            r"^Unknown model 'no-such-model': it is not a preset, a local folder or a Hub id \(owner/name\)\. "
            r"Presets: .*vanilla-v1",
        ),
        ("vanila-v1", r"Did you mean vanilla-v1"),
        ("/no/such/folder", r"Unknown model '/no/such/folder'"),
        ("owner/", r"Unknown model 'owner/'"),
    ],
)
def test_unknown_names_are_refused_with_a_hint(name, message):
    with pytest.raises(RequestError, match=message):
        check_model_name(name)


def test_request_errors_are_value_errors():
    assert issubclass(RequestError, ValueError)


def test_model_names_of_a_request_are_stripped_and_deduplicated_in_order():
    assert parse_model_names([" vanilla-v2", "vanilla-v1", "vanilla-v2 ", ""], limit=8) == ["vanilla-v2", "vanilla-v1"]
    assert parse_model_names("vanilla-v1", limit=1) == ["vanilla-v1"]


@pytest.mark.parametrize("models", [None, [], ["", "  "]])
def test_a_request_needs_a_model(models):
    with pytest.raises(RequestError, match=r"^Pick at least one model \(a preset, a Hub id or a local folder\)\.$"):
        parse_model_names(models, limit=8)


def test_a_request_names_at_most_limit_models():
    with pytest.raises(
        RequestError, match=r"^Pick at most 2 models at once \(got 3; limit models_per_request = 2\)\.$"
    ):
        parse_model_names(["vanilla-v1", "vanilla-v2", "unet"], limit=2)


def test_an_unknown_name_anywhere_refuses_the_whole_request_before_loading():
    with pytest.raises(RequestError, match="Unknown model 'nope'"):
        parse_model_names(["vanilla-v1", "nope"], limit=8)


def test_an_untrained_preset_gets_the_same_weights_every_time_and_leaves_the_rng_alone(monkeypatch, tmp_path):
    monkeypatch.setattr(colorizers.registry, "PRETRAINED_DIR", tmp_path)  # as if vanilla-v1 shipped no weights
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    first, second = resolve_model("vanilla-v1"), resolve_model("vanilla-v1")
    assert torch.equal(torch.rand(3), expected_next)  # the global RNG did not move
    assert first.untrained and first.name == "vanilla-v1"
    for a, b in zip(first.model.parameters(), second.model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert not first.model.training


def test_a_trained_preset_loads_its_weights():
    loaded = resolve_model("vanilla-v2")
    assert not loaded.untrained
    assert (
        loaded.default_size == default_working_size("vanilla-v2") == 128
    )  # its shipped processor's, not the config default 224


def test_a_local_folder_loads(tmp_path):
    tiny_model("vanilla-v1").save_pretrained(tmp_path / "mine")
    loaded = resolve_model(str(tmp_path / "mine"))
    assert loaded.name == str(tmp_path / "mine")
    assert loaded.model.config.model_type == "colorizer_vanilla"
    assert loaded.default_size == 16  # no processor saved: the config's image_size
    assert not loaded.untrained


def test_a_folder_that_is_not_a_model_is_refused(tmp_path):
    with pytest.raises(
        RequestError, match=rf"^Model '{tmp_path}': {tmp_path} is not a saved model folder: it has no config.json$"
    ):
        resolve_model(str(tmp_path))


def test_a_model_that_is_not_a_colorizer_is_refused(tmp_path):
    torch.manual_seed(0)
    ColorizerDiscriminatorModel(ColorizerDiscriminatorConfig(hidden_sizes=[4, 8])).save_pretrained(tmp_path / "disc")
    assert "colorizer_discriminator" not in preset_model_types()
    with pytest.raises(RequestError, match="is a 'colorizer_discriminator' model, not a colorizer this app can run"):
        resolve_model(str(tmp_path / "disc"))


def test_a_hub_id_is_refused_offline_with_the_reason():
    assert os.environ["HF_HUB_OFFLINE"] == "1"  # conftest
    assert not hub_reachable()
    with pytest.raises(
        RequestError, match=r"^Model 'someone/some-colorizer' is not available offline: .* Pick a preset instead\.$"
    ):
        resolve_model("someone/some-colorizer")


def test_every_family_with_presets_is_a_colorizer_model_type():
    assert {"colorizer_vanilla", "colorizer_unet", "colorizer_koalarization"} <= preset_model_types()


def test_loaded_model_wraps_a_model_object():
    model = tiny_model("vanilla-v1").train()
    model.colorizers_untrained = True
    loaded = LoadedModel.from_model("mine", model)
    assert loaded.untrained and not loaded.model.training
    assert loaded.default_size == 16


# The cache -----------------------------------------------------------------------------------------------


class FakeLoader:
    def __init__(self, delay: float = 0.0, fail: set[str] = frozenset()):
        self.calls: list[str] = []
        self.delay, self.fail = delay, set(fail)
        self.lock = threading.Lock()

    def __call__(self, name: str):
        with self.lock:
            self.calls.append(name)
        time.sleep(self.delay)
        if name in self.fail:
            raise RequestError(f"cannot load {name}")
        return f"model {name}"


def test_cache_keeps_the_most_recently_used_models():
    loader = FakeLoader()
    cache = ModelCache(2, loader)
    assert cache.get("a") == "model a"
    cache.get("b")
    cache.get("a")  # a is now the most recently used
    cache.get("c")  # evicts b
    assert "a" in cache and "c" in cache and "b" not in cache and len(cache) == 2
    cache.get("b")
    assert loader.calls == ["a", "b", "c", "b"]


def test_cache_loads_a_model_once_when_requests_race_for_it():
    loader = FakeLoader(delay=0.2)
    cache = ModelCache(4, loader)
    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("a"))) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["model a"] * 6
    assert loader.calls == ["a"]


def test_a_failed_load_is_not_cached_and_can_be_retried():
    loader = FakeLoader(fail={"a"})
    cache = ModelCache(2, loader)
    with pytest.raises(RequestError, match="^cannot load a$"):
        cache.get("a")
    assert "a" not in cache
    loader.fail.clear()
    assert cache.get("a") == "model a"
    assert loader.calls == ["a", "a"]


def test_cache_capacity_is_at_least_one_and_clear_empties_it():
    cache = ModelCache(0, FakeLoader())
    cache.get("a")
    cache.get("b")
    assert len(cache) == 1 and "b" in cache
    cache.clear()
    assert len(cache) == 0


def test_one_resolver_checks_every_name_before_loading_and_loads_each_model_once():
    loader = FakeLoader()
    resolver = ModelResolver(ModelPolicy(public=True), ModelCache(2, loader), per_request=2)
    assert resolver.names(["vanilla-v2", " vanilla-v2 ", "chroma"]) == ["vanilla-v2", "chroma"]
    with pytest.raises(RequestError, match=r"Pick at most 2 models at once \(got 3; limit models_per_request = 2\)"):
        resolver.names(["vanilla-v1", "vanilla-v2", "chroma"])
    with pytest.raises(RequestError, match="^This server runs only the models it lists: "):
        resolver.one("/etc/passwd")
    with pytest.raises(RequestError, match="^/colorize takes one model"):
        resolver.one(["vanilla-v2", "chroma"], limit=2, refusal="/colorize takes one model; use /compare for several.")
    with pytest.raises(RequestError, match="Pick at most 1 models"):
        resolver.one(["vanilla-v2", "chroma"])
    assert loader.calls == []  # refused names load nothing
    assert resolver.load(resolver.one("vanilla-v2")) == resolver.load("vanilla-v2") == "model vanilla-v2"
    assert loader.calls == ["vanilla-v2"]
    values = Limits(public=True, models_per_request=3)
    made = ModelResolver.from_limits(values, 1, loader)
    assert made.policy == ModelPolicy.from_limits(values) and made.per_request == 3 and made.cache.capacity == 1


# Request folders and file names ------------------------------------------------------------------------


def test_each_request_gets_a_new_folder_and_old_ones_expire(tmp_path):
    folders = RequestFolders(tmp_path / "outputs", ttl_s=60)
    first, second = folders.new(), folders.new()
    assert first != second and first.is_dir() and second.is_dir() and first.parent == tmp_path / "outputs"
    (first / "x.png").write_bytes(b"png")
    old = time.time() - 120
    os.utime(first, (old, old))
    third = folders.new()
    assert not first.exists() and second.is_dir() and third.is_dir()


@pytest.mark.parametrize(
    "name, expected",
    [
        ("vanilla-v1", "vanilla-v1"),
        ("owner/model name", "owner_model_name"),
        ("/tmp/x/my-model", "tmp_x_my-model"),
        ("...", "model"),
        ("../../etc", "etc"),
    ],
)
def test_safe_filename(name, expected):
    assert safe_filename(name) == expected


# Requests: the per-client key behind a proxy, refusals ---------------------------------------------------


def _gradio_request(forwarded: list[str], peer: str = "10.0.0.9"):
    """A Gradio request as a handler sees it, with one X-Forwarded-For header per entry of ``forwarded``."""
    import gradio as gr
    from starlette.requests import Request

    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    return gr.Request(Request({"type": "http", "headers": headers, "client": (peer, 4321)}))


@pytest.mark.parametrize(
    "forwarded, behind_proxy, key",
    [
        ("1.1.1.1, 203.0.113.7", True, "203.0.113.7"),  # the entry the proxy appended, not the client's own
        ("203.0.113.7", True, "203.0.113.7"),
        (" , ", True, "10.0.0.9"),
        ("", True, "10.0.0.9"),
        ("1.1.1.1, 203.0.113.7", False, "10.0.0.9"),  # not behind a proxy: the header is the client's word only
    ],
)
def test_the_client_key_is_the_entry_the_proxy_appends(forwarded, behind_proxy, key):
    assert client_key(forwarded, "10.0.0.9", behind_proxy) == key


def test_request_client_reads_the_last_entry_of_every_forwarded_header(monkeypatch):
    from gradio.context import LocalContext

    assert request_client() is None  # outside a request
    monkeypatch.setenv("SPACE_ID", "someone/colorizers")
    token = LocalContext.request.set(_gradio_request(["6.6.6.6, 7.7.7.7", "203.0.113.7"]))
    try:
        assert request_client() == "203.0.113.7"
        monkeypatch.delenv("SPACE_ID")
        assert request_client() == "10.0.0.9"
    finally:
        LocalContext.request.reset(token)


def test_100_requests_with_changing_first_forwarded_entries_from_one_client_are_rate_limited(monkeypatch):
    from gradio.context import LocalContext

    class Refused(Exception):
        pass

    monkeypatch.setenv("SPACE_ID", "someone/colorizers")
    handler = guarded(Gate(Limits(requests_per_minute=60)), Refused)(lambda: "done")
    answers = []
    for number in range(100):
        token = LocalContext.request.set(_gradio_request([f"10.{number}.0.1, 203.0.113.7"]))
        try:
            answers.append(handler())
        except Refused as error:
            answers.append(str(error))
        finally:
            LocalContext.request.reset(token)
    assert answers[:60] == ["done"] * 60
    assert all(
        answer.startswith("Too many requests: the limit is 60 per minute per client. Try again in ")
        for answer in answers[60:]
    )
    assert len(answers) == 100


def test_a_guarded_handler_refuses_deeply_nested_json_in_one_line_and_carries_its_limits(caplog):
    import json

    class Refused(Exception):
        pass

    values = Limits(requests_per_minute=5)
    guard = guarded(Gate(values), Refused, lambda: None)
    assert guard.limits is values and guard.gate.limits is values
    with pytest.raises(Refused) as refused:
        guard(json.loads)("[" * 100_000)
    assert str(refused.value) == "The request is nested too deeply to be read (lists or objects in each other)."
    assert "Traceback" not in caplog.text


def test_model_work_holds_one_compute_slot_inside_a_request_and_a_refused_turn_reaches_the_user():
    import numpy as np

    from colorizers.serving.comparison import run_model
    from colorizers.serving.guided import GuidedPhoto

    class Refused(Exception):
        pass

    gate = Gate(Limits(concurrency=1, request_seconds=0.3))
    model = tiny_model("vanilla-v2")
    busy = []
    model.register_forward_pre_hook(lambda module, inputs: busy.append(gate.busy_slots))
    loaded = LoadedModel.from_model("tiny", model)
    image = np.zeros((24, 32, 3), np.uint8)
    run_model(loaded, image)  # outside a request: no slot
    handler = guarded(gate, Refused, lambda: None)
    handler(lambda: run_model(loaded, image))()
    handler(lambda: GuidedPhoto(image[..., 0] / 255.0, loaded).colorize(()))()
    assert busy == [0, 1, 1] and gate.busy_slots == 0
    refusals = []

    def another():  # another request, in its own thread
        try:
            handler(lambda: run_model(loaded, image))()
        except Refused as error:
            refusals.append(str(error))

    with gate.request() as other, other.compute():  # the one slot is busy: past the deadline, a refusal
        thread = threading.Thread(target=another)
        thread.start()
        thread.join(30)
    assert refusals == [
        "The server is busy with other requests and this one waited past the time limit of 0.3 s per request for "
        "its turn. Try again in a moment."
    ]
    assert len(busy) == 3 and gate.busy_slots == 0

"""Public mode (a Space): only presets and allow-listed Hub ids load; every other name, whatever it is, gets the
same message and touches nothing; Hub repositories are sized (and must offer safetensors) before any
download; a damaged file in the Hugging Face cache is named with its fix. Through the app too."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from app_server import served
from conftest import tiny_model
from hub_server import HubServer
from PIL import Image

import colorizers
from colorizers import limits
from colorizers.model_io.checks import BrokenModelError
from colorizers.model_io.loading import ModelLoadError
from colorizers.serving import policy as serving
from colorizers.serving.policy import ModelPolicy, RequestError, check_model_name, parse_model_names, resolve_model

ROOT = Path(__file__).resolve().parents[1]
USER, TOKEN = "tester", "hf_test_token"
SMALL, BIG, PICKLES = f"{USER}/small-colorizer", f"{USER}/big-colorizer", f"{USER}/pickles-only"
PUBLIC = ModelPolicy(
    public=True, hub_allowlist=(SMALL, BIG, PICKLES), max_weight_bytes=100_000, max_parameters=100_000_000
)


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("a-real-model") / "model"
    tiny_model("vanilla-v2").save_pretrained(folder)
    return folder


def probes(model_folder: Path) -> list[str]:
    return [
        "/etc",
        "/root",
        "../..",
        str(model_folder),
        "/nonexistent/xyz",
        "someone/unknown-colorizer",
        "~",
        "~root/x",
        "a" * 300,
        "x" * 1_000_000,
        ".",
        "/proc/self/environ",
        "file:///etc/passwd",
        "vanilla-v1\x00",
        "C:\\Windows",
        "~no-such-user/x",
        "/" + "d" * 300,
    ]


def test_every_probe_gets_the_same_refusal_and_touches_nothing(model_folder, monkeypatch):
    touched = []
    monkeypatch.setattr(serving, "local_path", lambda name: touched.append(name))
    monkeypatch.setattr(serving, "load_model", lambda *args, **kwargs: touched.append(args))
    messages = set()
    for probe in probes(model_folder):
        with pytest.raises(RequestError) as refused:
            resolve_model(probe, PUBLIC)
        messages.add(str(refused.value))
        with pytest.raises(RequestError):
            parse_model_names([probe], limit=4, policy=PUBLIC)
    assert touched == []
    (message,) = messages
    assert message == PUBLIC.refusal().args[0]
    assert message.startswith("This server runs only the models it lists: ") and SMALL in message
    for word in ("folder", "exist", "path", "config", "/etc"):
        assert word not in message


def test_presets_and_allowed_ids_pass_the_name_check():
    for name in [*colorizers.list_models(), SMALL]:
        check_model_name(name, PUBLIC)
    assert resolve_model("vanilla-v2", PUBLIC).name == "vanilla-v2"


def test_private_mode_keeps_its_freedom(model_folder):
    assert resolve_model(str(model_folder)).name == str(model_folder)
    with pytest.raises(RequestError, match="not a saved model folder"):
        resolve_model("/etc")


def test_the_policy_follows_the_limits():
    values = limits.current(
        environ={"SPACE_ID": "me/space", "COLORIZERS_HUB_ALLOWLIST": "a/b,c/d", "COLORIZERS_MAX_WEIGHT_MB": "12"}
    )
    policy = ModelPolicy.from_limits(values)
    assert policy.public and policy.hub_allowlist == ("a/b", "c/d") and policy.max_weight_bytes == 12_000_000
    assert policy.listed() == [*colorizers.list_models(), "a/b", "c/d"]
    assert not ModelPolicy.from_limits(limits.current(environ={})).public


# Hub repositories: sized before any download, safetensors only, damaged cache files named -------------------


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    server = HubServer(user=USER, tokens={TOKEN}).start()
    cache = tmp_path_factory.mktemp("hf-cache")
    with pytest.MonkeyPatch.context() as mp:
        from huggingface_hub import HfApi, constants

        for name, value in {
            "HF_ENDPOINT": server.url,
            "HF_HUB_CACHE": str(cache),
            "HF_TOKEN": TOKEN,
            "HF_HUB_DISABLE_XET": "1",
            "DISABLE_SAFETENSORS_CONVERSION": "1",
        }.items():
            mp.setenv(name, value)
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
            mp.delenv(name, raising=False)
        mp.setattr(constants, "ENDPOINT", server.url)
        mp.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", server.url + "/{repo_id}/resolve/{revision}/{filename}")
        mp.setattr(constants, "HF_URL_HOSTS", constants.HF_URL_HOSTS | {"127.0.0.1"})
        mp.setattr(constants, "HF_HUB_OFFLINE", False)
        mp.setattr(constants, "HF_HUB_CACHE", str(cache))
        mp.setattr(constants, "HF_HUB_DISABLE_XET", True)
        mp.setattr(serving, "hub_reachable", lambda timeout=2.0: True)
        api, folders = HfApi(), tmp_path_factory.mktemp("repos")
        for repo_id, model in (
            (SMALL, tiny_model("vanilla-v2")),
            (BIG, colorizers.create_model("unet", hidden_sizes=[16, 32, 64])),
        ):
            model.save_pretrained(folders / repo_id)
            api.create_repo(repo_id)
            api.upload_folder(repo_id=repo_id, folder_path=folders / repo_id)
        pickled = folders / PICKLES
        tiny_model("vanilla-v2").config.save_pretrained(pickled)
        torch.save(tiny_model("vanilla-v2").state_dict(), pickled / "pytorch_model.bin")
        api.create_repo(PICKLES)
        api.upload_folder(repo_id=PICKLES, folder_path=pickled)
        yield server
    server.stop()


def _downloads(server) -> list[str]:
    return [path for method, path in server.requests if method == "GET" and "/resolve/" in path]


def test_an_allowed_small_repo_loads_in_public_mode(hub):
    loaded = resolve_model(SMALL, PUBLIC)
    assert loaded.name == SMALL and isinstance(loaded.model, torch.nn.Module)


def test_a_repo_above_the_weight_limit_is_refused_before_any_download(hub, caplog):
    before = len(_downloads(hub))
    with pytest.raises(
        ModelLoadError, match=r"weights are \d+\.\d kB, above the limit of 100\.0 kB \(max_weight_mb\)"
    ):
        colorizers.load_model(BIG, max_weight_bytes=100_000)
    with pytest.raises(RequestError, match=rf"^Model '{BIG}' cannot be loaded on this server right now\.$"):
        resolve_model(BIG, PUBLIC)
    assert "above the limit" in caplog.text  # the reason is in the server's log, not in the user's message
    assert not [path for path in _downloads(hub)[before:] if path.endswith(".safetensors")]


def test_a_pickle_only_repo_is_refused(hub):
    with pytest.raises(RequestError, match="cannot be loaded on this server right now"):
        resolve_model(PICKLES, PUBLIC)
    with pytest.raises(ModelLoadError, match="only as pickle files"):
        colorizers.load_model(PICKLES)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda data: data[: len(data) // 2], "is not a readable safetensors file"),
        (
            lambda data: data[:-9] + bytes([data[-9] ^ 1]) + data[-8:],
            "is corrupt: its content does not match the checksum",
        ),
    ],
)
def test_a_damaged_file_in_the_hub_cache_is_named_with_its_fix(hub, damage, message):
    from huggingface_hub import hf_hub_download

    colorizers.load_model(SMALL)  # cached
    cached = Path(hf_hub_download(SMALL, "model.safetensors"))
    blob = cached.resolve()
    original = blob.read_bytes()
    blob.write_bytes(damage(original))
    try:
        with pytest.raises(BrokenModelError) as error:
            colorizers.load_model(SMALL, local_files_only=True)
        text = str(error.value)
        assert message in text and str(cached) in text
        assert f"delete {blob}" in text and "hf cache delete" in text and "download a fresh copy" in text
        with pytest.raises(RequestError, match="download a fresh copy"):  # not retried from the Hub: said as it is
            resolve_model(SMALL)
    finally:
        blob.write_bytes(original)
    colorizers.load_model(SMALL, local_files_only=True)


# Through the app ------------------------------------------------------------------------------------------


def _photo(folder: Path) -> Path:
    path = folder / "photo.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(path)
    return path


@pytest.fixture(scope="module")
def public_app(tmp_path_factory):
    values = limits.current(public=True, environ={"COLORIZERS_HUB_ALLOWLIST": SMALL})
    with served(limits=values) as url:
        yield url, values


@pytest.mark.filterwarnings(
    "ignore:'future.no_silent_downcasting' is deprecated", "ignore:The copy keyword is deprecated"
)
def test_the_public_app_answers_every_probe_alike(public_app, model_folder, tmp_path, capfd):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    url, values = public_app
    photo = tmp_path / "photo.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(photo)
    client = Client(url, verbose=False)
    messages = set()
    for probe in probes(model_folder)[:8] + ["x" * 100_000]:
        for api in ("/compare", "/colorize"):
            args = [[probe], None, None] if api == "/compare" else [probe]
            with pytest.raises(AppError) as refused:
                client.predict(handle_file(str(photo)), *args, api_name=api)
            messages.add(str(refused.value))
    assert len(messages) == 1 and "This server runs only the models it lists" in messages.pop()
    gallery, table = client.predict(handle_file(str(photo)), ["vanilla-v2"], None, None, api_name="/compare")
    assert table["data"][0][0] == "vanilla-v2"
    with pytest.raises(AppError, match=r"between 32 and 1024 pixels .*limit max_working_size = 1024"):
        client.predict(handle_file(str(photo)), ["vanilla-v2"], None, 2048, api_name="/compare")
    with pytest.raises(AppError, match=rf"Pick at most {values.models_per_request} models at once"):
        client.predict(handle_file(str(photo)), colorizers.list_models()[:5], None, None, api_name="/compare")
    assert "Traceback" not in capfd.readouterr().err


def test_public_mode_is_what_a_space_gets(monkeypatch):
    monkeypatch.setenv("SPACE_ID", "someone/colorizers")
    monkeypatch.delenv("COLORIZERS_PUBLIC", raising=False)
    assert limits.current().public
    monkeypatch.setenv("COLORIZERS_PUBLIC", "0")
    assert not limits.current().public
    os.environ.pop("SPACE_ID")


@pytest.mark.filterwarnings(
    "ignore:'future.no_silent_downcasting' is deprecated", "ignore:The copy keyword is deprecated"
)
def test_the_app_limits_requests_per_minute_and_client(tmp_path):
    from dataclasses import replace

    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    values = replace(limits.current(public=True, environ={}), requests_per_minute=3)
    photo = _photo(tmp_path)
    with served(limits=values) as url:
        client = Client(url, verbose=False)
        for _ in range(3):
            client.predict(handle_file(str(photo)), "vanilla-v2", api_name="/colorize")
        with pytest.raises(
            AppError, match=r"Too many requests: the limit is 3 per minute per client\. Try again in \d+ s\."
        ):
            client.predict(handle_file(str(photo)), "vanilla-v2", api_name="/colorize")


@pytest.mark.filterwarnings(
    "ignore:'future.no_silent_downcasting' is deprecated", "ignore:The copy keyword is deprecated"
)
def test_the_app_stops_a_request_past_its_time_limit(tmp_path):
    from dataclasses import replace

    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    values = replace(limits.current(public=True, environ={}), request_seconds=0.001)
    photo = _photo(tmp_path)
    with served(limits=values) as url:  # served() waits for a slow server to answer (app_server.answers)
        client = Client(url, verbose=False, httpx_kwargs={"timeout": 120})  # a loaded machine: not the 20 s default
        with pytest.raises(AppError, match=r"ran past the time limit of 0\.001 s per request and was stopped"):
            client.predict(handle_file(str(photo)), ["vanilla-v2"], None, None, api_name="/compare")


# Every endpoint taking a model name, the video tab's limits, hints, and the per-client key --------------------

NAME_PROBES = ["/etc/passwd", "/tmp", "/nonexistent/model", "../x", "resnet1"]  # files, a folder, nothing, a typo


def test_the_video_handler_checks_the_name_before_touching_anything(monkeypatch, tmp_path):
    from colorizers.app import video as app_video
    from colorizers.app.context import ServerContext

    touched = []
    for module, name in ((serving, "local_path"), (app_video, "uploaded_path"), (app_video, "probe_video")):
        monkeypatch.setattr(module, name, lambda *args, **kwargs: touched.append(args))
    context = ServerContext.create(limits.PUBLIC, tmp_path, loader=lambda name: touched.append(name), max_models=1)
    messages = set()
    for probe in NAME_PROBES:
        with pytest.raises(RequestError) as refused:
            app_video.colorize_upload({"path": "/etc/passwd"}, probe, True, context=context)
        messages.add(str(refused.value))
    assert touched == [] and messages == {ModelPolicy.from_limits(limits.PUBLIC).refusal().args[0]}


@pytest.mark.filterwarnings(
    "ignore:'future.no_silent_downcasting' is deprecated", "ignore:The copy keyword is deprecated"
)
def test_every_public_endpoint_refuses_paths_and_typos_alike(public_app, tmp_path, capfd):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError
    from video_clips import pan_frames, write_clip

    url, values = public_app
    photo = handle_file(str(_photo(tmp_path)))
    clip = handle_file(str(write_clip(tmp_path / "clip.mp4", pan_frames(4), fps=4, audio=None)))
    calls = {
        "/colorize": lambda name: (photo, name),
        "/compare": lambda name: (photo, [name], None, None),
        "/guide": lambda name: (photo, name, "[]", None),
        "/suggest": lambda name: (photo, name, 1, 1, None),
        "/colorize_video": lambda name: (clip, name, True),
    }
    client = Client(url, verbose=False)
    answers = {}
    for api, arguments in calls.items():
        for probe in NAME_PROBES:
            with pytest.raises(AppError) as refused:
                client.predict(*arguments(probe), api_name=api)
            answers[api, probe] = str(refused.value)
    assert set(answers.values()) == {ModelPolicy.from_limits(values).refusal().args[0]}, answers
    # the public video limit (30 s): a 31 s clip is refused in one line naming it
    long_clip = write_clip(tmp_path / "long.mp4", pan_frames(31), fps=1, audio=None)
    with pytest.raises(AppError) as refused:
        client.predict(handle_file(str(long_clip)), "vanilla-v2", False, api_name="/colorize_video")
    assert str(refused.value) == (
        "The video is 31 s long, above the limit of 30 s per video on this server (video_seconds). "
        "Cut it shorter, or use the command line."
    )
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.filterwarnings(
    "ignore:'future.no_silent_downcasting' is deprecated", "ignore:The copy keyword is deprecated"
)
def test_deeply_nested_hints_get_one_line_not_a_crash(public_app, tmp_path, capfd):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    url, _ = public_app
    client, photo, nested = Client(url, verbose=False), handle_file(str(_photo(tmp_path))), "[" * 100_000
    for arguments, api in (((photo, "chroma", nested, None), "/guide"), ((photo, "chroma", 1, 1, nested), "/suggest")):
        with pytest.raises(AppError, match="nested too deeply") as refused:
            client.predict(*arguments, api_name=api)
        assert "\n" not in str(refused.value)
    err = capfd.readouterr().err
    assert "Traceback" not in err and "RecursionError" not in err
    client.predict(photo, "chroma", 1, 1, '[{"x": 2, "y": 2, "color": "#aa3322"}]', api_name="/suggest")


@pytest.mark.filterwarnings(
    "ignore:'future.no_silent_downcasting' is deprecated", "ignore:The copy keyword is deprecated"
)
def test_a_client_changing_its_own_forwarded_entry_is_still_rate_limited(tmp_path, monkeypatch):
    from dataclasses import replace

    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    values = replace(limits.current(public=True, environ={}), requests_per_minute=10)
    photo = handle_file(str(_photo(tmp_path)))
    with served(limits=values) as url:
        monkeypatch.setenv("SPACE_ID", "someone/colorizers")  # behind the Space's proxy (read per request)
        client = Client(url, verbose=False)
        answers = []
        for number in range(25):  # the client writes a new first entry each time; the proxy appends its address
            client.headers["X-Forwarded-For"] = f"10.0.{number}.1, 203.0.113.7"
            try:
                client.predict(photo, "no/such-model", api_name="/colorize")  # refused at once: cheap
            except AppError as error:
                answers.append(str(error).split(":")[0])
    assert answers.count("Too many requests") == 15 and answers[:10].count("Too many requests") == 0


# Big images do not block other users -------------------------------------------------------------------------


def _png_bomb(path: Path, side: int) -> Path:
    """A gray PNG of side x side zeros: a few tens of kB that decode to side x side bytes."""
    import struct
    import zlib

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + side)
    body = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


@pytest.mark.filterwarnings(
    "ignore:'future.no_silent_downcasting' is deprecated", "ignore:The copy keyword is deprecated"
)
def test_a_small_photo_is_not_held_up_by_big_ones_in_public_mode(tmp_path):
    """Three decompression bombs just under the image limit, then a small photo: the bombs wait for room in the
    gate, not in the app's workers, so the photo is answered before any bomb (0.3 s here; when the waiting bombs
    held the workers it waited for the first bomb to finish); each bomb is answered, or refused for the time limit,
    within that limit. The public limits scaled down to 12 MP an image and 14 MP in flight (one bomb at a time, as
    40 / 48 MP by default) keep the test a quarter as long with the same ordering to get right."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    scaled = {"COLORIZERS_MAX_MEGAPIXELS": "12", "COLORIZERS_INFLIGHT_MEGAPIXELS": "14"}
    values = limits.current(public=True, environ=scaled)
    assert values.inflight_megapixels < 2 * values.max_megapixels  # one bomb at a time, as by default
    side = int(values.max_pixels**0.5) - 1  # just under the per-image limit
    bomb = _png_bomb(tmp_path / "bomb.png", side)
    assert bomb.stat().st_size < 100_000 and side * side > values.max_pixels - 20_000
    photo = tmp_path / "small.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (240, 320, 3), np.uint8)).save(photo)
    with served(limits=values) as url:
        client = Client(url, verbose=False, httpx_kwargs={"timeout": 600})
        client.predict(handle_file(str(photo)), "vanilla-v2", api_name="/colorize")  # model loaded, server warm
        start = time.monotonic()

        def big() -> tuple[str, float]:  # what the bomb got, and when
            try:
                client.predict(handle_file(str(bomb)), "vanilla-v2", api_name="/colorize")
                return "done", time.monotonic() - start
            except AppError as error:  # a refusal is an allowed outcome
                return str(error), time.monotonic() - start

        with ThreadPoolExecutor(3) as pool:
            bigs = [pool.submit(big) for _ in range(3)]
            time.sleep(1.0)  # the big ones are sent first
            sent = time.monotonic()
            client.predict(handle_file(str(photo)), "vanilla-v2", api_name="/colorize")
            small_seconds = time.monotonic() - sent
            outcomes = [job.result() for job in bigs]
    print(f"small photo: {small_seconds:.1f} s; big ones: {[(what, round(took, 1)) for what, took in outcomes]}")
    assert sent - start + small_seconds < min(took for _, took in outcomes), (small_seconds, outcomes)
    for outcome, took in outcomes:
        assert outcome == "done" or "time limit of 120 s per request" in outcome, outcomes
        assert took < values.request_seconds + 20, outcomes

"""The Gradio app (app.py) through its public API, with gradio_client against a live server."""

from __future__ import annotations

import io
import json
import struct
import sys
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402
from skimage import data  # noqa: E402
from skimage.metrics import peak_signal_noise_ratio, structural_similarity  # noqa: E402

import colorizers  # noqa: E402
from colorizers.evaluation.metrics import colorfulness  # noqa: E402
from colorizers.serving.policy import LoadedModel, resolve_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from app_server import served  # noqa: E402

import app  # noqa: E402
from colorizers.app import compare as app_compare  # noqa: E402

FAST = ["vanilla-v1", "vanilla-v2"]

pytestmark = [  # noise from gradio's queue (pandas 3) and from PIL on the oversized test image
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
    pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning"),
]


def zero_ab_model():
    """A colorizer whose every parameter is zero: it predicts ab = 0, i.e. returns the gray input."""
    model = colorizers.create_model("vanilla-v1")
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
    return model


class RecordingLoader:
    """The app's model loader, plus "test/zero-ab" (a zero_ab_model); records every name it loads."""

    def __init__(self):
        self.loaded: list[str] = []

    def __call__(self, name: str) -> LoadedModel:
        self.loaded.append(name)
        return LoadedModel.from_model(name, zero_ab_model()) if name == "test/zero-ab" else resolve_model(name)


@pytest.fixture(scope="module")
def loader():
    return RecordingLoader()


@pytest.fixture(scope="module")
def server(loader):
    with served(loader) as url:
        yield url


@pytest.fixture(scope="module")
def client(server):
    return Client(server, verbose=False)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Small test images of every kind a browser may send."""
    folder = tmp_path_factory.mktemp("app-images")
    cat = data.chelsea()[::2, ::2]  # 150x226 colour
    paths = {}

    def save(name, image, **kwargs):
        paths[name] = folder / name
        image.save(paths[name], **kwargs)

    save("colour.png", Image.fromarray(cat))
    save("gray.png", Image.fromarray(cat).convert("L"))
    save("reference-large.png", Image.fromarray(data.chelsea()))  # 300x451: resized to 150x226 for metrics
    save("16bit.png", Image.fromarray(np.asarray(Image.fromarray(cat).convert("L"), np.uint16) * 257))
    save("cmyk.jpg", Image.fromarray(cat).convert("CMYK"), quality=95)
    save("palette.png", Image.fromarray(cat).convert("P", palette=Image.Palette.ADAPTIVE, colors=64))
    frames = [Image.fromarray(cat).convert("P"), Image.fromarray(255 - cat).convert("P")]
    paths["animated.gif"] = folder / "animated.gif"
    frames[0].save(paths["animated.gif"], save_all=True, append_images=frames[1:], duration=100, loop=0)
    save("first-frame.png", Image.open(paths["animated.gif"]).convert("RGB"))
    save("tiny.png", Image.new("RGB", (1, 1), (200, 30, 30)))
    paths["notes.txt"] = folder / "notes.txt"
    paths["notes.txt"].write_text("this is not an image\n")
    for fmt, suffix in (("PNG", "png"), ("JPEG", "jpg")):
        buffer = io.BytesIO()
        Image.fromarray(cat).save(buffer, format=fmt)
        paths[f"truncated.{suffix}"] = folder / f"truncated.{suffix}"
        paths[f"truncated.{suffix}"].write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    paths["72mp.png"] = folder / "72mp.png"  # above the private limit of 64 megapixels (public: 40)
    paths["72mp.png"].write_bytes(forged_png(9000, 8000))
    paths["bomb.png"] = folder / "bomb.png"
    paths["bomb.png"].write_bytes(forged_png(30000, 30000))
    return paths


def forged_png(width: int, height: int) -> bytes:
    """A valid PNG header announcing width x height (decoding it would need gigabytes)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def rgb(path) -> np.ndarray:
    with Image.open(path) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"))


def compare(client, image, models=FAST, reference=None, resolution=None):
    gallery, table = client.predict(
        handle_file(str(image)),
        list(models),
        handle_file(str(reference)) if reference else None,
        resolution,
        api_name="/compare",
    )
    assert table["headers"] == ["model", "psnr", "ssim", "colorfulness", "colorfulness_gap", "ms"]
    rows = {row[0]: dict(zip(table["headers"], row, strict=True)) for row in table["data"]}
    return gallery, rows


def test_compare_two_models_full_resolution_and_metrics(client, images):
    reference = rgb(images["colour.png"])
    gallery, rows = compare(client, images["colour.png"])
    assert [item["caption"] for item in gallery] == FAST
    assert list(rows) == FAST
    for item in gallery:
        output = rgb(item["image"])
        assert output.shape == reference.shape  # full resolution, not the working size
        row = rows[item["caption"]]
        assert row["psnr"] == pytest.approx(peak_signal_noise_ratio(reference, output, data_range=255), abs=1e-3)
        expected_ssim = structural_similarity(reference, output, channel_axis=2, data_range=255)
        assert row["ssim"] == pytest.approx(expected_ssim, abs=1e-4)
        assert row["colorfulness"] == pytest.approx(colorfulness(output), abs=0.01)
        assert row["colorfulness_gap"] == pytest.approx(colorfulness(reference) - colorfulness(output), abs=0.02)
        assert row["ms"] > 0


def test_colorize_endpoint_returns_a_png_at_the_input_size(client, images):
    path = client.predict(handle_file(str(images["colour.png"])), "vanilla-v1", api_name="/colorize")
    assert Path(path).suffix == ".png"
    assert rgb(path).shape == rgb(images["colour.png"]).shape


def test_gray_input_without_reference_has_time_and_colourfulness_only(client, images):
    _, rows = compare(client, images["gray.png"], models=["vanilla-v1"])
    row = rows["vanilla-v1"]
    assert row["psnr"] is None and row["ssim"] is None and row["colorfulness_gap"] is None
    assert row["colorfulness"] is not None and row["ms"] > 0


def test_separate_reference_is_resized_to_the_input(client, images):
    gallery, rows = compare(client, images["gray.png"], ["vanilla-v1"], reference=images["reference-large.png"])
    output = rgb(gallery[0]["image"])
    height, width = output.shape[:2]
    reference = np.asarray(Image.open(images["reference-large.png"]).resize((width, height), Image.Resampling.LANCZOS))
    assert rows["vanilla-v1"]["psnr"] == pytest.approx(
        peak_signal_noise_ratio(reference, output, data_range=255), abs=1e-3
    )
    expected_ssim = structural_similarity(reference, output, channel_axis=2, data_range=255)
    assert rows["vanilla-v1"]["ssim"] == pytest.approx(expected_ssim, abs=1e-4)


def test_identical_images_give_psnr_inf_as_text(client, images):
    _, rows = compare(client, images["gray.png"], ["test/zero-ab"], reference=images["gray.png"])
    assert rows["test/zero-ab"]["psnr"] == "inf"
    assert rows["test/zero-ab"]["ssim"] == pytest.approx(1.0)


def test_working_resolution_changes_the_prediction_not_the_output_size(client, images):
    gallery, _ = compare(client, images["colour.png"], ["vanilla-v1"], resolution=64)
    assert rgb(gallery[0]["image"]).shape == rgb(images["colour.png"]).shape
    with pytest.raises(
        AppError, match=f"between 32 and {app.LIMITS.max_working_size} pixels .*limit max_working_size"
    ):
        compare(client, images["colour.png"], ["vanilla-v1"], resolution=5000)


def test_local_model_folder(client, images, tmp_path):
    colorizers.create_model("vanilla-v2").save_pretrained(tmp_path / "my-model")
    gallery, rows = compare(client, images["colour.png"], [str(tmp_path / "my-model")])
    assert gallery[0]["caption"] == str(tmp_path / "my-model")
    assert rows[str(tmp_path / "my-model")]["psnr"] > 0


@pytest.mark.parametrize(
    "name, models, message",
    [
        ("notes.txt", FAST, "not an image file"),
        ("truncated.png", FAST, "truncated or corrupt"),
        ("truncated.jpg", FAST, "truncated or corrupt"),
        ("tiny.png", FAST, "only 1x1 pixels"),
        ("72mp.png", FAST, "72.0 megapixels, above the limit of 64 megapixels \\(limit max_megapixels\\)"),
        ("bomb.png", FAST, "megapixels"),
        ("colour.png", ["no-such-model"], "Unknown model 'no-such-model'"),
        ("colour.png", ["vanila-v1"], "Did you mean vanilla-v1"),
        ("colour.png", ["someone/some-colorizer"], "not available offline"),
        ("colour.png", [], "Pick at least one model"),
    ],
)
def test_bad_input_gives_a_specific_error_and_the_app_keeps_serving(client, images, name, models, message):
    with pytest.raises(AppError, match=message):
        compare(client, images[name], models)
    gallery, _ = compare(client, images["colour.png"], ["vanilla-v1"])
    assert rgb(gallery[0]["image"]).shape == rgb(images["colour.png"]).shape


def test_bad_input_on_colorize_endpoint(client, images):
    with pytest.raises(AppError, match="truncated or corrupt"):
        client.predict(handle_file(str(images["truncated.jpg"])), "vanilla-v1", api_name="/colorize")
    with pytest.raises(AppError, match="Unknown model"):
        client.predict(handle_file(str(images["colour.png"])), "nope", api_name="/colorize")


def call_without_client(server: str, api: str, data: list) -> str:
    """One call through Gradio's REST API, as any program may send it (gradio_client uploads every file)."""
    import httpx

    event = httpx.post(f"{server}gradio_api/call/{api}", json={"data": data}).json()["event_id"]
    return httpx.get(f"{server}gradio_api/call/{api}/{event}", timeout=120).text


@pytest.mark.parametrize(
    "api, image, message",
    [
        ("colorize", "PATH", "Expected an image file, got str."),
        ("colorize", {"path": "PATH"}, "The image must be a file uploaded to this app"),
        ("compare", {"path": "PATH"}, "The image must be a file uploaded to this app"),
    ],
)
def test_only_uploaded_files_are_read_never_other_paths_on_the_server(server, images, api, image, message):
    path = str(images["colour.png"])  # a file on the server that was never uploaded
    image = path if image == "PATH" else {"path": path}
    data = [image, "vanilla-v1", None] if api == "colorize" else [image, ["vanilla-v1"], None, None, None]
    answer = call_without_client(server, api, data)
    assert "event: error" in answer and message in answer, answer


@pytest.mark.parametrize("name", ["16bit.png", "cmyk.jpg", "palette.png", "animated.gif"])
def test_unusual_formats_work(client, images, name):
    gallery, rows = compare(client, images[name], ["vanilla-v1"])
    with Image.open(images[name]) as image:
        width, height = image.size
    assert rgb(gallery[0]["image"]).shape == (height, width, 3)
    assert rows["vanilla-v1"]["colorfulness"] is not None


def test_animated_gif_uses_its_first_frame(client, images):
    from_gif = rgb(compare(client, images["animated.gif"], ["vanilla-v1"])[0][0]["image"])
    from_frame = rgb(compare(client, images["first-frame.png"], ["vanilla-v1"])[0][0]["image"])
    np.testing.assert_array_equal(from_gif, from_frame)


def test_models_are_loaded_once_and_cached(client, images, loader):
    compare(client, images["colour.png"], FAST)
    loaded = list(loader.loaded)
    compare(client, images["colour.png"], FAST)
    compare(client, images["gray.png"], FAST[:1])
    assert loader.loaded == loaded  # served from the cache
    assert set(FAST) <= set(loaded)


def test_eight_concurrent_clients_get_correct_results(server, images, tmp_path):
    cat = data.chelsea()
    jobs = []
    for index in range(8):  # eight different sizes, so a mixed-up answer would show
        height, width = 96 + 8 * index, 128 + 12 * index
        path = tmp_path / f"concurrent-{index}.png"
        Image.fromarray(cat).resize((width, height)).save(path)
        jobs.append((path, FAST[index % 2]))

    def one(job):
        path, model = job
        gallery, rows = compare(Client(server, verbose=False), path, [model])
        assert gallery[0]["caption"] == model
        return path, gallery, rows

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, jobs))
    for path, gallery, rows in results:
        reference = rgb(path)
        output = rgb(gallery[0]["image"])
        assert output.shape == reference.shape
        row = rows[gallery[0]["caption"]]
        assert row["psnr"] == pytest.approx(peak_signal_noise_ratio(reference, output, data_range=255), abs=1e-3)


def test_every_preset_is_listed_and_untrained_ones_are_labelled(monkeypatch):
    from colorizers.registry import Preset

    assert set(app_compare.ordered_presets()) == set(colorizers.list_models())
    trained = {"vanilla-v2", colorizers.DEFAULT_MODEL}
    monkeypatch.setattr(Preset, "has_weights", property(lambda self: self.name in trained))
    order = app_compare.ordered_presets()
    assert set(order[:2]) == trained and len(order) == len(colorizers.list_models())
    assert app_compare.default_models() == [colorizers.DEFAULT_MODEL]
    assert app_compare.preset_label("vanilla-v2").startswith("vanilla-v2 — ")  # its measured kodak24 figures
    assert app_compare.preset_label("vanilla-v1") == "vanilla-v1 (untrained: random weights)"
    monkeypatch.setattr(Preset, "has_weights", property(lambda self: False))
    assert app_compare.default_models() == [colorizers.DEFAULT_MODEL]


def test_the_ui_shows_every_preset_with_its_label():
    dropdowns = [block for block in app.demo.blocks.values() if getattr(block, "elem_id", None) == "models"]
    choices = dict(dropdowns[0].choices)
    assert set(choices.values()) == set(colorizers.list_models())
    for label, name in choices.items():
        assert label.endswith("(untrained: random weights)") != colorizers.get_preset(name).has_weights


def test_the_three_tabs_share_one_tab_bar():
    config = app.demo.get_config_file()
    types = {component["id"]: component["type"] for component in config["components"]}
    labels = {component["id"]: component.get("props", {}).get("label") for component in config["components"]}

    def find(node, kind):
        found = [node] if types.get(node["id"]) == kind else []
        return found + [hit for child in node.get("children", []) for hit in find(child, kind)]

    (bar,) = find(config["layout"], "tabs")  # one gr.Tabs: state and endpoints live inside their tabs
    assert [types[child["id"]] for child in bar["children"]] == ["tabitem"] * 3
    assert [labels[child["id"]] for child in bar["children"]] == ["Compare models", "Guide the colours", "Video"]


def test_the_compare_and_guide_tabs_start_at_one_vividness():
    sliders = {
        block.elem_id: block.value
        for block in app.demo.blocks.values()
        if getattr(block, "elem_id", None) in ("vividness", "guide-vividness")
    }
    assert sliders == {"vividness": app_compare.DEFAULT_VIVIDNESS, "guide-vividness": app_compare.DEFAULT_VIVIDNESS}
    assert app_compare.DEFAULT_VIVIDNESS == app_compare.default_vividness()


def test_the_startup_check_waits_for_a_slow_server():
    """Gradio's launch() check gives up at the first answer slower than 3 s; the test servers' check waits."""
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import app_server

    class Slow(BaseHTTPRequestHandler):
        calls = 0

        def do_HEAD(self):
            Slow.calls += 1
            if Slow.calls == 1:
                time.sleep(1.5)  # slower than the request timeout below: that request fails, the next succeeds
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        assert app_server.answers(url, within_s=30, request_s=0.5) and Slow.calls >= 2
    finally:
        server.shutdown()
        server.server_close()
    started = time.monotonic()
    assert not app_server.answers(f"http://127.0.0.1:{app_server.free_port()}/", within_s=1, request_s=0.5)
    assert time.monotonic() - started < 10


def _post_json(url: str, path: str, body: bytes, chunked: bool) -> tuple[int, bytes]:
    import http.client
    from urllib.parse import urlparse

    where = urlparse(url)
    connection = http.client.HTTPConnection(where.hostname, where.port, timeout=60)
    connection.putrequest("POST", path)
    connection.putheader("Content-Type", "application/json")
    if chunked:  # no Content-Length: the cap counts the bytes as they come
        connection.putheader("Transfer-Encoding", "chunked")
        connection.endheaders()
        for start in range(0, len(body), 65536):
            chunk = body[start : start + 65536]
            connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        connection.send(b"0\r\n\r\n")
    else:
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
    response = connection.getresponse()
    return response.status, response.read()


def test_a_request_body_over_the_cap_is_refused_before_gradio_reads_or_logs_it(server, capfd):
    from colorizers.serving.request_cap import MAX_REQUEST_BYTES

    url = server
    payload = json.dumps({"data": ["A" * (MAX_REQUEST_BYTES + 1), "chroma"]}).encode()  # malformed: inputs missing
    expected = {
        "detail": f"The request is too large: at most {MAX_REQUEST_BYTES // 1024} kB (files are sent as uploads)."
    }
    for chunked in (False, True):
        status, body = _post_json(url, "/gradio_api/call/colorize", payload, chunked)
        assert (status, json.loads(body)) == (413, expected), (chunked, status, body[:200])
    small = json.dumps({"data": ["A" * 1000]}).encode()  # under the cap: gradio answers it as before
    status, body = _post_json(url, "/gradio_api/call/colorize", small, chunked=True)
    assert status == 200 and b"event_id" in body
    logged = capfd.readouterr()
    assert "A" * 2000 not in logged.out + logged.err  # nothing of the refused bodies reached the log

"""The fuzzer's inputs beyond small images (``benchmarks/fuzz.py --kinds ...``): decompression bombs, model
folders, hint JSON and video containers; each kind with its seeds, its mutations and the check one case runs.

Mutations fix what would otherwise stop them at the door: PNG chunks get their CRCs recomputed, a safetensors
header its length prefix, JSON stays JSON where the mutation is structural, so that the damage reaches the
code behind the checksum. A case's outcome is ``decoded`` (accepted and used), ``refused`` (the library's own
error for that input: ``ImageReadError``, ``ModelLoadError``, ``HintError``, ``VideoError``) or ``unexpected``
(anything else: what the fuzzer looks for).
"""

from __future__ import annotations

import io
import json
import random
import struct
import time
import zlib
from pathlib import Path

EXTREME_VALUES = [
    None,
    True,
    -1,
    0,
    1,
    2**31,
    10**30,
    -(10**30),
    1e308,
    -1e-308,
    float("nan"),
    float("inf"),
    "",
    "x" * 5000,
    "\udcff",
    [],
    {},
    [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]],
    [0] * 1000,
    {"a": {"b": {"c": {}}}},
    "#zz00gg",
    "rgb(1e400, 0, 0)",
]
SAFETENSORS_DTYPES = ["F16", "BF16", "F32", "F64", "I8", "U8", "I64", "BOOL", "F8_E4M3", "XX", ""]


# Shared mutations ---------------------------------------------------------------------------------------------


def flip_bytes(rng: random.Random, data: bytes) -> bytes:
    """One to eight bytes set to a random value or with one bit flipped."""
    data = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        position = rng.randrange(len(data))
        data[position] = rng.randrange(256) if rng.random() < 0.5 else data[position] ^ (1 << rng.randrange(8))
    return bytes(data)


def timed_outcome(run, refused: type[BaseException]) -> dict:
    """``run()``'s outcome: ``decoded`` with the detail it returns, ``refused`` by the library's own error for
    this input, or ``unexpected`` (anything else), with the seconds it took."""
    start = time.perf_counter()
    try:
        outcome = {"kind": "decoded", "detail": run()}
    except refused as error:
        outcome = {"kind": "refused", "detail": str(error)[:160]}
    except Exception as error:  # noqa: BLE001 - what the fuzzer is looking for
        outcome = {"kind": "unexpected", "detail": f"{type(error).__name__}: {str(error)[:200]}"}
    outcome["seconds"] = time.perf_counter() - start
    return outcome


def mutate_bytes(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    """One byte-level mutation: flips, truncation, a repeated slice or extreme bytes in the first 64."""
    kind = rng.choice(["flip", "flip", "truncate", "repeat", "header"])
    if kind == "flip" and data:
        return flip_bytes(rng, data), "flip"
    if kind == "truncate" and len(data) > 1:
        return data[: rng.randrange(1, len(data))], "truncate"
    if kind == "repeat" and len(data) > 2:
        start = rng.randrange(len(data) - 1)
        piece = data[start : start + rng.randint(1, 256)]
        return data[:start] + piece * rng.randint(2, 20) + data[start:], "repeat"
    position = rng.randrange(0, max(1, min(len(data), 64)))
    value = rng.choice([b"\x00", b"\xff", b"\x7f\xff\xff\xff", b"\xff\xff\xff\xff", b"\x80\x00"])
    return data[:position] + value + data[position + len(value) :], "header"


def _json_paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _json_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:20]):
            yield from _json_paths(item, (*prefix, index))


def mutate_json(rng: random.Random, value):
    """A structural mutation of parsed JSON: a value replaced by an extreme one, a key removed or added, a list
    emptied or grown. Returns (new value, how)."""
    value = json.loads(json.dumps(value))
    paths = [path for path in _json_paths(value) if path]
    if not paths:
        return rng.choice(EXTREME_VALUES), "replace-root"
    path = rng.choice(paths)
    parent = value
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    action = rng.choice(["replace", "replace", "replace", "delete", "add", "grow"])
    if action == "delete":
        del parent[key]
    elif action == "add" and isinstance(parent, dict):
        parent[rng.choice(["unknown_key", "auto_map", "__proto__", "image_processor_type", "model_type"])] = (
            rng.choice(EXTREME_VALUES)
        )
    elif action == "grow" and isinstance(parent[key], list):
        parent[key] = parent[key] * rng.randint(2, 50)
    else:
        parent[key] = rng.choice(EXTREME_VALUES)
    return value, f"json-{action}"


def dump_json(value) -> bytes:
    return json.dumps(value, allow_nan=True).encode("utf-8", "surrogatepass")


def mutate_json_text(rng: random.Random, value) -> tuple[bytes, str]:
    """Mostly structural mutations (one to three), sometimes raw bytes of the JSON text."""
    steps = []
    for _ in range(rng.randint(1, 3)):
        value, how = mutate_json(rng, value)
        steps.append(how)
    data = dump_json(value)
    if rng.random() < 0.25:
        data, how = mutate_bytes(rng, data)
        steps.append(how)
    return data, "+".join(steps)


# PNG: checksum-fixing, and decompression bombs ------------------------------------------------------------------


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]] | None:
    """(type, body) of each chunk of a PNG, or None when the chunk structure itself is broken."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return None
    chunks, position = [], 8
    while position + 8 <= len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        if len(body) != length:
            return None
        chunks.append((kind, body))
        position += 12 + length
    return chunks


def png_from_chunks(chunks: list[tuple[bytes, bytes]]) -> bytes:
    """A PNG with every CRC correct (the checksum that stops most mutations at the door)."""
    out = [b"\x89PNG\r\n\x1a\n"]
    for kind, body in chunks:
        out.append(struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body)))
    return b"".join(out)


def fix_png_crcs(data: bytes) -> bytes:
    chunks = png_chunks(data)
    return data if chunks is None else png_from_chunks(chunks)


def png_bomb(width: int, height: int, *, real_rows: int | None = None, color_type: int = 0) -> bytes:
    """A PNG declaring ``width`` x ``height`` whose IDAT inflates to ``real_rows`` rows of zeros (all of them by
    default): a few kB that decompress to width x height bytes or more."""
    channels = {0: 1, 2: 3, 6: 4}[color_type]
    rows = height if real_rows is None else real_rows
    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + width * channels)
    body = b"".join(compressor.compress(row) for _ in range(rows)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return png_from_chunks([(b"IHDR", header), (b"IDAT", body), (b"IEND", b"")])


def bomb_cases(rng: random.Random, seeds: dict[str, bytes]) -> tuple[bytes, str, str]:
    """One decompression bomb or declared-size lie: (data, suffix, how)."""
    kind = rng.choice(
        ["png-inflate", "png-declared", "gif-screen", "jpeg-sof", "jpeg-padded", "bmp-dims", "tiff-dims"]
    )
    huge = rng.choice([6000, 9000, 20000, 65535, 100000, 2**31 - 1])
    if kind == "png-inflate":
        width = rng.choice([2000, 5000, 7000, 12000])
        return png_bomb(width, width, real_rows=rng.choice([None, 10])), "png", f"bomb-{kind}-{width}"
    if kind == "png-declared":
        chunks = png_chunks(seeds["png"])
        header = struct.pack(">II", huge, rng.choice([huge, 16])) + chunks[0][1][8:]
        return png_from_chunks([(b"IHDR", header), *chunks[1:]]), "png", f"bomb-{kind}-{huge}"
    if kind == "gif-screen":
        data = bytearray(seeds["gif"])
        data[6:10] = struct.pack("<HH", min(huge, 65535), min(huge, 65535))
        return bytes(data), "gif", f"bomb-{kind}"
    if kind in ("jpeg-sof", "jpeg-padded"):
        data = bytearray(seeds["jpg"])
        sof = next((i for i in range(len(data) - 9) if data[i] == 0xFF and data[i + 1] in (0xC0, 0xC1, 0xC2)), None)
        if sof is not None:
            size = min(huge, 65535)
            data[sof + 5 : sof + 9] = struct.pack(">HH", size, size)
        if kind == "jpeg-padded":  # enough bytes that a "too few bytes for its size" check passes
            data = data[:-2] + b"\x00" * rng.choice([72_000, 300_000]) + data[-2:]
        return bytes(data), "jpg", f"bomb-{kind}"
    if kind == "bmp-dims":
        data = bytearray(seeds["bmp"])
        data[18:26] = struct.pack("<ii", huge, rng.choice([huge, -huge]))
        return bytes(data), "bmp", f"bomb-{kind}"
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (8, 8)).save(buffer, format="TIFF")
    data = buffer.getvalue()
    for tag in (256, 257):  # ImageWidth, ImageLength: SHORT or LONG entries
        short, long = data.find(struct.pack("<HHI", tag, 3, 1)), data.find(struct.pack("<HHI", tag, 4, 1))
        if short >= 0:
            data = data[: short + 8] + struct.pack("<H", min(huge, 65535)) + data[short + 10 :]
        elif long >= 0:
            data = data[: long + 8] + struct.pack("<I", min(huge, 2**32 - 1)) + data[long + 12 :]
    return data, "tif", f"bomb-{kind}"


# Model folders ---------------------------------------------------------------------------------------------------


def model_seed(folder: Path) -> dict[str, bytes]:
    """A tiny saved colorizer (the U-Net family's test size): its config, processor config and safetensors."""
    import colorizers
    from colorizers.models import FAMILIES

    model = colorizers.create_model("unet", **FAMILIES["unet"].TINY_CONFIG)
    model.save_pretrained(folder)
    colorizers.create_processor(model.config).save_pretrained(folder)
    return {item.name: item.read_bytes() for item in folder.iterdir() if item.is_file()}


def mutate_safetensors(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    """Mutate the header's JSON (dtypes, shapes, offsets, entries) and write it back with a correct length
    prefix, or flip bytes of the tensor data (which may make weights NaN or infinite)."""
    (length,) = struct.unpack("<Q", data[:8])
    header, body = json.loads(data[8 : 8 + length]), data[8 + length :]
    choice = rng.random()
    if choice < 0.3:
        flipped = bytearray(body)
        for _ in range(rng.randint(1, 16)):
            flipped[rng.randrange(len(flipped))] = rng.choice([0xFF, 0x7F, 0x80, rng.randrange(256)])
        return data[: 8 + length] + bytes(flipped), "tensor-bytes"
    names = [name for name in header if name != "__metadata__"]
    name = rng.choice(names)
    entry = header[name]
    what = rng.choice(["dtype", "shape", "offsets", "remove", "duplicate", "metadata", "json"])
    if what == "dtype":
        entry["dtype"] = rng.choice(SAFETENSORS_DTYPES)
    elif what == "shape":
        entry["shape"] = rng.choice([[], [0], [-1], [2**40], [*entry["shape"], 1], entry["shape"][::-1], ["a"]])
    elif what == "offsets":
        start, end = entry["data_offsets"]
        entry["data_offsets"] = rng.choice(
            [[end, start], [start, 2**62], [-8, end], [start, start], [0, len(body) + 9]]
        )
    elif what == "remove":
        del header[name]
    elif what == "duplicate":
        header[name + ".copy"] = dict(entry)
    elif what == "metadata":
        header["__metadata__"] = rng.choice([{"format": "pt", "x": "y" * 10000}, {"format": 5}, [], "pt"])
    else:
        header, _ = mutate_json(rng, header)
    text = dump_json(header)
    if rng.random() < 0.1:  # and sometimes a lying length prefix
        return struct.pack("<Q", rng.choice([0, len(text) + 7, 2**40])) + text + body, f"safetensors-{what}+length"
    return struct.pack("<Q", len(text)) + text + body, f"safetensors-{what}"


def mutate_model(rng: random.Random, seed: dict[str, bytes]) -> tuple[dict[str, bytes], str]:
    """One damaged model folder: its config, its processor config or its weights mutated."""
    files = dict(seed)
    target = rng.choice(["config.json", "config.json", "preprocessor_config.json", "model.safetensors"])
    if target == "model.safetensors":
        files[target], how = mutate_safetensors(rng, files[target])
    else:
        files[target], how = mutate_json_text(rng, json.loads(files[target]))
    return files, f"{target}:{how}"


def model_case(folder: str) -> dict:
    """Load a (damaged) model folder and colorize a small photo with it: decoded, or ``ModelLoadError``."""
    import numpy as np
    from PIL import Image

    import colorizers
    from colorizers.model_io.checks import ModelLoadError

    def run() -> str:
        model = colorizers.load_model(folder)
        image = Image.fromarray(np.tile(np.arange(48, dtype=np.uint8)[None, :, None] * 5, (32, 1, 3)))
        result = colorizers.colorize(image, model)
        return f"{result.size[0]}x{result.size[1]}"

    return timed_outcome(run, ModelLoadError)


# Hint JSON -------------------------------------------------------------------------------------------------------

HINT_SEED = [
    {"x": 10, "y": 8, "color": "#aa3322", "radius": 6},
    {"x": 30.5, "y": 20, "ab": [12, -40]},
    {"x": 0, "y": 0, "rgb": [10, 200, 30], "radius": 0},
    {"x": 47, "y": 31, "hex": "#0f0"},
]


def mutate_hints(rng: random.Random) -> tuple[bytes, str]:
    seed = rng.choice([HINT_SEED, {"hints": HINT_SEED}, {"photo.jpg": HINT_SEED[:2]}])
    return mutate_json_text(rng, seed)


def hints_case(path: str) -> dict:
    """A (damaged) hints file through the CLI's reader, the parser and the renderer: decoded, or ``HintError``."""
    from colorizers.processing.hints import HintError, load_hints_file, parse_hints, render_hints

    def run() -> str:
        data = load_hints_file(path)
        lists = list(data.values()) if isinstance(data, dict) else [data]  # a map of file names: each list checked
        count = 0
        for hints in lists:
            parsed = parse_hints(hints, 48, 32)
            render_hints(parsed, (32, 48), (16, 24))
            count += len(parsed)
        return f"{count} hints"

    return timed_outcome(run, HintError)


# Video containers ------------------------------------------------------------------------------------------------

VIDEO_FORMATS = [("mp4", "mpeg4"), ("mkv", "mpeg4"), ("avi", "mjpeg"), ("webm", "libvpx"), ("mov", "mpeg4")]


def video_seeds() -> dict[str, bytes]:
    """Small clips (32x24, 6 frames) in each container and codec this PyAV can write."""
    import av
    import numpy as np

    seeds = {}
    for suffix, codec in VIDEO_FORMATS:
        buffer = io.BytesIO()
        try:
            with av.open(buffer, mode="w", format={"mkv": "matroska"}.get(suffix, suffix)) as container:
                stream = container.add_stream(codec, rate=12)
                stream.width, stream.height, stream.pix_fmt = 32, 24, "yuvj420p" if codec == "mjpeg" else "yuv420p"
                for index in range(6):
                    pixels = np.full((24, 32, 3), index * 40, np.uint8)
                    pixels[:, :, 1] = np.arange(32, dtype=np.uint8)[None] * 8
                    for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                        container.mux(packet)
                for packet in stream.encode():
                    container.mux(packet)
        except (av.error.FFmpegError, ValueError):  # an encoder this build lacks
            continue
        seeds[suffix] = buffer.getvalue()
    return seeds


def video_case(path: str) -> dict:
    """A (damaged) video through the reader the CLI and the app use, every frame decoded: or ``VideoError``."""
    from colorizers.video.io import VideoError, open_video, read_stream

    def run() -> str:
        container, info = open_video(path)
        try:
            frames = read_stream(container, info, lambda item: None)
        finally:
            container.close()
        return f"{frames} frames {info.width}x{info.height}"

    return timed_outcome(run, VideoError)

#!/usr/bin/env python
"""Seeded mutation fuzzing of every input a user hands the library, and of the app's API.

Five kinds of input (``--kinds``; each case's check is the code the CLI and the app run on that input):

* ``image``: small PNG, JPEG (with EXIF), GIF (animated), TIFF, WebP and BMP images made here, each mutated by
  one to three of: byte flips, truncation, a header spliced onto another seed's body, header bytes set to
  extreme values, a slice repeated; PNG cases then get their CRCs fixed half of the time, so the damage
  reaches the decoder instead of the checksum. Must decode, or end in the reader's ``ImageReadError``;
* ``bomb``: decompression bombs and size lies (a PNG inflating to gigapixels, declared sizes up to 2^31, a
  JPEG declaring 65535x65535 padded past any bytes-per-pixel heuristic, GIF/BMP/TIFF dimensions): same rule;
* ``model``: a tiny saved model folder with its ``config.json``, ``preprocessor_config.json`` or
  ``model.safetensors`` damaged (JSON-aware mutations; safetensors headers rewritten with a correct length):
  must load and colorize a photo, or end in ``ModelLoadError``;
* ``hints``: hint JSON files (lists, ``{"hints": ...}``, maps of file names) mutated structurally and as text:
  must parse and render, or end in ``HintError``;
* ``video``: small MP4, MKV, AVI, WebM and MOV clips mutated like images: every frame decodes, or the reader's
  ``VideoError``.

Never another exception, never a hang over ``--timeout`` seconds, never a memory blow-up over ``--memory-mb``.

    python benchmarks/fuzz.py                        # 4,700 cases over the five kinds, then 2,000 through the app
    python benchmarks/fuzz.py --kinds model hints --cases 200 --app-cases 0 --seed 1

Cases run in a worker process (a hang is killed and counted, the worker restarted; each case's peak memory is
measured); app cases go through ``/colorize`` of a server started here on 127.0.0.1. Prints the counts per
outcome and every unexpected case (and saves those files under ``--keep``).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import queue
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import fuzz_inputs  # noqa: E402

FORMATS = {"png": "PNG", "jpg": "JPEG", "gif": "GIF", "tif": "TIFF", "webp": "WEBP", "bmp": "BMP"}
EXTREMES = [b"\x00", b"\xff", b"\x7f", b"\x80", b"\xff\xff", b"\x00\x00", b"\x7f\xff\xff\xff", b"\xff\xff\xff\xff"]


# Cases each kind runs by default (4,700 in all, besides the app's).
DEFAULT_CASES = {"image": 2000, "bomb": 300, "model": 700, "hints": 1000, "video": 700}


@dataclass
class Case:
    index: int
    data: bytes | dict[str, bytes]  # a file's bytes, or a model folder's files
    suffix: str
    how: str
    kind: str = "image"

    def write(self, folder: Path) -> Path:
        """The case on disk: a file, or a folder of files."""
        path = folder / f"{self.kind}-{self.index}.{self.suffix}"
        if isinstance(self.data, dict):
            path.mkdir()
            for name, data in self.data.items():
                (path / name).write_bytes(data)
        else:
            path.write_bytes(self.data)
        return path


def seed_images() -> dict[str, bytes]:
    """One small image per format (24x16, colour with a gradient; the GIF animated; the JPEG with EXIF)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (16, 24, 3), dtype=np.uint8)
    pixels[..., 1] = np.linspace(0, 255, 24, dtype=np.uint8)[None]
    image = Image.fromarray(pixels)
    seeds = {}
    for suffix, fmt in FORMATS.items():
        buffer = io.BytesIO()
        if fmt == "GIF":
            frames = [image.convert("P"), Image.fromarray(255 - pixels).convert("P")]
            frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
        elif fmt == "JPEG":
            exif = Image.Exif()
            exif[0x0112] = 6  # orientation: rotated
            image.save(buffer, format="JPEG", quality=90, exif=exif.tobytes())
        else:
            image.save(buffer, format=fmt)
        seeds[suffix] = buffer.getvalue()
    return seeds


def _mutate_once(rng: random.Random, data: bytes, seeds: dict[str, bytes]) -> tuple[bytes, str]:
    kind = rng.choice(["flip", "flip", "truncate", "splice", "header", "repeat"])
    if kind == "flip" and data:
        return fuzz_inputs.flip_bytes(rng, data), "flip"
    if kind == "truncate" and len(data) > 1:
        return data[: rng.randrange(1, len(data))], "truncate"
    if kind == "splice":
        other = seeds[rng.choice(sorted(seeds))]
        cut, start = rng.randrange(1, max(2, min(len(data), 64))), rng.randrange(0, max(1, len(other)))
        return data[:cut] + other[start:], "splice"
    if kind == "header" and data:
        value = rng.choice(EXTREMES)
        position = rng.randrange(0, max(1, min(len(data), 48)))
        return data[:position] + value + data[position + len(value) :], "header"
    if len(data) > 2:
        start = rng.randrange(len(data) - 1)
        piece = data[start : start + rng.randint(1, 256)]
        return data[:start] + piece * rng.randint(2, 20) + data[start:], "repeat"
    return data, "none"


def mutations(seed: int, count: int, seeds: dict[str, bytes] | None = None):
    """``count`` cases, the same for the same ``seed``: a random seed image mutated one to three times."""
    seeds = seeds or seed_images()
    rng = random.Random(seed)
    for index in range(count):
        suffix = rng.choice(sorted(seeds))
        data, steps = seeds[suffix], []
        for _ in range(rng.randint(1, 3)):
            data, how = _mutate_once(rng, data, seeds)
            steps.append(how)
        if suffix == "png" and rng.random() < 0.5:
            data = fuzz_inputs.fix_png_crcs(data)
            steps.append("crc")
        yield Case(index, data, suffix, "+".join(steps))


def kind_cases(kind: str, seed: int, count: int, folder: Path | None = None):
    """``count`` seeded cases of one kind of input (``folder``: where the model kind saves its seed model)."""
    if kind == "image":
        yield from mutations(seed, count)
        return
    rng = random.Random(f"{kind}-{seed}")
    if kind == "bomb":
        images = seed_images()
        for index in range(count):
            data, suffix, how = fuzz_inputs.bomb_cases(rng, images)
            yield Case(index, data, suffix, how, kind)
    elif kind == "model":
        model_seed = fuzz_inputs.model_seed(Path(tempfile.mkdtemp(prefix="seed-model-", dir=folder)))
        for index in range(count):
            files, how = fuzz_inputs.mutate_model(rng, model_seed)
            yield Case(index, files, "model", how, kind)
    elif kind == "hints":
        for index in range(count):
            data, how = fuzz_inputs.mutate_hints(rng)
            yield Case(index, data, "json", how, kind)
    elif kind == "video":
        videos = fuzz_inputs.video_seeds()
        for index in range(count):
            suffix = rng.choice(sorted(videos))
            data, steps = videos[suffix], []
            for _ in range(rng.randint(1, 3)):
                data, how = fuzz_inputs.mutate_bytes(rng, data)
                steps.append(how)
            yield Case(index, data, suffix, "+".join(steps), kind)
    else:
        raise ValueError(f"unknown kind of input {kind!r} (known: {', '.join(DEFAULT_CASES)})")


# The reader, case by case ---------------------------------------------------------------------------------


def _memory_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def read_case(path: str, max_pixels: int = 40_000_000) -> dict:
    """One case through the shared reader and the conversion every caller makes: decoded, refused or unexpected."""
    from colorizers.image_io import ImageReadError, read_image
    from colorizers.image_processing_colorizer import image_to_array

    start = time.perf_counter()
    try:
        read = read_image(path, max_pixels=max_pixels)
        array = image_to_array(read.image)
        outcome = {"kind": "decoded", "detail": f"{array.shape[1]}x{array.shape[0]}"}
    except ImageReadError as error:
        outcome = {"kind": "refused", "detail": error.reason[:120]}
    except Exception as error:  # noqa: BLE001 - what the fuzzer is looking for
        outcome = {"kind": "unexpected", "detail": f"{type(error).__name__}: {str(error)[:200]}"}
    outcome["seconds"] = time.perf_counter() - start
    return outcome


CHECKS = {
    "image": read_case,
    "bomb": read_case,
    "model": fuzz_inputs.model_case,
    "hints": fuzz_inputs.hints_case,
    "video": fuzz_inputs.video_case,
}


def worker() -> None:
    """Read ``kind<TAB>path`` lines from stdin, answer one JSON line each (with the case's peak memory above its
    start)."""
    import logging
    import warnings

    import colorizers  # noqa: F401 - imported before the first case, so its import is not measured
    import colorizers.video.io  # noqa: F401

    warnings.simplefilter("ignore")  # PIL warns about damaged metadata: the outcome is what counts
    logging.disable(logging.WARNING)  # transformers' warnings about odd configs: the outcome is what counts

    print(json.dumps({"ready": True}), flush=True)  # the cases' clocks start after the imports
    for line in sys.stdin:
        kind, path = line.rstrip("\n").split("\t", 1)
        try:
            with open("/proc/self/clear_refs", "w") as refs:
                refs.write("5")  # reset the peak (VmHWM) to the current RSS
            resettable = True
        except OSError:
            resettable = False
        before = _memory_kb("VmRSS:")
        outcome = CHECKS[kind](path)
        peak = _memory_kb("VmHWM:") if resettable else before
        outcome["peak_mb"] = max(0, peak - before) / 1024
        print(json.dumps(outcome), flush=True)


class Worker:
    def __init__(self):
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        self.answers: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        try:  # a loaded machine can take a minute to import torch: that is not a case hanging
            self.answers.get(timeout=600)
        except queue.Empty:
            self.kill()
            raise RuntimeError("the fuzzing worker did not start within 600 s") from None

    def _read(self):
        for line in self.process.stdout:
            self.answers.put(json.loads(line))

    def run(self, path: str, timeout: float, kind: str = "image") -> dict | None:
        self.process.stdin.write(f"{kind}\t{path}\n")
        self.process.stdin.flush()
        try:
            return self.answers.get(timeout=timeout + 30)  # the worker's own clock says whether it hung
        except queue.Empty:
            return None

    def kill(self):
        self.process.kill()
        self.process.wait()


def run_reader(cases, folder: Path, timeout: float, memory_mb: float) -> list[dict]:
    """Every case through its kind's check in the worker process."""
    results, worker_process = [], Worker()
    try:
        for case in cases:
            path = case.write(folder)
            outcome = worker_process.run(str(path), timeout, case.kind)
            if outcome is None:
                worker_process.kill()
                worker_process = Worker()
                outcome = {
                    "kind": "hang",
                    "detail": f"no answer in {timeout + 30:g} s",
                    "seconds": timeout + 30,
                    "peak_mb": 0,
                }
            elif outcome["seconds"] > timeout:
                outcome = {**outcome, "kind": "hang", "detail": f"took {outcome['seconds']:.1f} s"}
            elif outcome["peak_mb"] > memory_mb:
                outcome = {**outcome, "kind": "memory", "detail": f"peak {outcome['peak_mb']:.0f} MB above its start"}
            results.append({**outcome, "case": case.index, "how": case.how, "suffix": case.suffix, "path": str(path)})
    finally:
        worker_process.kill()
    return results


# The app's API --------------------------------------------------------------------------------------------

APP_REFUSALS = (
    "cannot be used:",
    "is only",
    "megapixels",
    "MB, above the limit",
)  # the reader's errors, as the app says them


def classify_app_error(message: str) -> str:
    return "refused" if any(part in message for part in APP_REFUSALS) else "unexpected"


def send_case(client, path: str, model: str = "vanilla-v2") -> dict:
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    start = time.perf_counter()
    try:
        client.predict(handle_file(path), model, api_name="/colorize")
        outcome = {"kind": "decoded", "detail": "colorized"}
    except AppError as error:
        outcome = {"kind": classify_app_error(str(error)), "detail": str(error)[:200]}
    except Exception as error:  # noqa: BLE001 - a broken connection, a server that died...
        outcome = {"kind": "unexpected", "detail": f"{type(error).__name__}: {str(error)[:200]}"}
    outcome["seconds"] = time.perf_counter() - start
    return outcome


def start_app(port: int, public: bool = False) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "COLORIZERS_PUBLIC": "1" if public else "0",
        "COLORIZERS_REQUESTS_PER_MINUTE": "0",
        "HF_HUB_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    log = tempfile.TemporaryFile("w+")  # a file, not a pipe: a full pipe would stall a chatty server
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log, text=True
    )
    process.log = log
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the app did not start: " + server_log(process)[-2000:])
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError("the app did not open its port within 300 s")


def server_log(process: subprocess.Popen) -> str:
    """What a server started by :func:`start_app` wrote to its stderr so far."""
    process.log.seek(0)
    return process.log.read()


def process_rss_mb(pid: int) -> float:
    """A process's resident memory, from /proc."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_app(cases, folder: Path, url: str, timeout: float) -> list[dict]:
    from gradio_client import Client

    client, results = Client(url, verbose=False), []
    for case in cases:
        path = folder / f"app-{case.index}.{case.suffix}"
        path.write_bytes(case.data)
        outcome = send_case(client, str(path))
        if outcome["kind"] != "unexpected" and outcome["seconds"] > timeout:
            outcome = {**outcome, "kind": "hang", "detail": f"took {outcome['seconds']:.1f} s"}
        results.append({**outcome, "case": case.index, "how": case.how, "suffix": case.suffix, "path": str(path)})
    return results


def report(title: str, results: list[dict], keep: Path | None) -> int:
    kinds = {
        kind: sum(r["kind"] == kind for r in results)
        for kind in ("decoded", "refused", "unexpected", "hang", "memory")
    }
    seconds = sorted(r["seconds"] for r in results) or [0.0]
    print(
        f"{title}: {len(results)} cases: "
        + ", ".join(f"{v} {k}" for k, v in kinds.items())
        + f"; slowest {seconds[-1]:.2f} s, median {seconds[len(seconds) // 2] * 1000:.0f} ms"
        + (
            f", largest peak {max(r.get('peak_mb', 0) for r in results):.0f} MB"
            if results and "peak_mb" in results[0]
            else ""
        )
    )
    by_format = {}
    for r in results:
        by_format.setdefault(r["suffix"], []).append(r["kind"])
    print(
        "  per format: "
        + "; ".join(f"{k} {v.count('decoded')}/{len(v)} decoded" for k, v in sorted(by_format.items()))
    )
    bad = [r for r in results if r["kind"] in ("unexpected", "hang", "memory")]
    for r in bad:
        print(f"  {r['kind']}: case {r['case']} ({r['suffix']}, {r['how']}): {r['detail']}")
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            source = Path(r["path"])
            if source.is_dir():  # a model folder
                shutil.copytree(source, keep / source.name, dirs_exist_ok=True)
            else:
                (keep / source.name).write_bytes(source.read_bytes())
    return len(bad)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--kinds", nargs="+", choices=sorted(DEFAULT_CASES), default=list(DEFAULT_CASES), help="inputs to fuzz"
    )
    parser.add_argument(
        "--cases",
        type=int,
        default=None,
        help="cases per kind (default: " + ", ".join(f"{k} {v}" for k, v in DEFAULT_CASES.items()) + ")",
    )
    parser.add_argument(
        "--app-cases", type=int, default=2000, help="cases through the app's /colorize (default 2000; 0: none)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds a case may take (default 5)")
    parser.add_argument(
        "--memory-mb", type=float, default=1024, help="peak memory a reader case may add (default 1024)"
    )
    parser.add_argument("--public", action="store_true", help="run the app in public mode")
    parser.add_argument("--keep", type=Path, default=None, help="copy every failing case here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker()
        return 0
    failures = 0
    seeds = seed_images()
    with tempfile.TemporaryDirectory(prefix="colorizers-fuzz-") as folder:
        for kind in args.kinds:
            count = DEFAULT_CASES[kind] if args.cases is None else args.cases
            if not count:
                continue
            started = time.perf_counter()
            cases = kind_cases(kind, args.seed, count, Path(folder))
            results = run_reader(cases, Path(folder), args.timeout, args.memory_mb)
            failures += report(f"{kind} (seed {args.seed}, {time.perf_counter() - started:.0f} s)", results, args.keep)
        if args.app_cases:
            port = free_port()
            server = start_app(port, public=args.public)
            try:
                started, memory_before = time.perf_counter(), process_rss_mb(server.pid)
                cases = mutations(args.seed + 1_000_003, args.app_cases, seeds)
                results = run_app(cases, Path(folder), f"http://127.0.0.1:{port}/", args.timeout)
                failures += report(
                    f"app /colorize ({'public' if args.public else 'private'} mode, "
                    f"{time.perf_counter() - started:.0f} s)",
                    results,
                    args.keep,
                )
                print(
                    f"server memory: {memory_before:.0f} MB at the first case, {process_rss_mb(server.pid):.0f} MB after the last"
                )
            finally:
                server.terminate()
                try:
                    server.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    server.kill()
                log = server_log(server)
            tracebacks = log.count("Traceback")
            print(f"server log: {tracebacks} tracebacks")
            failures += tracebacks
    print("FAIL" if failures else "OK", f"({failures} unexpected, hung or memory-hungry cases)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

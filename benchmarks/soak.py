#!/usr/bin/env python
"""Soak and load tests of the app, on 127.0.0.1 only, bounded in clients and time.

    python benchmarks/soak.py --clients 16 --minutes 10            # the soak: N clients for M minutes
    python benchmarks/soak.py --clients 4 --minutes 1 --public     # the same in public mode
    python benchmarks/soak.py --big                                # two 36 MP photos at once + a small request

The soak starts ``app.py`` (private mode unless ``--public``; the per-client rate limit is off, since every
client here shares one address), warms each model up, then runs N clients that each send one request after
another (``/colorize`` or ``/compare`` with one or two models, photos from 48x64 to 480x640, colour and
gray, PNG and JPEG): first ``--warmup`` seconds (not counted: per-thread buffers and caches fill), then M
minutes. It prints requests served, errors, p50/p95 latency and the server's resident memory after the
warm-up, every minute, at the end and at its peak.

``--big`` (public mode unless ``--private``) sends two requests with a 36-megapixel photo at once, then,
while they run, a small request, and prints the server's memory above its idle level (peak) and the small
request's latency.

``--videos`` (public mode unless ``--private``) sends three 20 s 1080p clips to ``/colorize_video`` at once,
then, while they run, a small photo request, and prints each request's outcome and time, the server's memory
idle, at its peak and after, and whether the hardening issue's bar holds: the photo answers within 10 s, each
video finishes or is refused within the configured ``request_seconds`` (plus 10 s for the upload and the
answer), and memory comes back within 20% of idle.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fuzz import free_port, process_rss_mb, server_log, start_app  # noqa: E402

MAX_CLIENTS, MAX_MINUTES = 64, 60
MODELS = ["vanilla-v2", "unet"]


class MemoryWatch:
    """Samples a process's resident memory every ``interval`` seconds in the background."""

    def __init__(self, pid: int, interval: float = 0.25):
        self.pid, self.interval, self.samples = pid, interval, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                self.samples.append((time.monotonic(), process_rss_mb(self.pid)))
            except OSError:
                return
            self._stop.wait(self.interval)

    def peak_since(self, start: float) -> float:
        return max((mb for at, mb in self.samples if at >= start), default=0.0)

    def stop(self):
        self._stop.set()
        self._thread.join(5)


def photo_pool(folder: Path) -> list[Path]:
    """Photos of several sizes, colour and gray, PNG and JPEG (scikit-image's, resized)."""
    from PIL import Image
    from skimage import data

    sources = [data.astronaut(), data.coffee(), data.chelsea(), data.camera()]
    paths = []
    for index, (height, width) in enumerate([(48, 64), (120, 160), (240, 320), (300, 200), (480, 640), (64, 480)]):
        image = Image.fromarray(sources[index % len(sources)]).resize((width, height))
        path = folder / f"photo-{index}.{'jpg' if index % 2 else 'png'}"
        image.save(path, quality=90) if index % 2 else image.save(path)
        paths.append(path)
    return paths


def one_request(client, photo: Path, rng: random.Random) -> None:
    from gradio_client import handle_file

    if rng.random() < 0.5:
        client.predict(handle_file(str(photo)), rng.choice(MODELS), api_name="/colorize")
    else:
        models = rng.sample(MODELS, rng.randint(1, 2))
        client.predict(handle_file(str(photo)), models, None, rng.choice([None, 64, 128]), api_name="/compare")


def run_clients(url, clients, photos, seed, deadline, latencies, errors, lock, wait=True) -> list[threading.Thread]:
    """``clients`` threads, each sending one request after another until ``deadline``; latencies and errors
    are appended to the lists given."""
    from gradio_client import Client

    def run_client(index: int) -> None:
        rng, client = random.Random(seed * 1000 + index), Client(url, verbose=False)
        while time.monotonic() < deadline:
            begin = time.perf_counter()
            try:
                one_request(client, rng.choice(photos), rng)
                with lock:
                    latencies.append(time.perf_counter() - begin)
            except Exception as error:  # noqa: BLE001 - every failure counts
                with lock:
                    errors.append(f"{type(error).__name__}: {str(error)[:200]}")

    threads = [threading.Thread(target=run_client, args=(index,)) for index in range(clients)]
    for thread in threads:
        thread.start()
    if wait:
        for thread in threads:
            thread.join()
    return threads


def soak(url: str, pid: int, clients: int, minutes: float, seed: int, folder: Path, warmup: float = 60.0) -> int:
    from gradio_client import Client, handle_file

    photos = photo_pool(folder)
    warm = Client(url, verbose=False)
    for photo in photos:  # models load, and every code path runs once, before the clock starts
        warm.predict(handle_file(str(photo)), MODELS, None, None, api_name="/compare")
    latencies, errors, lock = [], [], threading.Lock()
    watch, started = MemoryWatch(pid), time.monotonic()
    deadline = started + warmup  # the clients' first minute: per-thread buffers and caches fill, not counted
    run_clients(url, clients, photos, seed, deadline, latencies, errors, lock)
    served_in_warmup, errors_in_warmup = len(latencies), len(errors)
    start_memory, started = process_rss_mb(pid), time.monotonic()
    deadline = started + minutes * 60
    print(
        f"  warm-up: {clients} clients for {warmup:.0f} s, {served_in_warmup} served, {errors_in_warmup} errors, "
        f"server {start_memory:.0f} MB",
        flush=True,
    )
    latencies.clear()

    threads = run_clients(url, clients, photos, seed + 1, deadline, latencies, errors, lock, wait=False)
    printed = started
    while any(thread.is_alive() for thread in threads):  # a line a minute: served, errors, memory
        time.sleep(0.5)
        if time.monotonic() - printed >= 60:
            printed = time.monotonic()
            print(
                f"  {(printed - started) / 60:4.1f} min: {len(latencies)} served, {len(errors)} errors, "
                f"server {process_rss_mb(pid):.0f} MB",
                flush=True,
            )
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    time.sleep(2.0)
    end_memory, peak = process_rss_mb(pid), watch.peak_since(started)
    watch.stop()
    ordered = sorted(latencies) or [0.0]
    growth = 100 * (end_memory - start_memory) / start_memory
    print(
        f"soak: {clients} clients for {elapsed / 60:.1f} min: {len(latencies)} requests served "
        f"({len(latencies) / elapsed:.2f}/s), {len(errors)} errors"
    )
    print(
        f"latency: p50 {statistics.median(ordered):.2f} s, p95 {ordered[int(0.95 * (len(ordered) - 1))]:.2f} s, "
        f"max {ordered[-1]:.2f} s"
    )
    print(
        f"server memory: {start_memory:.0f} MB after the warm-up, {end_memory:.0f} MB at the end ({growth:+.1f} %), "
        f"peak {peak:.0f} MB"
    )
    for error in sorted(set(errors))[:10]:
        print(f"  error: {error}")
    return 0 if not errors and growth < 15 else 1


def timed(request: Callable[[], None]) -> tuple[str, float]:
    """("ok", or the error a request ended with; its seconds). A refusal is an outcome, not a crash of the benchmark."""
    begin = time.perf_counter()
    try:
        request()
        return "ok", time.perf_counter() - begin
    except Exception as error:  # noqa: BLE001
        return f"{type(error).__name__}: {str(error)[:200]}", time.perf_counter() - begin


def heavy_then_small(
    pid: int,
    watch: MemoryWatch,
    heavy: dict[str, Callable[[], None]],
    small: tuple[str, Callable[[], None]],
    after_s: float,
) -> tuple[dict[str, tuple[str, float]], float, float]:
    """The ``heavy`` requests at once and, 8 s later (uploaded and being worked on, or waiting for room), the small
    one; returns every request's ``timed`` outcome, the server's peak memory meanwhile and its memory ``after_s``
    seconds after the last answer (MB). Stops ``watch``."""
    started, results = time.monotonic(), {}

    def run(name: str, request: Callable[[], None]) -> None:
        results[name] = timed(request)

    threads = [threading.Thread(target=run, args=item) for item in heavy.items()]
    for thread in threads:
        thread.start()
    time.sleep(8.0)
    run(*small)
    for thread in threads:
        thread.join()
    peak = watch.peak_since(started)
    time.sleep(after_s)
    after = process_rss_mb(pid)
    watch.stop()
    return results, peak, after


def big(url: str, pid: int, folder: Path, megapixels: float, endpoint: str) -> int:
    from gradio_client import Client, handle_file
    from PIL import Image
    from skimage import data

    width = int((megapixels * 1e6 * 1.5) ** 0.5)
    height = int(megapixels * 1e6 / width)
    large, small = folder / "large.jpg", folder / "small.png"
    Image.fromarray(data.astronaut()).resize((width, height), Image.Resampling.BICUBIC).save(large, quality=90)
    Image.fromarray(data.chelsea()).resize((256, 170)).save(small)
    client = Client(url, verbose=False)
    client.predict(handle_file(str(small)), "vanilla-v2", api_name="/colorize")  # warm: models loaded
    client.predict(handle_file(str(small)), ["vanilla-v2"], None, None, api_name="/compare")
    watch = MemoryWatch(pid, interval=0.1)
    time.sleep(2.0)
    idle = process_rss_mb(pid)

    def large_request() -> None:
        own = Client(url, verbose=False)
        if endpoint == "compare":
            own.predict(handle_file(str(large)), ["vanilla-v2"], None, None, api_name="/compare")
        else:
            own.predict(handle_file(str(large)), "vanilla-v2", api_name="/colorize")

    def small_request() -> None:
        Client(url, verbose=False).predict(handle_file(str(small)), "vanilla-v2", api_name="/colorize")

    heavy = {"large-1": large_request, "large-2": large_request}
    results, peak, after = heavy_then_small(pid, watch, heavy, ("small", small_request), after_s=3.0)
    print(
        f"big: two {width}x{height} ({width * height / 1e6:.1f} MP) photos on /{endpoint} at once, and a 256x170 "
        f"/colorize 8 s later"
    )
    for name in ("large-1", "large-2", "small"):
        status, seconds = results[name]
        print(f"  {name}: {status} in {seconds:.1f} s")
    print(f"server memory: idle {idle:.0f} MB, peak {peak:.0f} MB (+{peak - idle:.0f} MB), {after:.0f} MB 3 s after")
    ok = all(status == "ok" for status, _ in results.values()) and peak - idle < 2048 and results["small"][1] < 2.0
    return 0 if ok else 1


def synthetic_clip(path: Path, seconds: float = 20.0, fps: int = 25, size: tuple[int, int] = (1920, 1080)) -> Path:
    """A colour clip of a photo panning and zooming slowly (x264, about 1-2 MB for 20 s at 1080p)."""
    import av
    import numpy as np
    from PIL import Image
    from skimage import data

    width, height = size
    source = Image.fromarray(data.astronaut()).resize((width + 320, height + 180), Image.Resampling.BICUBIC)
    frames = int(seconds * fps)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "crf": "30"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(frames):
            left, top = int(320 * index / frames), int(180 * index / frames)
            frame = np.asarray(source.crop((left, top, left + width, top + height)))
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def videos(url: str, pid: int, folder: Path, count: int, request_seconds: float) -> int:
    from gradio_client import Client, handle_file
    from PIL import Image
    from skimage import data

    clip, small = synthetic_clip(folder / "clip-1080p.mp4"), folder / "small.png"
    Image.fromarray(data.chelsea()).resize((256, 170)).save(small)
    client = Client(url, verbose=False)
    client.predict(handle_file(str(small)), "chroma", api_name="/colorize")  # warm: the model is loaded
    watch = MemoryWatch(pid, interval=0.2)
    time.sleep(3.0)
    idle = process_rss_mb(pid)

    def video_request() -> None:
        Client(url, verbose=False).predict(handle_file(str(clip)), "chroma", True, api_name="/colorize_video")

    def photo_request() -> None:
        Client(url, verbose=False).predict(handle_file(str(small)), "chroma", api_name="/colorize")

    names = [f"video-{index}" for index in range(1, count + 1)]
    heavy = dict.fromkeys(names, video_request)
    results, peak, after = heavy_then_small(pid, watch, heavy, ("photo", photo_request), after_s=5.0)
    print(
        f"videos: {count} x 20 s {clip.stat().st_size / 1e6:.1f} MB 1080p clips on /colorize_video at once, and a "
        f"256x170 /colorize 8 s later (request limit {request_seconds:g} s)"
    )
    for name in [*names, "photo"]:
        status, seconds = results[name]
        print(f"  {name}: {status} in {seconds:.1f} s")
    print(
        f"server memory: idle {idle:.0f} MB, peak {peak:.0f} MB (+{peak - idle:.0f} MB), {after:.0f} MB 5 s after "
        f"({100 * (after - idle) / idle:+.1f} %)"
    )
    photo_ok = results["photo"][0] == "ok" and results["photo"][1] <= 10.0
    videos_ok = all(results[name][1] <= request_seconds + 10.0 for name in names)
    memory_ok = after <= 1.2 * idle
    print(f"bar: photo within 10 s {photo_ok}, videos within the limit {videos_ok}, memory back {memory_ok}")
    return 0 if photo_ok and videos_ok and memory_ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--clients", type=int, default=16, help=f"concurrent clients (default 16, at most {MAX_CLIENTS})"
    )
    parser.add_argument("--minutes", type=float, default=10.0, help=f"how long (default 10, at most {MAX_MINUTES})")
    parser.add_argument("--public", action="store_true", help="soak the app in public mode")
    parser.add_argument("--big", action="store_true", help="two large photos at once and a small request meanwhile")
    parser.add_argument(
        "--videos", action="store_true", help="three 20 s 1080p videos at once and a small photo meanwhile"
    )
    parser.add_argument("--private", action="store_true", help="--big or --videos in private mode (default: public)")
    parser.add_argument("--megapixels", type=float, default=36.0, help="--big: size of the large photos (default 36)")
    parser.add_argument(
        "--endpoint", choices=("compare", "colorize"), default="compare", help="--big: endpoint of the large photos"
    )
    parser.add_argument(
        "--warmup", type=float, default=60.0, help="seconds of load before the soak is measured (default 60)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= MAX_CLIENTS or not 0 < args.minutes <= MAX_MINUTES:
        parser.error(f"--clients must be 1..{MAX_CLIENTS} and --minutes in (0, {MAX_MINUTES}]")
    public = (not args.private) if args.big or args.videos else args.public
    port = free_port()
    server = start_app(port, public=public)
    try:
        with tempfile.TemporaryDirectory(prefix="colorizers-soak-") as folder:
            url = f"http://127.0.0.1:{port}/"
            print(f"app in {'public' if public else 'private'} mode on {url} (pid {server.pid})")
            if args.videos:
                from colorizers.limits import current

                return videos(url, server.pid, Path(folder), 3, current(public).request_seconds)
            if args.big:
                return big(url, server.pid, Path(folder), args.megapixels, args.endpoint)
            return soak(url, server.pid, args.clients, args.minutes, args.seed, Path(folder), args.warmup)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except Exception:  # noqa: BLE001
            server.kill()
        log = server_log(server)
        print(f"server log: {log.count('Traceback')} tracebacks, {log.count('request refused')} refusals")


if __name__ == "__main__":
    sys.exit(main())

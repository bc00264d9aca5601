"""Archive throughput and resumability: ``colorizers colorize`` on N mixed photos with 1 and 2 processes.

    python benchmarks/archive.py [--images 200] [--sides 320 1024] [--model chroma] [--batch-size 4] [--keep DIR]

Makes N photo-like images (320..1024 px on each side, a third grayscale, JPEG and PNG) in a temporary
folder, then times, each on a fresh output folder:

1. one process, one thread (``OMP_NUM_THREADS=1``, ``--workers 0``: decode, model and encode in turn);
2. one process, one model thread with the decode/encode threads (``--workers 2``);
3. two processes, one thread each (``accelerate launch --config_file train/configs/multi_cpu.yaml``, gloo);
4. two processes killed with SIGKILL halfway (every process of the launch), then the same command again;
5. with a GPU: one process on it, fp32 and bf16 (says which GPU).

The rate is the one each run prints: files colorized / seconds from the start of the work to the last output
(process start, model loading and listing the inputs excluded; the wall time with them is shown beside it). Checks: the killed-and-resumed outputs equal the one-process run's bit
for bit, every input has exactly one output, and the manifest shows no input colorized twice. Prints a Markdown
table and the checks; exits 1 if a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "train" / "configs" / "multi_cpu.yaml"
RATE = re.compile(r"(\d+) colorized into .* in ([\d.]+) s \(([\d.]+) files/s colorized\)")


def make_photos(folder: Path, count: int, sides: tuple[int, int] = (320, 1024), seed: int = 0) -> None:
    """Smooth shapes and gradients with film grain: compress like photos, unlike pure noise."""
    rng = np.random.default_rng(seed)
    for index in range(count):
        height, width = (int(v) for v in rng.integers(sides[0], sides[1] + 1, 2))
        coarse = rng.random((6, 8, 3)) * 255
        base = np.asarray(Image.fromarray(coarse.astype(np.uint8)).resize((width, height), Image.BICUBIC), np.float32)
        base += rng.normal(0, 6, base.shape)
        pixels = np.clip(base, 0, 255).astype(np.uint8)
        image = Image.fromarray(pixels).convert("L") if index % 3 == 0 else Image.fromarray(pixels)
        sub = folder / f"box{index % 4}"
        sub.mkdir(parents=True, exist_ok=True)
        if index % 2:
            image.save(sub / f"scan{index:05d}.jpg", quality=90)
        else:
            image.save(sub / f"scan{index:05d}.png")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def command(photos: Path, out: Path, args, *, processes: int, workers: int, extra=()) -> list[str]:
    colorize = ["-m", "colorizers", "colorize", str(photos), "-o", str(out), "-m", args.model, "-q"]
    colorize += ["--batch-size", str(args.batch_size), "--workers", str(workers), *extra]
    if processes == 1:
        return [sys.executable, *colorize]
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CONFIG)]
    return [*launch, "--num_processes", str(processes), "--main_process_port", str(_free_port()), *colorize]


def environment(threads: int) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}


def run(argv: list[str], threads: int = 1) -> dict:
    started = time.perf_counter()
    result = subprocess.run(argv, env=environment(threads), cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    found = RATE.search(result.stdout + result.stderr)
    if result.returncode != 0 or not found:
        sys.exit(f"run failed ({result.returncode}): {' '.join(argv)}\n{result.stdout[-2000:]}{result.stderr[-3000:]}")
    return {"done": int(found.group(1)), "seconds": float(found.group(2)), "rate": float(found.group(3)), "wall": wall}


def kill_halfway(argv: list[str], manifest: Path, count: int) -> int:
    """Start ``argv``, SIGKILL the launcher and every process under it once half the inputs are recorded."""
    import psutil

    process = subprocess.Popen(
        argv, env=environment(1), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    while process.poll() is None:
        if manifest.is_file() and manifest.read_text().count('"done"') >= count // 2:
            break
        time.sleep(0.01)
    tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    for victim in tree:
        try:
            victim.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    process.wait()
    return sum(
        json.loads(line)["status"] == "done" for line in manifest.read_text().splitlines() if line.endswith("}")
    )


def outputs(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*.png"))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--model", default="chroma")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--sides", type=int, nargs=2, default=(320, 1024), metavar=("MIN", "MAX"))
    parser.add_argument("--keep", default=None, help="work in this folder (kept) instead of a temporary one")
    args = parser.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="colorizers-archive-"))
    photos = work / "photos"
    if not photos.is_dir():
        make_photos(photos, args.images, tuple(args.sides))
    rows, checks = [], []

    one = run(command(photos, work / "one", args, processes=1, workers=0))
    rows.append(("1 process x 1 thread (--workers 0)", one))
    rows.append(
        (
            "1 process x 1 thread + I/O threads (--workers 2)",
            run(command(photos, work / "io", args, processes=1, workers=2)),
        )
    )
    two = run(command(photos, work / "two", args, processes=2, workers=0))
    rows.append(("2 processes x 1 thread (--workers 0)", two))

    killed = work / "killed"
    argv = command(photos, killed, args, processes=2, workers=0)
    before = kill_halfway(argv, killed / "manifest.jsonl", args.images)
    resumed = run(command(photos, killed, args, processes=2, workers=0))
    rows.append((f"2 processes, after SIGKILL at {before}/{args.images}: the rest", resumed))

    import torch

    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        for precision in ("fp32", "bf16"):
            extra = ("--device", "cuda", "--precision", precision)
            result = run(
                command(photos, work / f"gpu-{precision}", args, processes=1, workers=2, extra=extra), threads=4
            )
            rows.append((f"1 process on {name}, {precision}", result))

    expected = outputs(work / "one")
    checks.append(("every input has one output (1 process)", len(expected) == args.images))
    checks.append(("2 processes == 1 process, bit for bit", outputs(work / "two") == expected))
    checks.append(("killed + resumed == 1 process, bit for bit", outputs(killed) == expected))
    checks.append(("no temporary file left", not list(killed.rglob("*.tmp"))))
    records = [json.loads(line) for line in (killed / "manifest.jsonl").read_text().splitlines() if line.endswith("}")]
    finished = Counter(r["input"] for r in records if r["status"] in ("done", "exists"))
    checks.append(
        (
            "manifest: every input finished once, none colorized twice",
            len(finished) == args.images and max(finished.values()) == 1,
        )
    )
    checks.append(
        (
            "resumed run colorized only the rest",
            resumed["done"] == args.images - before - sum(r["status"] == "exists" for r in records),
        )
    )

    low, high = args.sides
    print(
        f"{args.images} images ({low}..{high} px, a third grayscale), model {args.model}, batch size {args.batch_size}, "
        f"{os.cpu_count()} CPUs\n"
    )
    print("| run | files | seconds | files/s | wall s (with start-up) |\n|---|---|---|---|---|")
    for label, result in rows:
        print(
            f"| {label} | {result['done']} | {result['seconds']:.1f} | {result['rate']:.2f} | {result['wall']:.1f} |"
        )
    print(f"\nspeed-up, 2 processes vs 1 (1 thread each): {two['rate'] / one['rate']:.2f}x\n")
    for label, ok in checks:
        print(f"- [{'x' if ok else ' '}] {label}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())

"""How fast the command line answers when it has nothing heavy to do, hyperfine-style: each command runs
``--runs`` times in a fresh Python process (after one warm-up run that fills the OS file cache), and the
median and the fastest wall time are printed.

    python benchmarks/cli_startup.py [--runs 5] [--python /path/to/python]

The commands: ``python -m colorizers --help``, ``colorize --help``, an argument error (an unknown option,
exit code 2) and ``list``. Targets: under 1 s for the first three, under 2 s for ``list`` (before the
command line imported lazily, each took the 5-14 s of importing torch and transformers). Wall times depend
on the machine's load: say what else was running when quoting them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = [
    ("--help", ["--help"], 0, 1.0),
    ("colorize --help", ["colorize", "--help"], 0, 1.0),
    ("argument error", ["colorize", "photos", "-o", "out", "--no-such-option"], 2, 1.0),
    ("list", ["list"], 0, 2.0),
]


def time_command(python: str, args: list[str], expected_code: int) -> float:
    start = time.perf_counter()
    result = subprocess.run(
        [python, "-m", "colorizers", *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=600,
    )
    seconds = time.perf_counter() - start
    if result.returncode != expected_code:
        raise SystemExit(
            f"python -m colorizers {' '.join(args)}: exit code {result.returncode}, expected {expected_code}\n"
            + result.stderr.decode(errors="replace")
        )
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per command (default 5)")
    parser.add_argument("--python", default=sys.executable, help="the interpreter to run (default: this one)")
    args = parser.parse_args()
    print(f"{'command':<18} {'median':>8} {'min':>8} {'target':>7}  runs")
    for label, command, code, target in COMMANDS:
        time_command(args.python, command, code)  # warm-up
        times = [time_command(args.python, command, code) for _ in range(args.runs)]
        median, fastest = statistics.median(times), min(times)
        verdict = "ok" if median < target else "SLOW"
        print(f"{label:<18} {median:>7.3f}s {fastest:>7.3f}s {target:>6.1f}s  {len(times)}  {verdict}")


if __name__ == "__main__":
    main()

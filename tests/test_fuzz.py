"""Mutation fuzzing (benchmarks/fuzz.py) of the shared image reader and of the app's API: each damaged file
ends in a decoded image or the reader's own error, quickly; the benchmark runs 2,000 of each."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import fuzz  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore")  # PIL warns about the damaged metadata it meets


def test_seeds_cover_six_formats_and_the_cases_are_seeded():
    import io

    from PIL import Image

    seeds = fuzz.seed_images()
    assert {suffix: Image.open(io.BytesIO(data)).format for suffix, data in seeds.items()} == fuzz.FORMATS
    first = [(case.data, case.how) for case in fuzz.mutations(3, 20, seeds)]
    assert first == [(case.data, case.how) for case in fuzz.mutations(3, 20, seeds)]
    assert first != [(case.data, case.how) for case in fuzz.mutations(4, 20, seeds)]
    hows = {step for case in fuzz.mutations(0, 300, seeds) for step in case.how.split("+")}
    assert {"flip", "truncate", "splice", "header", "repeat"} <= hows


def test_300_mutated_files_through_the_reader_decode_or_are_refused(tmp_path):
    outcomes = {"decoded": 0, "refused": 0}
    for case in fuzz.mutations(11, 300):
        path = tmp_path / f"case-{case.index}.{case.suffix}"
        path.write_bytes(case.data)
        outcome = fuzz.read_case(str(path))
        assert outcome["kind"] in outcomes, (case.how, case.suffix, outcome)
        assert outcome["seconds"] < 5.0, (case.how, case.suffix, outcome)
        outcomes[outcome["kind"]] += 1
    assert outcomes["decoded"] > 30 and outcomes["refused"] > 100  # the mutations do both


def test_the_worker_measures_each_case_and_a_hang_would_be_counted(tmp_path):
    results = fuzz.run_reader(fuzz.mutations(12, 20), tmp_path, timeout=5.0, memory_mb=1024)
    assert len(results) == 20 and all(r["kind"] in ("decoded", "refused") for r in results)
    assert all(r["peak_mb"] < 1024 for r in results)
    slow = fuzz.run_reader(fuzz.mutations(12, 2), tmp_path, timeout=-1.0, memory_mb=1024)
    assert [r["kind"] for r in slow] == ["hang", "hang"]


@pytest.mark.slow
def test_60_mutated_uploads_through_the_app_decode_or_get_the_readers_message(tmp_path):
    sys.path.insert(0, str(ROOT))
    import app

    demo = app.build_demo()
    port = fuzz.free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True, **app.LAUNCH_KWARGS)
    try:
        started = time.perf_counter()
        results = fuzz.run_app(fuzz.mutations(13, 60), tmp_path, f"http://127.0.0.1:{port}/", timeout=30.0)
    finally:
        demo.close()
    bad = [r for r in results if r["kind"] not in ("decoded", "refused")]
    assert not bad, bad
    assert {r["kind"] for r in results} == {"decoded", "refused"}
    assert time.perf_counter() - started < 300

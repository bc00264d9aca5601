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


# The other kinds of input: bombs, model folders, hint JSON, video containers ----------------------------------


def test_crc_fixing_lets_a_mutated_png_past_the_checksum():
    import io
    import zlib

    from PIL import Image

    seed = fuzz.seed_images()["png"]
    chunks = fuzz.fuzz_inputs.png_chunks(seed)
    idat = next(index for index, (kind, _) in enumerate(chunks) if kind == b"IDAT")
    pixels = bytearray(zlib.decompress(chunks[idat][1]))
    pixels[40] ^= 0xFF  # damage a pixel byte inside the compressed data
    damaged = chunks[:idat] + [(b"IDAT", zlib.compress(bytes(pixels)))] + chunks[idat + 1 :]
    fixed = fuzz.fuzz_inputs.png_from_chunks(damaged)
    assert fuzz.fuzz_inputs.png_chunks(fixed) == damaged
    Image.open(io.BytesIO(fixed)).load()  # every CRC right: the damage reaches the decoder, which decodes it
    broken = bytearray(fixed)
    broken[-20] ^= 0xFF  # the CRC left wrong
    with pytest.raises(Exception, match="(?i)crc|broken|truncated"):
        Image.open(io.BytesIO(bytes(broken))).load()


def test_a_png_inflating_to_144_megapixels_is_refused_by_its_declared_size(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(fuzz.fuzz_inputs.png_bomb(12000, 12000))
    assert path.stat().st_size < 300_000
    outcome = fuzz.read_case(str(path))
    assert outcome["kind"] == "refused" and "megapixels" in outcome["detail"], outcome


@pytest.mark.parametrize(
    ("kind", "count"), [("bomb", 30), ("model", 30), ("hints", 60), ("video", 40)], ids=lambda v: str(v)
)
def test_each_kind_of_damaged_input_is_used_or_refused_by_its_own_error(tmp_path, kind, count):
    outcomes = {"decoded": 0, "refused": 0}
    for case in fuzz.kind_cases(kind, 7, count, tmp_path):
        outcome = fuzz.CHECKS[kind](str(case.write(tmp_path)))
        assert outcome["kind"] in outcomes, (case.how, case.suffix, outcome)
        outcomes[outcome["kind"]] += 1
    assert outcomes["refused"] > 0 and outcomes["decoded"] > 0, outcomes  # the mutations do both


def test_safetensors_mutations_keep_the_header_length_right_unless_they_mean_to_lie():
    import json
    import random
    import struct

    from safetensors.torch import save
    from torch import zeros

    data = save({"weight": zeros(4, 3), "bias": zeros(4)})
    rng = random.Random(5)
    for _ in range(60):
        mutated, how = fuzz.fuzz_inputs.mutate_safetensors(rng, data)
        if "length" in how or how == "safetensors-tensor-bytes":
            continue
        (length,) = struct.unpack("<Q", mutated[:8])
        json.loads(mutated[8 : 8 + length])  # the rewritten header parses: the damage is in what it says

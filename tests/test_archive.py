"""Archive runs (``colorizers.batch.engine``, ``colorizers.batch.datasets``): fixed chunks whatever the number of
processes, the manifest, resuming after a kill, ``--retry-failed``, atomic writes, datasets in and out (with a
broken row), pushing to the (test) Hub, and one real two-process gloo run killed halfway and resumed."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import datasets
import numpy as np
import pytest
from app_server import free_port
from conftest import kill_process_tree
from PIL import Image

from colorizers.batch.engine import chunk_plan, chunks_of, output_conflicts
from colorizers.batch.files import Job
from colorizers.batch.manifest import end_last_line, read_manifest
from colorizers.batch.overlap import Prefetch, Writers
from colorizers.commands.main import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def fresh_state(fresh_accelerate_state):
    """Each test's archive run makes its own accelerate state (one process, CPU)."""
    yield


def _photos(folder: Path, count: int, seed: int = 0, broken: bool = True) -> Path:
    """``count`` small photos in two sub-folders, mixed sizes, some grayscale, one RGBA; plus a broken file."""
    rng = np.random.default_rng(seed)
    (folder / "b").mkdir(parents=True, exist_ok=True)
    for index in range(count):
        height, width = (48, 64) if index % 3 else (int(rng.integers(24, 72)), int(rng.integers(24, 72)))
        channels = () if index % 4 == 0 else ((4,) if index == 5 else (3,))
        pixels = rng.integers(0, 256, (height, width, *channels), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / ("b" if index % 2 else ".") / f"{index:03d}.png")
    if broken:
        (folder / "b" / "broken.png").write_text("not an image")
    return folder


def _colorize(*args) -> int:
    return main(["colorize", *map(str, args), "-m", "chroma", "--size", "64", "-q"])


def _records(manifest: Path) -> list[dict]:
    records = []
    for line in manifest.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            pass
    return records


def _outputs(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.png"))}


# --- the plan ------------------------------------------------------------------------------------


@pytest.mark.parametrize("count, batch", [(0, 4), (1, 4), (10, 3), (200, 4), (17, 1)])
def test_chunks_do_not_depend_on_the_number_of_processes(count, batch):
    plan = chunk_plan(count, batch)
    assert [i for chunk in plan for i in chunk] == list(range(count))  # every input once, in order
    assert all(len(chunk) == batch for chunk in plan[:-1])
    for processes in (1, 2, 3, 8):
        assigned = sorted(k for rank in range(processes) for k in chunks_of(rank, processes, len(plan)))
        assert assigned == list(range(len(plan)))  # each chunk on exactly one process, whole
    assert chunk_plan(count, batch) == plan


def test_output_conflicts_are_decided_in_order():
    jobs = [Job(Path("in/a.jpg"), Path("out/a.png")), Job(Path("in/a.png"), Path("out/a.png"))]
    jobs.append(Job(Path("in/c.png"), Path("in/c.png")))
    assert output_conflicts(jobs, overwrite=False) == {
        1: "another input already writes to the same output name",
        2: "its output would replace an input file (use --overwrite to allow)",
    }
    assert output_conflicts(jobs, overwrite=True) == {1: "another input already writes to the same output name"}


def test_prefetch_and_writers_pass_errors_on():
    def items():
        yield 1
        raise OSError("disk gone")

    prefetch = Prefetch(items(), depth=2)
    assert next(prefetch) == 1
    with pytest.raises(OSError, match="disk gone"):
        next(prefetch)
    prefetch.close()
    seen = []
    writers = Writers(2, seen.append)
    for item in range(10):
        writers.submit(item)
    writers.close()
    assert sorted(seen) == list(range(10))
    failing = Writers(1, lambda item: 1 / item)
    failing.submit(0)
    with pytest.raises(ZeroDivisionError):
        failing.close()


# --- files ---------------------------------------------------------------------------------------


def test_manifest_records_every_input_once(tmp_path, capsys):
    photos = _photos(tmp_path / "in", 7)
    out = tmp_path / "out"
    assert _colorize(photos, "-o", out, "--manifest", tmp_path / "m.jsonl", "--batch-size", "3") == 0
    captured = capsys.readouterr()
    assert f"7 colorized into {out}, 1 failed, 0 already done in " in captured.err  # with failures: on stderr
    assert re.search(r"already done in \d+\.\d s \(\d+\.\d\d files/s colorized\)\nmanifest: ", captured.err)
    assert f"failed {photos / 'b' / 'broken.png'}: not an image file PIL can read" in captured.err
    records = _records(tmp_path / "m.jsonl")
    assert len(records) == 8 and len({r["input"] for r in records}) == 8
    assert {r["run"] for r in records} == {records[0]["run"]}
    for record in records:
        assert set(record) == {"input", "output", "status", "model", "revision", "error", "rank", "run", "time"}
        assert record["model"] == "chroma" and record["revision"] is None and record["rank"] == 0
        assert Path(record["input"]).is_absolute()
    failed = [r for r in records if r["status"] == "failed"]
    assert [(Path(r["input"]).name, r["error"]) for r in failed] == [("broken.png", "not an image file PIL can read")]
    assert all(Path(r["output"]).is_file() for r in records if r["status"] == "done")
    assert sorted(_outputs(out)) == sorted(
        str(p.relative_to(photos).with_suffix(".png")) for p in photos.rglob("0*.png")
    )
    # the default manifest is OUTPUT/manifest.jsonl (any archive option); a plain run writes none
    assert _colorize(photos, "-o", tmp_path / "out2", "--workers", "0") == 0
    assert (tmp_path / "out2" / "manifest.jsonl").is_file()
    assert _colorize(photos / "000.png", "-o", tmp_path / "plain") == 0
    assert [p.name for p in (tmp_path / "plain").iterdir()] == ["000.png"]


def test_resume_after_a_kill_writes_only_what_is_missing_and_matches_a_full_run(tmp_path, capsys):
    from colorizers.batch.files import collect_jobs

    photos = _photos(tmp_path / "in", 9, broken=False)
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    assert _colorize(photos, "-o", full, "--batch-size", "4", "--manifest", full / "manifest.jsonl") == 0
    expected = _outputs(full)
    # what a run killed in its second chunk leaves: chunk 0 complete, one output of chunk 1 written but not
    # yet recorded, the rest missing, a temporary file and a manifest line cut short
    shutil.copytree(full, resumed)
    order = [str(job.target.relative_to(resumed)) for job in collect_jobs([str(photos)], resumed, "png")]
    recorded = {str(resumed / name) for name in order[:4]}
    lines = [
        json.dumps({**record, "output": str(resumed / Path(record["output"]).relative_to(full))})
        for record in _records(full / "manifest.jsonl")
        if str(resumed / Path(record["output"]).relative_to(full)) in recorded
    ]
    (resumed / "manifest.jsonl").write_text("\n".join(lines) + '\n{"input": "cut sh')
    for name in order[5:]:
        (resumed / name).unlink()
    (resumed / Path(order[5]).parent / f".{Path(order[5]).name}.abcd1234.tmp").write_bytes(b"\x89PNG half")
    (resumed / ".notes.txt.abcd1234.tmp").write_text("not ours: kept")
    before = {name: (resumed / name).stat().st_mtime_ns for name in order[:5]}
    capsys.readouterr()

    assert _colorize(photos, "-o", resumed, "--batch-size", "4", "--manifest", resumed / "manifest.jsonl") == 0
    out, err = capsys.readouterr()
    assert f"4 colorized into {resumed}, 0 failed, 5 already done" in out
    assert "removed 1 unfinished temporary files of an interrupted run" in err
    assert _outputs(resumed) == expected  # bit for bit, the partial chunk included
    assert {name: (resumed / name).stat().st_mtime_ns for name in order[:5]} == before  # not rewritten
    assert [p.name for p in resumed.rglob("*.tmp")] == [".notes.txt.abcd1234.tmp"]
    records = _records(resumed / "manifest.jsonl")
    assert len(records) == 9 and len({r["input"] for r in records}) == 9  # nothing recorded twice
    status = {str(Path(r["output"]).relative_to(resumed)): r["status"] for r in records}
    assert status[order[4]] == "exists" and Counter(status.values()) == {"done": 8, "exists": 1}
    # a third run has nothing left to do
    assert _colorize(photos, "-o", resumed, "--batch-size", "4", "--manifest", resumed / "manifest.jsonl") == 0
    assert "0 colorized" in capsys.readouterr().out and len(_records(resumed / "manifest.jsonl")) == 9


def test_failed_inputs_are_skipped_until_retry_failed(tmp_path, capsys):
    photos = _photos(tmp_path / "in", 2)
    out = tmp_path / "out"
    assert _colorize(photos, "-o", out, "--manifest", out / "manifest.jsonl") == 0
    Image.new("L", (20, 30), 128).save(photos / "b" / "broken.png", format="PNG")  # mended
    capsys.readouterr()
    assert _colorize(photos, "-o", out, "--manifest", out / "manifest.jsonl") == 0
    assert "0 colorized into" in (line := capsys.readouterr().out) and "1 failed before (--retry-failed" in line
    assert not (out / "b" / "broken.png").exists()
    assert _colorize(photos, "-o", out, "--retry-failed") == 0
    assert f"1 colorized into {out}, 0 failed, 2 already done" in capsys.readouterr().out
    assert read_manifest(out / "manifest.jsonl").status[str(photos / "b" / "broken.png")] == "done"


def test_an_output_name_taken_by_another_input_fails_once(tmp_path, capsys):
    photos = tmp_path / "in"
    photos.mkdir()
    Image.new("L", (30, 20), 90).save(photos / "a.bmp")
    Image.new("L", (30, 20), 160).save(photos / "a.png")  # after a.bmp: its output a.png is taken
    out = tmp_path / "out"
    assert _colorize(photos, "-o", out, "--workers", "0") == 0
    err = capsys.readouterr().err
    assert f"failed {photos / 'a.png'}: another input already writes to the same output name" in err
    assert _colorize(photos, "-o", out, "--workers", "0") == 0
    assert "0 colorized" in (out_text := capsys.readouterr().out) and "1 already done, 1 failed before" in out_text
    assert sorted(r["status"] for r in _records(out / "manifest.jsonl")) == ["done", "failed"]


def test_sigterm_stops_between_chunks_with_the_summary_and_a_rerun_finishes(tmp_path, capsys, monkeypatch):
    import colorizers.pipelines as pipeline
    from colorizers.batch.files import Interrupted

    photos = _photos(tmp_path / "in", 6, broken=False)
    out = tmp_path / "out"
    real, calls = pipeline.colorize, []

    def stopped_in_the_second_chunk(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise Interrupted(signal.SIGTERM)
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "colorize", stopped_in_the_second_chunk)
    assert _colorize(photos, "-o", out, "--batch-size", "2", "--workers", "1") == 143
    err = capsys.readouterr().err
    assert "interrupted by SIGTERM: stopped" in err and f"2 colorized into {out}, 0 failed" in err
    assert len(_outputs(out)) == 2 and not list(out.rglob("*.tmp"))
    monkeypatch.setattr(pipeline, "colorize", real)
    assert _colorize(photos, "-o", out, "--batch-size", "2", "--manifest", out / "manifest.jsonl") == 0
    assert f"4 colorized into {out}, 0 failed, 2 already done" in capsys.readouterr().out
    assert Counter(r["status"] for r in _records(out / "manifest.jsonl")) == {"done": 6}


def test_disk_full_stops_with_no_partial_output_and_a_rerun_finishes(tmp_path, capsys, monkeypatch):
    import errno

    from PIL import PngImagePlugin

    photos = _photos(tmp_path / "in", 6, broken=False)
    out = tmp_path / "out"
    real_save, calls = PngImagePlugin._save, []

    def fill_the_disk(image, fp, filename, *args, **kwargs):
        calls.append(filename)
        if len(calls) == 3:
            fp.write(b"\x89PNG half")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(image, fp, filename, *args, **kwargs)

    Image.register_save("PNG", fill_the_disk)
    try:
        assert _colorize(photos, "-o", out, "--batch-size", "2", "--workers", "1") == 1
    finally:
        Image.register_save("PNG", real_save)
    err = capsys.readouterr().err
    assert "No space left on device; stopped" in err and "not done" in err and "Traceback" not in err
    written = _outputs(out)
    assert 1 < len(written) < 6 and all(data.startswith(b"\x89PNG\r\n") for data in written.values())
    assert not list(out.rglob("*.tmp"))  # the file being written was removed, not left under any name
    assert {r["status"] for r in _records(out / "manifest.jsonl")} == {"done"}  # disk full: not the input's fault
    assert _colorize(photos, "-o", out, "--batch-size", "2", "--workers", "1") == 0
    assert len(_outputs(out)) == 6


def test_bf16_on_cpu_stays_close_and_fp16_is_refused(tmp_path, capsys):
    photos = _photos(tmp_path / "in", 3, broken=False)
    assert _colorize(photos, "-o", tmp_path / "fp32", "--precision", "fp32") == 0
    assert _colorize(photos, "-o", tmp_path / "bf16", "--precision", "bf16") == 0
    for name, data in _outputs(tmp_path / "fp32").items():
        a = np.asarray(Image.open(io.BytesIO(data)), np.int16)
        b = np.asarray(Image.open(tmp_path / "bf16" / name), np.int16)
        assert np.abs(a - b).mean() < 2.0
    capsys.readouterr()
    assert _colorize(photos, "-o", tmp_path / "fp16", "--precision", "fp16") == 2
    err = capsys.readouterr().err
    assert err == "error: fp16 runs on GPUs only (this process runs on cpu): use --precision bf16 or fp32\n"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--dataset", "x/y", "IN"], "give image files and folders, or --dataset, not both"),
        ([], "nothing to colorize: give image files or folders, or --dataset NAME"),
        (["IN", "--split", "test"], "--split applies to --dataset runs"),
        (["IN", "--push-to-hub", "me/x"], "--push-to-hub applies to --dataset runs"),
        (["IN", "--streaming"], "--streaming applies to --dataset runs"),
        (["--dataset", "x/y", "--hints", "h.json"], "--hints applies to files, not to --dataset"),
        (["IN", "--workers", "-1"], "--workers must be 0 or more"),
        (["--dataset", "x/y", "--shard-size", "0"], "--shard-size must be at least 1"),
        (["--dataset", "x/y", "--push-to-hub", "noslash"], "--push-to-hub takes a dataset id ORG/NAME, got 'noslash'"),
        (["IN", "--manifest", "m.jsonl", "--device", "cpu", "--precision", "fp16"], None),
    ],
)
def test_bad_arguments_are_one_line(tmp_path, capsys, argv, message):
    photos = _photos(tmp_path / "in", 1, broken=False)
    argv = [str(photos) if item == "IN" else item for item in argv]
    assert main(["colorize", *argv, "-o", str(tmp_path / "out"), "-m", "vanilla-v2", "-q"]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == f"error: {message or 'fp16 runs on GPUs only (this process runs on cpu): use --precision bf16 or fp32'}\n"
    )


# --- datasets ------------------------------------------------------------------------------------


def _dataset(folder: Path, rows: int = 7) -> Path:
    """A local parquet dataset: an image column (row 3 broken bytes, row 5 no image) and a caption column."""
    rng = np.random.default_rng(1)
    records = []
    for index in range(rows):
        stream = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)).save(stream, format="PNG")
        image = {"bytes": b"garbage" if index == 3 else stream.getvalue(), "path": None}
        records.append({"image": None if index == 5 else image, "caption": f"photo {index}"})
    features = datasets.Features({"image": datasets.Image(), "caption": datasets.Value("string")})
    (folder / "data").mkdir(parents=True)
    datasets.Dataset.from_list(records, features=features).to_parquet(str(folder / "data" / "train-00000.parquet"))
    return folder


@pytest.fixture
def datasets_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets-cache")


def _colorize_dataset(source, out, *extra) -> int:
    argv = ["--dataset", str(source), "-o", str(out), "--shard-size", "3", "--batch-size", "2", *map(str, extra)]
    return main(["colorize", *argv, "-m", "vanilla-v2", "-q"])


def test_dataset_in_and_out_with_a_broken_row(tmp_path, capsys, datasets_cache):
    source = _dataset(tmp_path / "source")
    out = tmp_path / "out"
    assert _colorize_dataset(source, out) == 0
    captured = capsys.readouterr()
    assert f"5 colorized into {out / 'data'}, 2 failed, 0 already done" in captured.err
    assert f"failed row 3 of {source} (train): not an image file PIL can read" in captured.err
    shards = sorted(p.name for p in (out / "data").iterdir())
    assert shards == ["train-00000.parquet", "train-00001.parquet", "train-00002.parquet"]
    result = datasets.load_dataset("parquet", data_files=str(out / "data" / "*.parquet"), split="train")
    assert result.column_names == ["image", "caption", "colorized"]
    assert result["caption"] == [f"photo {i}" for i in range(7)]
    source_rows = datasets.load_dataset("parquet", data_files=str(source / "data" / "*.parquet"), split="train")
    undecoded = datasets.Image(decode=False)
    assert result.cast_column("image", undecoded)["image"] == source_rows.cast_column("image", undecoded)["image"]
    for index, image in enumerate(result["colorized"]):
        if index in (3, 5):
            assert image is None
        else:
            assert image.size == (56, 40) and image.mode == "RGB"
    records = _records(out / "manifest.jsonl")
    assert [r["row"] for r in records] == list(range(7))
    failed = {r["row"]: r["error"] for r in records if r["status"] == "failed"}
    assert failed == {3: "not an image file PIL can read", 5: "the row has no image"}
    assert all(r["output"].endswith(f"train-{r['row'] // 3:05d}.parquet") for r in records)

    # a rerun has nothing to do; --retry-failed rewrites only shard 1 (row 3), keeping its other rows as they were
    before = {name: (out / "data" / name).read_bytes() for name in shards}
    assert _colorize_dataset(source, out) == 0
    assert "0 colorized" in capsys.readouterr().out and len(_records(out / "manifest.jsonl")) == 7
    kept = result[4]["colorized"].tobytes()
    assert _colorize_dataset(source, out, "--retry-failed") == 0
    assert f"0 colorized into {out / 'data'}, 2 failed, 5 already done" in capsys.readouterr().err
    assert (out / "data" / "train-00000.parquet").read_bytes() == before["train-00000.parquet"]
    again = datasets.load_dataset("parquet", data_files=str(out / "data" / "*.parquet"), split="train")
    assert again[4]["colorized"].tobytes() == kept
    added = _records(out / "manifest.jsonl")[7:]
    assert sorted((r["row"], r["status"]) for r in added) == [(3, "failed"), (5, "failed")]  # no row done twice


def test_streaming_gives_the_same_rows(tmp_path, datasets_cache):
    source = _dataset(tmp_path / "source")
    assert _colorize_dataset(source, tmp_path / "a") == 0
    assert _colorize_dataset(source, tmp_path / "b", "--streaming") == 0
    for name in ("train-00000.parquet", "train-00001.parquet", "train-00002.parquet"):
        a = datasets.Dataset.from_parquet(str(tmp_path / "a" / "data" / name))
        b = datasets.Dataset.from_parquet(str(tmp_path / "b" / "data" / name))
        assert (
            a.cast_column("colorized", datasets.Image(decode=False))["colorized"]
            == b.cast_column("colorized", datasets.Image(decode=False))["colorized"]
        )


def test_dataset_problems_are_one_line(tmp_path, capsys, datasets_cache):
    source = _dataset(tmp_path / "source")
    assert _colorize_dataset(source, tmp_path / "o", "--image-column", "photo") == 2
    err = capsys.readouterr().err
    assert err == f"error: the dataset {source} has no column 'photo' (columns: image, caption); see --image-column\n"
    assert _colorize_dataset(source, tmp_path / "o", "--image-column", "caption") == 2
    assert capsys.readouterr().err == f"error: the column 'caption' of {source} holds Value, not images\n"
    assert _colorize_dataset(tmp_path / "nowhere", tmp_path / "o") == 2
    assert capsys.readouterr().err.startswith(
        f"error: could not load the dataset {tmp_path / 'nowhere'} (split train)"
    )


def test_push_to_the_hub(tmp_path, capsys, datasets_cache, monkeypatch):
    sys.path.insert(0, str(ROOT / "tests"))
    from hub_server import HubServer
    from huggingface_hub import HfApi, constants

    real_getaddrinfo = socket.getaddrinfo

    def local_only(host, *args, **kwargs):  # the test Hub only: never the real one
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise OSError(f"test_push_to_the_hub reached for {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", local_only)
    source = _dataset(tmp_path / "source")
    with HubServer(user="tester", tokens={"hf_test"}) as hub:
        for name, value in {"HF_ENDPOINT": hub.url, "HF_TOKEN": "hf_test", "HF_HUB_DISABLE_XET": "1"}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.setattr(constants, "ENDPOINT", hub.url)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
        monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
        monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "no-tokens"))
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
        assert _colorize_dataset(source, tmp_path / "out", "--push-to-hub", "tester/colorized") == 0
        assert "pushed" in capsys.readouterr().out
        api = HfApi(endpoint=hub.url, token="hf_test")
        files = api.list_repo_files("tester/colorized", repo_type="dataset")
        assert sorted(files) == [
            ".gitattributes",
            "README.md",
            "data/train-00000.parquet",
            "data/train-00001.parquet",
            "data/train-00002.parquet",
        ]  # never the manifest: it holds local paths
        uploaded = hub.store.repos[("dataset", "tester/colorized")].resolve("main").files
        card = uploaded["README.md"].decode()
        assert uploaded["data/train-00001.parquet"] == (tmp_path / "out" / "data" / "train-00001.parquet").read_bytes()
    assert "path: data/train-*.parquet" in card and "model `vanilla-v2`" in card and str(source) in card
    assert "| train | 7 | 5 | 2 |" in card


# --- two processes, killed and resumed -------------------------------------------------------------


@pytest.mark.slow
def test_two_gloo_processes_killed_halfway_then_resumed_match_one_process(tmp_path):
    import torch

    rng = np.random.default_rng(5)
    photos = tmp_path / "in"
    (photos / "sub").mkdir(parents=True)
    for index in range(12):
        shape = (int(rng.integers(200, 320)), int(rng.integers(200, 320)))
        pixels = rng.integers(0, 256, shape + (() if index % 3 == 0 else (3,)), dtype=np.uint8)
        Image.fromarray(pixels).save(photos / ("sub" if index % 2 else ".") / f"{index:02d}.png")
    (photos / "sub" / "broken.png").write_text("no")
    out = tmp_path / "two"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    launch = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(ROOT / "train/configs/multi_cpu.yaml"),
    ]
    command = ["-m", "colorizers", "colorize", str(photos), "-o", str(out), "-m", "chroma", "--size", "256", "-q"]
    command += ["--batch-size", "2"]
    process = subprocess.Popen(
        [*launch, "--main_process_port", str(free_port()), *command],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    manifest, deadline = out / "manifest.jsonl", time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        if manifest.is_file() and manifest.read_text().count('"done"') >= 4:
            break
        time.sleep(0.005)
    kill_process_tree(process.pid)  # the launcher, its agent and both workers
    process.communicate()
    done_before = sum(r["status"] == "done" for r in _records(manifest))
    assert 0 < done_before < 12, "the run was not stopped halfway"

    second = subprocess.run(
        [*launch, "--main_process_port", str(free_port()), *command],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert second.returncode == 0, second.stdout + second.stderr
    assert "(2 processes)" in second.stdout + second.stderr

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # what each of the two processes had
    try:
        one = tmp_path / "one"
        options = [*command[command.index("-m", 1) :], "--manifest", str(tmp_path / "one.jsonl")]
        assert main(["colorize", str(photos), "-o", str(one), *options]) == 0
    finally:
        torch.set_num_threads(threads)
    assert len(_outputs(one)) == 12 and _outputs(out) == _outputs(one)  # bit for bit
    assert not list(out.rglob("*.tmp"))
    records = _records(manifest)
    done = Counter(r["input"] for r in records if r["status"] in ("done", "exists"))
    assert len(done) == 12 and max(done.values()) == 1  # nothing colorized twice after the restart
    assert {r["rank"] for r in records if r["status"] == "done"} == {0, 1}
    assert [Path(r["input"]).name for r in records if r["status"] == "failed"] == ["broken.png"]


def test_end_last_line_mends_a_cut_manifest(tmp_path):
    path = tmp_path / "m.jsonl"
    end_last_line(path)  # none yet: nothing happens
    assert not path.exists()
    path.write_text('{"input": "a", "status": "done"}\n{"input": "b", "sta')
    end_last_line(path)
    with open(path, "a") as stream:
        stream.write('{"input": "c", "status": "failed", "error": "x"}\n')
    state = read_manifest(path)
    assert state.status == {"a": "done", "c": "failed"} and state.errors == {"c": "x"}


def test_a_plain_run_and_an_archive_run_write_the_same_images(tmp_path, capsys):
    photos = _photos(tmp_path / "in", 7)
    assert _colorize(photos, "-o", tmp_path / "plain", "--batch-size", "3") == 1  # the broken file: exit code 1
    assert _colorize(photos, "-o", tmp_path / "archive", "--batch-size", "3", "--workers", "1") == 0
    err = capsys.readouterr().err
    assert err.count(f"failed {photos / 'b' / 'broken.png'}: not an image file PIL can read") == 2
    assert _outputs(tmp_path / "plain") == _outputs(tmp_path / "archive") and len(_outputs(tmp_path / "plain")) == 7


def test_the_run_colorizes_with_one_pipeline_holding_the_job_s_settings(tmp_path, monkeypatch):
    import colorizers.pipelines as pipeline

    built, calls = [], []
    real_init, real_colorize = pipeline.ImageColorizationPipeline.__init__, pipeline.colorize

    def init(self, *args, **kwargs):
        built.append(kwargs)
        real_init(self, *args, **kwargs)

    def colorize(images, model, **kwargs):
        calls.append((model, kwargs))
        return real_colorize(images, model, **kwargs)

    monkeypatch.setattr(pipeline.ImageColorizationPipeline, "__init__", init)
    monkeypatch.setattr(pipeline, "colorize", colorize)
    photos = _photos(tmp_path / "in", 5, broken=False)
    assert (
        _colorize(photos, "-o", tmp_path / "out", "--batch-size", "2", "--temperature", "0.4", "--workers", "0") == 0
    )
    assert len(built) == 1 and len(calls) == 3  # one pipeline, a colorize() call per chunk
    assert {id(model) for model, _ in calls} == {id(calls[0][0])}
    defaults = calls[0][0].defaults
    assert (defaults["size"], defaults["temperature"], defaults["batch_size"]) == ({"longest_edge": 64}, 0.4, 2)
    assert all(set(kwargs) == {"hints", "autocast"} for _, kwargs in calls)  # the settings travel in the pipeline

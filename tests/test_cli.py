import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from colorizers.commands.main import main


@pytest.fixture
def photos(tmp_path, rng):
    """A folder with good images (nested), a truncated JPEG, a text file named .png and a note."""
    root = tmp_path / "photos"
    (root / "trip" / "day1").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)).save(root / "a.jpg", quality=90)
    Image.fromarray(rng.integers(0, 256, (33, 21), dtype=np.uint8)).save(root / "trip" / "b.png")
    Image.fromarray(rng.integers(0, 256, (17, 29, 4), dtype=np.uint8)).save(root / "trip" / "day1" / "c.png")
    jpeg = (root / "a.jpg").read_bytes()
    (root / "trip" / "broken.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (root / "fake.png").write_text("this is not a png")
    (root / "notes.txt").write_text("not an image, not even pretending")
    return root


def _run(*args):
    return main(["colorize", *map(str, args), "--model", "vanilla-v1", "--quiet"])


def test_folder_is_mirrored_and_bad_files_reported(photos, tmp_path, capsys):
    out = tmp_path / "out"
    assert _run(photos, "-o", out) == 1
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == ["a.png", "trip/b.png", "trip/day1/c.png"]
    for name, size in [("a.png", (60, 40)), ("trip/b.png", (21, 33)), ("trip/day1/c.png", (29, 17))]:
        image = Image.open(out / name)
        assert image.size == size and image.mode == "RGB"
    err = capsys.readouterr().err
    assert "failed" in err and "broken.jpg" in err and "truncated" in err
    assert "fake.png: not an image file PIL can read" in err and "truncated or corrupt" in err
    assert "notes.txt" not in err
    assert "3 colorized" in err and "2 failed" in err


def test_inputs_are_never_overwritten(photos, capsys):
    before = {p: p.read_bytes() for p in photos.rglob("*") if p.is_file()}
    assert _run(photos, "-o", photos) == 2
    assert "is an input folder" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in photos.rglob("*") if p.is_file()} == before


def test_existing_outputs_are_kept_unless_overwrite(photos, tmp_path, capsys):
    out = tmp_path / "out"
    (out).mkdir()
    (out / "a.png").write_bytes(b"mine")
    _run(photos / "a.jpg", "-o", out)
    assert (out / "a.png").read_bytes() == b"mine"
    assert "exists (use --overwrite)" in capsys.readouterr().err
    assert _run(photos / "a.jpg", "-o", out, "--overwrite") == 0
    assert Image.open(out / "a.png").size == (60, 40)


def test_same_format_and_single_file(photos, tmp_path):
    out = tmp_path / "out"
    assert _run(photos / "a.jpg", photos / "trip" / "b.png", "-o", out, "--format", "same", "--size", "32") == 0
    assert Image.open(out / "a.jpg").format == "JPEG"
    assert Image.open(out / "b.png").format == "PNG"
    assert not list(out.glob(".*.tmp"))


def test_usage_errors_exit_2(photos, tmp_path, capsys):
    assert _run(tmp_path / "missing", "-o", tmp_path / "out") == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert main(["colorize", str(photos), "-o", str(tmp_path / "o"), "--model", "no-such-model"]) == 2
    assert "could not load model 'no-such-model'" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _run(empty, "-o", tmp_path / "out") == 2
    assert "no image files" in capsys.readouterr().err


def test_list_prints_presets_with_parameter_counts(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "unet" in out and "7.76M" in out and "vanilla-v2" in out


def test_module_entry_point(photos, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "colorizers",
            "colorize",
            str(photos / "trip" / "b.png"),
            "-o",
            str(tmp_path / "o"),
            "-m",
            "vanilla-v2",
            "-q",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "o" / "b.png").is_file()


@pytest.fixture
def references(tmp_path, rng):
    root = tmp_path / "refs"
    (root / "sub").mkdir(parents=True)
    for index in range(3):
        image = rng.integers(0, 256, (30 + index, 40, 3), dtype=np.uint8)
        Image.fromarray(image).save(root / ("sub" if index else ".") / f"ref{index}.png")
    Image.fromarray(rng.integers(0, 256, (30, 40), dtype=np.uint8)).save(root / "gray.png")
    (root / "broken.png").write_text("nope")
    return root


def test_evaluate_prints_table_and_writes_json(references, tmp_path, capsys, monkeypatch):
    import colorizers.registry

    monkeypatch.setattr(colorizers.registry, "PRETRAINED_DIR", tmp_path / "none")  # every preset untrained
    import json

    from skimage.metrics import peak_signal_noise_ratio

    from colorizers.evaluation.evaluate import gray_prediction

    out = tmp_path / "results.json"
    code = main(
        [
            "evaluate",
            "--model",
            "vanilla-v1",
            "--model",
            "vanilla-v2",
            "--data",
            str(references),
            "--size",
            "32",
            "--output",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    captured = capsys.readouterr()
    assert "| gray |" in captured.out and "| vanilla-v1 (untrained) |" in captured.out
    assert "refs: 3 images, 2 skipped" in captured.out
    assert "gray.png: grayscale" in captured.err and "broken.png: unreadable" in captured.err
    report = json.loads(out.read_text())
    assert [r["model"] for r in report["results"]] == ["gray", "vanilla-v1", "vanilla-v2"]
    assert all(r["num_images"] == 3 for r in report["results"])
    assert {s["file"] for s in report["skipped"]} == {"gray.png", "broken.png"}
    # the gray baseline is exactly the protocol's ab = 0 prediction
    refs = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(references.rglob("ref*.png"))]
    expected = np.mean([peak_signal_noise_ratio(r, gray_prediction(r), data_range=255) for r in refs])
    assert report["results"][0]["psnr"] == pytest.approx(expected)
    assert report["results"][1]["parameters"] > 0 and report["results"][1]["images_per_second"] > 0
    # AuC over all the set's pixels: the gray baseline's equals the accumulator's on the same pairs
    from colorizers.evaluation.metrics import AucAccumulator

    accumulator = AucAccumulator()
    for r in refs:
        accumulator.add(gray_prediction(r), r)
    pooled = accumulator.result()
    for key in ("auc", "auc_rebalanced"):
        assert report["results"][0][key] == pytest.approx(pooled[key])
        assert all(0.0 <= row[key] <= 100.0 for row in report["results"])
    # a gray prediction has no colour to correlate: None, never a number; a model's are correlations
    assert pooled["corr_a"] is None and pooled["corr_b"] is None
    assert report["results"][0]["corr_a"] is None and report["results"][0]["corr_b"] is None
    for row in report["results"][1:]:  # an untrained model's near-gray colour has no correlation either
        assert all(row[key] is None or -1.0 <= row[key] <= 1.0 for key in ("corr_a", "corr_b"))
    assert "| AuC (%) | AuC rebal. (%) |" in captured.out


def test_evaluate_errors(tmp_path, capsys):
    assert main(["evaluate", "--data", str(tmp_path / "absent")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["evaluate", "--data", str(tmp_path / "empty")]) == 2
    assert "no usable colour image" in capsys.readouterr().err


def test_hints_file_guides_each_named_image(tmp_path, capsys):
    import json

    rng = np.random.default_rng(3)
    for name, shape in (("a.png", (40, 60)), ("b.png", (30, 20))):
        Image.fromarray((rng.random(shape) * 255).astype(np.uint8)).save(tmp_path / name)
    hints = tmp_path / "hints.json"
    hints.write_text(
        json.dumps({"a.png": [{"x": 5, "y": 5, "color": "#ff0000"}], "b.png": [{"x": 50, "y": 5, "color": "#f00"}]})
    )
    code = main(
        [
            "colorize",
            str(tmp_path / "a.png"),
            str(tmp_path / "b.png"),
            "-o",
            str(tmp_path / "out"),
            "-m",
            "chroma",
            "--hints",
            str(hints),
            "-q",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "failed " + str(tmp_path / "b.png") + ": --hints: hint 1: point (50, 5) is outside the 20x30 image" in err
    assert (tmp_path / "out" / "a.png").is_file() and not (tmp_path / "out" / "b.png").exists()
    one = tmp_path / "one.json"
    one.write_text(json.dumps([{"x": 1, "y": 1, "color": "#00f"}]))
    assert (
        main(
            [
                "colorize",
                str(tmp_path / "a.png"),
                str(tmp_path / "b.png"),
                "-o",
                str(tmp_path / "o2"),
                "-m",
                "chroma",
                "--hints",
                str(one),
                "-q",
            ]
        )
        == 2
    )
    assert "holds one list of hints, but 2 images are to be colorized" in capsys.readouterr().err
    assert (
        main(
            ["colorize", str(tmp_path / "a.png"), "-o", str(tmp_path / "o3"), "-m", "vanilla-v2", "--hints", str(one)]
        )
        == 2
    )
    assert "model has no hint inputs" in capsys.readouterr().err


def test_temperature_is_checked_before_any_work(photos, tmp_path, capsys):
    assert main(["colorize", str(photos), "-o", str(tmp_path / "t"), "-m", "vanilla-v2", "--temperature", "0.5"]) == 2
    assert "temperature applies to models that predict a colour distribution" in capsys.readouterr().err
    assert main(["colorize", str(photos), "-o", str(tmp_path / "t"), "-m", "chroma", "--temperature", "9"]) == 2
    assert "temperature must be between 0.05 and 2.0, got 9.0" in capsys.readouterr().err
    assert not (tmp_path / "t").exists()


# File-system failures, limits and signals: one line each, the usual summary, never a traceback ------------


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_size_above_the_working_size_limit_is_one_line(photos, tmp_path, capsys):
    assert _run(photos / "a.jpg", "-o", tmp_path / "out", "--size", "100000") == 2
    err = capsys.readouterr().err
    assert _lines(err) == [_lines(err)[0]] and "--size must be at most 2048 pixels (limit max_working_size" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "where, reason",
    [
        ("file/sub", "part of its path is a file, not a folder"),
        ("file", "it exists and is not a folder"),
        ("/proc/colorizers-out", "cannot create the output folder /proc/colorizers-out"),
    ],
)
def test_an_output_folder_that_cannot_be_made_is_one_line_and_the_summary(photos, tmp_path, capsys, where, reason):
    (tmp_path / "file").write_text("a file where the output folder would go")
    output = where if where.startswith("/") else tmp_path / where
    assert _run(photos, "-o", output) == 1
    err = capsys.readouterr().err
    assert reason in err and "Traceback" not in err
    assert _lines(err)[-1] == f"0 colorized into {output}, 0 failed, 0 skipped, 5 not done"


def test_a_read_only_output_folder_is_refused_before_any_work(photos, tmp_path, capsys, monkeypatch):
    import errno
    import tempfile

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)  # what a folder without write permission answers
    assert _run(photos, "-o", tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert f"error: cannot write into the output folder {tmp_path / 'out'}: Permission denied" in err


def test_disk_full_stops_the_run_with_the_summary_and_no_temporary_file(photos, tmp_path, capsys, monkeypatch):
    import errno

    from PIL import PngImagePlugin

    calls = []
    real_save = PngImagePlugin._save

    def fill_the_disk(image, fp, filename, *args, **kwargs):
        calls.append(filename)
        if len(calls) == 2:
            fp.write(b"\x89PNG half")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(image, fp, filename, *args, **kwargs)

    monkeypatch.setattr(PngImagePlugin, "_save", fill_the_disk)
    Image.register_save("PNG", fill_the_disk)
    try:
        assert _run(photos, "-o", tmp_path / "out", "--batch-size", "1") == 1
    finally:
        Image.register_save("PNG", real_save)
    err = capsys.readouterr().err
    assert "No space left on device; stopped" in err and "Traceback" not in err
    assert _lines(err)[-1].startswith(f"1 colorized into {tmp_path / 'out'}, 2 failed, 0 skipped, 2 not done")
    assert [p.name for p in (tmp_path / "out").rglob("*") if p.is_file()] == ["a.png"]  # no .tmp left behind


def test_a_file_that_cannot_be_read_is_not_called_corrupt(photos, tmp_path, capsys, monkeypatch):
    import errno

    import colorizers.image_io as image_io

    real_open = image_io.Image.open

    def guarded_open(path, *args, **kwargs):
        if str(path).endswith("a.jpg"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(image_io.Image, "open", guarded_open)
    assert _run(photos, "-o", tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert f"failed {photos / 'a.jpg'}: cannot read the file (Permission denied)" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_a_file_without_read_permission_is_reported_as_such(photos, tmp_path, capsys):
    (photos / "a.jpg").chmod(0)
    try:
        assert _run(photos / "a.jpg", "-o", tmp_path / "out") == 1
    finally:
        (photos / "a.jpg").chmod(0o644)
    assert "cannot read the file (Permission denied)" in capsys.readouterr().err


def test_an_unreadable_sub_folder_is_reported_and_counted(photos, tmp_path, capsys, monkeypatch):
    import errno

    real_scandir = os.scandir

    def scandir(path="."):
        if str(path).endswith("day1"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)  # what os.walk meets in a folder without read permission
    assert _run(photos, "-o", tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert f"failed {photos / 'trip' / 'day1'}: cannot list the folder (Permission denied)" in err
    assert _lines(err)[-1] == f"2 colorized into {tmp_path / 'out'}, 3 failed, 0 skipped"


@pytest.mark.slow
@pytest.mark.parametrize("signum, code, name", [(15, 143, "SIGTERM"), (2, 130, "SIGINT")])
def test_a_stop_signal_ends_with_one_line_the_summary_and_no_temporary_file(tmp_path, signum, code, name):
    import time

    rng = np.random.default_rng(0)
    photos = tmp_path / "big"
    photos.mkdir()
    for index in range(12):  # large noisy photos: each PNG takes a while to write (enough to stop mid-run)
        Image.fromarray(rng.integers(0, 256, (1500, 2000, 3), dtype=np.uint8)).save(photos / f"{index}.bmp")
    out = tmp_path / "out"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "colorizers",
            "colorize",
            str(photos),
            "-o",
            str(out),
            "-m",
            "vanilla-v2",
            "-q",
            "--batch-size",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not list(out.glob(".*.tmp")):  # stop it in the middle of a write
        time.sleep(0.01)
    assert process.poll() is None, process.communicate()
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == code, stderr
    assert "Traceback" not in stderr
    lines = _lines(stderr)
    assert lines[-2] == f"interrupted by {name}: stopped"
    assert lines[-1].startswith(f"{len(list(out.glob('*.png')))} colorized into {out}, 0 failed, 0 skipped")
    assert not list(out.glob(".*"))  # the half-written file was removed


def test_batch_size_is_capped_with_an_argparse_error(photos, tmp_path, capsys):
    for value, reason in (
        ("100000", "must be between 1 and 256, got 100000"),
        ("0", "must be between 1 and 256, got 0"),
    ):
        with pytest.raises(SystemExit) as stopped:
            _run(photos, "-o", tmp_path / "out", "--batch-size", value)
        assert stopped.value.code == 2
        assert f"error: argument --batch-size: {reason}\n" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _run(photos, "-o", tmp_path / "out", "--batch-size", "four")
    assert "error: argument --batch-size: must be a whole number, got 'four'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@contextlib.contextmanager
def _at_most(seconds: int):
    """Fail (instead of hanging) when the block blocks longer than ``seconds``."""

    def expired(signum, frame):
        raise TimeoutError(f"blocked for more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_hints_from_a_device_or_a_pipe_are_refused_without_reading(photos, tmp_path, capsys):
    pipe = tmp_path / "hints.fifo"
    os.mkfifo(pipe)
    for hints, kind in (("/dev/zero", "a named pipe, device or socket"), (pipe, "a named pipe, device or socket")):
        with _at_most(60):
            code = main(
                ["colorize", str(photos / "a.jpg"), "-o", str(tmp_path / "out"), "-m", "chroma", "--hints", str(hints)]
            )
        assert code == 2
        assert capsys.readouterr().err == f"error: hints file {hints} is not a regular file ({kind})\n"


def test_a_named_pipe_as_input_is_refused_without_blocking(photos, tmp_path, capsys):
    pipe = tmp_path / "photo.png"
    os.mkfifo(pipe)
    with _at_most(60):
        assert _run(pipe, "-o", tmp_path / "out") == 2
    assert capsys.readouterr().err == (
        f"error: {pipe} is not a regular file (a named pipe, device or socket): only files and folders are read\n"
    )
    os.mkfifo(photos / "inside.png")  # inside a folder: not an image file, left alone
    with _at_most(60):
        assert _run(photos, "-o", tmp_path / "out") == 1  # the folder's own bad files
    assert "inside.png" not in capsys.readouterr().err and not (tmp_path / "out" / "inside.png").exists()
    from colorizers.image_io import ImageReadError, read_image

    with _at_most(60), pytest.raises(ImageReadError, match="not a regular file"):
        read_image(pipe)


def test_the_input_folder_as_output_is_refused_clearly_even_with_overwrite(photos, capsys):
    before = {p: p.read_bytes() for p in photos.rglob("*") if p.is_file()}
    assert _run(photos, "-o", photos, "--overwrite") == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: the output folder {photos} is an input folder: results would sit beside (or replace) the "
        "originals, and the next run would colorize them again (--overwrite replaces earlier outputs, never a "
        "folder's originals). Choose another --output.\n"
    )
    assert {p: p.read_bytes() for p in photos.rglob("*") if p.is_file()} == before


def test_a_link_out_of_an_input_folder_is_not_followed(photos, tmp_path, capsys):
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(tmp_path / "outside.png")
    (photos / "up").symlink_to("..")
    (photos / "again").symlink_to("trip")  # a link that stays inside is followed (its folder once)
    out = tmp_path / "out"
    assert _run(photos, "-o", out) == 1  # the fixture's broken files
    err = capsys.readouterr().err
    assert f"skipped {photos / 'up'}: a link that leads out of its input folder (not followed)" in err
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*.png"))
    assert written == ["a.png", "again/b.png", "again/day1/c.png"] or written == [
        "a.png",
        "trip/b.png",
        "trip/day1/c.png",
    ]
    assert "outside" not in err and not list(out.rglob("outside.png"))


# --- one typed job for the batch engine ---------------------------------------------------------------------


def _job(*argv):
    from colorizers.commands import colorize as colorize_command
    from colorizers.commands.main import build_parser

    args = build_parser().parse_args(["colorize", *map(str, argv)])
    args.model, args.max_pixels = args.model or "vanilla-v1", args.max_pixels or 1000  # what main() fills in
    return colorize_command.batch_job(args)


def test_the_arguments_become_one_typed_batch_job(tmp_path, monkeypatch):
    from colorizers.batch.job import ArchiveOptions, BatchJob, DatasetOptions, VideoOptions

    for variable in ("WORLD_SIZE", "ACCELERATE_MIXED_PRECISION"):
        monkeypatch.delenv(variable, raising=False)
    plain = _job("a.png", "folder", "-o", tmp_path / "out", "--size", "64", "--batch-size", "3", "--overwrite")
    assert plain == BatchJob(
        inputs=("a.png", "folder"),
        output=tmp_path / "out",
        model="vanilla-v1",
        size=64,
        batch_size=3,
        overwrite=True,
        max_pixels=1000,
    )
    archive = _job("in", "-o", "~/out", "--workers", "0", "--start", "1.5", "--no-stabilize", "--temperature", "0.3")
    assert archive.output == Path("~/out").expanduser() and archive.temperature == 0.3
    assert archive.archive == ArchiveOptions(workers=0) and archive.dataset is None
    assert archive.archive.manifest_path(archive.output) == archive.output / "manifest.jsonl"
    assert archive.video == VideoOptions(stabilize=False, start=1.5)
    dataset = _job("-o", "out", "--dataset", "org/photos", "--split", "test", "--manifest", "m.jsonl")
    assert dataset.dataset == DatasetOptions("org/photos", split="test") and dataset.inputs == ()
    assert dataset.archive.manifest == Path("m.jsonl")
    monkeypatch.setenv("WORLD_SIZE", "2")  # under accelerate launch every run is an archive run
    assert _job("a.png", "-o", "out").archive == ArchiveOptions()


def test_the_batch_engine_runs_a_job_without_the_command_line(photos, tmp_path, capsys):
    from colorizers.batch.engine import run
    from colorizers.batch.job import BatchJob

    assert _run(photos, "-o", tmp_path / "cli") == 1  # two broken files
    cli = capsys.readouterr()
    assert run(BatchJob(inputs=(str(photos),), output=tmp_path / "lib", model="vanilla-v1", quiet=True)) == 1
    library = capsys.readouterr()
    assert library.err.replace(str(tmp_path / "lib"), "OUT") == cli.err.replace(str(tmp_path / "cli"), "OUT")
    written = sorted(path.relative_to(tmp_path / "cli") for path in (tmp_path / "cli").rglob("*.png"))
    assert written == sorted(path.relative_to(tmp_path / "lib") for path in (tmp_path / "lib").rglob("*.png"))
    for name in written:
        assert (tmp_path / "cli" / name).read_bytes() == (tmp_path / "lib" / name).read_bytes()


def test_library_modules_never_see_the_argparse_namespace():
    root = Path(__file__).resolve().parents[1] / "colorizers"
    for path in [*sorted((root / "batch").rglob("*.py")), *sorted((root / "video").rglob("*.py"))]:
        source = path.read_text()
        assert "import argparse" not in source and "Namespace" not in source, path
        assert "args." not in source.replace("kwargs.", ""), path

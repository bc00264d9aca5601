"""The README's commands, checked: every ```bash and ```python block of README.md.

Each command (a line of a bash block, continuation lines joined, ``&&`` chains split) is one test:

* ``python -m colorizers ...`` runs here, in this process (``colorizers.commands.main.main``, shell globs expanded as bash
  would), in its own temporary folder holding a copy of ``docs/samples`` and the stand-ins of ``FIXTURES`` for the
  files the examples name as the reader's own (``old.jpg``, ``photos/``...), so nothing is written into the
  repository. It must exit with 0, write its ``-o``/``--output``, and not colorize the already colorized samples.
* A command matching a rule of ``SKIP`` is skipped with that rule's reason (pytest's ``-ra`` summary lists them).
* Any other command FAILS: a new README command is either runnable here or given a skip rule with its reason.

Python blocks are executed the same way (in this process, the temporary folder as the current folder) unless a
rule of ``PYTHON_SKIP`` matches them.
"""

import glob
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SAMPLES = ROOT / "docs" / "samples"

# Commands that cannot run in a test, as (regular expression searched in the command, reason). Keep each rule
# narrow: a command that none matches must run here.
SKIP = [
    (r"^pip install\b", "installs packages (network); .ci/run does exactly this install"),
    (r"^python app\.py$", "serves the app until stopped; tests/test_app*.py start it and call every endpoint"),
    (r"^python -m pytest\b", "the test suite itself, which this test is part of"),
    (
        r"^accelerate launch\b",
        "training and multi-process, GPU or multi-machine launches (../shared data, GPUs, machines); "
        "tests/test_train.py and tests/test_archive.py launch small ones",
    ),
    (
        r"^(python )?(train/train\.py|benchmarks/|release/)|^bash (train|benchmarks)/",
        "training, benchmarks and release steps read ../shared data and take minutes to hours",
    ),
    (
        r"^python -m colorizers push\b|--push-to-hub\b|\byour-org/",
        "needs the Hugging Face Hub (network, a token); tests/test_hub.py runs against a local Hub server",
    ),
    (
        r"\.(mp4|m4v|mov|mkv|webm|avi)\b|\breels/",
        "videos: no video is bundled; tests/test_video.py colorizes generated clips",
    ),
]
PYTHON_SKIP = [
    (r"\bgradio_client\b", "calls a running app (python app.py); tests/test_app.py calls the same endpoints"),
    (r"[\"']your-org/", "needs the Hugging Face Hub; tests/test_hub.py runs against a local Hub server"),
    (r"\bcolorize_video\(", "videos: no video is bundled; tests/test_video.py colorizes generated clips"),
]

GRAY = "coffee-gray.jpg"  # the smallest bundled gray photo (400x266)
COLOUR = "coffee-colorized.png"


# The reader's own files that README examples name, each made from a bundled sample.
FIXTURES = {
    "old.jpg": lambda destination: shutil.copyfile(SAMPLES / GRAY, destination),
    "photos/old-photo.jpg": lambda destination: shutil.copyfile(SAMPLES / GRAY, destination),
    "scans/old.tif": lambda destination: Image.open(SAMPLES / GRAY).save(destination),
    "hints.json": lambda destination: destination.write_text('[{"x": 120, "y": 80, "color": "#aa3322", "radius": 6}]'),
    "eval/kodak24/coffee.png": lambda destination: shutil.copyfile(SAMPLES / COLOUR, destination),  # colour: scored
}


@dataclass(frozen=True)
class Snippet:
    language: str  # "bash" (one command) or "python" (a whole block)
    line: int  # in README.md
    text: str  # the block, or the command's words joined by spaces
    words: tuple[str, ...] = ()  # a command's words as bash reads them (quotes removed, globs not yet expanded)

    @property
    def id(self) -> str:
        first = self.text.strip().splitlines()[0]
        return f"L{self.line}-{first[:70]}"


def readme_snippets(text: str) -> list[Snippet]:
    snippets, language, start, body = [], None, 0, []
    for number, line in enumerate(text.splitlines(), 1):
        if language is None:
            if line.startswith("```"):
                language, start, body = line[3:].strip() or "-", number, []
        elif line.strip() == "```":
            if language == "python":
                snippets.append(Snippet("python", start + 1, "\n".join(body) + "\n"))
            elif language == "bash":
                snippets.extend(bash_commands(body, start + 1))
            language = None
        else:
            body.append(line)
    assert language is None, f"README.md: the block opened on line {start} is not closed"
    return snippets


def bash_commands(lines: list[str], first_line: int) -> list[Snippet]:
    commands, pending, pending_line = [], "", 0
    for number, line in enumerate(lines, first_line):
        if not pending:
            pending_line = number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        tokens = shlex.split(pending + line, comments=True)
        pending = ""
        command: list[str] = []
        for token in [*tokens, "&&"]:
            if token != "&&":
                command.append(token)
            elif command:
                commands.append(Snippet("bash", pending_line, " ".join(command), tuple(command)))
                command = []
    return commands


SNIPPETS = readme_snippets(README.read_text(encoding="utf-8"))


def skip_reason(snippet: Snippet) -> str | None:
    rules = SKIP if snippet.language == "bash" else PYTHON_SKIP
    for pattern, reason in rules:
        if re.search(pattern, snippet.text):
            return reason
    return None


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A temporary folder standing in for the repository root: docs/samples and the FIXTURES."""
    shutil.copytree(SAMPLES, tmp_path / "docs" / "samples")
    for name, make in FIXTURES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        make(tmp_path / name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path


def expand_globs(tokens: list[str], folder: Path) -> list[str]:
    """What bash does with unquoted wildcards (every README token is taken as unquoted)."""
    expanded = []
    for token in tokens:
        matches = sorted(glob.glob(token, root_dir=folder)) if glob.has_magic(token) else []
        expanded.extend(matches or [token])
    return expanded


def run_cli(snippet: Snippet, workdir: Path, capsys) -> None:
    from colorizers.commands.main import main

    command = snippet.text
    argv = expand_globs(list(snippet.words[3:]), workdir)  # after "python -m colorizers"
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 0, f"{command}\nexit code {code}\n{captured.out}\n{captured.err}"
    for flag in ("-o", "--output"):
        if flag in argv:
            output = workdir / argv[argv.index(flag) + 1]
            assert output.exists(), f"{command}: wrote no {output.name}"
            again = [path.name for path in output.rglob("*-colorized.*")] if output.is_dir() else []
            assert not again, f"{command}: colorized the already colorized samples again: {again}"


def runnable(snippet: Snippet) -> bool:
    return snippet.language == "python" or snippet.words[:3] == ("python", "-m", "colorizers")


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[snippet.id for snippet in SNIPPETS])
def test_readme_command(snippet, workdir, capsys, fresh_accelerate_state):
    reason = skip_reason(snippet)
    if reason is not None:
        pytest.skip(f"README command not run: {reason}")
    if not runnable(snippet):
        pytest.fail(
            f"README.md line {snippet.line}: `{snippet.text}` is neither run by tests/test_readme.py nor covered by "
            "one of its SKIP rules: make it runnable here or add a rule with the reason"
        )
    if snippet.language == "python":
        exec(compile(snippet.text, f"README.md, block at line {snippet.line}", "exec"), {"__name__": "__main__"})
    else:
        run_cli(snippet, workdir, capsys)


def test_commands_are_read_as_bash_reads_them():
    text = "```bash\npip install a && python -m colorizers list  # presets\naccelerate launch \\\n    x.py --y\n```\n"
    commands = [(s.line, s.words) for s in readme_snippets(text)]
    assert commands == [
        (2, ("pip", "install", "a")),
        (2, ("python", "-m", "colorizers", "list")),
        (3, ("accelerate", "launch", "x.py", "--y")),
    ]
    unknown = readme_snippets("```bash\nmake docs\n```\n")[0]
    assert skip_reason(unknown) is None and not runnable(unknown)  # so its test fails


def test_readme_has_commands_to_run():
    """The parser found the README's blocks, and the quick start and the Python example are among those run."""
    run = [snippet for snippet in SNIPPETS if skip_reason(snippet) is None]
    assert any(s.language == "python" for s in run)
    assert any(s.text.startswith("python -m colorizers colorize docs/samples/") for s in run)


def test_more_vivid_example_is_more_vivid(workdir):
    """A README line that calls a temperature "more vivid" gives more colour than the model's default."""
    import colorizers
    from colorizers.evaluation.metrics import colorfulness

    lines = [line for line in README.read_text(encoding="utf-8").splitlines() if re.search(r"more vivid", line)]
    examples = [line for line in lines if "--temperature" in line]
    assert examples
    gray = Image.open(SAMPLES / GRAY)
    for line in examples:
        tokens = shlex.split(line, comments=True)
        temperature = float(tokens[tokens.index("--temperature") + 1])
        options = tokens[tokens.index("colorizers") + 1 :]
        name = options[options.index("-m" if "-m" in options else "--model") + 1]
        model = colorizers.load_model(name)
        assert temperature < model.config.default_temperature, line
        default, vivid = (
            colorfulness(np.asarray(colorizers.colorize(gray, model, temperature=value)))
            for value in (None, temperature)
        )
        assert vivid > default + 1, (line, default, vivid)

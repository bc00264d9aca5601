#!/usr/bin/env python
"""Check that every marked copy of code equals its source; ``--fix`` rewrites drifted copies.

Each family folder under ``colorizers/models/`` travels to the Hub as remote code, so it must be
self-contained: helpers (``regression_loss``, ``pad_to_multiple``, output classes, ...) are copied
between families on purpose. A copy is marked the way transformers marks its own (same semantics
as transformers' ``utils/check_copies.py``), by a comment directly above the ``def``/``class`` (or
above its decorators, which are then part of the copy)::

    # Copied from colorizers.models.unet.modeling_unet.regression_loss
    def regression_loss(prediction, labels, loss_type, huber_delta):

    # Copied from colorizers.models.unet.modeling_unet.UNetColorizerOutput with UNet->ResNet
    @dataclass
    class ResNetColorizerOutput(ModelOutput):

``with A->B, C->D`` applies ``re.sub(A, B, ...)`` then ``re.sub(C, D, ...)`` to the source before
comparing; ``A->B all-casing`` also replaces the lower- and upper-case forms of ``A``. Methods are
named by their class (``...Model.from_pretrained``). Usage::

    python utils/check_copies.py           # check colorizers/, exit 1 on a drifted copy
    python utils/check_copies.py --fix     # rewrite every drifted copy from its source
    python utils/check_copies.py FILE_OR_FOLDER ...

Nothing is imported: files are read and parsed only.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "colorizers"
MARKER = re.compile(rf"^(?P<indent>\s*)#\s*Copied from\s+(?P<source>{PACKAGE}\.\S+)\s*(?P<rest>.*)$")
REPLACEMENT = re.compile(r"^\s*(?P<old>\S+)->(?P<new>\S+)(?:\s+(?P<option>\S+))?\s*$")


class CopyError(ValueError):
    """A marker that cannot be checked: malformed, not above a def/class, or naming no object."""


@dataclass
class Copy:
    """A marked copy: where it is, what it claims to copy, and the lines it spans."""

    file: Path
    line: int  # 1-based line of the marker
    name: str  # qualified name of the copy in its file (``Class.method``)
    source: str  # dotted name of the original
    replacements: list[tuple[str, str, str | None]]
    start: int  # 0-based index of the copy's first line (a decorator or the def/class line)
    end: int  # 0-based index one past its last line
    with_decorators: bool
    indent: str


@dataclass
class Problem:
    message: str
    fixed: bool = False


def _definitions(tree: ast.Module):
    """Every def/class of a module with its qualified name, outer ones first."""
    stack = [(node, "") for node in reversed(tree.body)]
    while stack:
        node, prefix = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            name = f"{prefix}{node.name}"
            yield name, node
            stack += [(child, f"{name}.") for child in reversed(node.body)]


def _first_line(node) -> int:
    return min([node.lineno, *(decorator.lineno for decorator in node.decorator_list)])


def _parse_replacements(text: str, where: str) -> list[tuple[str, str, str | None]]:
    if not text:
        return []
    if not text.startswith("with "):
        raise CopyError(f"{where}: expected 'with A->B, ...' after the source name, got {text!r}")
    replacements = []
    for item in text[len("with ") :].split(","):
        match = REPLACEMENT.match(item)
        if match is None or match["option"] not in (None, "all-casing"):
            raise CopyError(f"{where}: {item.strip()!r} is not a replacement 'A->B' (optionally 'A->B all-casing')")
        replacements.append((match["old"], match["new"], match["option"]))
    return replacements


def _display(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def find_copies(file: Path, root: Path = ROOT) -> tuple[list[Copy], list[str]]:
    """The marked copies of ``file``, and the markers that cannot be checked (as messages)."""
    text = file.read_text(encoding="utf-8")
    if "Copied from" not in text:
        return [], []
    lines = text.splitlines()
    definitions = list(_definitions(ast.parse(text, filename=str(file))))
    copies, errors = [], []
    for index, line in enumerate(lines):
        match = MARKER.match(line)
        if match is None:
            continue
        where = f"{_display(file, root)}:{index + 1}"
        below = index + 2  # 1-based number of the line under the marker
        found = [
            (name, node, True) for name, node in definitions if node.decorator_list and _first_line(node) == below
        ]
        found += [(name, node, False) for name, node in definitions if node.lineno == below]
        if not found:
            errors.append(f"{where}: '# Copied from' must sit directly above a def or class (or its decorators)")
            continue
        name, node, with_decorators = found[0]
        try:
            replacements = _parse_replacements(match["rest"], where)
        except CopyError as error:
            errors.append(str(error))
            continue
        copies.append(
            Copy(
                file,
                index + 1,
                name,
                match["source"],
                replacements,
                below - 1,
                node.end_lineno,
                with_decorators,
                match["indent"],
            )
        )
    return copies, errors


def _source_block(copy: Copy, root: Path) -> list[str]:
    """The original's lines, as the copy should read (replacements applied, at the copy's indentation)."""
    parts = copy.source.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        base = root.joinpath(*parts[:cut])
        module_file = next((file for file in (base.with_suffix(".py"), base / "__init__.py") if file.is_file()), None)
        if module_file is not None:
            break
    else:
        raise CopyError(f"no module of {copy.source} under {root}")
    module, qualified = ".".join(parts[:cut]), ".".join(parts[cut:])
    text = module_file.read_text(encoding="utf-8")
    node = dict(_definitions(ast.parse(text, filename=str(module_file)))).get(qualified)
    if node is None:
        raise CopyError(f"{module} ({_display(module_file, root)}) defines no {qualified}")
    lines = text.splitlines()
    start = _first_line(node) - 1 if copy.with_decorators else node.lineno - 1
    code = "\n".join(lines[start : node.end_lineno])
    for old, new, option in copy.replacements:
        code = re.sub(old, new, code)
        if option == "all-casing":
            code = re.sub(old.lower(), new.lower(), code)
            code = re.sub(old.upper(), new.upper(), code)
    source_indent = " " * node.col_offset
    block = []
    for line in code.split("\n"):
        if not line.strip():
            block.append("")
        elif line.startswith(source_indent):
            block.append(copy.indent + line[len(source_indent) :].rstrip())
        else:  # a continuation line (inside a string) less indented than the definition: keep it
            block.append(line.rstrip())
    return block


def check_file(file: Path, root: Path = ROOT, fix: bool = False) -> list[Problem]:
    """Problems of ``file``'s copies; with ``fix``, drifted copies are rewritten from their source."""
    try:
        copies, errors = find_copies(file, root)
    except SyntaxError as error:
        return [Problem(f"{_display(file, root)}: cannot be parsed: {error}")]
    problems = [Problem(message) for message in errors]
    lines = file.read_text(encoding="utf-8").splitlines(keepends=True)
    rewrites = []
    for copy in copies:
        where = f"{_display(file, root)}:{copy.line}"
        try:
            expected = _source_block(copy, root)
        except (CopyError, SyntaxError) as error:
            problems.append(Problem(f"{where}: {copy.name} is marked '# Copied from {copy.source}', but {error}"))
            continue
        observed = [line.rstrip() for line in lines[copy.start : copy.end]]
        if observed == expected:
            continue
        diff = "\n".join(
            difflib.unified_diff(
                expected, observed, f"{copy.source} (source)", f"{copy.name} (copy)", lineterm="", n=1
            )
        )
        if fix:
            rewrites.append((copy.start, copy.end, expected))
            problems.append(Problem(f"{where}: {copy.name} rewritten from its source {copy.source}", fixed=True))
        else:
            problems.append(
                Problem(
                    f"{where}: {copy.name} differs from its source {copy.source} (marked '# Copied from'). Make the "
                    f"change in the source and run `python utils/check_copies.py --fix`, or remove the marker if "
                    f"the copy is meant to differ.\n{diff}"
                )
            )
    if rewrites:
        for start, end, expected in sorted(rewrites, reverse=True):
            lines[start:end] = [line + "\n" for line in expected]
        file.write_text("".join(lines), encoding="utf-8")
    return problems


def python_files(paths: list[Path]) -> list[Path]:
    files = []
    for path in paths:
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return files


def check_copies(
    paths: list[str | Path] | None = None, *, root: str | Path = ROOT, fix: bool = False
) -> list[Problem]:
    """Every problem of the marked copies under ``paths`` (default: ``<root>/colorizers``)."""
    root = Path(root)
    problems = []
    for file in python_files([Path(path) for path in paths] if paths else [root / PACKAGE]):
        problems += check_file(file, root, fix)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", help="files or folders to check (default: colorizers/)")
    parser.add_argument("--fix", action="store_true", help="rewrite drifted copies from their source")
    parser.add_argument("--root", default=str(ROOT), help="repository root the sources are found in")
    args = parser.parse_args(argv)
    problems = check_copies(args.paths, root=args.root, fix=args.fix)
    for problem in problems:
        print(problem.message, file=sys.stdout if problem.fixed else sys.stderr)
    left = [problem for problem in problems if not problem.fixed]
    if left:
        print(
            f"{len(left)} copy problem(s)" + ("" if args.fix else "; `--fix` rewrites drifted copies"), file=sys.stderr
        )
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())

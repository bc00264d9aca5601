"""The codebase's shape, as a contract: sub-packages by job stacked in layers that import only downwards, no
import cycles, few top-level modules, short functions and a short app.py.

The layers, bottom to top (a module may import its own layer and the layers below, never one above):

0. models and colour: the colour maths, limits, objectives, image I/O and processing, the registry, the model
   families and model loading;
1. the pipeline (and the package facade ``colorizers``, which re-exports it);
2. the jobs built on the pipeline: batch, video, hub, evaluation, training;
3. the front ends: the command line, serving rules and the app's tabs.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "colorizers"
MAX_TOP_LEVEL_MODULES, MAX_FUNCTION_LINES, MAX_APP_LINES = 12, 120, 350
# train.py's main() reads top to bottom like diffusers' training examples: it may run to 220 lines
LONGER_FUNCTIONS = {("train/train.py", "main"): 220}
LAYERS = {
    "models and colour": {
        "version",
        "color",
        "limits",
        "losses",
        "objectives",
        "image_io",
        "image_processing_colorizer",
        "processing",
        "registry",
        "models",
        "model_io",
    },
    "pipeline": {"pipelines", ""},  # "": the package facade, colorizers/__init__.py
    "jobs": {"batch", "video", "hub", "evaluation", "training"},
    "front ends": {"commands", "serving", "app", "__main__"},
}
LAYER_OF = {part: rank for rank, parts in enumerate(LAYERS.values()) for part in parts}
LAYER_NAMES = list(LAYERS)
# Code outside tests whose functions the length rule covers.
SOURCES = [PACKAGE, ROOT / "app.py", ROOT / "train", ROOT / "benchmarks", ROOT / "release", ROOT / "utils"]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def imports_of(path: Path, modules: set[str], source: str | None = None) -> set[str]:
    """Package modules imported anywhere in ``path`` (top level or inside functions)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text() if source is None else source)):
        if isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(max(node.level - 1, 0)):
                base = base.rsplit(".", 1)[0]
            target = f"{base}.{node.module}" if node.level and node.module else (base if node.level else node.module)
            for alias in node.names:  # "from . import x" may name a module
                candidate = f"{target}.{alias.name}"
                found.add(candidate if candidate in modules else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {module for module in found if module in modules and module != name}


def layer(module: str) -> int:
    """The layer of a package module, from its first component below ``colorizers``."""
    part = module.split(".")[1] if "." in module else ""
    return LAYER_OF[part]


def test_every_top_level_module_and_sub_package_has_a_layer():
    parts = {path.stem for path in PACKAGE.glob("*.py") if path.stem != "__init__"}
    parts |= {path.parent.name for path in PACKAGE.glob("*/__init__.py")}
    assert parts - set(LAYER_OF) == set(), "place each new module or sub-package in a layer of LAYERS"
    assert set(LAYER_OF) - parts == {""}, "LAYERS names modules that no longer exist"


def test_layers_import_only_downwards():
    files = package_files()
    modules = {module_name(path) for path in files}
    upward = [
        f"{module_name(path)} ({LAYER_NAMES[layer(module_name(path))]}) imports {target} "
        f"({LAYER_NAMES[layer(target)]})"
        for path in files
        for target in sorted(imports_of(path, modules))
        if layer(target) > layer(module_name(path))
    ]
    assert upward == []


def test_the_layer_check_sees_an_upward_import():
    # the contract must be able to fail: a colour module importing the command line, even inside a function
    # and relatively, is an upward import
    modules = {"colorizers.color", "colorizers.commands.main"}
    source = "def f():\n    from .commands.main import main\n"
    assert imports_of(PACKAGE / "color.py", modules, source) == {"colorizers.commands.main"}
    assert layer("colorizers.commands.main") > layer("colorizers.color")


def test_no_import_cycles_inside_the_package():
    files = package_files()
    modules = {module_name(path) for path in files}
    graph = {module_name(path): imports_of(path, modules) for path in files}
    # the package's __init__ imports its modules; a module importing the package back closes a cycle
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(cycle) for cycle in cycles)


def test_few_modules_at_the_top_of_the_package():
    top = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, f"{len(top)} top-level modules: move some into a sub-package: {top}"


@pytest.mark.parametrize(
    "package", sorted(path.parent for path in PACKAGE.glob("*/__init__.py")), ids=lambda path: path.name
)
def test_every_sub_package_says_what_it_is_for(package):
    docstring = ast.get_docstring(ast.parse((package / "__init__.py").read_text()))
    assert docstring and len(docstring.split()) >= 15, f"{package.name}/__init__.py needs a one-paragraph docstring"


def long_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1
        > LONGER_FUNCTIONS.get((str(path.relative_to(ROOT)), node.name), MAX_FUNCTION_LINES)
    ]


def test_no_function_is_longer_than_a_screenful_or_two():
    files = [path for source in SOURCES for path in ([source] if source.is_file() else sorted(source.rglob("*.py")))]
    assert [entry for path in files for entry in long_functions(path)] == []


def test_app_reads_in_one_pass():
    lines = len((ROOT / "app.py").read_text().splitlines())
    assert lines < MAX_APP_LINES, f"app.py has {lines} lines (under {MAX_APP_LINES}): move logic into the library"


def layout_names() -> tuple[set[str], set[str]]:
    """The names the README's Layout block gives: at the repository's top level, and inside ``colorizers/``."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("\n## Layout\n", 1)[1].split("```", 2)[1]
    top, package = set(), set()
    for line in block.splitlines():
        if not line.strip() or line.startswith("   "):  # a description carried onto the next line
            continue
        words = line.split()
        if line.startswith("  "):  # inside colorizers/: the names before the description
            for word in words:
                if not word.endswith((".py", "/")):
                    break
                package.add(word)
        else:
            top.add(words[0].split("/")[0] + "/" if "/" in words[0] else words[0])
    return top, package


def test_the_readme_layout_names_every_part_of_the_tree():
    import subprocess

    tracked = subprocess.run(
        ["git", "ls-tree", "--name-only", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.split()
    top, package = layout_names()
    if tracked:  # a git checkout
        expected_top = {name + "/" if (ROOT / name).is_dir() else name for name in tracked}
        expected_top -= {".ci/", ".gitignore", "README.md", "pyproject.toml", "requirements.txt"}
        assert top == expected_top
    expected_package = {
        path.name + ("/" if path.is_dir() else "")
        for path in PACKAGE.iterdir()
        if (path.suffix == ".py" and path.name != "__init__.py") or (path.is_dir() and path.name != "__pycache__")
    }
    assert package == expected_package


def test_the_space_requirements_are_the_package_dependencies_and_the_app_extra_each_once():
    """requirements.txt (what a Hugging Face Space installs) repeats pyproject.toml's runtime dependencies and the
    app extra: the two lists must not drift apart, and no requirement may be listed twice."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    required = [line for line in lines if line and not line.startswith("#")]
    expected = project["dependencies"] + project["optional-dependencies"]["app"]
    assert len(set(expected)) == len(expected), "pyproject.toml lists a dependency twice"
    assert sorted(required) == sorted(expected)

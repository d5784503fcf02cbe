"""The dependency direction of docs/architecture.md, checked with import-linter and grimp.

import-linter (its contracts are in pyproject.toml) reads the package from a folder tree; the
source folders envs/, algorithms/ and analysis/ are only subpackages of diverse_marl once
installed (setup.py's package_dir), so the tests lay the sources out as installed, in a
temporary folder, and lint that copy.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: import-linter depends on tomli
    import tomli as tomllib

REPO = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
# package __init__ files no layer lists: each is checked by a contract of its own or imports nothing
UNLAYERED = {
    "diverse_marl",  # the facade: nothing inside the package imports it (protected contract)
    "diverse_marl.algorithms",  # lazy names, by import path
    "diverse_marl.algorithms.bc",  # a docstring
    "diverse_marl.algorithms.methods",  # the methods' registry (forbidden contract)
    "diverse_marl.analysis",  # empty
}


def package_roots() -> dict[str, str]:
    """setup.py's ROOTS: installed package name -> source folder."""
    tree = ast.parse((REPO / "setup.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "ROOTS" for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError("setup.py has no ROOTS mapping")


def lay_out_installed(dest: Path) -> Path:
    """Copy the package's .py files into ``dest`` as they are installed; return ``dest``."""
    for package, folder in package_roots().items():
        target = dest.joinpath(*package.split("."))
        for dirpath, dirnames, filenames in os.walk(REPO / folder):
            dirnames[:] = [d for d in dirnames if not d.startswith((".", "__"))]
            rel = Path(dirpath).relative_to(REPO / folder)
            for name in filenames:
                if name.endswith(".py"):
                    (target / rel).mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(Path(dirpath) / name, target / rel / name)
    return dest


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    # run inside the copy: import-linter puts the working directory first on sys.path
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(REPO / "pyproject.toml")],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


GRAPH_SCRIPT = """
import json, grimp
graph = grimp.build_graph("diverse_marl", cache_dir=None, exclude_type_checking_imports=True)
print(json.dumps({m: sorted(graph.find_modules_directly_imported_by(m)) for m in graph.modules}))
"""


def import_graph(tree: Path) -> dict[str, list[str]]:
    """module -> the package modules it imports (function-local imports included), from grimp."""
    out = subprocess.run(
        [sys.executable, "-c", GRAPH_SCRIPT],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(out.stdout)


def cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph.get(root, ())))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph.get(child, ()))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


@pytest.fixture(scope="module")
def installed_tree(tmp_path_factory) -> Path:
    if not LINT_IMPORTS.exists():
        pytest.fail("import-linter is not installed: pip install -e '.[test]'")
    return lay_out_installed(tmp_path_factory.mktemp("layout"))


def test_import_contracts_hold(installed_tree):
    result = lint_imports(installed_tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_upward_import_breaks_the_contract(tmp_path, installed_tree):
    """The contract can fail: an env that imports the CLI, and a module importing the facade."""
    tree = shutil.copytree(installed_tree, tmp_path / "broken")
    (tree / "diverse_marl" / "envs" / "upward_probe.py").write_text("import diverse_marl.cli\n", encoding="utf-8")
    (tree / "diverse_marl" / "facade_probe.py").write_text("from diverse_marl import load_policy\n", encoding="utf-8")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "diverse_marl.envs.upward_probe -> diverse_marl.cli" in result.stdout
    assert "diverse_marl.facade_probe" in result.stdout


def test_no_import_cycles(installed_tree):
    graph = import_graph(installed_tree)
    assert len(graph) > 100  # the whole package was read
    assert cycles(graph) == []
    # the check itself finds a cycle when there is one
    assert cycles({**graph, "diverse_marl.errors": ["diverse_marl.cli"]})


def test_every_module_has_a_layer(installed_tree):
    """A new module must be placed in a layer of pyproject.toml (the contract ignores unlisted ones)."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    (layers,) = [c["layers"] for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers"]
    listed = [name.strip() for layer in layers for name in layer.replace("|", ":").split(":")]
    graph = import_graph(installed_tree)
    unplaced = [
        m for m in sorted(graph) if m not in UNLAYERED and not any(m == n or m.startswith(n + ".") for n in listed)
    ]
    assert unplaced == [], f"add these modules to a layer in pyproject.toml [tool.importlinter]: {unplaced}"


def function_local_imports_without_reason() -> list[str]:
    """``file:line`` of every import inside a function with no comment on it, above it, or on the
    first import of its group: such imports are only for optional or heavy dependencies, with a reason."""
    found = []
    for folder in package_roots().values():
        for path in sorted((REPO / folder).rglob("*.py")):
            lines = path.read_text(encoding="utf-8").splitlines()
            for func in ast.walk(ast.parse("\n".join(lines))):
                if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                for node in ast.walk(func):
                    if not isinstance(node, (ast.Import, ast.ImportFrom)):
                        continue
                    k = node.lineno - 2  # the line above, then up through the group's imports
                    while k >= 0 and lines[k].strip().startswith(("import ", "from ")) and "#" not in lines[k]:
                        k -= 1
                    own = any("#" in line for line in lines[node.lineno - 1 : node.end_lineno])
                    if not own and not (k >= 0 and lines[k].strip().startswith(("#", "import ", "from "))):
                        found.append(f"{path.relative_to(REPO)}:{node.lineno}")
    return found


def test_function_local_imports_say_why():
    assert function_local_imports_without_reason() == [], "give each a one-line reason comment, or import it at the top"


def test_metric_keys_are_spelled_once():
    """The metric keys are string literals only in diverse_marl/metrics.py (docstrings aside)."""
    import io
    import tokenize

    from diverse_marl import metrics

    keys = {
        metrics.SPARSE_RETURN,
        metrics.LAYOUT_START_SPARSE_RETURN,
        metrics.ORIGINAL_RETURN,
        metrics.EPISODE_RETURN_MEAN,
        metrics.SPARSE_RETURN_MEAN,
        metrics.SPARSE_RETURN_STD,
        metrics.episode_key(metrics.SPARSE_RETURN),
        metrics.episode_key(metrics.ORIGINAL_RETURN),
        metrics.episode_key(metrics.LAYOUT_START_SPARSE_RETURN),
    }
    found = []
    for folder in [*package_roots().values(), "bench"]:
        for path in sorted((REPO / folder).rglob("*.py")):
            if path == REPO / "diverse_marl" / "metrics.py":
                continue
            tokens = tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
            for tok in tokens:
                if tok.type == tokenize.STRING and tok.string.strip("'\"") in keys and tok.string[0] in "'\"":
                    found.append(f"{path.relative_to(REPO)}:{tok.start[0]} {tok.string}")
    assert found == [], "import these keys from diverse_marl.metrics"


def test_headline_return_prefers_the_tasks_own_return():
    from diverse_marl.metrics import EPISODE_RETURN_MEAN, headline_return, headline_return_key

    row = {EPISODE_RETURN_MEAN: 1.0, "episode/original_return": 2.0}
    assert headline_return(row) == 2.0
    row["episode/sparse_return"] = 3.0
    assert headline_return(row) == 3.0
    row["episode/sparse_return_from_layout_start"] = 4.0
    assert headline_return(row) == 4.0
    assert headline_return({}) != headline_return({})  # NaN when no return is logged
    rows = [{EPISODE_RETURN_MEAN: 1.0}, {EPISODE_RETURN_MEAN: 1.0, "episode/sparse_return": 0.0}]
    assert headline_return_key(rows) == "episode/sparse_return"
    assert headline_return_key([{}]) == EPISODE_RETURN_MEAN

"""The package layout of docs/architecture.md, checked on the source: imports point one way.

Every ``import``/``from`` naming fieldfeed in every module under ``fieldfeed/`` counts, lazy
(function-level) and ``TYPE_CHECKING`` ones included. A module may import from its own
package or from a lower layer, never sideways into another package of its layer and never up
(the one exception: the CLI, the very top, drives web and runner). No import cycles, no
import of another module's ``_underscore`` name, no module over 500 lines.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "fieldfeed"
MAX_LINES = 500

#: Unit (a subpackage, or a top-level module) -> layer, low to high. The shared ground is the
#: package's top-level modules (config, model, errors, ...), which may import each other.
LAYERS: dict[str, int] = {
    "fieldfeed": 0,
    "fieldfeed.site": 1,
    "fieldfeed.store": 1,
    "fieldfeed.feeds": 2,
    "fieldfeed.mail": 2,
    "fieldfeed.pipeline": 3,
    "fieldfeed.runner": 4,
    "fieldfeed.web": 4,
    "fieldfeed.cli": 4,
    "fieldfeed.__main__": 5,  # `python -m fieldfeed`: runs the CLI
}
#: Sideways imports allowed within a layer: the CLI is the top and starts web and runner.
SIDEWAYS = {("fieldfeed.cli", "fieldfeed.web"), ("fieldfeed.cli", "fieldfeed.runner")}


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit_of(module: str) -> str:
    """The package or top-level module that ``module`` belongs to (a key of LAYERS)."""
    parts = module.split(".")
    if len(parts) >= 2 and ".".join(parts[:2]) in LAYERS:
        return ".".join(parts[:2])
    return "fieldfeed"


def sources(root: Path = PACKAGE) -> dict[str, Path]:
    return {module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def imports(module: str, path: Path, known: set[str]) -> Iterator[tuple[int, str, str | None]]:
    """(line, imported module, imported name or None) for every fieldfeed import in a file.

    ``from fieldfeed.mail import tokens`` names the module fieldfeed.mail.tokens (name None);
    ``from fieldfeed.mail.tokens import sign`` names fieldfeed.mail.tokens and "sign".
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "fieldfeed":
                    yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.split(".")[0] != "fieldfeed":
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in known:
                    yield node.lineno, sub, None
                else:
                    yield node.lineno, target, alias.name


def layer_problems(modules: dict[str, Path], root: Path = PACKAGE) -> list[str]:
    known = set(modules)
    found = []
    for module, path in modules.items():
        unit = unit_of(module)
        for line, target, name in imports(module, path, known):
            where = f"{path.relative_to(root.parent)}:{line}"
            other = unit_of(target)
            if other != unit and (unit, other) not in SIDEWAYS:
                if LAYERS[other] == LAYERS[unit]:
                    found.append(f"{where}: {module} imports {target}, sideways in its layer")
                elif LAYERS[other] > LAYERS[unit]:
                    found.append(f"{where}: {module} imports {target}, a higher layer")
            if name is not None and name.startswith("_") and not name.startswith("__"):
                found.append(f"{where}: {module} imports {target}.{name}, a private name")
        found.extend(private_attributes(module, path, known, root))
    return list(dict.fromkeys(found))  # one line per import, however many names it takes


def private_attributes(module: str, path: Path, known: set[str], root: Path) -> Iterator[str]:
    """``mod._name`` where ``mod`` is another fieldfeed module imported under that name."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fieldfeed"):
            for alias in node.names:
                if f"{node.module}.{alias.name}" in known:
                    bound.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("fieldfeed") and alias.asname:
                    bound.add(alias.asname)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in bound
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            where = f"{path.relative_to(root.parent)}:{node.lineno}"
            yield f"{where}: {module} uses {node.value.id}.{node.attr}, a private name"


def cycles(modules: dict[str, Path]) -> list[list[str]]:
    """Every strongly connected group of modules (Tarjan), as import cycles."""
    known = set(modules)
    graph = {
        m: sorted({t for _, t, _ in imports(m, p, known) if t in known and t != m})
        for m, p in modules.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in graph:
        if node not in index:
            visit(node)
    return groups


def test_every_unit_has_a_layer() -> None:
    for module in sources():
        assert unit_of(module) in LAYERS, module


def test_imports_point_down_the_layers() -> None:
    problems = layer_problems(sources())
    assert not problems, "\n".join(problems)


def test_no_import_cycles() -> None:
    found = cycles(sources())
    assert not found, "\n".join(" <-> ".join(group) for group in found)


def test_no_module_over_500_lines() -> None:
    long = {
        str(p.relative_to(PACKAGE.parent)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("fieldfeed.site.posts", "from fieldfeed.mail.render import x\n", "a higher layer"),
        ("fieldfeed.site.posts", "from fieldfeed.store import open_store\n", "sideways"),
        ("fieldfeed.config", "def f():\n    from fieldfeed.pipeline import build\n", "higher"),
        ("fieldfeed.web.app", "from fieldfeed.runner import x\n", "sideways"),
        ("fieldfeed.pipeline", "from fieldfeed.site.content import _x\n", "a private name"),
        ("fieldfeed.pipeline", "from fieldfeed.site import content\ncontent._x\n", "private"),
    ],
)
def test_the_check_catches_a_bad_import(
    tmp_path: Path, module: str, source: str, expected: str
) -> None:
    """The rules above fail on a bad import (a copy of the package with one added)."""
    root = tmp_path / "fieldfeed"
    for name, path in sources().items():
        copy = root / path.relative_to(PACKAGE)
        copy.parent.mkdir(parents=True, exist_ok=True)
        text = path.read_text(encoding="utf-8")
        copy.write_text(text + "\n" + source if name == module else text, encoding="utf-8")
    problems = layer_problems(sources(root), root)
    assert any(expected in p for p in problems), problems


def test_the_check_catches_a_cycle(tmp_path: Path) -> None:
    root = tmp_path / "fieldfeed"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "a.py").write_text("def f():\n    from fieldfeed import b\n")
    (root / "b.py").write_text("from fieldfeed.a import f\n")
    assert cycles(sources(root)) == [["fieldfeed.a", "fieldfeed.b"]]

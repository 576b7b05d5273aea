"""The `fast` marker stays true: every fixture that trains or exports a model is declared in conftest.py.

conftest.py marks `fast` each test with none of ``TRAINING_FIXTURES`` in its fixture closure. A new fixture that
trains or exports (directly or through a helper of its module) and is missing from that set would make every
test using it `fast` and `pytest -m fast` minutes longer: this test names it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import conftest
from conftest import TRAINING_FIXTURES

TESTS = Path(__file__).resolve().parent
# Calls that train or export: the training loop, the exporter and the CLI commands that run them.
TRAINS = {"train", "train_distributed", "export_checkpoint", "ensure_baselines"}
COMMANDS = {"train", "export"}


def _is_fixture(fn: ast.FunctionDef) -> bool:
    for d in fn.decorator_list:
        target = d.func if isinstance(d, ast.Call) else d
        if isinstance(target, ast.Attribute) and target.attr == "fixture":
            return True
        if isinstance(target, ast.Name) and target.id == "fixture":
            return True
    return False


def _called(fn: ast.AST) -> set[str]:
    """Names called in ``fn``; ``main([...])`` calls whose first argument is a literal command count as it."""
    names = set()
    for node in ast.walk(fn):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
        if name == "main" and node.args and isinstance(node.args[0], ast.List) and node.args[0].elts:
            first = node.args[0].elts[0]
            if isinstance(first, ast.Constant) and first.value in COMMANDS:
                names.add("train")
        if name:
            names.add(name)
    return names


def _training_fixtures(path: Path) -> set[str]:
    """Fixtures of one module that train or export, through any chain of the module's own functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    trains = {name for name, fn in functions.items() if _called(fn) & TRAINS}
    grew = True
    while grew:
        more = {name for name, fn in functions.items() if _called(fn) & trains} - trains
        trains |= more
        grew = bool(more)
    return {name for name, fn in functions.items() if _is_fixture(fn) and name in trains}


def test_every_fixture_that_trains_or_exports_is_declared() -> None:
    found = {name: path.relative_to(TESTS) for path in sorted(TESTS.rglob("*.py"))
             for name in _training_fixtures(path)}
    assert "exported" in found and "model_export" in found  # the scan sees the ones we know
    missing = {name: str(path) for name, path in found.items() if name not in TRAINING_FIXTURES}
    assert not missing, f"add to TRAINING_FIXTURES in tests/conftest.py: {missing}"


def test_every_declared_fixture_exists() -> None:
    defined = set()
    for path in TESTS.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        defined |= {n.name for n in tree.body if isinstance(n, ast.FunctionDef) and _is_fixture(n)}
    assert TRAINING_FIXTURES <= defined, TRAINING_FIXTURES - defined


def test_the_hook_marks_fast_only_what_needs_no_training_and_is_not_slow_or_realdata() -> None:
    import pytest

    class Item:
        def __init__(self, fixtures: tuple[str, ...], *marks: str) -> None:
            self.fixturenames = list(fixtures)
            self.marks = set(marks)

        def get_closest_marker(self, name: str):
            return name if name in self.marks else None

        def add_marker(self, mark) -> None:
            self.marks.add(mark.name)

    items = [Item(("tmp_path",)), Item(("tmp_path", "exported")), Item(("model_export",)), Item((), "slow"),
             Item((), "realdata"), Item(("real_data", "tmp_path")), Item(("teacher", "utk_dir"))]
    conftest.pytest_collection_modifyitems(None, items)
    assert ["fast" in i.marks for i in items] == [True, False, False, False, False, False, False]
    assert "realdata" in items[5].marks  # asking for the real archive is reading real data
    assert pytest.mark.fast.name == "fast"

"""The package layout: the torch-free boundary (the runtime side imports on a device without torch), a one-way
import graph by stage, and small functions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# Every module of the torch-free stages, plus the torch-free config modules of the torch stages (their
# options build `--help` on a runtime-only install).
TORCH_FREE_PACKAGES = ("data", "runtime", "eval", "bench")
TORCH_FREE_EXTRA = ["edge_age.cli", "edge_age.formats", "edge_age.quiet", "edge_age.fileio", "edge_age.cli_types",
                    "edge_age.train.config", "edge_age.export.config", "edge_age.train"]


def _runtime_modules() -> list[str]:
    root = Path(__file__).resolve().parents[1] / "edge_age"
    mods = [f"edge_age.{pkg}.{f.stem}".removesuffix(".__init__") for pkg in TORCH_FREE_PACKAGES
            for f in sorted((root / pkg).glob("*.py"))]
    return mods + TORCH_FREE_EXTRA


RUNTIME_MODULES = _runtime_modules()


def test_runtime_side_imports_no_torch() -> None:
    code = (
        "import sys\n"
        f"for m in {RUNTIME_MODULES!r}: __import__(m)\n"
        "from edge_age.cli import build_parser; build_parser()\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision'))\n"
        "assert not bad, bad\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def _import_graph() -> dict[str, set[str]]:
    """edge_age module -> the edge_age modules it imports anywhere (function-level imports included)."""
    import ast

    root = Path(__file__).resolve().parents[1]
    mods = {}
    for f in (root / "edge_age").rglob("*.py"):
        name = ".".join(f.relative_to(root).with_suffix("").parts)
        mods[name.removesuffix(".__init__")] = f
    graph = {}
    for name, f in mods.items():
        deps = set()
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("edge_age"):
                deps |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in mods else node.module
                         for a in node.names}
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("edge_age")}
        graph[name] = {d for d in deps if d in mods and d != name}
    return graph


def test_no_import_cycles() -> None:
    graph = _import_graph()
    assert len(graph) > 30
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            raise AssertionError("import cycle: " + " -> ".join(path[path.index(node):] + [node]))
        if node in done:
            return
        for dep in sorted(graph[node]):
            visit(dep, path + [node])
        done.add(node)

    for node in sorted(graph):
        visit(node, [])


# Stages in the order data flows; a module may import its own stage and earlier ones, never a later one.
# The runtime sits below export in the import graph (export re-runs every file it writes through it), and
# bench builds its float baselines with export's code on request.
STAGES = ["common", "data", "models", "train", "runtime", "export", "eval", "bench", "cli"]
ALLOWED_BACK = {("bench", "export")}


def _stage(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 2 or (len(parts) == 2 and parts[1] in STAGES):
        return parts[1] if parts[1] in STAGES else "common"
    return "cli" if parts[-1] in ("cli", "__main__") else "common"


def test_no_back_arrows_between_stages() -> None:
    graph = _import_graph()
    bad = [(m, d) for m, deps in graph.items() for d in deps
           if STAGES.index(_stage(d)) > STAGES.index(_stage(m)) and (_stage(m), _stage(d)) not in ALLOWED_BACK]
    assert not bad, bad


def test_no_top_level_module_serves_only_one_stage() -> None:
    graph = _import_graph()
    top = [m for m in graph if m.count(".") == 1 and _stage(m) == "common" and m != "edge_age"]
    for m in top:
        users = {_stage(u) for u, deps in graph.items() if m in deps and u != m}
        assert len(users - {"common"}) != 1 or users == {"cli"}, (m, users)


def test_loss_and_model_names_match_the_torch_side() -> None:
    from edge_age.train.losses import DISTRIBUTION_LOSSES, LOSSES
    from edge_age.train.config import LOSS_NAMES

    assert LOSS_NAMES == [*LOSSES, *DISTRIBUTION_LOSSES]


MAX_FUNCTION_LINES = 50


def test_no_function_is_longer_than_fifty_lines() -> None:
    """Long functions are where "a sequence of named steps" stops reading as one; split them instead."""
    import ast

    root = Path(__file__).resolve().parents[1] / "edge_age"
    long = [f"{f.relative_to(root)}:{n.lineno} {n.name} ({n.end_lineno - n.lineno + 1} lines)"
            for f in root.rglob("*.py") for n in ast.walk(ast.parse(f.read_text()))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, long

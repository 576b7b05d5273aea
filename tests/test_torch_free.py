"""The torch-free boundary: the runtime side must import on a device that has no torch."""

from __future__ import annotations

import subprocess
import sys

RUNTIME_MODULES = [
    "edge_age.cli",
    "edge_age.runtime",
    "edge_age.runtime.onnx",
    "edge_age.runtime.tflite",
    "edge_age.formats",
    "edge_age.predict",
    "edge_age.evaluate",
    "edge_age.data.sources",
    "edge_age.data.preprocess",
    "edge_age.data.split",
    "edge_age.data.cache",
    "edge_age.data.dataset",
    "edge_age.data.report",
    "edge_age.data.faces",
    "edge_age.data.framing",
    "edge_age.data.framing_fit",
    "edge_age.data.wild",
    "edge_age.bench.harness",
    "edge_age.bench.report",
    "edge_age.bench.row",
    "edge_age.bench.config",
    "edge_age.export.config",
    "edge_age.train_config",
    "edge_age.eval_config",
    "edge_age.data.commands",
    "edge_age.check",
    "edge_age.quiet",
    "edge_age.runtime.check",
    "edge_age.runtime.golden",
    "edge_age.runtime.catalog",
]


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
    from pathlib import Path

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


def test_loss_and_model_names_match_the_torch_side() -> None:
    from edge_age.losses import DISTRIBUTION_LOSSES, LOSSES
    from edge_age.train_config import LOSS_NAMES

    assert LOSS_NAMES == [*LOSSES, *DISTRIBUTION_LOSSES]

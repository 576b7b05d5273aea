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

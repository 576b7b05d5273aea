"""Issue 34 item 14: one bad file is an error row of the bench, never the end of it."""

from __future__ import annotations

import subprocess
import types
from pathlib import Path

from edge_age.bench import harness
from edge_age.bench.config import BenchConfig


def test_an_unexpected_error_scoring_one_file_is_its_row_not_the_end(tmp_path: Path, monkeypatch) -> None:
    import edge_age.runtime as runtime

    def load(f):
        if Path(f).name == "bad.onnx":
            raise ValueError("metadata is garbage")
        raise RecursionError("nested too deep")

    monkeypatch.setattr(runtime, "load_predictor", load)
    files = [tmp_path / "bad.onnx", tmp_path / "deep.onnx"]
    said: list[str] = []
    out = harness._accuracy(files, BenchConfig(data="faces"), said.append)
    assert set(out) == {str(f) for f in files}
    assert "ValueError: metadata is garbage" in out[str(files[0])] and str(files[0]) in out[str(files[0])]
    assert "RecursionError" in out[str(files[1])] and len(said) == 2


def test_a_garbled_worker_line_is_the_rows_error(tmp_path: Path, monkeypatch) -> None:
    for stdout in ('{"p50_ms": 1', '{"unexpected": 1}', '{1}'):
        monkeypatch.setattr(subprocess, "run", lambda *a, _s=stdout, **k: types.SimpleNamespace(stdout=_s, stderr=""))
        r = harness._run_worker(tmp_path / "m.onnx", 1, BenchConfig())
        assert isinstance(r, str) and "worker output not understood" in r, r

"""Issue 34 item 10: a full disk during `train` (each epoch's best.pt and last.pt) and `export` (its staging
folder, the converters' files) ends the command with exit 2 and one line naming the folder, no traceback; the
previous files there stay byte-identical and nothing is left behind (temporary files, staging folders).

Two ways to fill a disk. Everywhere: the temporary files of atomic writes become links to /dev/full, which
refuses every write with ENOSPC as a full disk does, whoever writes (Python, or torch's C++ writer, which then
raises a RuntimeError of its own). As root: a real small tmpfs, where every writer meets the full disk, the
converters' native ones included (LLVM's, which ended the process with exit 1, and onnx's shape inference,
which left a truncated file behind).
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

from edge_age.cli import main
from edge_age.errors import EdgeAgeError
from edge_age.models.checkpoint import load_checkpoint, save_checkpoint

needs_dev_full = pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full on this system")

# What a write that was cut short could leave: atomic_path's temporary files, export's staging folder (and a
# half-done swap's .old), the converters' temporary folders.
LITTER = ("*.tmp", ".*.staging-*", ".*.old", ".tmp-*")


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _litter(folder: Path) -> list[str]:
    return sorted(str(p) for pattern in LITTER for p in folder.rglob(pattern))


def _full_temp_files(monkeypatch, names: str = "") -> None:
    """From now on the temporary file of each atomic write (fileio.atomic_path) whose name holds ``names`` is a
    link to /dev/full: writing it fails with ENOSPC, as on a full disk."""
    real = tempfile.mkstemp

    def mkstemp(*args, **kwargs):
        fd, name = real(*args, **kwargs)
        if names in Path(name).name:
            os.unlink(name)
            os.symlink("/dev/full", name)
        return fd, name

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)


def _one_error_line(rc: int, err: str, folder: Path) -> None:
    """Exit 2, no traceback, and the only error line names ``folder`` as full."""
    assert "Traceback" not in err, err[-3000:]
    errors = [line for line in err.splitlines() if line.startswith("edge-age: error:")]
    assert rc == 2 and len(errors) == 1, (rc, err[-3000:])
    assert errors[0].startswith(f"edge-age: error: {folder}: disk full (No space left on device)"), errors[0]


def _train_argv(data: Path, out: Path, cache: Path, epochs: int, *extra: str) -> list[str]:
    # 16 px SimpleCNN: a 2 MB best.pt and a 6 MB last.pt, trained in seconds.
    return ["train", "--arch", "simplecnn", "--input-size", "16", "--data", str(data), "--out", str(out),
            "--epochs", str(epochs), "--threads", "1", "--precision", "fp32", "--no-progress",
            "--cache-dir", str(cache), *extra]


def _export_argv(run: Path, out: Path, cache: Path, *extra: str) -> list[str]:
    return ["export", str(run / "best.pt"), "--out", str(out), "--no-progress", "--cache-dir", str(cache), *extra]


# ---------------------------------------------------------------------------------------------- everywhere

@needs_dev_full
def test_a_checkpoint_on_a_full_disk_is_one_line_naming_its_folder(tmp_path: Path, monkeypatch) -> None:
    """torch.save reports the failed write as a RuntimeError ("unexpected pos ..."): it must come out as the
    full disk it is, and the previous checkpoint stays."""
    out = tmp_path / "run"
    save_checkpoint(out / "best.pt", {"state_dict": {"w": torch.ones(50_000)}, "epoch": 0})
    before = _digest(out)
    _full_temp_files(monkeypatch)
    with pytest.raises(EdgeAgeError) as e:
        save_checkpoint(out / "best.pt", {"state_dict": {"w": torch.zeros(50_000)}, "epoch": 1})
    assert str(e.value).startswith(f"{out}: disk full (No space left on device) while writing best.pt"), e.value
    assert "\n" not in str(e.value)
    assert _digest(out) == before and load_checkpoint(out / "best.pt")["epoch"] == 0
    assert _litter(tmp_path) == []


def test_a_checkpoint_torch_cannot_serialise_is_not_called_a_full_disk(tmp_path: Path, monkeypatch) -> None:
    """Only write failures are a full disk: torch's other RuntimeErrors stay what they are."""
    def refuse(*args, **kwargs) -> None:
        raise RuntimeError("cannot serialise a tensor on the meta device")

    monkeypatch.setattr(torch, "save", refuse)
    with pytest.raises(RuntimeError, match="meta device"):
        save_checkpoint(tmp_path / "best.pt", {"epoch": 1})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("full", [True, False], ids=["disk_full", "room_left"])
def test_a_truncated_quantizer_file_on_a_full_disk_is_the_full_disk(full: bool, tmp_path: Path, monkeypatch) -> None:
    """onnx's C++ shape inference (inside onnxruntime's quantizer) ignores a failed write, and the truncated file
    then fails to parse: on a full disk that is the full disk's ENOSPC; with room left, the error stays its own."""
    from google.protobuf.message import DecodeError

    from edge_age import fileio
    from edge_age.data.preprocess import PreprocessSpec
    from edge_age.export import onnx_export

    def truncated(*args, **kwargs) -> None:
        raise DecodeError("Error parsing message with type 'onnx.ModelProto'")

    monkeypatch.setattr("onnxruntime.quantization.shape_inference.quant_pre_process", truncated)
    monkeypatch.setattr(fileio, "no_space_left", lambda folder, margin=0: full, raising=False)
    with pytest.raises(OSError if full else DecodeError) as e:
        onnx_export.quantize_int8(tmp_path / "fp32.onnx", tmp_path / "int8.onnx", np.zeros((1, 16, 16, 3), np.uint8),
                                  PreprocessSpec(size=16), {})
    assert not full or e.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []  # the quantizer's folder is gone either way


@pytest.mark.slow
@needs_dev_full
def test_train_on_a_full_disk_ends_in_one_line_and_keeps_the_checkpoints(utk_dir: Path, tmp_path: Path,
                                                                         monkeypatch, capsys) -> None:
    out, cache = tmp_path / "run", tmp_path / "cache"
    assert main(_train_argv(utk_dir, out, cache, 1)) == 0
    kept = {k: v for k, v in _digest(out).items() if k != "train_command.txt"}  # a resume adds its line there
    capsys.readouterr()
    _full_temp_files(monkeypatch, ".pt.")  # best.pt's and last.pt's temporary files
    rc = main(_train_argv(utk_dir, out, cache, 2, "--resume"))
    _one_error_line(rc, capsys.readouterr().err, out)
    assert {k: v for k, v in _digest(out).items() if k in kept} == kept
    assert _litter(tmp_path) == []


@pytest.mark.slow
@needs_dev_full
def test_export_on_a_full_disk_ends_in_one_line_and_keeps_the_previous_export(utk_dir: Path, tmp_path: Path,
                                                                             monkeypatch, capsys) -> None:
    """The disk fills in the middle of the export: the card and the ONNX file are in the staging folder, the
    TFLite file does not fit."""
    run, out, cache = tmp_path / "run", tmp_path / "export", tmp_path / "cache"
    assert main(_train_argv(utk_dir, run, cache, 1)) == 0
    assert main(_export_argv(run, out, cache)) == 0
    before = _digest(out)
    capsys.readouterr()
    _full_temp_files(monkeypatch, ".tflite.")
    rc = main(_export_argv(run, out, cache))
    _one_error_line(rc, capsys.readouterr().err, out)
    assert _digest(out) == before
    assert _litter(tmp_path) == []


# ---------------------------------------------------------------------------------------------- a real disk

@pytest.fixture
def small_disk(tmp_path: Path):
    """A 24 MB tmpfs mounted for the test (root only), always unmounted after it."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    try:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(disk)], capture_output=True,
                           text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        pytest.skip(f"cannot mount a tmpfs here: {e}")
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip() or r.returncode}")
    try:
        yield disk
    finally:
        if subprocess.run(["umount", str(disk)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def _fill(disk: Path, leave: int) -> None:
    """One file that leaves ``leave`` bytes of ``disk`` free."""
    (disk / "filler").unlink(missing_ok=True)
    with open(disk / "filler", "wb") as f:
        f.write(bytes(max(shutil.disk_usage(disk).free - leave, 0)))


@pytest.mark.slow
def test_train_on_a_real_full_disk(utk_dir: Path, tmp_path: Path, small_disk: Path, capsys) -> None:
    """The next epoch's checkpoints do not fit: the run ends in one line, its checkpoints as they were."""
    out, cache = small_disk / "run", tmp_path / "cache"
    assert main(_train_argv(utk_dir, out, cache, 1)) == 0
    kept = {k: v for k, v in _digest(out).items() if k != "train_command.txt"}
    capsys.readouterr()
    _fill(small_disk, 256 << 10)
    rc = main(_train_argv(utk_dir, out, cache, 2, "--resume"))
    _one_error_line(rc, capsys.readouterr().err, out)
    assert {k: v for k, v in _digest(out).items() if k in kept} == kept
    assert _litter(small_disk) == []


@pytest.mark.slow
def test_export_on_a_real_full_disk(utk_dir: Path, tmp_path: Path, small_disk: Path) -> None:
    """Each export runs in its own process: on a full disk the TFLite converter's own writer (LLVM) ended the
    process with exit 1. Two fillings: the TFLite file does not fit beside the ONNX one; the int8 ONNX
    quantizer's files (written by onnx's C++ shape inference, which ignores a failed write) do not fit."""
    run, out, cache = tmp_path / "run", small_disk / "export", tmp_path / "cache"
    assert main(_train_argv(utk_dir, run, cache, 1)) == 0

    def export(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "edge_age", *_export_argv(run, out, cache, *extra)],
                              capture_output=True, text=True, timeout=300)

    assert export().returncode == 0
    before = _digest(out)
    size = (out / "simplecnn_fp32.onnx").stat().st_size
    for leave, extra in ((size * 3 // 2, ()), (size * 33 // 10, ("--int8", "--calib-size", "20"))):
        _fill(small_disk, leave)
        r = export(*extra)
        _one_error_line(r.returncode, r.stderr, out)
        assert _digest(out) == before, extra
        assert _litter(small_disk) == [], extra


@pytest.mark.slow
def test_train_on_a_disk_full_before_it_starts(utk_dir: Path, tmp_path: Path, small_disk: Path, capsys) -> None:
    """Nothing fits, not even the run folder's lock or train_command.txt (plain writes, no atomic writer
    around them): still one line, naming the file, no traceback."""
    out = small_disk / "run"
    _fill(small_disk, 0)
    rc = main(_train_argv(utk_dir, out, tmp_path / "cache", 1))
    err = capsys.readouterr().err
    assert "Traceback" not in err and rc == 2, err[-3000:]
    errors = [line for line in err.splitlines() if line.startswith("edge-age: error:")]
    assert len(errors) == 1 and "disk full (No space left on device)" in errors[0] and str(out) in errors[0], errors

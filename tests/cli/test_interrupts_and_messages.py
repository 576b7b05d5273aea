"""Issue 34 #19 and #20: an interrupt anywhere ends a command with 130 and its own one line (what was kept,
what to do instead), and messages that misled (a folder as an image, a checkpoint's golden outputs, an empty
selection, a tab or newline in a file name)."""

from __future__ import annotations

import signal
from pathlib import Path

import numpy as np
import pytest

from edge_age.cli import main
from edge_age.errors import EdgeAgeError
from tests.conftest import make_utk


def _train_argv(utk_dir: Path, tmp_path: Path) -> list[str]:
    return ["train", "--data", str(utk_dir), "--out", str(tmp_path / "run"), "--epochs", "1", "--arch", "simplecnn",
            "--cache-dir", str(tmp_path / "cache"), "--no-progress"]


def test_ctrl_c_at_the_end_of_a_train_epoch_is_130_and_its_line(utk_dir: Path, tmp_path: Path, monkeypatch,
                                                                 capsys) -> None:
    def interrupt(*a, **k) -> None:
        raise KeyboardInterrupt  # as Ctrl-C during the end-of-epoch work (the loss plot, after the checkpoints)

    monkeypatch.setattr("edge_age.plots.loss_curves", interrupt)
    assert main(_train_argv(utk_dir, tmp_path)) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("edge-age: interrupted (") and "--resume" in err[-1]


def test_ctrl_c_that_a_command_swallows_still_ends_it_130(utk_dir: Path, tmp_path: Path, monkeypatch,
                                                          capsys) -> None:
    """Code inside the command (a library, a loop that stops on Ctrl-C) catches the interrupt and returns
    normally: the command must still not exit 0."""
    def swallow(*a, **k) -> None:
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt:
            pass

    monkeypatch.setattr("edge_age.plots.loss_curves", swallow)
    # As a command starts: Python's own Ctrl-C handler (a test worker may hold another one, left by earlier work
    # in the process; the CLI then leaves it alone, as a host program's handler, and this test would prove nothing).
    host = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        assert main(_train_argv(utk_dir, tmp_path)) == 130
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the CLI's own handler removed
    finally:
        signal.signal(signal.SIGINT, host)
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("edge-age: interrupted (")


@pytest.mark.parametrize("argv, says", [
    (["predict", "x.jpg"], "--json is written only at the end"),
    (["data", "wild", "--data", "d", "--out", "w"], "--out keeps its previous scenes"),
])
def test_commands_without_resume_do_not_say_resume(argv: list[str], says: str, tmp_path: Path, monkeypatch,
                                                   capsys) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d").mkdir()

    def interrupt(*a, **k) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("edge_age.cli.fileio.check_outputs", interrupt)
    assert main(argv) == 130
    line = capsys.readouterr().err.strip()
    assert says in line and "--resume" not in line and "\n" not in line


def test_a_folder_given_as_an_image_is_called_a_folder(tmp_path: Path) -> None:
    from edge_age.runtime.predict import _score_image

    with pytest.raises(EdgeAgeError, match="is a folder, not an image file"):
        _score_image(tmp_path, None, True)
    with pytest.raises(EdgeAgeError, match="no such image file"):
        _score_image(tmp_path / "missing.jpg", None, True)


def test_check_of_a_checkpoint_says_checkpoints_have_no_golden_outputs() -> None:
    from edge_age.runtime.check import format_checks

    line = format_checks([{"file": "best.pt", "runtime": "torch", "golden": False}])
    assert "training checkpoint" in line and "exported before" not in line
    assert "exported before they existed" in format_checks([{"file": "m.onnx", "runtime": "onnx", "golden": False}])


def test_an_empty_split_says_the_selection_is_empty(tmp_path: Path) -> None:
    from edge_age.data.dataset import DataConfig, load_dataset
    from edge_age.data.preprocess import PreprocessSpec

    data = make_utk(tmp_path / "one", n_per_age=1, ages=[30])  # one image: the test split has none
    with pytest.raises(EdgeAgeError, match="the selection is empty: the test split has no images") as e:
        load_dataset(DataConfig(str(data)), PreprocessSpec(), cache_dir=tmp_path / "cache", progress=False,
                     splits=("test",))
    assert "could be read" not in str(e.value)


def test_a_tab_or_newline_in_a_file_name_stays_in_its_tsv_field() -> None:
    from edge_age.data.framing import Square
    from edge_age.runtime.predict import Face, _face_result
    from edge_age.runtime.predict_config import PredictConfig

    face = Face(None, Square(16, 16, 32), np.zeros((32, 32, 3), np.uint8))
    line, entry = _face_result(Path("a\tb\nc\\d.jpg"), face, 30.0, None, PredictConfig(images=()))
    assert "\n" not in line and line.count("\t") == 2
    assert line.split("\t")[0] == "a\\tb\\nc\\\\d.jpg" and entry["file"] == "a\tb\nc\\d.jpg"  # JSON keeps the name

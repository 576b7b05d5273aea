"""Every numeric option is typed and ranged at parse time: a bad value is one line naming the option."""

from __future__ import annotations

import argparse
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_age.cli import build_parser, main
from edge_age.cli_types import resolve_artifact

# (command argv prefix, option, lowest valid, highest valid or None)
NUMERIC = [
    (["train"], "--epochs", 1, 100_000), (["train"], "--batch-size", 1, 4096), (["train"], "--threads", 0, 1024),
    (["train"], "--input-size", 16, 1024), (["train"], "--limit", 1, None), (["train"], "--patience", 0, None),
    (["train"], "--bn-recalib", 0, None), (["train"], "--max-steps", 0, None), (["train"], "--seed", 0, 2**32 - 1),
    (["eval", "m.tflite"], "--batch-size", 1, 4096), (["eval", "--model", "m.tflite"], "--limit", 1, None),
    (["export", "c.pt"], "--calib-size", 1, None),
    (["export", "c.pt"], "--limit", 1, None),
    (["predict", "a.jpg"], "--threads", 0, 1024), (["eval", "m.onnx"], "--threads", 0, 1024),
    (["bench"], "--runs", 1, None), (["bench"], "--warmup", 0, None), (["bench"], "--batch-size", 1, 1024),
    (["bench"], "--limit", 1, None), (["data", "wild"], "--limit", 1, None), (["data", "framing"], "--scene-seed", 0, None),
]
FLOATS = [(["train"], "--lr", 0.0, 10.0, True), (["train"], "--dropout", 0.0, 0.99, False),
          (["export", "c.pt"], "--qat-epochs", 0.0, 100.0, False),
          (["bench"], "--min-seconds", 0.0, 3600.0, False)]


def _parse(argv: list[str], capsys) -> tuple[argparse.Namespace | None, str]:
    try:
        return build_parser().parse_args(argv), ""
    except SystemExit as e:
        assert e.code == 2
        return None, capsys.readouterr().err


def _dest(option: str) -> str:
    return option.lstrip("-").replace("-", "_")


# Old spellings (one release): the same value, and one notice line naming the new spelling.
RENAMED = [(["export", "c.pt"], "--val-limit", "limit"), (["bench"], "--batch", "batch_size"),
           (["data", "wild"], "--seed", "scene_seed"), (["train"], "--model", "model"), (["eval", "m.onnx"], "--format", "scheme")]


@pytest.mark.parametrize("prefix, old, dest", RENAMED, ids=[f"{p[0]} {o}" for p, o, _ in RENAMED])
def test_an_old_spelling_still_parses_with_a_notice(prefix, old, dest, capsys) -> None:
    value = "simplecnn" if old == "--model" else "csv" if old == "--format" else "3"
    ns, _ = _parse([*prefix, old, value], capsys)
    assert ns is not None and str(getattr(ns, dest)) == value
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and f"{old} is now --" in err


@pytest.mark.parametrize("prefix, option, lo, hi", NUMERIC, ids=[f"{p[0]} {o}" for p, o, *_ in NUMERIC])
def test_integer_options_take_their_range_and_refuse_the_rest(prefix, option, lo, hi, capsys) -> None:
    ns, _ = _parse([*prefix, option, str(lo)], capsys)
    assert ns is not None and getattr(ns, _dest(option)) == lo
    for bad in [str(lo - 1), "abc", "1.5", "", *([str(hi + 1)] if hi is not None else [])]:
        ns, err = _parse([*prefix, option, bad], capsys)
        assert ns is None, (option, bad)
        assert option in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def _value_or_refusal(prefix: list[str], option: str, value: str):
    """The parsed value, or None when the parser refused it (exit 2, never anything else)."""
    try:
        return getattr(build_parser().parse_args([*prefix, f"{option}={value}"]), _dest(option))
    except SystemExit as e:
        assert e.code == 2
        return None


@given(value=st.one_of(st.integers(-10**6, 10**7).map(str), st.text(max_size=8)))
@settings(max_examples=150, deadline=None)
def test_any_string_for_an_integer_option_parses_in_range_or_fails_in_one_line(value: str) -> None:
    for prefix, option, lo, hi in NUMERIC[:4] + NUMERIC[-6:]:
        got = _value_or_refusal(prefix, option, value)
        got = got[0] if isinstance(got, tuple) else got
        assert got is None or (lo <= got and (hi is None or got <= hi)), (option, value, got)


@given(value=st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.text(max_size=6)))
@settings(max_examples=150, deadline=None)
def test_any_string_for_a_float_option_is_finite_and_in_range_or_refused(value: str) -> None:
    for prefix, option, lo, hi, lo_open in FLOATS:
        got = _value_or_refusal(prefix, option, value)
        assert got is None or (math.isfinite(got) and (lo < got if lo_open else lo <= got) and got <= hi), (
            option, value, got)


def test_bench_threads_is_a_list_of_counts(capsys) -> None:
    ns, _ = _parse(["bench", "--threads", "1,2"], capsys)
    assert ns.threads == (1, 2)
    for bad in ["0", "1,x", ",", "-2"]:
        ns, err = _parse(["bench", "--threads", bad], capsys)
        assert ns is None and "--threads" in err


@pytest.mark.parametrize("command, dest, old_flag", [("eval", "model", "--model"), ("export", "checkpoint", "--checkpoint")])
def test_the_file_a_command_works_on_is_positional_and_the_old_flag_still_works(command, dest, old_flag,
                                                                               capsys) -> None:
    for argv in ([command, "m.pt"], [command, old_flag, "m.pt"], [command, "m.pt", old_flag, "m.pt"]):
        ns = build_parser().parse_args(argv)
        resolve_artifact(ns, build_parser())
        assert str(getattr(ns, dest)) == "m.pt", argv
    for argv, says in (([command], "argument is required"), ([command, "a.pt", old_flag, "b.pt"], "given twice")):
        with pytest.raises(SystemExit) as e:
            main(argv)
        err = capsys.readouterr().err
        assert e.value.code == 2 and says in err and len(err.strip().splitlines()) == 1, err

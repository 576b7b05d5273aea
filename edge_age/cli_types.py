"""Typed, ranged argparse option types: a bad value is refused at parse time, naming the option.

Torch-free (the CLI imports this before any command runs).
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any, Callable, NoReturn


def default_of(config: type, name: str) -> Any:
    """A config dataclass's default for ``name``: option defaults are declared once, on the dataclass."""
    return next(f.default for f in fields(config) if f.name == name)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (the usage is one ``--help`` away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _range_text(lo: float | None, hi: float | None, lo_open: bool) -> str:
    if hi is None:
        return f"{'>' if lo_open else '>='} {lo:g}"
    if lo is None:
        return f"<= {hi:g}"
    return f"{'>' if lo_open else 'from'} {lo:g} {'and <=' if lo_open else 'to'} {hi:g}"


def number(kind: type, lo: float | None = None, hi: float | None = None,
           lo_open: bool = False) -> Callable[[str], float]:
    """``int`` or finite ``float`` within ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``)."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if kind is float and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        below = lo is not None and (value <= lo if lo_open else value < lo)
        if below or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"{text} is out of range (must be {_range_text(lo, hi, lo_open)})")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in some messages
    return parse


def int_list(lo: int, hi: int) -> Callable[[str], tuple[int, ...]]:
    """A comma list of integers, each in ``[lo, hi]``: ``--threads 1,2``."""
    one = number(int, lo, hi)

    def parse(text: str) -> tuple[int, ...]:
        parts = [p.strip() for p in text.split(",") if p.strip()]
        if not parts:
            raise argparse.ArgumentTypeError(f"{text!r} holds no number")
        return tuple(one(p) for p in parts)

    parse.__name__ = "int list"
    return parse


POSITIVE_INT = number(int, 1)
COUNT = number(int, 0)  # 0 allowed (off)
SEED = number(int, 0, 2**32 - 1)
THREADS = number(int, 0, 1024)  # 0: all cores


def add_artifact(p: argparse.ArgumentParser, dest: str, metavar: str, help: str, old_flag: str) -> None:
    """The file a command works on, as a positional path (``edge-age eval FILE``, ``edge-age export FILE``,
    like ``bench FILE...``). ``old_flag`` (``--model``, ``--checkpoint``) still works, unlisted, so scripts
    written for earlier versions keep running; :func:`resolve_artifact` merges the two after parsing."""
    p.add_argument(dest, nargs="?", type=Path, default=None, metavar=metavar, help=help)
    p.add_argument(old_flag, dest=f"{dest}_flag", type=Path, default=None, help=argparse.SUPPRESS)
    p.set_defaults(artifact=(dest, metavar, old_flag))


def resolve_artifact(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    if getattr(args, "artifact", None) is None:
        return
    dest, metavar, old_flag = args.artifact
    given, flag = getattr(args, dest), getattr(args, f"{dest}_flag")
    if given is not None and flag is not None and given != flag:
        parser.error(f"{metavar} given twice ({given} and {old_flag} {flag})")
    if given is None and flag is None:
        parser.error(f"the {metavar} argument is required (edge-age {args.command} {metavar} ...)")
    setattr(args, dest, given if given is not None else flag)


class Renamed(argparse.Action):
    """An option's old spelling, unlisted: it still works for one release, with a one-line notice on
    stderr naming the new one (``add_renamed``)."""

    def __init__(self, option_strings: list[str], dest: str, new: str = "", **kw: Any) -> None:
        self.new = new
        super().__init__(option_strings, dest, **kw)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        print(f"edge-age: note: {option_string} is now {self.new}; the old spelling goes in the next release",
              file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_renamed(p: argparse.ArgumentParser, old: str, new: str, **kw: Any) -> None:
    """Keep ``old`` working as a hidden alias of the option ``new`` (same dest, type and choices)."""
    action = next(a for a in p._actions if new in a.option_strings)
    p.add_argument(old, dest=action.dest, action=Renamed, new=new, type=action.type, choices=action.choices,
                   metavar=action.metavar or action.dest.upper(), default=argparse.SUPPRESS, help=argparse.SUPPRESS,
                   **kw)


def config_from_args(config: type, args: argparse.Namespace, **given: Any) -> Any:
    """``config`` (a dataclass) built from the parsed options that share a field's name, plus ``given``:
    the one mapping from a command line to a stage's config, instead of one copied by hand per command.
    An option left at ``None`` takes the dataclass default; paths become strings."""
    values = {}
    for f in fields(config):
        value = given[f.name] if f.name in given else getattr(args, f.name, None)
        if value is None:
            continue
        values[f.name] = str(value) if isinstance(value, Path) else value
    return config(**values)

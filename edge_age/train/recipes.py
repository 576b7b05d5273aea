"""Named training recipes (``edge-age train --recipe NAME``): one TOML file per recipe in edge_age/recipes/
(package data, like the bundled reference model).

A recipe holds ``train`` options under their option names (``bn_recalib`` for ``--bn-recalib``) and a
``description``; options given on the command line override it. The recipe's name is stored in the
checkpoint and the model card, and the resolved command (every option spelled out) in
``train_command.txt``, so a run can be repeated without the recipe file. Imports no torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge_age.errors import EdgeAgeError

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib

FOLDER = Path(__file__).resolve().parents[1] / "recipes"
DEFAULT = "reference"


def names() -> list[str]:
    return sorted(p.stem for p in FOLDER.glob("*.toml"))


def load_recipe(name: str) -> dict[str, Any]:
    """The options of recipe ``name`` (a name from :func:`names`, or a path to a TOML file of your own)."""
    path = Path(name) if name.endswith(".toml") else FOLDER / f"{name}.toml"
    if not path.is_file():
        known = f"known: {', '.join(names())}, or a .toml file of your own"
        if name.endswith(".toml"):
            raise EdgeAgeError(f"no such recipe file ({known})", path)
        raise EdgeAgeError(f"--recipe {name}: no such recipe ({known})")
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise EdgeAgeError(f"not a valid recipe file: {e}", path) from None
    values.pop("description", None)
    return values


def description(name: str) -> str:
    path = FOLDER / f"{name}.toml"
    return tomllib.loads(path.read_text(encoding="utf-8")).get("description", "")

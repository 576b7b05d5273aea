"""What a model file's output must be: one finite age per face (contract 3). Imports no torch.

Checked in two places, each once:

- the output's shape, when a predictor is built (:func:`check_output_shape`, called by every runtime's
  predictor): a file that gives more than one number per face (a ``[N, 2]`` head, logits) is refused in one
  line naming it, before any face is scored -- read as a flat array, face k would get face k/2's number;
- each age, where it is used (:func:`not_an_age`): a NaN or infinite output is an error of that face, which
  predict and eval count and name, never an age printed, averaged or written.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from edge_age.errors import EdgeAgeError


def _dim(d: Any) -> int | None:
    """A dimension the file fixes (an int), or None: symbolic (``"batch"``), unknown, or -1."""
    return int(d) if isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 0 else None


def check_output_shape(path: str | Path, shape: Sequence[Any], in_batch: Any,
                       run: Callable[[int], np.ndarray] | None = None) -> None:
    """Refuse a file whose output is not one number per face. ``shape``: the output's declared shape (its
    first dimension the batch); ``in_batch``: the input's batch dimension; ``run(n)``: the raw output for
    ``n`` faces, run once when the declared shapes do not tell (a dimension the file leaves open)."""
    dims, batch = [_dim(d) for d in shape], _dim(in_batch)
    rest = dims[1:]
    if rest and None not in rest and math.prod(rest) != 1:
        raise EdgeAgeError(f"gives {math.prod(rest)} numbers per face (output shape {list(shape)}); an age model "
                           "gives one age per face", path)
    if dims and None not in rest and dims[0] == batch:  # [batch, 1] with an open batch, or [1, 1] for a batch of 1
        return
    n = batch or 2
    try:
        got = np.asarray(run(n)).size if run is not None else None
    except Exception as e:  # the runtime's own refusal of a batch the file declares it takes
        raise EdgeAgeError(f"fails on a batch of {n} faces ({type(e).__name__}: {str(e)[:160]})", path) from e
    if got != n:
        raise EdgeAgeError(f"gives {'?' if got is None else got} numbers for {n} faces (output shape "
                           f"{list(shape)}); an age model gives one age per face", path)


def not_an_age(age: Any) -> str | None:
    """Why a model's output is not an age (NaN, infinite), or None for a finite number."""
    a = float(age)
    if math.isnan(a):
        return "the model's output is NaN, not an age"
    if math.isinf(a):
        return f"the model's output is {'+' if a > 0 else '-'}infinite, not an age"
    return None

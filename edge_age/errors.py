"""One exception type for every problem a user can fix.

The CLI prints these as a single line (no traceback unless ``--debug``), so the message must name
the file and say what is wrong with it.
"""

from __future__ import annotations

from pathlib import Path


class EdgeAgeError(Exception):
    """A user-facing error: bad input, missing file, incompatible artifact."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = str(path) if path is not None else None
        self.reason = message
        super().__init__(f"{self.path}: {message}" if self.path else message)

"""Third-party logging stays out of our output unless ``--verbose`` (``EDGE_AGE_VERBOSE=1``).

The converters and interpreters log from C++ straight to file descriptor 2 (absl's "All log
messages before absl::InitializeLog()", LiteRT's "Created TensorFlow Lite XNNPACK delegate",
oneDNN notes), which no Python logging setting reaches; :func:`native_stderr_off` closes that
descriptor around those calls only, so our own progress bars and one-line errors still show.
The setting is an environment variable so that the bench's worker processes inherit it.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import warnings
from typing import Iterator

VERBOSE_ENV = "EDGE_AGE_VERBOSE"

# Python loggers of the libraries we call, and the packages whose warnings are theirs to fix, not the user's.
_LOGGERS = ("absl", "torch", "torch._dynamo", "torch.export", "torchao", "litert_torch", "onnxruntime")
_WARNING_MODULES = r"(torch|torchao|torchvision|litert_torch|ai_edge_litert|onnx|onnxruntime|onnxscript)(\.|$)"


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def quiet_libraries() -> None:
    """Silence third-party logging for this process and its children (no-op with --verbose)."""
    if verbose():
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GLOG_minloglevel", "3")
    # litert-torch prints a [START]/[DONE] line per conversion stage; our own log says what is exported.
    os.environ.setdefault("LITERT_TORCH_SHOW_PROGRESS", "n")
    for name in _LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=_WARNING_MODULES)


@contextlib.contextmanager
def native_stderr_off() -> Iterator[None]:
    """File descriptor 2 points at /dev/null inside the block (unless --verbose). Wrap native calls
    only: anything Python writes to stderr inside is lost too."""
    if verbose():
        yield
        return
    quiet_libraries()
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


@contextlib.contextmanager
def library_chatter_off() -> Iterator[None]:
    """Inside the block, a library's own prints to stdout and warnings on the root logger are dropped
    (onnxruntime's quantizer: "Collecting tensor data and making histogram ...", "Axis 1 is out-of-range
    ..."), unless --verbose. Wrap library calls only: our own prints inside are lost too."""
    if verbose():
        yield
        return
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.setLevel(level)

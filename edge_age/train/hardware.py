"""What this machine runs well (torch side): the training precision, and glibc's allocator for big tensors."""

from __future__ import annotations

import torch

from edge_age.errors import EdgeAgeError


def choose_precision(requested: str, device: torch.device) -> str:
    """bf16 autocast only where the hardware runs it natively; otherwise it is slower than fp32.

    Measured here (2-core Xeon without AVX512-BF16/AMX exposed): SimpleCNN trains at 52 img/s in
    fp32 and 28 img/s under bf16 autocast, so ``auto`` must not assume bf16 helps.
    """
    if requested in ("bf16", "fp32"):
        return requested
    if requested != "auto":
        raise EdgeAgeError(f"unknown precision {requested!r}; choose auto, bf16 or fp32")
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    native = torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported()
    return "bf16" if native else "fp32"


def tune_malloc() -> bool:
    """Stop glibc from returning activation buffers to the OS after every step (Linux only).

    By default glibc serves the >32 MB activation tensors with mmap and unmaps them on free, so
    every step page-faults ~1 GB back in: measured here, 30% of CPU time went to the kernel and a
    SimpleCNN step ran at 25 img/s; with these limits raised, 0% kernel time and 40 img/s.
    """
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
        return all(
            libc.mallopt(opt, val) == 1
            for opt, val in ((m_mmap_threshold, 2**31 - 1), (m_trim_threshold, 2**30), (m_top_pad, 2**28))
        )
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return False

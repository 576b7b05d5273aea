"""What every writer of the formats table receives: one object, so all writers share one signature."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from edge_age.data.preprocess import PreprocessSpec

if TYPE_CHECKING:
    from edge_age.export.qat import QATConfig


@dataclass
class WriteJob:
    model: torch.nn.Module  # eval mode, age scale folded in, export-friendly ops
    spec: PreprocessSpec
    meta: dict[str, Any]  # the card's essentials, for formats that carry metadata inside the file
    calib: np.ndarray | None = None  # uint8 calibration faces (int8 rows)
    qat: "QATConfig | None" = None  # quantization-aware fine-tuning (rows that take qat_epochs)
    train_faces: np.ndarray | None = None  # what QAT fine-tunes on
    progress: bool = False

    def calibration(self) -> np.ndarray:
        if self.calib is None or len(self.calib) == 0:
            raise ValueError("int8 export needs calibration faces")
        return self.calib

"""Training losses: plain regression losses on the age, and DLDL-v2 for distribution heads.

Every loss takes an optional per-row ``weight`` (mean 1 over the global batch, see
:func:`balance_weights`); without it each is the plain mean over the rows.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from edge_age.errors import EdgeAgeError
from edge_age.models.registry import distribution_head


def _mean(per_row: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    return per_row.mean() if weight is None else (per_row * weight).mean()


LOSSES: dict[str, Callable[..., torch.Tensor]] = {
    "l1": lambda p, y, weight=None: _mean((p - y).abs(), weight),
    "mse": lambda p, y, weight=None: _mean((p - y) ** 2, weight),
    "smoothl1": lambda p, y, weight=None: _mean(F.smooth_l1_loss(p, y, beta=2.0, reduction="none"), weight),
}
DISTRIBUTION_LOSSES = ("dldl",)
# Years of the Gaussian that smooths the age histogram for --balance: the DLDL target's own width, the
# spread over which faces of neighbouring ages are hard to tell apart.
BALANCE_SIGMA = 2.0


def balance_weights(train_ages: np.ndarray, power: float,
                    sigma: float = BALANCE_SIGMA) -> Callable[[np.ndarray], np.ndarray]:
    """Per-face loss weights that lift ages the training set holds few of: ``density ** -power``.

    Face datasets are crowded in the twenties (UTKFace holds 2,197 faces aged 26 and 98 aged 19), so
    an unweighted loss learns that a face is most likely in its twenties and pulls teenagers' estimates
    up, exactly where an age gate decides. The density is the one-year histogram of the training ages
    smoothed by a Gaussian of ``sigma`` years (label-distribution smoothing, Yang et al. 2021, "Delving
    into Deep Imbalanced Regression"): neighbouring ages look alike, so a rare age next to common ones
    is not really rare. ``power`` 0.5 is their square-root inverse; 0 gives every face weight 1.
    The weights are scaled to mean 1 over ``train_ages``. They are not capped: at 0.5 on UTKFace the
    few faces over 100 weigh about 27 times a 26-year-old (the training loop rescales each batch to mean
    1, which bounds any one batch's step).
    """
    bins = np.clip(np.floor(train_ages), 0, None).astype(int)
    hist = np.bincount(bins).astype(float)
    reach = int(np.ceil(3 * sigma))
    kernel = np.exp(-0.5 * (np.arange(-reach, reach + 1) / sigma) ** 2) if sigma > 0 else np.ones(1)
    density = np.convolve(np.pad(hist, reach), kernel / kernel.sum(), mode="valid")  # > 0 wherever a face is
    scale = float(np.mean(density[bins] ** -power))
    rarest = float(density[bins].min())

    def weigh(ages: np.ndarray) -> np.ndarray:
        """Weights for these ages, meant for the training faces. Any other age gets a finite weight no
        larger than the rarest training age's: one in a gap of the histogram weighs as that rarest age,
        one beyond the oldest training age as the oldest."""
        b = np.clip(np.floor(ages), 0, len(density) - 1).astype(int)
        d = np.maximum(density[b], rarest)
        return (d ** -power / scale).astype(np.float32)

    return weigh


class DLDLLoss:
    """Label-distribution loss (DLDL-v2, Gao et al. 2018): KL to a Gaussian around the true age + L1.

    The age is spread over neighbouring one-year bins (sigma 2 years), so the network learns that
    37 and 38 look alike instead of fitting one exact number; the L1 term on the softmax expectation
    aligns the training target with the reported age. The logits come from a forward hook on the
    model's :class:`AgeExpectation`, so the model's forward stays ``faces -> ages``.

    With a teacher (``--teacher``), the KL target is ``(1 - teacher_weight)`` of that Gaussian plus
    ``teacher_weight`` of the teacher's own distribution for the face: the teacher says which ages a
    face could pass for (broad and skewed for an ambiguous face, narrow for a clear one), which the
    fixed-width Gaussian cannot; the L1 term stays on the true age.

    With a gate weight (``--gate-loss``), a binary cross-entropy per gate age is added: the predicted mass
    below the age against the target's (the Gaussian's mass below it). The KL term spreads its pull over all
    121 bins, so a teenager's tail above 18 costs little there; this term prices the side of each gate the
    face falls on, which is what a gate decides (lab/aaf/README.md measures it).
    """

    def __init__(self, model: torch.nn.Module, sigma: float = 2.0, teacher_weight: float = 0.0,
                 gate_weight: float = 0.0, gate_ages: tuple[float, ...] = ()) -> None:
        head = distribution_head(model)
        if head is None:
            raise EdgeAgeError("--loss dldl needs a model with a distribution head (e.g. --arch mobilenetv2_age "
                               "--head distribution)")
        self.bins, self.sigma, self.teacher_weight = head.bins, sigma, teacher_weight
        self.gate_weight = gate_weight
        if gate_weight and not all(head.bins[0] < age <= head.bins[-1] for age in gate_ages):
            raise EdgeAgeError(f"gate ages {gate_ages} must lie within the head's bins "
                               f"({head.bins[0]:.0f}-{head.bins[-1]:.0f}]")
        self.below = [head.bins < age for age in gate_ages] if gate_weight else []
        self.logits: torch.Tensor | None = None
        head.register_forward_hook(self._keep_logits)

    def _keep_logits(self, module: torch.nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        self.logits = inputs[0]

    def __call__(self, pred: torch.Tensor, y: torch.Tensor, teacher: torch.Tensor | None = None,
                 weight: torch.Tensor | None = None) -> torch.Tensor:
        assert self.logits is not None, "forward pass must run before the loss"
        q = torch.exp(-0.5 * ((self.bins[None, :] - y[:, None]) / self.sigma) ** 2)
        q = q / q.sum(dim=1, keepdim=True)
        if teacher is not None:
            q = (1 - self.teacher_weight) * q + self.teacher_weight * teacher
        log_p = torch.log_softmax(self.logits.float(), dim=1)
        kl = -(q * log_p).sum(dim=1)
        return _mean(kl + (pred - y).abs() + self.gate_weight * self._gates(q, log_p), weight)

    def _gates(self, q: torch.Tensor, log_p: torch.Tensor) -> torch.Tensor | float:
        """Per row, the summed cross-entropy of the mass below each gate age against the target's."""
        total: torch.Tensor | float = 0.0
        for below in self.below:
            q_below = q[:, below].sum(dim=1)
            log_below = torch.logsumexp(log_p[:, below], dim=1)
            log_above = torch.logsumexp(log_p[:, ~below], dim=1)
            total = total - (q_below * log_below + (1 - q_below) * log_above)
        return total

"""Training losses: plain regression losses on the age, and DLDL-v2 for distribution heads."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from edge_age.errors import EdgeAgeError
from edge_age.models.registry import distribution_head

LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "l1": F.l1_loss,
    "mse": F.mse_loss,
    "smoothl1": lambda p, y: F.smooth_l1_loss(p, y, beta=2.0),
}
DISTRIBUTION_LOSSES = ("dldl",)


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
    """

    def __init__(self, model: torch.nn.Module, sigma: float = 2.0, teacher_weight: float = 0.0) -> None:
        head = distribution_head(model)
        if head is None:
            raise EdgeAgeError("--loss dldl needs a model with a distribution head (e.g. --model mobilenetv2_age "
                               "--head distribution)")
        self.bins, self.sigma, self.teacher_weight = head.bins, sigma, teacher_weight
        self.logits: torch.Tensor | None = None
        head.register_forward_hook(self._keep_logits)

    def _keep_logits(self, module: torch.nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        self.logits = inputs[0]

    def __call__(self, pred: torch.Tensor, y: torch.Tensor, teacher: torch.Tensor | None = None) -> torch.Tensor:
        assert self.logits is not None, "forward pass must run before the loss"
        q = torch.exp(-0.5 * ((self.bins[None, :] - y[:, None]) / self.sigma) ** 2)
        q = q / q.sum(dim=1, keepdim=True)
        if teacher is not None:
            q = (1 - self.teacher_weight) * q + self.teacher_weight * teacher
        kl = -(q * torch.log_softmax(self.logits.float(), dim=1)).sum(dim=1).mean()
        return kl + F.l1_loss(pred, y)

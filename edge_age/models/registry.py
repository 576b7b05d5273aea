"""Model registry (as timm's ``@register_model``): one small builder per model.

Builders take keyword options and return an ``nn.Module`` mapping a normalised NCHW float batch
to ages in years, shape ``(N, 1)``. Tests are parametrised over :func:`list_models`.
"""

from __future__ import annotations

import inspect

from typing import Any, Callable

import torch
import torch.nn as nn

from edge_age.errors import EdgeAgeError

Builder = Callable[..., nn.Module]
_REGISTRY: dict[str, Builder] = {}
_INPUT_SIZE: dict[str, int] = {}


def register_model(fn: Builder | None = None, *, input_size: int = 128) -> Any:
    """Register ``fn`` under its function name; ``@register_model(input_size=96)`` sets its default side.

    The input side is a property of the model (compact models run on smaller crops), so ``train``
    takes it from here unless ``--input-size`` overrides it, and it travels on in the checkpoint.
    """

    def add(f: Builder) -> Builder:
        if f.__name__ in _REGISTRY:
            raise ValueError(f"model {f.__name__!r} registered twice")
        _REGISTRY[f.__name__] = f
        _INPUT_SIZE[f.__name__] = input_size
        return f

    return add(fn) if fn is not None else add


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def default_input_size(name: str) -> int:
    if name not in _REGISTRY:
        raise EdgeAgeError(f"unknown model {name!r}; available: {', '.join(list_models())}")
    return _INPUT_SIZE[name]


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """The registered builder called with ``kwargs``; an option it does not take is an error (a
    builder that swallowed unknown options let ``--head distribution`` pass silently on SimpleCNN)."""
    if name not in _REGISTRY:
        raise EdgeAgeError(f"unknown model {name!r}; available: {', '.join(list_models())}")
    takes = inspect.signature(_REGISTRY[name]).parameters
    unknown = sorted(set(kwargs) - set(takes))
    if unknown:
        raise EdgeAgeError(f"model {name!r} takes no option {', '.join(unknown)} (it takes {', '.join(takes)})")
    return _REGISTRY[name](**kwargs)


class AgeScale(nn.Module):
    """Fixed affine ``years = mean + std * x`` after the last layer.

    The network then learns a unit-scale target. Without it, Adam (steps of ~lr per weight) needs
    hundreds of steps just to stretch raw outputs across a +-20-year range: measured on 300 UTKFace
    faces, 2 epochs left train MAE at 14.4 (no better than the mean). The buffers are constants
    (no parameters); export keeps them as one multiply-add.
    """

    def __init__(self, mean: float, std: float) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("std", torch.tensor(float(std)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.std + self.mean


HEADS = ("regression", "distribution")  # train.config.HEADS lists them torch-free for --help


def age_output(in_features: int, head: str, age_mean: float, age_std: float) -> tuple[nn.Linear, nn.Module]:
    """The last linear layer and the module that turns its output into years, for either head: one
    output scaled by :class:`AgeScale`, or one logit per year read out by :class:`AgeExpectation`.

    Created here, initialised by :func:`init_age_output` once the caller's other layers exist, so that
    a seeded run draws its random numbers in the order it always has.
    """
    if head not in HEADS:
        raise EdgeAgeError(f"unknown head {head!r}; choose {' or '.join(HEADS)}")
    out: nn.Module = AgeScale(age_mean, age_std) if head == "regression" else AgeExpectation()
    return nn.Linear(in_features, 1 if head == "regression" else out.num_bins), out


def init_age_output(last: nn.Linear, out: nn.Module, age_mean: float, age_std: float) -> None:
    """Small weights and a bias that starts every face at the training ages' mean (and spread)."""
    nn.init.normal_(last.weight, std=0.01)
    nn.init.zeros_(last.bias)
    if isinstance(out, AgeExpectation):
        out.init_bias(last, age_mean, age_std)


def distribution_head(model: nn.Module) -> "AgeExpectation | None":
    """The model's :class:`AgeExpectation`, if it ends in one."""
    return next((m for m in model.modules() if isinstance(m, AgeExpectation)), None)


class AgeExpectation(nn.Module):
    """Softmax over one-year age bins -> expected age, for label-distribution (DLDL) training.

    The network outputs one logit per year ``0..max_age``; the exported graph ends in softmax and a
    dot product with the bin ages, so it still maps a face to one age. Training with ``--loss dldl``
    reads the logits through a forward hook on this module (see ``edge_age.train.loop``).
    """

    def __init__(self, max_age: int = 120) -> None:
        super().__init__()
        self.register_buffer("bins", torch.arange(max_age + 1, dtype=torch.float32))

    @property
    def num_bins(self) -> int:
        return int(self.bins.numel())

    def init_bias(self, linear: nn.Linear, mean: float, std: float) -> None:
        """Start at a Gaussian over the training ages, so untrained predictions sit at the mean age."""
        with torch.no_grad():
            linear.bias.copy_(-0.5 * ((self.bins - mean) / std) ** 2)

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return (torch.softmax(logits.float(), dim=1) @ self.bins).unsqueeze(1)

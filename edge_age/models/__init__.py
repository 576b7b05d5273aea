"""Models stage (torch): the registry and one small file per model."""

from edge_age.models import resnet, simplecnn  # noqa: F401  (register the builders)
from edge_age.models.registry import create_model, list_models, register_model

__all__ = ["create_model", "list_models", "register_model"]

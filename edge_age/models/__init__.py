"""Models stage (torch): the registry and one small file per model."""

from edge_age.models import mobilenet, resnet, simplecnn  # noqa: F401  (register the builders)
from edge_age.models.registry import create_model, default_input_size, list_models, register_model

__all__ = ["create_model", "default_input_size", "list_models", "register_model"]

"""Models stage (torch): the registry and one small file per model.

Every module of this package is imported here, so a new file with a ``@register_model`` builder is
registered (and picked up by ``train --arch``, the export matrix and the model tests) with no other edit.
"""

import importlib
import pkgutil

from edge_age.models.registry import create_model, default_input_size, list_models, register_model

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
del _module

__all__ = ["create_model", "default_input_size", "list_models", "register_model"]

"""edge-age: facial age estimation from a labeled face dataset to a phone.

The package is split by stage so data flows one way::

    data -> models -> train -> export -> runtime -> eval / bench

``edge_age.data``, ``edge_age.runtime`` and ``edge_age.eval.evaluate`` never import torch, so the
runtime-only install (``pip install edge-age``) works on a Raspberry Pi or a phone-class CPU.
"""

__version__ = "0.1.0"

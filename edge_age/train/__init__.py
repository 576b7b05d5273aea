"""Training stage (torch): the loop, its losses, optimiser, distillation, distributed runs, hardware
choices and input tensors. :mod:`edge_age.train.config` imports no torch, so ``edge-age train --help``
works on a runtime-only install; import :func:`edge_age.train.loop.train` to train."""

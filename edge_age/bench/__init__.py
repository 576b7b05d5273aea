"""Bench stage: latency, size, memory and accuracy of every artifact. Imports no torch
(except to build baseline files or to time a checkpoint, both on request)."""

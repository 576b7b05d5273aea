"""Evaluation stage (no torch): metrics, age assurance (gates, Challenge 25, groups), the report and
``edge-age eval`` itself, written once against the runtime's predictor interface."""

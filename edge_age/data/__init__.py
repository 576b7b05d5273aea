"""Data stage: label sources, face crops, preprocessing, split, cache and report. No torch here."""

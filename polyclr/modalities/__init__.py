"""Modality packages; each is independent of the others."""

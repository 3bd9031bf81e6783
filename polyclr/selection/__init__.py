"""Redundancy-reducing dataset selection (shared by all modalities)."""

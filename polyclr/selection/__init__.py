"""Redundancy-reducing dataset selection (shared by all modalities).

``select_items(images_or_features, groups, positions, method, threshold, every_n, scope,
item_names) -> SelectionResult`` is the one entry point pipelines call to apply the
``selection:`` config section before pre-training; ``polyclr select`` wraps it for files.
"""

from polyclr.selection.cli import thumbnail_features
from polyclr.selection.config import SelectionConfig
from polyclr.selection.core import (
    COLUMNS,
    DEFAULT_THRESHOLDS,
    METHODS,
    SelectionResult,
    apply_selection_config,
    natural_key,
    processing_order,
    select_items,
)
from polyclr.selection.hashing import ahash, dhash, hamming, hash_images, phash, to_hex, to_uint8
from polyclr.selection.sources import ItemSet, slice_positions

__all__ = [
    "COLUMNS", "DEFAULT_THRESHOLDS", "METHODS", "ItemSet", "SelectionConfig", "SelectionResult",
    "ahash", "apply_selection_config", "dhash", "hamming", "hash_images", "natural_key", "phash",
    "processing_order", "select_items", "slice_positions", "thumbnail_features", "to_hex", "to_uint8",
]

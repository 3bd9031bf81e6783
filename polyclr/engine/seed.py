"""Seeding for reproducible runs, and Lightning's log level (Lightning is imported when
seeding, not with this module)."""

from __future__ import annotations

import logging
import warnings


def quiet_lightning() -> None:
    """Silence Lightning's info banners and well-known harmless warnings on small CPU runs."""
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    for pattern in (
        ".*does not have many workers.*",
        ".*The number of training batches.*",
        ".*LeafSpec.*",
        ".*is not a ModelCheckpoint.*",
        ".*Checkpoint directory .* exists and is not empty.*",
        ".*GPU available but not used.*",
        ".*treespec.*",
        ".*validation_step.*but have no.*val_dataloader.*",
    ):
        warnings.filterwarnings("ignore", message=pattern)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (and data-loader workers) for reproducible runs."""
    import lightning as L

    quiet_lightning()
    L.seed_everything(seed, workers=True, verbose=False)

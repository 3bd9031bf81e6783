"""Modality-agnostic contrastive losses and pair builders (imports only torch).

Everything is one multi-positive InfoNCE (:func:`masked_info_nce_rows`) plus pair builders that
turn batch metadata into positive/exclusion masks or soft weights.
"""

from polyclr.losses.clip import CrossModalInfoNCE
from polyclr.losses.distributed import (
    gather_no_grad,
    gather_rows,
    gather_with_grad,
    local_rows,
    world_info,
)
from polyclr.losses.hard_negatives import mix_hard_negatives
from polyclr.losses.info_nce import (
    LogitScale,
    MultiPositiveInfoNCE,
    masked_info_nce_rows,
    reduce_mean_over_valid,
)
from polyclr.losses.ntxent import DCLLoss, NTXentLoss
from polyclr.losses.pairs import (
    cross_modal_targets,
    cwcl_weights,
    partition_exclusion_mask,
    same_key_mask,
    same_sample_mask,
    supcon_mask,
    two_view_ids,
)

__all__ = [
    "CrossModalInfoNCE",
    "DCLLoss",
    "LogitScale",
    "MultiPositiveInfoNCE",
    "NTXentLoss",
    "cross_modal_targets",
    "cwcl_weights",
    "gather_no_grad",
    "gather_rows",
    "gather_with_grad",
    "local_rows",
    "masked_info_nce_rows",
    "mix_hard_negatives",
    "partition_exclusion_mask",
    "reduce_mean_over_valid",
    "same_key_mask",
    "same_sample_mask",
    "supcon_mask",
    "two_view_ids",
    "world_info",
]

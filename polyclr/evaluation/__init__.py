"""Metrics and probes: accuracy/F1/AUROC/AUPRC, R@k and mAP@10, linear probe, RBF-SVM probe, kNN."""

from polyclr.evaluation.metrics import (
           classification_metrics,
           mean_std,
           multilabel_metrics,
           retrieval_metrics,
)
from polyclr.evaluation.probes import knn_probe, linear_probe, multilabel_probe, svm_probe

__all__ = ["classification_metrics", "knn_probe", "linear_probe", "mean_std", "multilabel_metrics",
           "multilabel_probe", "retrieval_metrics", "svm_probe"]

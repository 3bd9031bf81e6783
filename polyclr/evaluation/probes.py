"""Probes on frozen embeddings: logistic-regression linear probe, RBF-SVM probe and kNN
(scikit-learn)."""

from __future__ import annotations

import numpy as np

from polyclr.evaluation.metrics import classification_metrics, multilabel_metrics


def _proba_full(model, x: np.ndarray, n_classes: int) -> np.ndarray:
    p = model.predict_proba(x)
    full = np.zeros((len(x), n_classes))
    full[:, model.classes_.astype(int)] = p
    return full


def linear_probe(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    seed: int = 0,
    c: float | None = None,
    return_proba: bool = False,
) -> dict[str, float] | tuple[dict[str, float], np.ndarray]:
    """Logistic regression on standardised frozen embeddings, scored on the test split
    (``return_proba``: also the test probabilities ``(n_test, K)``, e.g. to aggregate windows).

    ``c=None`` picks the inverse regularisation strength by grouped-free 3-fold CV on the
    training split only (never on test). Labels are integer class indices.

    Shape:
        train_x: ``(n_train, D)``; test_x: ``(n_test, D)``; labels ``(n,)``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    n_classes = int(max(train_y.max(), test_y.max())) + 1
    base = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    counts = np.bincount(train_y)
    counts = counts[counts > 0]
    if c is None and len(counts) > 1 and counts.min() >= 3:
        model = GridSearchCV(base, {"logisticregression__C": [0.01, 0.1, 1.0, 10.0]}, cv=3)
    else:
        model = base.set_params(logisticregression__C=c or 1.0)
    model.fit(train_x, train_y)
    est = model.best_estimator_ if hasattr(model, "best_estimator_") else model
    proba = np.zeros((len(test_x), n_classes))
    proba[:, est.classes_.astype(int)] = est.predict_proba(test_x)
    metrics = classification_metrics(test_y, proba)
    return (metrics, proba) if return_proba else metrics


def multilabel_probe(
    train_x: np.ndarray, train_Y: np.ndarray, test_x: np.ndarray, test_Y: np.ndarray, seed: int = 0,
    c: float = 1.0,
) -> tuple[dict[str, float], np.ndarray]:
    """One logistic regression per label on standardised frozen embeddings; a label constant in
    training predicts that constant. Returns the test metrics and probabilities.

    Shape:
        train_x: ``(n_train, D)``; train_Y: ``(n_train, K)`` multi-hot; returns proba ``(n_test, K)``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(train_x)
    a, b = scaler.transform(train_x), scaler.transform(test_x)
    proba = np.zeros((len(test_x), train_Y.shape[1]))
    for k in range(train_Y.shape[1]):
        col = train_Y[:, k].astype(int)
        if col.min() == col.max():
            proba[:, k] = float(col[0])
            continue
        model = LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(a, col)
        proba[:, k] = model.predict_proba(b)[:, 1]
    return multilabel_metrics(test_Y, proba), proba


SVM_C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3, 1e4, np.inf)
SVM_MAX_SAMPLES = 10_000
SVM_MAX_ITER = 10_000_000  # libsvm iteration cap of TS2Vec's grid; C = inf never converges otherwise


def svm_probe(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray
) -> dict[str, float]:
    """RBF SVM on frozen embeddings, scored on the test split: TS2Vec's evaluation protocol.

    As the public TS2Vec code (``tasks/_eval_protocols.fit_svm``): ``gamma="scale"``; C chosen
    from :data:`SVM_C_GRID` by 5-fold CV on the training split (at most
    :data:`SVM_MAX_SAMPLES` stratified samples of it), or C = inf (hard margin) without CV when
    the training split has fewer than 50 samples or fewer than 5 per class; libsvm stops after
    :data:`SVM_MAX_ITER` iterations, as in its grid.

    Shape:
        train_x: ``(n_train, D)``; test_x: ``(n_test, D)``; labels ``(n,)`` integer classes.
    """
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import GridSearchCV, train_test_split
    from sklearn.svm import SVC

    n_classes = len(np.unique(train_y))
    if n_classes < 2:
        raise ValueError("the SVM probe needs at least 2 classes in the training split")
    svm = SVC(C=np.inf, gamma="scale", max_iter=SVM_MAX_ITER)
    if len(train_x) // n_classes < 5 or len(train_x) < 50:
        model = svm.fit(train_x, train_y)
    else:
        if len(train_x) > SVM_MAX_SAMPLES:
            train_x, _, train_y, _ = train_test_split(train_x, train_y, train_size=SVM_MAX_SAMPLES,
                                                      random_state=0, stratify=train_y)
        model = GridSearchCV(svm, {"C": list(SVM_C_GRID)}, cv=5).fit(train_x, train_y).best_estimator_
    pred = model.predict(test_x)
    labels = np.union1d(train_y, test_y)
    return {"accuracy": float(accuracy_score(test_y, pred)),
            "macro_f1": float(f1_score(test_y, pred, average="macro", labels=labels, zero_division=0))}


def knn_probe(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, k: int = 5
) -> dict[str, float]:
    """Cosine kNN classifier on frozen embeddings, scored on the test split."""
    from sklearn.neighbors import KNeighborsClassifier

    n_classes = int(max(train_y.max(), test_y.max())) + 1
    model = KNeighborsClassifier(n_neighbors=min(k, len(train_x)), metric="cosine", weights="distance")
    model.fit(train_x, train_y)
    return classification_metrics(test_y, _proba_full(model, test_x, n_classes))

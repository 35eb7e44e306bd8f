"""Training metrics computed with numpy: the numbers of ``sklearn.metrics``, without its
input validation (several milliseconds per call, most of a small fit's autolog cost).

Each function covers the common case (1-D labels, classes known to the estimator) and
returns None for the rest, where the caller uses scikit-learn's own functions; the
tests compare both on varied data.
"""

from __future__ import annotations

from typing import Any

__all__ = ["binary_auc", "classifier", "regressor"]


def _average(values: Any, weight: Any) -> float:
    import numpy as np

    return float(np.average(values, weights=weight))


def binary_auc(positive: Any, score: Any) -> float | None:
    """ROC AUC of a boolean target by ranks (ties share the mean rank), None if one class."""
    from scipy.stats import rankdata

    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def classifier(
    y: Any, pred: Any, proba: Any, classes: Any, weight: Any, pos_label: Any
) -> dict[str, float] | None:
    """precision/recall/f1 (weighted or binary), accuracy, log loss and ROC AUC (weighted
    one-vs-one) as ``sklearn.metrics`` computes them; None outside the common case."""
    import numpy as np

    y, pred = np.asarray(y), np.asarray(pred)
    if y.ndim != 1 or pred.shape != y.shape or y.dtype == object or len(y) == 0:
        return None
    w = None if weight is None else np.asarray(weight, dtype=float)
    ones = np.ones(len(y)) if w is None else w
    labels = np.union1d(y, pred)
    if pos_label is not None:
        if pos_label not in labels or len(labels) > 2:
            return None
        labels = np.asarray([pos_label])
    hit = y == pred
    tp = np.array([ones[hit & (y == c)].sum() for c in labels])
    predicted = np.array([ones[pred == c].sum() for c in labels])
    true = np.array([ones[y == c].sum() for c in labels])

    def ratio(num: Any, den: Any) -> Any:
        return np.divide(num, den, out=np.zeros(len(num)), where=den != 0)

    precision, recall = ratio(tp, predicted), ratio(tp, true)
    f1 = ratio(2 * tp, predicted + true)
    if pos_label is not None:
        chosen = {"precision_score": precision[0], "recall_score": recall[0], "f1_score": f1[0]}
    elif true.sum() == 0:
        chosen = {"precision_score": 0.0, "recall_score": 0.0, "f1_score": 0.0}
    else:
        chosen = {
            "precision_score": np.average(precision, weights=true),
            "recall_score": np.average(recall, weights=true),
            "f1_score": np.average(f1, weights=true),
        }
    result = {k: float(v) for k, v in chosen.items()}
    result["accuracy_score"] = _average(hit, w)
    if proba is not None:
        result.update(_probabilistic(y, np.asarray(proba), np.asarray(classes), w) or {})
    return result


def _probabilistic(y: Any, proba: Any, classes: Any, w: Any) -> dict[str, float] | None:
    import numpy as np

    if proba.ndim != 2 or proba.shape != (len(y), len(classes)) or len(classes) < 2:
        return None
    if not np.array_equal(np.unique(y), classes):
        return None  # a class of the model absent from y: scikit-learn's rules apply
    index = np.searchsorted(classes, y)
    eps = np.finfo(proba.dtype).eps
    picked = np.clip(proba, eps, 1 - eps)[np.arange(len(y)), index]
    result = {"log_loss": _average(-np.log(picked), w)}
    if w is not None:
        return result  # weighted ROC AUC: left to scikit-learn
    if len(classes) == 2:
        auc = binary_auc(index == 1, proba[:, 1])
    else:
        scores, prevalence = [], []
        for i in range(len(classes)):
            for j in range(i + 1, len(classes)):
                mask = (index == i) | (index == j)
                a = binary_auc(index[mask] == i, proba[mask, i])
                b = binary_auc(index[mask] == j, proba[mask, j])
                if a is None or b is None:
                    return result
                scores.append((a + b) / 2)
                prevalence.append(mask.mean())
        auc = float(np.average(scores, weights=prevalence))
    if auc is not None:
        result["roc_auc"] = auc
    return result


def regressor(y: Any, pred: Any, weight: Any) -> dict[str, float] | None:
    """mean squared/absolute error and r2 of 1-D targets as ``sklearn.metrics`` computes
    them; None outside that case."""
    import numpy as np

    y, pred = np.asarray(y, dtype=float), np.asarray(pred, dtype=float)
    if y.ndim != 1 or pred.shape != y.shape or len(y) < 2:
        return None
    w = None if weight is None else np.asarray(weight, dtype=float)
    error = y - pred
    residual = (np.ones(len(y)) if w is None else w) @ (error**2)
    mean = np.average(y, weights=w)
    total = (np.ones(len(y)) if w is None else w) @ ((y - mean) ** 2)
    # scikit-learn's convention for a constant target: 1 if predicted exactly, else 0
    r2 = 1 - residual / total if total != 0 else float(residual == 0)
    return {
        "mean_squared_error": _average(error**2, w),
        "mean_absolute_error": _average(np.abs(error), w),
        "r2_score": float(r2),
    }

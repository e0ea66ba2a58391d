"""scikit-learn's ``class_weight`` as row weights: each row's class weight times its sample weight.

Single-label y, as scikit-learn's linear classifiers (LogisticRegression): a dict
{class: weight} (classes left out weigh 1) or "balanced", n / (n_classes * count(class)),
both through ``sklearn.utils.class_weight.compute_class_weight`` (so its errors, word for
word), the counts weighted by ``sample_weight`` when there is one (integer weights count as
repeated rows). Multi-label y (an indicator matrix), as ``compute_sample_weight`` does for
multi-output y: column by column, "balanced" or a list of one dict per label column keyed
by the column's values ({0: w0, 1: w1}), the columns' weights multiplied.
"""
from __future__ import annotations

import numpy as np
from sklearn.utils.class_weight import compute_class_weight

BALANCED = "balanced"

# scikit-learn's words (SGDClassifier.partial_fit): chunk by chunk there is no class count
PARTIAL_FIT_BALANCED = (
    "class_weight 'balanced' is not supported for partial_fit. In order to use 'balanced' "
    "weights, use compute_class_weight('balanced', classes=classes, y=y). In place of y you "
    "can use a large enough sample of the full training set target to properly estimate the "
    "class frequency distributions. Pass the resulting weights as the class_weight parameter.")


def for_classes(class_weight, class_idx, classes, sample_weight):
    """(n,) row weights for single-label rows: ``class_idx`` (n,) indices into ``classes``
    (the fitted classes_, whose labels the dict's keys name)."""
    if isinstance(class_weight, list):
        raise ValueError("class_weight: a list of dicts is for multi-label y (one dict per "
                         "label column); for single-label y give one dict {class: weight} "
                         "or 'balanced'")
    with np.errstate(divide="ignore"):  # a class whose rows all weigh 0: weight inf, unused
        per_class = compute_class_weight(class_weight, classes=classes, y=classes[class_idx],
                                         sample_weight=sample_weight)
    return _checked(_times(np.asarray(per_class, dtype=np.float64)[class_idx], sample_weight))


def for_indicator(class_weight, indicator, sample_weight):
    """(n,) row weights for a 0/1 indicator matrix (n, k): the product over the k label
    columns of each row's weight in its column."""
    n_labels = indicator.shape[1]
    if not (class_weight == BALANCED or isinstance(class_weight, list)):
        raise ValueError("For multi-output, class_weight should be a list of dicts, or the "
                         "string 'balanced'.")
    if isinstance(class_weight, list) and len(class_weight) != n_labels:
        raise ValueError(f"For multi-output, number of elements in class_weight should match "
                         f"number of outputs. Got {len(class_weight)} element(s) while having "
                         f"{n_labels} outputs.")
    per_column = []
    for column in range(n_labels):
        values = indicator[:, column]
        present = np.unique(values)
        weights = class_weight if class_weight == BALANCED else class_weight[column]
        with np.errstate(divide="ignore"):
            per_value = compute_class_weight(weights, classes=present, y=values,
                                             sample_weight=sample_weight)
        per_column.append(np.asarray(per_value)[np.searchsorted(present, values)])
    return _checked(_times(np.prod(per_column, axis=0, dtype=np.float64), sample_weight))


def _times(per_row, sample_weight):
    """per_row * sample_weight; a row of sample weight 0 weighs 0 whatever its class's
    weight (inf when all of a class's rows weigh 0)."""
    if sample_weight is None:
        return per_row
    return np.where(sample_weight > 0, per_row, 0.0) * sample_weight


def _checked(row_weights):
    if not np.all(np.isfinite(row_weights)) or np.any(row_weights < 0):
        raise ValueError("class_weight: every class weight must be finite and >= 0")
    if not np.any(row_weights > 0):
        raise ValueError("class_weight and sample_weight leave every row with weight 0; at "
                         "least one row must weigh more than 0")
    return row_weights

"""Stratified train/test index splits drawn from the host RNG."""
from __future__ import annotations

import numpy as np


def stratified_split(y: np.ndarray, test_fraction: float, rng: np.random.Generator):
    """Indices (train_idx, test_idx): each class split in the same proportion.

    Every class with at least two samples keeps at least one on each side.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test fraction must be in (0, 1), got {test_fraction}")
    train_parts, test_parts = [], []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        n_test = int(round(len(members) * test_fraction))
        if len(members) >= 2:
            n_test = min(max(n_test, 1), len(members) - 1)
        test_parts.append(members[:n_test])
        train_parts.append(members[n_test:])
    train_idx = rng.permutation(np.concatenate(train_parts))
    test_idx = np.sort(np.concatenate(test_parts))
    return train_idx, test_idx


def check_two_per_class(y: np.ndarray, classes: np.ndarray):
    """scikit-learn's error (``train_test_split(..., stratify=y)``) when a class of the
    encoded labels ``y`` has a single member; ``classes`` names them in the message."""
    labels, counts = np.unique(y, return_counts=True)
    if counts.min() < 2:
        raise ValueError("The least populated classes in y have only 1 member, which is too "
                         "few. The minimum number of groups for any class cannot be less "
                         "than 2. Classes with too few members are: "
                         f"{classes[labels[counts < 2]].tolist()}")


def holdout_split(dataset, test_fraction: float, seed: int):
    """(train, test) Datasets: the stratified held-out split ``xpnn train`` tests on, drawn
    from its own seeded stream, so ``xpnn evaluate`` on the same source finds the same rows."""
    train_idx, test_idx = stratified_split(dataset.y, test_fraction,
                                           np.random.default_rng(seed))
    return dataset.subset(train_idx), dataset.subset(test_idx)

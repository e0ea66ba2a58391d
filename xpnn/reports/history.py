"""What a run's epoch records (an estimator's ``history_``, the lines of ``xpnn train
--metrics-log``) say about the run as a whole: the epochs' own time, and the epoch whose
weights were kept. One reading for the summary line, history.png and the dashboard."""
from __future__ import annotations


def training_seconds(history: list[dict]) -> float:
    """The epochs' own time: the sum of the records' ``seconds`` (loading, evaluation and
    saving not counted; a record without it counts 0)."""
    return float(sum(row.get("seconds") or 0.0 for row in history))


def validation_score(row: dict):
    """The record's validation score (accuracy, or R^2 for a regressor), None without one."""
    return next((row[key] for key in ("val_accuracy", "val_r2") if row.get(key) is not None),
                None)


def kept_epoch(history: list[dict]) -> int:
    """The epoch whose weights a run keeps: with early stopping, the first with the best
    validation score, the rule ``plateau.after_epoch`` keeps by; else the last (a row whose
    ``keeps_best`` is false: a validation set only scored, ``xpnn train --val-data``)."""
    if not history[-1].get("keeps_best", True):
        return int(history[-1]["epoch"])
    scored = [(validation_score(row), row["epoch"]) for row in history]
    scored = [(score, epoch) for score, epoch in scored if score is not None]
    if not scored:
        return int(history[-1]["epoch"])
    best = max(score for score, _ in scored)
    return int(next(epoch for score, epoch in scored if score == best))

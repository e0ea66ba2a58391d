"""scikit-learn's L2 penalty as a training step applies it, stated once.

For a batch mean over n rows (or summed row weights) the loss gains the term
(alpha / 2n) sum_l ||w_l||^2 (``mlp.l2_term``) and the gradients its gradient
(alpha / n) w_l (``mlp.add_l2_gradient``; the stages' ``update(..., l2)``, where a kernel
folds it into its own pass, held to that by ``tests/test_kernels.py``); biases are not
penalised. In a group of processes the members' losses are summed and the weights are the
same everywhere: one member (rank 0) adds the term, every member adds the gradient to the
summed gradients.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..core import mlp


@dataclass(frozen=True)
class L2Penalty:
    """The penalty of strength ``alpha`` as one member of the group applies it."""

    alpha: float
    adds_loss_term: bool  # this member adds the loss term (rank 0)

    def with_term(self, loss, params, denominator, xp):
        """``loss`` plus the term on the member that adds it."""
        if not (self.alpha and self.adds_loss_term):
            return loss
        return loss + mlp.l2_term(params, self.alpha, denominator, xp)

    def coefficient(self, denominator):
        """alpha / n, what ``update`` multiplies each weight by; None without L2."""
        return self.alpha / denominator if self.alpha else None

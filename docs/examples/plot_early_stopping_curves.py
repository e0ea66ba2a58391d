"""
Learning curves and early stopping
==================================

With ``early_stopping=True`` a stratified ``validation_fraction`` of the rows is held out;
training stops when the validation accuracy has not improved by ``tol`` for
``n_iter_no_change`` epochs, and the model keeps the best epoch's weights, as
scikit-learn's MLP does. ``history_`` has one row per epoch.
"""
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits

import xpnn

X, y = load_digits(return_X_y=True)
model = xpnn.MLPClassifier(hidden_layer_sizes=(32,), max_iter=200, early_stopping=True,
                           n_iter_no_change=5, validation_fraction=0.2, random_state=0)
model.fit(X / 16.0, y)
epochs = [row["epoch"] for row in model.history_]
best = model.validation_scores_.index(model.best_validation_score_) + 1
print(f"stopped after {model.n_iter_} epochs; best validation accuracy "
      f"{model.best_validation_score_:.4f} at epoch {best} (the weights kept)")

fig, (loss_axis, score_axis) = plt.subplots(1, 2, figsize=(8, 3))
loss_axis.plot(epochs, model.loss_curve_, label="training")
loss_axis.plot(epochs, [row["val_loss"] for row in model.history_], label="validation")
loss_axis.set(xlabel="epoch", ylabel="loss")
loss_axis.legend()
score_axis.plot(epochs, [row["accuracy"] for row in model.history_], label="training")
score_axis.plot(epochs, model.validation_scores_, label="validation")
for axis in (loss_axis, score_axis):
    axis.axvline(best, color="grey", linestyle=":", label="best epoch (kept)")
score_axis.set(xlabel="epoch", ylabel="accuracy")
score_axis.legend()
fig.tight_layout()
plt.show()

"""
A Pipeline in a grid search
===========================

xpnn's estimators are scikit-learn estimators: they go into a ``Pipeline``, a
``GridSearchCV`` clones and fits them, and ``cross_val_score`` scores them.
"""
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import xpnn

X, y = load_digits(return_X_y=True)
pipeline = make_pipeline(StandardScaler(),
                         xpnn.MLPClassifier(hidden_layer_sizes=(32,), max_iter=60,
                                            random_state=0))
alphas = [1e-4, 1e-2, 1.0, 10.0]
search = GridSearchCV(pipeline, {"mlpclassifier__alpha": alphas}, cv=3)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)  # 60 epochs on purpose
    search.fit(X, y)
print(f"best: {search.best_params_}, cross-validated accuracy {search.best_score_:.4f}")

scores = search.cv_results_["mean_test_score"]
spread = search.cv_results_["std_test_score"]
fig, axis = plt.subplots(figsize=(5, 3))
axis.errorbar(alphas, scores, yerr=spread, marker="o")
axis.set(xscale="log", xlabel="alpha (L2 penalty)", ylabel="accuracy (3-fold)")
fig.tight_layout()
plt.show()
assert np.isfinite(scores).all()

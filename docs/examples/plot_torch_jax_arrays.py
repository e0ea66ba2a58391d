"""
torch tensors and JAX arrays in and out
=======================================

xpnn's math is written once against the array API, so the estimators take the arrays a
caller already has and answer in the same namespace, on the same device: torch tensors in,
torch tensors out; JAX arrays in, JAX arrays out (JAX's immutable arrays too: the math
never writes in place). The same seed gives the same starting weights on every namespace,
so the three fits below agree to float32 rounding.
"""
import time
import warnings

import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

import xpnn

X, y = load_digits(return_X_y=True)
X = (X / 16.0).astype(np.float32)  # float32 in, float32 through the fit, on every namespace
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25,
                                                    random_state=0, stratify=y)
namespaces = {"NumPy": np.asarray, "torch": torch.asarray, "JAX": jnp.asarray}
probabilities, seconds = {}, {}
for name, to_namespace in namespaces.items():
    model = xpnn.MLPClassifier(hidden_layer_sizes=(64,), max_iter=30, random_state=0)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 30 epochs, on purpose
        model.fit(to_namespace(X_train), to_namespace(y_train))
    seconds[name] = time.perf_counter() - start
    proba = model.predict_proba(to_namespace(X_test))
    labels = model.predict(to_namespace(X_test))
    print(f"{name:6s} predict_proba -> {type(proba).__module__}.{type(proba).__name__} "
          f"{proba.dtype} {tuple(proba.shape)}, predict -> {type(labels).__name__}; "
          f"test accuracy {model.score(to_namespace(X_test), to_namespace(y_test)):.4f}")
    probabilities[name] = np.asarray(proba)

# %%
# The fitted weights stay in the caller's namespace too (``coefs_``), and the three runs
# agree: the largest difference in any predicted probability.
for name in ("torch", "JAX"):
    difference = np.max(np.abs(probabilities[name] - probabilities["NumPy"]))
    print(f"{name} vs NumPy: max |probability difference| = {difference:.1e}")

# %%
# Fit time, 30 epochs from a fresh estimator (JAX's includes compiling its step once):
fig, axis = plt.subplots(figsize=(5, 2.6))
axis.barh(list(seconds), list(seconds.values()), color=["tab:blue", "tab:orange", "tab:green"])
axis.set(xlabel="seconds to fit (this machine, at build time)",
         title="one fit, three namespaces")
fig.tight_layout()
plt.show()

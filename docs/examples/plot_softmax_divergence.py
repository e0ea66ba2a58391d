"""
Why the learner's softmax diverged
==================================

xpnn began with a learner's NumPy network for Kaggle's digits that died with
``overflow encountered in exp``. Its softmax had two bugs: it summed the exponentials over
the batch axis (0) instead of the classes (1), and it never subtracted each row's maximum.
The wrong axis makes every row wrong at once; without the shift, a logit above 88.7
overflows float32's ``exp``; the stable form is right for any magnitude.
"""
import warnings

import matplotlib.pyplot as plt
import numpy as np

import xpnn
from xpnn import ops


def learners_softmax(z):
    """Both bugs: no max shift, and the sum over the batch (axis 0)."""
    e = np.exp(z)
    return e / e.sum(axis=0)


def unshifted_softmax(z):
    """The right axis, still no max shift: fine until exp overflows."""
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def wrong_rows(probabilities):
    """The fraction of rows that are not a probability distribution."""
    rows = probabilities.sum(axis=1)
    return np.mean(~np.isfinite(rows) | (np.abs(rows - 1) > 1e-3))


rng = np.random.default_rng(0)
scales = np.logspace(0, 3, 40)
base = rng.normal(size=(32, 10)).astype(np.float32)
curves = {"learner's softmax (axis 0, no max shift)": [],
          "axis 1, no max shift": [], "xpnn: ops.log_softmax (axis 1, max shift)": []}
for scale in scales:
    z = base * np.float32(scale)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the overflow itself
        results = [learners_softmax(z), unshifted_softmax(z), np.exp(ops.log_softmax(z, np))]
    for values, probabilities in zip(curves.values(), results):
        values.append(wrong_rows(probabilities))
first = np.argmax(np.asarray(curves["axis 1, no max shift"]) > 0)
print(f"without the max shift, the first rows fail at a logit scale of {scales[first]:.0f} "
      f"(largest logit {base.max() * scales[first]:.0f}; float32's exp overflows "
      f"above 88.7); with it, no row fails up to {scales[-1]:.0f}: "
      f"{max(curves['xpnn: ops.log_softmax (axis 1, max shift)']) == 0}")

fig, axis = plt.subplots(figsize=(6, 3))
for name, values in curves.items():
    axis.plot(scales, values, label=name)
axis.set(xscale="log", xlabel="logit scale", ylabel="rows not summing to 1")
axis.legend(fontsize=7)
fig.tight_layout()
plt.show()

# %%
# When training itself diverges (a learning rate far too large), xpnn stops at the first
# non-finite value, names the epoch, step and layer, and keeps the last finite weights:
from sklearn.datasets import load_digits  # noqa: E402

X, y = load_digits(return_X_y=True)
model = xpnn.MLPClassifier(solver="sgd", learning_rate_init=1e10, max_iter=3,
                           random_state=0)
try:
    model.fit(X / 16.0, y)
except xpnn.DivergenceError as error:
    print(error)

"""
Why the learner's softmax diverged
==================================

xpnn began with a learner's NumPy network for Kaggle's Digit Recognizer that died with
``overflow encountered in exp``. Its softmax had two bugs:

1. it summed the exponentials over the **batch** axis (0) instead of the **classes** (1),
   so no row was a probability distribution, whatever the logits;
2. it never subtracted each row's maximum, so a logit above 88.7 overflows float32's
   ``exp`` (709.8 in float64), and ``inf / inf`` is ``nan``.

This page tells the story with xpnn's own tools: the overflow, what a gradient check says
about the wrong axis, what :class:`xpnn.DivergenceError` reports when training does blow
up, and the fix as xpnn writes it.
"""
import inspect
import warnings

import matplotlib.pyplot as plt
import numpy as np

import xpnn
from xpnn.core import ops
from xpnn.training.gradient_check import numeric_gradient, relative_error


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


# %%
# The overflow
# ------------
# Scale a batch of random logits up, as an unlucky learning rate does to a network's
# outputs, and count the rows that stop being distributions. The learner's softmax is wrong
# from the start (the wrong axis); the right axis without the shift holds until the largest
# logit passes 88.7; xpnn's ``log_softmax`` holds at every scale.
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
# What a gradient check says about the wrong axis
# -----------------------------------------------
# The learner's backward pass used the textbook gradient of cross-entropy through softmax,
# ``(p - onehot) / batch``. That formula is the derivative of the *row* softmax: with the
# batch-axis softmax in the forward pass, forward and backward disagree, long before any
# overflow. Central finite differences of the loss (what ``xpnn gradcheck`` does for every
# parameter of a small MLP) show it at once: a relative error near 1 for the learner's
# pair, near 1e-10 for xpnn's ``ops.cross_entropy_with_grad``.
logits = rng.normal(size=(6, 4))
labels = rng.integers(0, 4, size=6)
onehot = np.eye(4)[labels]


def learners_loss(z):
    return -np.mean(np.sum(onehot * np.log(learners_softmax(z)), axis=1))


learners_grad = (learners_softmax(logits) - onehot) / len(labels)
xpnn_loss, xpnn_grad = ops.cross_entropy_with_grad(logits, labels, np)
checks = {
    "learner's forward and backward":
        relative_error(learners_grad, numeric_gradient(learners_loss, logits, np)),
    "xpnn's cross_entropy_with_grad": relative_error(xpnn_grad, numeric_gradient(
        lambda z: ops.cross_entropy_with_grad(z, labels, np)[0], logits, np)),
}
for name, error in checks.items():
    print(f"{name:32s} relative error {error:.1e}")

# %%
# ``xpnn gradcheck`` runs the same check on every parameter of a small MLP, through the
# forward and backward passes that training uses (float64; the CLI prints one line a
# parameter and exits 1 above its tolerance):
for name, error in xpnn.gradcheck_report(hidden=(5, 4)).items():
    print(f"{name:>4}  relative error {error:.2e}")

# %%
# When training itself diverges
# -----------------------------
# A learning rate far too large still makes the weights, and so the logits, grow until
# something is not finite. xpnn does not train on through ``nan``: it stops at the first
# non-finite value, replays the step to name the epoch, the step, the layer and the stage
# (forward, loss, backward, update), keeps the last finite weights, and raises
# :class:`xpnn.DivergenceError` (the CLI prints it as one line and exits 3):
from sklearn.datasets import load_digits  # noqa: E402

X, y = load_digits(return_X_y=True)
model = xpnn.MLPClassifier(solver="sgd", learning_rate_init=1e10, max_iter=3,
                           random_state=0)
try:
    model.fit(X / 16.0, y)
except xpnn.DivergenceError as error:
    print(error)

# %%
# The fix
# -------
# Sum over the classes, and subtract each row's maximum first: ``exp`` then sees only
# values <= 0, the largest is exactly 1, and the sum is at least 1, so nothing overflows
# and the logarithm never sees 0. xpnn computes the log-probabilities directly, as
# ``shifted - log(sum(exp(shifted)))``, so a tiny probability is a finite negative number
# rather than ``log(0)``:
print(inspect.getsource(ops.log_softmax))

# %%
# and the loss and its gradient share that one pass (the gradient needs no division by a
# probability):
print(inspect.getsource(ops.cross_entropy_with_grad))

# %%
# With both fixes the learner's own setting, full-batch gradient descent on the digits,
# trains (the test suite runs it at logits of +-1e4 too):
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

model = xpnn.MLPClassifier(hidden_layer_sizes=(64,), solver="sgd", batch_size=len(X),
                           learning_rate_init=0.5, momentum=0.0, max_iter=200,
                           random_state=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)  # 200 epochs on purpose
    model.fit(X / 16.0, y)
print(f"full-batch SGD, 200 epochs: training accuracy {model.score(X / 16.0, y):.3f}, "
      f"final loss {model.loss_:.3f}")
fig, axis = plt.subplots(figsize=(6, 3))
axis.plot(model.loss_curve_)
axis.set(xlabel="epoch", ylabel="training loss", yscale="log",
         title="the learner's full-batch setting, with a stable softmax")
fig.tight_layout()
plt.show()

"""The estimators' shared numpydoc text, written once and composed into each docstring.

A docstring line that holds only a fragment's name in braces (``{mlp_parameters}``) becomes
that fragment, indented as the line: the classifier and the regressor document the same
parameters and attributes, ``fit`` and ``resume_fit`` the same arguments.
"""
from __future__ import annotations

import textwrap

# the caller's validation set: fit, resume_fit and partial_fit take it (validation_set.py)
VALIDATION_PARAMETERS = '''\
X_val : array-like or sparse matrix of shape (n_val, n_features) or None, default=None
    A validation set of your choosing, scored after every epoch (stochastic solvers) into
    ``history_``, ``validation_scores_`` and ``validation_loss_curve_``, and handed to
    each epoch's callbacks (``ScoringMonitor`` scores it). With ``early_stopping=True`` it
    is the set the plateau rule watches, and ``validation_fraction`` is not used. Checked
    as X is (its features, names and namespace; uint8 stays uint8); in a data-parallel fit
    every rank passes the same set.
y_val : array-like or None, default=None
    Its targets, with ``X_val``: the classes of y (no others), or y's outputs.
sample_weight_val : array-like of shape (n_val,) or None, default=None
    Its row weights (a classifier's ``class_weight`` multiplied in, as for y).'''

FRAGMENTS = {
    # scikit-learn's MLP parameters, in its order
    "mlp_parameters": '''\
hidden_layer_sizes : array-like of int, default=(100,)
    The width of each hidden layer.
activation : str, default="relu"
    The hidden activation: scikit-learn's "identity", "logistic", "tanh", "relu", or
    "leaky_relu", "elu", "softplus", "silu", "gelu" (``activations.ACTIVATIONS``).
solver : {"adam", "adamw", "sgd", "lbfgs"}, default="adam"
    The optimizer; "adamw" is Adam with ``weight_decay`` decoupled; "lbfgs" full-batch
    L-BFGS (scipy.optimize) with gradients on the device.
alpha : float, default=0.0001
    Strength of the L2 penalty on the weights (not the biases).
batch_size : int or {"auto", "full"}, default="auto"
    Rows per step; "auto": min(200, n_samples); "full": every row.
learning_rate : {"constant", "invscaling", "adaptive", "cosine"}, default="constant"
    The schedule. "cosine" decays to 0 over ``max_iter`` epochs (every stochastic solver,
    not in partial_fit); "invscaling" and "adaptive" apply to solver="sgd", as
    scikit-learn's.
learning_rate_init : float, default=0.001
    The initial learning rate (stochastic solvers).
power_t : float, default=0.5
    The exponent of "invscaling".
max_iter : int, default=200
    Epochs (lbfgs: iterations) in all.
shuffle : bool, default=True
    Shuffle the rows each epoch.
random_state : int, RandomState instance or None, default=None
    Seeds the weights, the shuffles, the holdout split and dropout's masks.
tol : float, default=1e-4
    The plateau rule's tolerance.
verbose : bool, default=False
    Print scikit-learn's progress lines on stdout (with ``comm``, rank 0 alone).
warm_start : bool, default=False
    ``fit`` starts from the fitted weights.
momentum : float, default=0.9
    SGD's momentum, in [0, 1].
nesterovs_momentum : bool, default=True
    Nesterov's momentum for SGD.
early_stopping : bool, default=False
    Hold out ``validation_fraction`` of the rows (stratified for classes), or score the
    ``X_val`` given to fit, stop when its score stops improving and keep the best epoch's
    weights.
validation_fraction : float, default=0.1
    The holdout's share, with early stopping (not used when fit is given ``X_val``).
beta_1, beta_2 : float, default=0.9, 0.999
    Adam's decay rates of the first and second moments.
epsilon : float, default=1e-8
    Adam's epsilon, added to sqrt(v).
n_iter_no_change : int or numpy.inf, default=10
    Epochs without an improvement of ``tol`` before the plateau rule acts.
max_fun : int, default=15000
    The most loss evaluations of "lbfgs".''',
    # xpnn's own parameters, after scikit-learn's
    "xpnn_parameters": '''\
weight_decay : float, default=0.0
    AdamW's decoupled decay (solver="adamw").
dropout : float or tuple of float, default=0.0
    Inverted dropout on the hidden layers' outputs while training: one rate in [0, 1) for
    every hidden layer, or a tuple with one per layer; off when predicting.
dtype : {"float32", "float64"} or None, default=None
    The training dtype; None: float32 for float32 inputs, else float64.
device : str or None, default=None
    None: where the inputs live; "cpu", "cuda", "cuda:N".
check_every : int, default=0
    Steps between divergence checks; 0: once per epoch, no extra host reads.
comm : mpi4py communicator or None, default=None
    Data-parallel training over its ranks.''',
    "fitted_attributes": '''\
coefs_, intercepts_ : list of array
    The weights and biases of each layer, on the training device (with early stopping,
    the best epoch's).
params_ : dict
    The same, as ``{"w1", "b1", ...}``.
n_iter_ : int
    Epochs (lbfgs: iterations) run; partial_fit: this call's.
loss_ : float
    The last epoch's training loss.
loss_curve_ : list of float
    The training loss per epoch (stochastic solvers).
best_loss_, validation_scores_, best_validation_score_ : float, list or None
    As scikit-learn's (early stopping: the validation scores); ``validation_scores_`` also
    when fit was given ``X_val``, one score per epoch that scored it.
validation_loss_curve_ : list of float or None
    The validation loss per scored epoch beside ``loss_curve_`` (None: no validation set).
history_ : list of dict
    One row per epoch: loss, training metric, validation loss and score, learning rate,
    seconds.
t_ : int
    Training rows seen.
n_outputs_, n_layers_ : int
    Outputs; layers including input and output.
out_activation_ : str
    The output head, a key of ``heads.HEADS``.
dtype_ : str
    The training dtype.''',
    # the arguments of fit and resume_fit
    "fit_parameters": '''\
X : array-like or sparse matrix of shape (n_samples, n_features)
    From NumPy, lists, pandas/polars, scipy.sparse, or any array-API namespace (torch,
    CuPy, JAX, array-api-strict).
y : array-like
    Targets: class labels, or values for a regressor (see the estimator).
sample_weight : array-like of shape (n_samples,) or None, default=None
    Weights each row's loss.
''' + VALIDATION_PARAMETERS + '''
on_epoch : callable or None, default=None
    ``on_epoch(record)``, a progress callback after each epoch (host only).
on_step : callable or None, default=None
    ``on_step(i)``, after each step (host only).
scaling : tuple or None, default=None
    None, or (shift or None, factor), host arrays in the training dtype: each cast batch
    becomes (x - shift) * factor, how ``xpnn train`` applies its saved preprocessing
    without a float copy of the data (predict then takes features scaled the same way).
on_interrupt : {"warn", "raise"}, default="warn"
    What Ctrl-C does: "warn" (scikit-learn's behaviour) warns "Training interrupted by
    user." and returns the model as of its last completed epoch; "raise" raises
    ``xpnn.TrainingInterrupted`` instead.''',
    "validation_parameters": VALIDATION_PARAMETERS,
    # the one argument of the predict methods
    "rows": '''\
X : array-like or sparse matrix of shape (n_samples, n_features)
    The rows, from any namespace and device.''',
}


def shared_docs(obj):
    """``obj`` (a class or a function) with each fragment marker of its docstring replaced by
    the fragment, indented as the marker."""
    if obj.__doc__ is None:  # python -OO drops docstrings
        return obj
    lines = []
    for line in obj.__doc__.split("\n"):
        name = line.strip()
        if name.startswith("{") and name.endswith("}") and name[1:-1] in FRAGMENTS:
            line = textwrap.indent(FRAGMENTS[name[1:-1]], line[:len(line) - len(line.lstrip())])
        lines.append(line)
    obj.__doc__ = "\n".join(lines)
    return obj

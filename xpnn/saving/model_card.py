"""A model card for a fitted estimator: skops' card (its hyperparameter table and model
diagram), filled with what only xpnn knows: the test metrics, the training history plot,
and the types a skops loader must trust.

skops is optional (the ``skops`` extra) and imported when a card is made; so is
matplotlib, for the plot (``xpnn[plots]``).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from sklearn.base import is_classifier
from sklearn.metrics import accuracy_score, log_loss, mean_squared_error, r2_score
from sklearn.utils.validation import check_is_fitted

from .. import __version__
from ..backend.devices import as_host_array
from ..estimators.estimator import MLPClassifier, MLPRegressor
from ..extras import require
from ..reports.plots import plot_history

HISTORY_PLOT = "training_history.png"  # written in the card's folder, named from its README
DESCRIPTION = "Model description"
TRAINING = "Model description/Training Procedure"
HISTORY = "Model description/Training Procedure/Training history"
GET_STARTED = "How to Get Started with the Model"


def model_card(model, X_test, y_test, *, folder, model_file="model.skops"):
    """A skops model card of a fitted estimator, its test metrics and training history.

    skops fills the hyperparameter table (``get_params``) and the model diagram; this adds
    accuracy and log loss (a classifier) or R^2 and mean squared error (a regressor) on the
    test rows, the history plot (loss and accuracy per epoch, train and validation: a
    classifier's by 'sgd' or 'adam'), and how to load the skops file, with its types.

    Parameters
    ----------
    model : MLPClassifier or MLPRegressor
        A fitted estimator.
    X_test : array-like of shape (n_samples, n_features)
        Rows the model did not train on; any namespace the model predicts on.
    y_test : array-like
        Their targets.
    folder : str or path-like
        Where the card goes: the plot is written there now (created if missing), and
        ``card.save(Path(folder) / "README.md")`` names it from beside it.
    model_file : str, default="model.skops"
        The name the ``skops.io.dump`` file is shared under, written into the card's
        loading code.

    Returns
    -------
    card : skops.card.Card
        The filled card; ``card.save(path)`` writes it as Markdown.

    Raises
    ------
    TypeError
        When ``model`` is not an xpnn estimator.
    sklearn.exceptions.NotFittedError
        When it is not fitted (nothing is written).
    XpnnMissingPackageError
        When skops (or, for the plot, matplotlib) is not installed.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from xpnn import MLPClassifier, model_card
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = MLPClassifier(max_iter=20).fit(X[:1500] / 16.0, y[:1500])
    >>> card = model_card(clf, X[1500:] / 16.0, y[1500:], folder="card")
    >>> card.save("card/README.md")
    """
    if not isinstance(model, (MLPClassifier, MLPRegressor)):
        raise TypeError(f"model_card takes a fitted xpnn MLPClassifier or MLPRegressor, "
                        f"got {type(model).__name__}")
    check_is_fitted(model)
    card_module = require("skops.card", feature="model_card", extra="skops")
    card = card_module.Card(model)
    card.add(**{DESCRIPTION: _description(model), TRAINING: _training(model)})
    card.add_metrics(description=f"On the {len(y_test)} test rows given to model_card.",
                     **metrics_on(model, X_test, y_test))
    if any("accuracy" in row for row in model.history_):  # plot_history's two panels
        _add_history_plot(card, model.history_, folder)
    card.add(**{GET_STARTED: _loading_code(model, model_file)})
    return card


def metrics_on(model, X_test, y_test) -> dict:
    """{metric name: value rounded to 4 places} on the test rows, by scikit-learn's metrics;
    a multi-label model's log loss is the mean of its labels' binary log losses."""
    y_true = as_host_array(y_test)
    y_pred = as_host_array(model.predict(X_test))
    if not is_classifier(model):
        return {"R^2": round(float(r2_score(y_true, y_pred)), 4),
                "mean squared error": round(float(mean_squared_error(y_true, y_pred)), 4)}
    probs = as_host_array(model.predict_proba(X_test))  # (n, classes) or (n, labels)
    if y_true.ndim == 2:  # multi-label: one binary problem per column
        loss = np.mean([log_loss(y_true[:, j], probs[:, j], labels=[0, 1])
                        for j in range(y_true.shape[1])])
    else:
        loss = log_loss(y_true, probs, labels=model.classes_)
    return {"accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
            "log loss": round(float(loss), 4)}


def untrusted_types(model) -> list[str] | None:
    """The types ``skops.io.load`` asks the loader to trust for this model's file (today
    the estimator's class and its ``TrainState``: xpnn's own, whatever namespace the model
    was fitted in: ``estimators/portable.py``); None when skops cannot write it."""
    skops_io = require("skops.io", feature="model_card", extra="skops")
    try:
        data = skops_io.dumps(model)
    except RuntimeError:  # a type skops cannot store (torch's Tensor.__reduce__ raises so)
        return None
    return skops_io.get_untrusted_types(data=data)


def _add_history_plot(card, history, folder):
    """plot_history's loss and accuracy per epoch, written in ``folder``, named relative to it."""
    require("matplotlib", feature="model_card's training history plot", extra="plots")
    os.makedirs(folder, exist_ok=True)
    plot_history(history, Path(folder) / HISTORY_PLOT)
    card.add_plot(description="Loss and accuracy per epoch (validation: the rows early "
                              "stopping held out, or the X_val given to fit); the dotted line marks the epoch whose "
                              "weights the model kept.", **{HISTORY: HISTORY_PLOT})


def _description(model) -> str:
    return (f"An xpnn {type(model).__name__}: a multi-layer perceptron with "
            f"{model.n_features_in_} inputs, hidden layers {tuple(model.hidden_layer_sizes)} "
            f"({model.activation}) and {model.n_outputs_} output unit(s) "
            f"({model.out_activation_}), in {model.dtype_}.")


def _training(model) -> str:
    steps = "iterations" if model.solver == "lbfgs" else "epochs"
    return (f"Trained with xpnn {__version__}: {model.history_[-1]['epoch']} {steps} of "
            f"{model.solver}.")


def _loading_code(model, model_file) -> str:
    """How to load the skops file, with the list of types to review; where skops cannot write
    the model or read it back (types outside xpnn), the xpnn file to share instead."""
    trusted = untrusted_types(model)
    if trusted is None or not all(name.startswith("xpnn.") for name in trusted):
        namespace = type(model.coefs_[0]).__module__.split(".")[0]
        return (f"skops.io cannot share this model: its arrays are {namespace} arrays. Share "
                f"it with `xpnn.save_model` (safetensors), whose file `xpnn.load_model` "
                f"reads on NumPy or on a GPU.")
    return ("Review these types (xpnn's own) before trusting them:\n\n"
            + "".join(f"- `{name}`\n" for name in trusted)
            + f"\n```python\nimport skops.io\n\nmodel = skops.io.load({model_file!r}, "
            f"trusted={trusted!r})\n```")

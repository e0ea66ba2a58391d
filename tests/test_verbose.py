"""verbose=True prints scikit-learn's MLP lines, with its formats, at its moments (issue 17).

The oracle is scikit-learn itself: the same small problem is fitted by both estimators with
verbose=True and their stdout compared line by line in shape (the numbers differ: the
initial weights are not the same). Each case is chosen so that both stop on their plateau
rule well before max_iter.
"""
import re
import warnings

import pytest
import sklearn.neural_network as sk
from sklearn.datasets import load_iris

import xpnn

# one pattern per kind of line scikit-learn prints; "stop" / "cut" lines name what they watch
LINES = {
    "iteration": r"Iteration \d+, loss = \d+\.\d{8}",
    "validation": r"Validation score: -?\d+\.\d{6}",
    "stop": r"(Training loss|Validation score) did not improve more than tol=\d+\.\d{6} "
            r"for \d+ consecutive epochs\. (Learning rate too small\. )?Stopping\.",
    "cut": r"(Training loss|Validation score) did not improve more than tol=\d+\.\d{6} "
           r"for \d+ consecutive epochs\. Setting learning rate to \d+\.\d{6}",
}

# (estimator, keyword arguments, target): the plateau rule stops each well before max_iter
CASES = {
    "classifier": ("MLPClassifier", dict(n_iter_no_change=2, tol=0.05), "labels"),
    "classifier-early-stopping": ("MLPClassifier", dict(n_iter_no_change=2,
                                                        early_stopping=True), "labels"),
    "regressor": ("MLPRegressor", dict(n_iter_no_change=2, tol=0.5), "values"),
    "adaptive": ("MLPClassifier", dict(solver="sgd", learning_rate="adaptive",
                                       learning_rate_init=1e-5, n_iter_no_change=1, tol=0.5),
                 "labels"),
}


def kind(line: str) -> str:
    kinds = [name for name, pattern in LINES.items() if re.fullmatch(pattern, line)]
    assert len(kinds) == 1, f"not one of scikit-learn's lines: {line!r}"
    return kinds[0]


def printed(module, case, capsys, **changes):
    """(stdout's lines, the fitted estimator) of one verbose fit of ``case``."""
    name, kwargs, target = CASES[case]
    X, y = load_iris(return_X_y=True)
    y = y if target == "labels" else X[:, 0]
    settings = dict(hidden_layer_sizes=(8,), max_iter=60, verbose=True, random_state=0)
    estimator = getattr(module, name)(**{**settings, **kwargs, **changes})
    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ConvergenceWarning: the plateau rule stopped it
        estimator.fit(X, y)
    return capsys.readouterr().out.splitlines(), estimator


def shape(lines):
    """The kinds of lines, with each run of epochs collapsed to one: a grammar that both
    libraries' output must follow whatever their epoch counts."""
    kinds = [kind(line) for line in lines]
    epoch = ["iteration", "validation"] if "validation" in kinds else ["iteration"]
    collapsed, i = [], 0
    while i < len(kinds):
        if kinds[i:i + len(epoch)] == epoch:
            while kinds[i:i + len(epoch)] == epoch:
                i += len(epoch)
            collapsed.append("epochs")
        else:
            collapsed.append(kinds[i])
            i += 1
    return collapsed


@pytest.mark.parametrize("case", CASES)
def test_verbose_lines_have_scikit_learns_shape(case, capsys):
    ours, model = printed(xpnn, case, capsys)
    theirs, _ = printed(sk, case, capsys)
    assert shape(ours) == shape(theirs)
    # the stopping line is the same text, word for word, tol and patience included
    assert re.sub(r"\d+\.\d+", "#", ours[-1]) == re.sub(r"\d+\.\d+", "#", theirs[-1])
    assert ours[-1].split(". ")[0] == theirs[-1].split(". ")[0]
    # one iteration line per epoch, with the loss scikit-learn's way: %.8f of loss_curve_
    iterations = [line for line in ours if kind(line) == "iteration"]
    assert iterations == [f"Iteration {epoch}, loss = {loss:.8f}"
                          for epoch, loss in enumerate(model.loss_curve_, start=1)]
    if model.early_stopping:
        scores = [line for line in ours if kind(line) == "validation"]
        assert scores == [f"Validation score: {score:f}"
                          for score in model.validation_scores_]


def test_adaptive_prints_each_new_rate_as_scikit_learn(capsys):
    ours, _ = printed(xpnn, "adaptive", capsys)
    theirs, _ = printed(sk, "adaptive", capsys)
    cut = [line.split(". ")[-1] for line in ours if kind(line) == "cut"]
    assert cut == [line.split(". ")[-1] for line in theirs if kind(line) == "cut"]
    assert cut == ["Setting learning rate to 0.000002", "Setting learning rate to 0.000000"]
    assert ours[-1].endswith("consecutive epochs. Learning rate too small. Stopping.")


@pytest.mark.parametrize("case", CASES)
def test_quiet_prints_nothing(case, capsys):
    lines, _ = printed(xpnn, case, capsys, verbose=False)
    assert lines == []


def test_verbose_callbacks_come_before_the_callers_own(capsys):
    X, y = load_iris(return_X_y=True)
    seen = []
    xpnn.MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, verbose=True,
                       random_state=0).fit(X, y, on_epoch=lambda row: seen.append(
                           capsys.readouterr().out))
    assert len(seen) == 2
    for epoch, text in enumerate(seen, start=1):
        assert text.startswith(f"Iteration {epoch}, loss = ")


def test_lbfgs_passes_scipy_what_scikit_learn_passes(monkeypatch):
    """SciPy's own iteration output, as scikit-learn asks for it (iprint 1 / -1 before
    SciPy 1.15, nothing after, where the option is deprecated): no DeprecationWarning."""
    import scipy.optimize

    from xpnn.training import lbfgs

    seen = []
    minimize = scipy.optimize.minimize
    monkeypatch.setattr(scipy.optimize, "minimize",
                        lambda *a, **k: seen.append(k["options"]) or minimize(*a, **k))
    X, y = load_iris(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        for verbose in (True, False):
            xpnn.MLPClassifier(solver="lbfgs", max_iter=3, verbose=verbose).fit(X, y)
    expected = ([{}, {}] if lbfgs._SCIPY_VERSION >= (1, 15)
                else [{"iprint": 1}, {"iprint": -1}])
    assert [{k: v for k, v in options.items() if k in ("iprint", "disp")}
            for options in seen] == expected

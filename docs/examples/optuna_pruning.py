"""
Prune Optuna trials in the middle of a fit
==========================================

Through scikit-learn's callback API.

Each trial trains an ``xpnn.MLPClassifier`` with its own learning rate and L2 penalty.
A callback (``PruneTrial``, scikit-learn 1.9's ``FitCallback`` protocol, set with
``set_callbacks``) scores the model on held-out rows after every epoch, reports the score
to the trial, and, when Optuna's pruner says the trial is worse than the others at that
epoch, returns True from ``on_fit_task_end``: xpnn stops the fit after that epoch, and the
objective raises ``optuna.TrialPruned``. Run it: ``python docs/examples/optuna_pruning.py``
(needs ``pip install optuna``).
"""
import warnings

import optuna
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

import xpnn


class PruneTrial:
    """Reports the validation accuracy after each epoch to ``trial``; stops the fit when
    the trial's pruner says so (``pruned_at``: that epoch, else None)."""

    def __init__(self, trial, X_val, y_val):
        self.trial, self.X_val, self.y_val = trial, X_val, y_val
        self.pruned_at = None

    def setup(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context):
        pass

    def on_fit_task_end(self, estimator, context, *, fitted_estimator=None):
        if context.task_name != "epoch":  # the fit itself (the root task) ends
            return False
        epoch = fitted_estimator.n_iter_
        self.trial.report(fitted_estimator.score(self.X_val, self.y_val), step=epoch)
        if self.trial.should_prune():
            self.pruned_at = epoch
            return True  # xpnn stops training after this epoch
        return False

    def teardown(self, estimator, context):
        pass


def main(n_trials=12, max_iter=15, seed=0):
    X, y = load_digits(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(X / 16.0, y, test_size=0.3,
                                                      random_state=seed, stratify=y)

    def objective(trial):
        pruning = PruneTrial(trial, X_val, y_val)
        model = xpnn.MLPClassifier(
            hidden_layer_sizes=(32,), max_iter=max_iter, random_state=seed,
            learning_rate_init=trial.suggest_float("learning_rate_init", 1e-5, 1e-1,
                                                   log=True),
            alpha=trial.suggest_float("alpha", 1e-6, 1.0, log=True))
        model.set_callbacks(pruning)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X_train, y_train)
        trial.set_user_attr("epochs", model.n_iter_)
        if pruning.pruned_at is not None:
            raise optuna.TrialPruned(f"pruned after epoch {pruning.pruned_at}")
        return model.score(X_val, y_val)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=3))
    study.optimize(objective, n_trials=n_trials)
    return study


if __name__ == "__main__":  # (the docs build runs it too)
    study = main()
    for trial in study.trials:
        print(f"trial {trial.number:2d}  {trial.state.name:8s}  epochs "
              f"{trial.user_attrs.get('epochs')}  params {trial.params}")
    print(f"best: {study.best_value:.4f} with {study.best_params}")

    # every trial's validation accuracy per epoch: the pruned ones stop early
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(6, 3.2))
    for trial in study.trials:
        epochs, scores = zip(*sorted(trial.intermediate_values.items()))
        pruned = trial.state == optuna.trial.TrialState.PRUNED
        axis.plot(epochs, scores, color="tab:red" if pruned else "tab:blue",
                  alpha=0.5 if pruned else 0.9, marker=".")
    axis.plot([], [], color="tab:blue", label="completed")
    axis.plot([], [], color="tab:red", alpha=0.5, label="pruned")
    axis.set(xlabel="epoch", ylabel="validation accuracy", title="Optuna trials, pruned mid-fit")
    axis.legend()
    fig.tight_layout()
    plt.show()

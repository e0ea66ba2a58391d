"""Named training recipes, per data source: the settings that reach good accuracy there.

A recipe fills the flags a run leaves out: explicit flags always win. Each source has a
``default`` recipe (what ``xpnn train`` uses without ``--recipe``); some have more. Keys are
the flags' names (argparse ``dest``). The learning rate follows ``--optimizer``
(``LEARNING_RATES``), since plain SGD needs a larger step than Adam; a recipe's ``lr`` holds
the rates measured for it, by optimizer, and the others keep ``LEARNING_RATES``'. Nothing
here imports anything heavy: ``--help`` lists the recipes from these tables.
"""
from __future__ import annotations

import argparse

from ..errors import XpnnError

DEFAULT = "default"
OTHER = "other data"  # any --data file: the source is not a named data set

# --lr when left out, per --optimizer: Adam's 1e-3 left plain SGD at 0.85 test accuracy on
# the digits after 40 epochs of batches of 32 (0.20 after 2); momentum 0.9 multiplies the
# step by about 10, hence a tenth of plain SGD's rate (digits, 3 seeds each:
# docs/guide/cli.md, "Recipes")
LEARNING_RATES = {"sgd": 0.1, "momentum": 0.01, "nesterov": 0.01, "adam": 1e-3, "adamw": 1e-3}

RECIPES = {
    "digits": {
        # a short budget (bench/README.md, "Issue 40's targets, third sitting"): 460 steps of
        # 64 rows, cosine, at twice each optimizer's rate (its rates were measured at batch
        # 32), reach what 1800 steps of 32 did within the seeds' spread
        DEFAULT: {"hidden": (256, 128), "epochs": 20, "batch_size": 64, "lr_schedule": "cosine",
                  "lr": {optimizer: 2 * value for optimizer, value in LEARNING_RATES.items()}},
    },
    "fashion-mnist": {
        # a short budget (bench/README.md, "A recipe for a short budget"): cosine over 15
        # epochs reaches what 30 did within the seeds' spread, in half the time
        DEFAULT: {"hidden": (512, 256), "epochs": 15, "batch_size": 128,
                  "lr_schedule": "cosine"},
        # bench/README.md, "A Fashion-MNIST recipe": 0.9074 in 4 min here, the best of the
        # sweep within 5 minutes; its 0.915 aim was not reached by any setting measured
        "accurate": {"hidden": (1024, 512), "dropout": 0.2, "epochs": 30, "batch_size": 128,
                     "lr_schedule": "cosine"},
    },
    OTHER: {
        DEFAULT: {"hidden": (256, 128), "epochs": 10, "batch_size": 128},
    },
}


def names() -> list[str]:
    """Every recipe name, for --recipe's choices."""
    return sorted({name for recipes in RECIPES.values() for name in recipes})


def source_of(args) -> str:
    """The key of RECIPES for a run's data: its named data set (digits when none is
    named), else OTHER."""
    if args.data is not None:
        return OTHER
    return args.dataset if args.dataset in RECIPES else "digits" if args.dataset is None else OTHER


def with_recipe(args, name: str = DEFAULT) -> argparse.Namespace:
    """A copy of ``args`` with recipe ``name`` of the run's source filling every flag not
    given explicitly."""
    source = source_of(args)
    if name not in RECIPES[source]:
        raise XpnnError(f"--recipe {name}: {source} has the recipes "
                        f"{', '.join(RECIPES[source])}")
    filled = argparse.Namespace(**vars(args))
    given = getattr(args, "given", set())
    settings = dict(RECIPES[source][name])
    settings["lr"] = rate(settings.pop("lr", {}), args.optimizer)
    for key, value in settings.items():
        if f"--{key.replace('_', '-')}" not in given:
            setattr(filled, key, value)
    return filled


def rate(rates: dict, optimizer: str) -> float:
    """--lr left out: a recipe's ``rates`` for ``optimizer``, else ``LEARNING_RATES``'."""
    return rates.get(optimizer, LEARNING_RATES[optimizer])


def describe() -> str:
    """The recipes as --help prints them: source, name and the flags each sets."""
    def flags(settings):
        shown = [f"--{key.replace('_', '-')} "
                 f"{','.join(map(str, value)) if isinstance(value, tuple) else value}"
                 for key, value in settings.items() if key != "lr"]
        by_rate = {}
        for optimizer, value in settings.get("lr", {}).items():
            by_rate.setdefault(value, []).append(optimizer)
        shown += [f"--lr {value:g} with {'/'.join(optimizers)}"
                  for value, optimizers in by_rate.items()]
        return " ".join(shown)

    return "; ".join([f"{source} {name}: {flags(settings)}"
                      for source, recipes in RECIPES.items()
                      for name, settings in recipes.items()] + [
        "--lr by --optimizer: " + ", ".join(f"{optimizer} {value:g}"
                                             for optimizer, value in LEARNING_RATES.items())])

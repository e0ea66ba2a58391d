"""The Fashion-MNIST default recipe, as a user runs it, over seeds: accuracy and time.

``xpnn train --dataset fashion-mnist --seed S --json --quiet`` (the default recipe of
``xpnn/cli/recipes.py``), each run a fresh process with the
pinned-OpenBLAS variables unset, seeds interleaved across variants. Reported per run: test
accuracy on the 10 000 test images, training seconds (what the CLI's summary times) and the
wall time of the whole command. With ``--before DIR`` the same runs of another checkout (a
``git worktree`` of an older commit, imported from DIR): does a change move accuracy beyond
the spread of the seeds, and what does it do to the time?

    .venv/bin/python bench/fashion_recipe.py --before /tmp/old     # seeds 0 1 2, both
    .venv/bin/python bench/fashion_recipe.py --seeds 0 --epochs 1 --out /tmp/smoke

``--variant NAME="FLAGS"`` (repeatable) adds runs of this checkout with more flags, for a
recipe sweep: ``--variant 20-epochs="--epochs 20" --variant narrow="--hidden 256,128"``.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import host
import harness


def run(seed: int, epochs: int | None, checkout: Path, flags=()) -> dict:
    command = [sys.executable, "-m", "xpnn", "train", "--dataset", "fashion-mnist", "--seed",
               str(seed), "--json", "--quiet", *flags]
    command += ["--epochs", str(epochs)] if epochs else []
    started = time.perf_counter()
    # python -m finds xpnn in its working directory first: the checkout's
    done = subprocess.run(command, capture_output=True, text=True, cwd=checkout,
                          env=host.worker_environment())
    wall = time.perf_counter() - started
    if done.returncode:
        return {"seed": seed, "error": (done.stderr.strip().splitlines() or ["?"])[-1]}
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    return {"seed": seed, "test_accuracy": summary["test_accuracy"],
            "train_seconds": summary["train_seconds"], "wall_seconds": wall}


def recipe_flags() -> str:
    from xpnn.cli.recipes import DEFAULT, RECIPES, rate
    settings = dict(RECIPES["fashion-mnist"][DEFAULT])
    settings["lr"] = rate(settings.pop("lr", {}), "adam")
    return ", ".join(f"{key} {value}" for key, value in settings.items())


def report(env, blas, runs, args) -> str:
    lines = [f"## Fashion-MNIST default recipe over seeds ({env['date']})", "",
             f"- machine: {env['cpu_model']}, {env['usable_cores']} cores; BLAS: {blas}",
             f"- `xpnn train --dataset fashion-mnist --seed S` (this checkout's default "
             f"recipe: {recipe_flags()}{f', --epochs {args.epochs}' if args.epochs else ''}"
             f"), seeds "
             f"{', '.join(map(str, args.seeds))}, one fresh process each", ""]
    warning = host.load_warning(env)
    if warning:
        lines += [warning, ""]
    for given in args.variant:
        lines.insert(-1, f"- variant {given}")
    header = ["variant", *[f"seed {s} accuracy" for s in args.seeds], "accuracy mean (sd)",
              "training s median (min-max)", "wall s median"]
    rows = []
    for variant, results in runs.items():
        good = [r for r in results if "error" not in r]
        accuracy = [r["test_accuracy"] for r in good]
        train = [r["train_seconds"] for r in good]
        cells = [f"{r['test_accuracy']:.4f}" if "error" not in r else r["error"]
                 for r in results]
        sd = statistics.stdev(accuracy) if len(accuracy) > 1 else 0.0
        rows.append([variant, *cells,
                     f"{statistics.mean(accuracy):.4f} ({sd:.4f})" if accuracy else "-",
                     f"{statistics.median(train):.1f} ({min(train):.1f}-{max(train):.1f})"
                     if train else "-",
                     f"{statistics.median(r['wall_seconds'] for r in good):.1f}"
                     if good else "-"])
    return "\n".join(lines + [harness.markdown_table(header, rows)]) + "\n"


def main(argv=None) -> int:
    host.unpin_blas_and_reexec()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None, help="override (smoke runs)")
    parser.add_argument("--before", type=Path, default=None,
                        help="an older xpnn checkout to run as the 'before' variant")
    parser.add_argument("--variant", action="append", default=[], metavar='NAME="FLAGS"',
                        help="also run this checkout with these xpnn train flags")
    parser.add_argument("--out", type=Path, default=harness.RESULTS_DIR / "fashion_recipe")
    args = parser.parse_args(argv)
    import numpy  # noqa: F401  (so that threadpoolctl sees the BLAS the workers load)

    env, blas = host.environment(), host.blas_summary(host.thread_pools())
    variants = {"xpnn": (harness.REPO_ROOT, ()),
                **({"before": (args.before, ())} if args.before else {})}
    for given in args.variant:
        name, _, flags = given.partition("=")
        variants[name] = (harness.REPO_ROOT, tuple(flags.split()))
    runs = {variant: [] for variant in variants}
    for seed in args.seeds:
        for variant, (checkout, flags) in variants.items():
            runs[variant].append(run(seed, args.epochs, checkout, flags))
            print(variant, runs[variant][-1], flush=True)
    harness.write_json(args.out / "fashion_recipe.json",
                      {"environment": env, "blas": blas, "runs": runs})
    text = report(env, blas, runs, args)
    harness.write_text_atomic(args.out / "fashion_recipe.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Ideas for the Fashion-MNIST recipe that xpnn does not have, tried in PyTorch first (issue 19).

Before building a feature to lift ``--recipe accurate`` toward 0.915 (augmentation, input
dropout, label smoothing, SGD with Nesterov momentum), each idea is one plain PyTorch run of the
same recipe: MLP with ReLU and dropout after every hidden layer, batch 128, cosine decay to 0
per step, Adam lr 1e-3 unless the idea changes it, seed 0, float32. Only test accuracy is
compared (one BLAS thread per run, so two ideas can run side by side); nothing here is a
timing. The ``baseline`` idea is the recipe itself, to show how far PyTorch's run of it lands
from xpnn's.

    .venv/bin/python bench/fashion_ideas_torch.py --list
    .venv/bin/python bench/fashion_ideas_torch.py flip flip+shift2 --out /tmp/ideas
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import peers
import harness

BASE = {"hidden": (1024, 512), "dropout": 0.2, "input_dropout": 0.0, "epochs": 40, "lr": 1e-3,
        "flip": False, "shift": 0, "label_smoothing": 0.0, "nesterov": False}
IDEAS = {  # name -> what it changes from BASE
    "baseline": {},
    "flip": {"flip": True},  # random horizontal flips
    "flip+shift2": {"flip": True, "shift": 2},  # and shifts of up to 2 pixels each way
    "input-dropout": {"input_dropout": 0.1, "dropout": 0.3},
    "label-smoothing": {"label_smoothing": 0.1},
    "nesterov": {"nesterov": True, "lr": 0.05},  # SGD, momentum 0.9
    "deeper": {"hidden": (1024, 1024, 512), "dropout": 0.3},
    "512,256-80": {"hidden": (512, 256), "dropout": 0.3, "epochs": 80},
}
BATCH = 128


def model_for(settings, torch):
    layers = [torch.nn.Dropout(settings["input_dropout"])] if settings["input_dropout"] else []
    fan_in = peers.N_FEATURES
    for width in settings["hidden"]:
        layers += [torch.nn.Linear(fan_in, width), torch.nn.ReLU(),
                   torch.nn.Dropout(settings["dropout"])]
        fan_in = width
    return torch.nn.Sequential(*layers, torch.nn.Linear(fan_in, peers.N_CLASSES))


def augment(inputs, settings, torch):
    """Random horizontal flips and shifts (zero-padded) of a batch of 28 x 28 images."""
    n, shift = inputs.shape[0], settings["shift"]
    images = inputs.view(n, 28, 28)
    if settings["flip"]:
        flipped = torch.rand(n) < 0.5
        images = torch.where(flipped[:, None, None], images.flip(-1), images)
    if shift:
        padded = torch.nn.functional.pad(images, (shift,) * 4)
        rows = torch.arange(28)[None, :] + shift + torch.randint(-shift, shift + 1, (n, 1))
        cols = torch.arange(28)[None, :] + shift + torch.randint(-shift, shift + 1, (n, 1))
        images = padded[torch.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
    return images.reshape(n, -1)


def run_idea(name: str, seed: int = 0) -> dict:
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    settings = {**BASE, **IDEAS[name]}
    X, y, X_test, y_test = (torch.from_numpy(a) for a in peers.load_fashion_mnist())
    model = model_for(settings, torch)
    if settings["nesterov"]:
        optimizer = torch.optim.SGD(model.parameters(), lr=settings["lr"], momentum=0.9,
                                    nesterov=True)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=settings["lr"])
    steps = settings["epochs"] * math.ceil(X.shape[0] / BATCH)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * step / steps)))
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=settings["label_smoothing"])
    started, curve = time.perf_counter(), []
    for epoch in range(1, settings["epochs"] + 1):
        model.train()
        order = torch.randperm(X.shape[0])
        for start in range(0, X.shape[0], BATCH):
            rows = order[start:start + BATCH]
            loss = loss_fn(model(augment(X[rows], settings, torch)), y[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        if epoch % 10 == 0 or epoch == settings["epochs"]:
            model.eval()
            with torch.no_grad():
                accuracy = float((model(X_test).argmax(1) == y_test).float().mean())
            curve.append({"epoch": epoch, "test_accuracy": accuracy})
            print(json.dumps({"idea": name, **curve[-1]}), flush=True)
    return {"idea": name, "settings": {**settings, "hidden": list(settings["hidden"])},
            "test_accuracy": curve[-1]["test_accuracy"], "curve": curve,
            "seconds_one_thread": time.perf_counter() - started}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ideas", nargs="*", help=f"some of {', '.join(IDEAS)} (default: all)")
    parser.add_argument("--list", action="store_true", help="print the ideas and exit")
    parser.add_argument("--out", type=Path, default=harness.RESULTS_DIR / "fashion_ideas_torch_run",
                        help="writes OUT.json and OUT.md (default: bench/results/"
                             "fashion_ideas_torch_run; fashion_ideas_torch.md is the analysis)")
    args = parser.parse_args(argv)
    if args.list:
        for name, change in IDEAS.items():
            print(f"{name}: {change or 'the recipe itself'}")
        return
    unknown = sorted(set(args.ideas) - set(IDEAS))
    if unknown:
        parser.error(f"unknown idea {', '.join(unknown)}: see --list")
    results = [run_idea(name) for name in args.ideas or IDEAS]
    lines = ["| idea | changes | test accuracy (epoch: accuracy) |", "|---|---|---|"]
    for result in results:
        curve = ", ".join(f"{p['epoch']}: {p['test_accuracy']:.4f}" for p in result["curve"])
        lines.append(f"| {result['idea']} | {IDEAS[result['idea']] or '-'} | {curve} |")
    Path(f"{args.out}.json").write_text(json.dumps(results, indent=1))
    Path(f"{args.out}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())

"""Inference of Fashion-MNIST test rows: onnxruntime on xpnn's ONNX export, xpnn's predict,
scikit-learn's MLPClassifier.predict, in rows per second; and the .onnx file's size beside
the .safetensors file's.

The work (issue 20): an MLP 784-256-128-10 (ReLU, float32) trained for ``--epochs`` epochs by
xpnn (saved with ``save_model`` and exported with ``xpnn.onnx.to_onnx``) and by scikit-learn
(same architecture, pickled), both in one "prepare" process first. Then each implementation
predicts the labels of ``--rows`` (10 000) test rows (pixels / 255 in float32, the same
array for all) in its own fresh process: load the model, one warm-up call, then ``--calls``
timed calls of predict over all rows. Processes run interleaved, ``--repeats`` times each;
the timed calls of all its processes are pooled per implementation (median, quartiles,
min-max). Workers run without the OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE pin
(``host.unpin_blas_and_reexec``); every library uses all cores (its own default).

    .venv/bin/python bench/onnx_inference.py          # writes bench/results/onnx_inference.*
    .venv/bin/python bench/onnx_inference.py --subset 2000 --epochs 1 --rows 500 \\
        --repeats 1 --calls 2 --out /tmp/smoke          # smoke run
"""
from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import host  # noqa: E402
import peers  # noqa: E402
import harness  # noqa: E402

SCRIPT = Path(__file__).resolve()
IMPLS = ("onnxruntime", "xpnn", "sklearn")
FILES = {"xpnn": "model.safetensors", "onnxruntime": "model.onnx", "sklearn": "model.pkl"}


# -- workers ----------------------------------------------------------------------------------


def prepare(args) -> dict:
    """Train both models on the training rows and write the three files under --models."""
    import xpnn
    from sklearn.neural_network import MLPClassifier as SkMLPClassifier
    from xpnn.saving.checkpoint import save_model
    from xpnn.files.fileio import write_file_atomic
    from xpnn.onnx import to_onnx

    X, y, _, _ = peers.load_fashion_mnist(args.data, args.subset)
    settings = dict(hidden_layer_sizes=peers.HIDDEN, max_iter=args.epochs, batch_size=128,
                    learning_rate_init=1e-3, alpha=0.0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: few epochs on purpose
        ours = xpnn.MLPClassifier(**settings, dtype="float32").fit(X, y)
        theirs = SkMLPClassifier(**settings).fit(X, y)
    models = Path(args.models)
    models.mkdir(parents=True, exist_ok=True)
    save_model(models / FILES["xpnn"], ours)
    to_onnx(ours, models / FILES["onnxruntime"])
    write_file_atomic(models / FILES["sklearn"], pickle.dumps(theirs))
    weights = sum(np.asarray(value).nbytes for value in ours.params_.values())
    return {"weight_bytes": int(weights),
            "bytes": {name: (models / FILES[name]).stat().st_size for name in IMPLS}}


def load_predict(implementation: str, path: Path):
    """predict(X) -> labels for ``implementation``, its model loaded from ``path``."""
    if implementation == "onnxruntime":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return lambda X: session.run(["label"], {"X": X})[0]
    if implementation == "xpnn":
        from xpnn.saving.checkpoint import load_model

        model = load_model(path, device="cpu")[0]
        return model.predict
    with open(path, "rb") as file:  # the pickle the prepare step wrote
        model = pickle.load(file)
    return model.predict


def worker(implementation: str, args) -> dict:
    """One process: load the model, warm up once, time --calls predicts of all rows."""
    _, _, X, y = peers.load_fashion_mnist(args.data, args.subset)  # prepare's scaling
    X, y = X[:args.rows], y[:args.rows]
    predict = load_predict(implementation, Path(args.models) / FILES[implementation])
    labels = np.asarray(predict(X))  # warm-up: thread pools, first allocations
    seconds = []
    for _ in range(args.calls):
        started = time.perf_counter()
        labels = np.asarray(predict(X))
        seconds.append(time.perf_counter() - started)
    return {"implementation": implementation, "seconds": seconds, "rows": len(X),
            "accuracy": float(np.mean(labels == y)),
            "labels_sha256": hashlib.sha256(labels.astype(np.int64).tobytes()).hexdigest(),
            "peak_rss_mib": host.peak_rss_mib(), "thread_pools": host.thread_pools()}


# -- the report -------------------------------------------------------------------------------


def summary(runs: dict) -> dict:
    """Per implementation: pooled call seconds' spread, rows/s at the median, accuracy."""
    out = {}
    for name, results in runs.items():
        ok = [result for result in results if "error" not in result]
        if not ok:
            out[name] = {"error": results[0]["error"]}
            continue
        seconds = harness.spread(s for result in ok for s in result["seconds"])
        out[name] = {"seconds": seconds, "rows_per_second": ok[0]["rows"] / seconds["median"],
                     "accuracy": ok[0]["accuracy"], "labels_sha256": ok[0]["labels_sha256"],
                     "peak_rss_mib": max(result["peak_rss_mib"] for result in ok)}
    return out


def markdown_report(result: dict) -> str:
    env, table, sizes = result["environment"], result["summary"], result["files"]
    header = ["implementation", "rows/s (median)", "median s per call", "IQR s", "min-max s",
              "vs xpnn predict", "test accuracy", "peak RSS MiB"]
    rows = []
    base = table.get("xpnn", {}).get("rows_per_second")
    for name, row in table.items():
        if "error" in row:
            rows.append([name, "error: " + row["error"], *[""] * 6])
            continue
        s = row["seconds"]
        rows.append([name, f"{row['rows_per_second']:,.0f}", f"{s['median']:.4f}",
                     f"{s['q1']:.4f}-{s['q3']:.4f}", f"{s['min']:.4f}-{s['max']:.4f}",
                     f"{row['rows_per_second'] / base:.2f}x" if base else "-",
                     f"{row['accuracy']:.4f}", f"{row['peak_rss_mib']:.0f}"])
    same = (table.get("onnxruntime", {}).get("labels_sha256")
            == table.get("xpnn", {}).get("labels_sha256"))
    settings = result["settings"]
    blas = next((host.blas_summary(run["thread_pools"]) for run in result["runs"]["xpnn"]
                 if "thread_pools" in run), "unknown")
    lines = ["# Inference: onnxruntime (xpnn's ONNX export) vs xpnn predict vs scikit-learn",
             "", f"- machine: {env['cpu_model']}, {env['usable_cores']} usable cores; load "
             f"average at start {env['load_average']}, at end {env['load_average_end']}",
             f"- work: MLP 784-{'-'.join(map(str, peers.HIDDEN))}-10 ReLU float32 trained "
             f"{settings['epochs']} epoch(s) on {settings['subset'] or 60000} rows; predict "
             f"(labels) of {settings['rows']} Fashion-MNIST test rows, float32; "
             f"{settings['repeats']} processes per implementation, interleaved, 1 warm-up "
             f"and {settings['calls']} timed calls each, pooled",
             f"- onnxruntime's labels equal xpnn's: {'yes' if same else 'NO'}",
             f"- BLAS (xpnn worker, unpinned): {blas}",
             f"- versions: {env['versions']}"]
    warning = host.load_warning(env)
    if warning:
        lines.append(f"- {warning}")
    lines += ["", harness.markdown_table(header, rows), "",
              harness.markdown_table(["file", "bytes", "vs the weights alone"], [
                  [FILES[name], f"{sizes['bytes'][name]:,}",
                   f"{sizes['bytes'][name] / sizes['weight_bytes']:.2f}x"]
                  for name in ("onnxruntime", "xpnn", "sklearn")]),
              "", f"(the weights alone: {sizes['weight_bytes']:,} bytes of float32; the "
              ".safetensors file also holds Adam's two moment slots, to resume training)", ""]
    return "\n".join(lines)


# -- command line -----------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000, help="test rows per predict")
    parser.add_argument("--calls", type=int, default=10, help="timed calls per process")
    parser.add_argument("--repeats", type=int, default=3, help="processes per implementation")
    parser.add_argument("--epochs", type=int, default=3, help="training epochs (prepare)")
    parser.add_argument("--subset", type=int, default=None, metavar="ROWS",
                        help="train on the first ROWS training rows only (smoke runs)")
    parser.add_argument("--data", default=None,
                        help="directory with the four Fashion-MNIST IDX .gz files (default: "
                             "xpnn's offline lookup, e.g. /usr/share/datasets/fashion-mnist)")
    parser.add_argument("--out", type=Path, default=harness.RESULTS_DIR)
    parser.add_argument("--models", type=Path, default=None,
                        help="keep the model files in this folder (default: a temporary one)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per worker")
    parser.add_argument("--worker", choices=("prepare", *IMPLS), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def worker_args(args) -> list[str]:
    flags = ["--rows", args.rows, "--calls", args.calls, "--epochs", args.epochs, "--models",
             args.models, "--timeout", args.timeout]
    flags += ["--subset", args.subset] if args.subset else []
    flags += ["--data", args.data] if args.data else []
    return [str(flag) for flag in flags]


def versions() -> dict:
    """The ONNX packages' versions (host.environment records the others)."""
    import importlib.metadata

    found = {}
    for name in ("ndonnx", "onnx", "onnxruntime", "skl2onnx"):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def measure(args) -> dict:
    env = host.environment()
    env["versions"].update(versions())
    files = harness.run_worker(SCRIPT, ["prepare", *worker_args(args)], args.timeout)
    if "error" in files:
        raise SystemExit(f"prepare failed: {files['error']}")
    runs = {name: [] for name in IMPLS}
    for repeat in range(args.repeats):
        for name in IMPLS:
            result = harness.run_worker(SCRIPT, [name, *worker_args(args)], args.timeout)
            print(f"repeat {repeat + 1} {name}: "
                  f"{ {k: v for k, v in result.items() if k != 'thread_pools'} }", flush=True)
            runs[name].append(result)
    env["load_average_end"] = list(__import__("os").getloadavg())
    settings = {key: getattr(args, key) for key in ("rows", "calls", "repeats", "epochs",
                                                    "subset")}
    return {"environment": env, "settings": settings, "files": files, "runs": runs,
            "summary": summary(runs)}


def main(argv=None) -> int:
    host.unpin_blas_and_reexec()  # measure the BLAS a user would get
    args = parse_args(argv)
    if args.worker:
        run = prepare(args) if args.worker == "prepare" else worker(args.worker, args)
        print(json.dumps(run), flush=True)
        return 0
    if args.models is None:
        with tempfile.TemporaryDirectory(prefix="xpnn-onnx-bench-") as models:
            args.models = Path(models)
            result = measure(args)
    else:
        result = measure(args)
    report = markdown_report(result)
    harness.write_json(args.out / "onnx_inference.json", result)
    harness.write_text_atomic(args.out / "onnx_inference.md", report)
    print(report)
    return 0 if all("error" not in row for row in result["summary"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())

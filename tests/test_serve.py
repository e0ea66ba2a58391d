"""xpnn serve and xpnn train --dashboard without a browser: the drawing recipes and their
accuracy, the API's answers and refusals (4xx with a message, never a traceback), Ctrl-C,
the dashboard's event stream, and a bounded load against 127.0.0.1 (no 5xx, no dropped
connection). The page itself is tested in Chromium: tests/test_browser.py."""
import base64
import http.client
import io
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from clirun import xpnn
from xpnn.serve import drawing
from xpnn.serve.bodies import MAX_BODY_BYTES
from xpnn.serve.events import RunEvents
from xpnn.serve.reader import DrawingReader
from xpnn.serve.server import PadServer

ROOT = Path(__file__).resolve().parents[1]
CANVAS = 280  # the page's pad, in pixels


@pytest.fixture(scope="module")
def digits_model(default_digits_model):
    """A model from ``xpnn train --save`` (digits, its default recipe): conftest's."""
    return default_digits_model


@pytest.fixture(scope="module")
def server(digits_model):
    """The pad's server for that model, on a free port of 127.0.0.1, in this process."""
    server = PadServer(("127.0.0.1", 0), reader=DrawingReader.load(digits_model))
    server.start_in_thread()
    yield server
    server.stop()


def _held_out_digits():
    """The rows ``xpnn train`` held out of digits (its default split), as 8x8 images."""
    from xpnn.data.sources import load_source
    from xpnn.data.split import holdout_split

    _, test = holdout_split(load_source(None, "digits").train, 0.2, 0)
    return test.X.reshape(-1, 8, 8), test.y


def _post(server, body, content_type="application/json", headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=30)
    try:
        connection.request("POST", "/api/predict", body,
                           {"Content-Type": content_type, **(headers or {})})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), json.loads(response.read())
    finally:
        connection.close()


def _ink_json(ink: np.ndarray) -> bytes:
    alpha = np.round(ink * 255).astype(np.uint8)
    return json.dumps({"width": alpha.shape[1], "height": alpha.shape[0],
                       "ink": base64.b64encode(alpha.tobytes()).decode()}).encode()


# -- the recipes ------------------------------------------------------------------------


def test_mnist_recipe_crops_scales_and_centres_the_ink():
    """A small stroke in a corner of the pad becomes a 20-pixel-high digit in the middle of
    the 28x28 field, 0-255, its centre of mass at the centre (MNIST's recipe)."""
    from scipy import ndimage

    ink = np.zeros((CANVAS, CANVAS))
    ink[200:260, 20:35] = 1.0  # a "1", low and left in the box
    grid = drawing.mnist_grid(ink)
    assert grid.shape == (28, 28) and grid.max() == 255 and grid.min() == 0
    rows = np.flatnonzero(grid.any(axis=1))
    assert rows[-1] - rows[0] + 1 == 20  # the longer side: 20 px
    assert np.allclose(ndimage.center_of_mass(grid), (13.5, 13.5), atol=0.5)


def test_digits_recipe_counts_ink_per_block_and_returns_the_datas_images():
    """scikit-learn's digits drawn large on the pad come back as the same 8x8 images (one of
    the recipe's places, where a digit's centre falls between two blocks) for 92% of them;
    the others sit a block off-centre in the data."""
    from sklearn.datasets import load_digits

    images = load_digits().images[:300]
    candidates = [drawing.optdigits_grids(drawing.image_to_ink(image, 16, CANVAS))
                  for image in images]
    assert {len(grids) for grids in candidates} == {1, 2}
    for grids in candidates:
        assert grids.min() >= 0 and grids.max() <= 16 and np.all(grids == np.round(grids))
    found = [any(np.array_equal(grid, image) for grid in grids)
             for grids, image in zip(candidates, images)]
    assert np.mean(found) >= 0.9


@pytest.mark.parametrize("recipe", sorted(drawing.RECIPES),
                         ids=lambda shape: f"{shape[0]}x{shape[1]}")
def test_where_and_how_large_a_digit_is_drawn_does_not_matter(recipe):
    """A 7 drawn small and low in the box, or large in its middle, is the same grid: the
    complaint about drawing pads that feed the canvas to the model as it is."""
    from sklearn.datasets import load_digits

    seven = load_digits().images[7]
    grids = []
    for side, top, left in ((240, 20, 20), (90, 180, 10), (120, 150, 150)):
        ink = np.zeros((CANVAS, CANVAS))
        ink[top:top + side, left:left + side] = drawing.image_to_ink(seven, 16, side)
        grids.append(drawing.RECIPES[recipe].prepare(ink))
    value_range = drawing.RECIPES[recipe].value_range
    for grid in grids[1:]:
        assert grid.shape == grids[0].shape
        assert np.abs(grid - grids[0]).mean() / value_range < 0.03


def test_digit_images_through_the_pad_keep_their_accuracy(digits_model):
    """8x8: the held-out digits drawn at canvas size and read through the pad's own path
    (recipe, preprocessing, model) are read within 3.5 points of the same images given
    directly (the model of xpnn train --save, its held-out rows). The gap measured over
    seeds 0-2: 1.7, 3.1 and 1.9 points for the digits' former recipe (40 epochs of 32), 2.2,
    3.4 and 1.9 for the current one (bench/results/issue40/third/pad_gap.md); the pad reads
    0.955-0.964 of them either way."""
    reader = DrawingReader.load(digits_model)
    images, labels = _held_out_digits()
    direct, _ = reader.read_grids(images.reshape(len(images), -1))
    through_pad = [reader.read(drawing.image_to_ink(image, 16, CANVAS))["label"]
                   for image in images]
    truth = [str(label) for label in labels.tolist()]
    direct_accuracy = np.mean(np.array(direct) == truth)
    pad_accuracy = np.mean(np.array(through_pad) == truth)
    print(f"8x8 digits: direct {direct_accuracy:.4f}, through the pad {pad_accuracy:.4f}")
    assert direct_accuracy >= 0.95
    assert pad_accuracy >= direct_accuracy - 0.035, (direct_accuracy, pad_accuracy)


def test_28x28_images_through_the_pad_keep_their_accuracy(tmp_path):
    """28x28: MNIST-style digits (scikit-learn's, made 28x28 by MNIST's recipe), a model
    trained on them; its test images drawn at canvas size and prepared again are read
    within 2 points of the same images given directly."""
    import warnings

    from sklearn.datasets import load_digits

    from xpnn import MLPClassifier
    from xpnn.data.preprocess import Preprocessing

    digits = load_digits()
    mnist_like = np.array([drawing.mnist_grid(drawing.image_to_ink(image, 16, 80))
                           for image in digits.images])  # (n, 28, 28), 0-255
    order = np.random.default_rng(0).permutation(len(mnist_like))
    train, test = order[:1400], order[1400:]
    X = mnist_like.reshape(len(mnist_like), -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = MLPClassifier(hidden_layer_sizes=(128,), max_iter=25, batch_size=32,
                            random_state=0).fit(X[train] / 255, digits.target[train])
    reader = DrawingReader(clf, Preprocessing("scale", 255.0), {"image_shape": [28, 28]})
    direct, _ = reader.read_grids(X[test])
    drawn = np.array([drawing.mnist_grid(drawing.image_to_ink(image, 255, CANVAS)).ravel()
                      for image in mnist_like[test]])
    through_pad, _ = reader.read_grids(drawn)
    truth = [str(label) for label in digits.target[test].tolist()]
    direct_accuracy = np.mean(np.array(direct) == truth)
    pad_accuracy = np.mean(np.array(through_pad) == truth)
    print(f"28x28 digits: direct {direct_accuracy:.4f}, through the pad {pad_accuracy:.4f}")
    assert direct_accuracy >= 0.9
    assert abs(pad_accuracy - direct_accuracy) <= 0.02, (direct_accuracy, pad_accuracy)


def _line(height, width=20, top=30):
    """A vertical pen stroke down the middle of the pad (a 1 as most people draw it)."""
    ink = np.zeros((CANVAS, CANVAS))
    left = (CANVAS - width) // 2
    ink[top:top + height, left:left + width] = 1.0
    return ink


def test_50_held_out_digits_drawn_over_their_cells_are_read_right(server):
    """The last five held-out digits of each class (xpnn train's test split) drawn with the
    pad's pen (20 of its 280 px, round) over their inked cells, 200 px high, posted as PNGs
    to /api/predict of the default model: at least 45 read right. (Chromium draws ten of
    them with the mouse, tests/test_browser.py: its mouse moves wait a frame each.)"""
    from PIL import Image

    from pen_drawings import cells_on_pad, rendered

    images, labels = _held_out_digits()
    wrong = []
    for label in range(10):
        for row in np.flatnonzero(labels == label)[-5:]:
            png = io.BytesIO()
            Image.fromarray(np.uint8(255 - rendered(cells_on_pad(images[row])) * 255)).save(
                png, format="PNG")
            status, _, answer = _post(server, png.getvalue(), "image/png")
            assert status == 200
            if answer["label"] != str(label):
                wrong.append((label, answer["label"]))
    print(f"50 digits drawn over their cells: {50 - len(wrong)} read right, wrong (drawn, "
          f"read): {wrong}")
    assert len(wrong) <= 5, wrong


def test_the_digits_recipe_widens_to_the_datas_own_ink():
    """scikit-learn's digits hold the same ink whatever the digit (each class's median
    within 6 % of all's, 313 pixels of the 32x32 bitmap): the recipe's target is the ink
    19 in 20 of them hold at least, 261."""
    from sklearn.datasets import load_digits

    from xpnn.serve.strokes import least_ink

    digits = load_digits()
    assert least_ink(digits.images) == drawing.RECIPES[(8, 8)].least_ink == 261.0
    inks = digits.images.sum(axis=(1, 2))
    for label in range(10):
        assert abs(np.median(inks[digits.target == label]) / np.median(inks) - 1) < 0.06


def test_a_thin_stroke_drawn_large_is_widened_to_the_datas_ink(digits_model):
    """A 1 drawn down the pad with the pen's 20 px: the recipe alone makes it a sliver of
    about half the data's ink; widened, the grid holds the data's ink (within 10 %) and
    reads 1, as a JSON drawing and as a PNG. A drawing with that much ink is left as is."""
    from PIL import Image

    from xpnn.serve.bodies import read_ink
    from xpnn.serve.strokes import thickened

    reader = DrawingReader.load(digits_model)
    assert reader.target == pytest.approx(261.0, abs=5)  # its training rows', from the file
    one = _line(220)
    assert drawing.optdigits_grids(one)[0].sum() < reader.target * 0.6
    png = io.BytesIO()
    Image.fromarray(np.uint8(255 - one * 255)).save(png, format="PNG")  # dark on light
    for ink in (one, read_ink("image/png", png.getvalue())):
        answer = reader.read(ink)
        assert answer["label"] == "1"
        assert abs(np.sum(answer["grid"]) / reader.target - 1) < 0.1
    blot = _line(60, width=40)  # short and wide: more ink than the data's
    assert thickened(blot, lambda ink: drawing.optdigits_grids(ink)[0], reader.target) is blot


def test_28x28_drawings_are_widened_only_to_the_ink_the_model_file_records():
    """MNIST is not on these machines: the 28x28 recipe has no ink of its own, and a
    drawing is read as drawn unless the model file records its training images' ink."""
    from xpnn.data.preprocess import Preprocessing
    from xpnn.serve.strokes import thickened

    class Clf:  # what DrawingReader asks of a classifier, for a 784-pixel model
        n_features_in_, n_outputs_, out_activation_ = 784, 1, "softmax"
        classes_, dtype_, predict_proba = np.arange(10), np.float32, None

    scale = Preprocessing("scale", 255.0)
    assert DrawingReader(Clf(), scale, {"image_shape": [28, 28]}).target is None
    reader = DrawingReader(Clf(), scale, {"image_shape": [28, 28], "pad_target": 30000.0})
    as_drawn = drawing.mnist_grid(_line(220)).sum()
    widened = drawing.mnist_grid(thickened(_line(220), drawing.mnist_grid, reader.target))
    assert as_drawn < 15000 and abs(widened.sum() / 30000.0 - 1) < 0.1


# -- the API ----------------------------------------------------------------------------


def test_predict_answers_json_and_png_with_label_probabilities_and_grid(server):
    """The page's call (base64 alpha bytes), rows of pixels and a PNG all give the label as
    xpnn predict writes it, a probability per class and the 8x8 grid the model read."""
    pytest.importorskip("PIL", reason="PNG bodies need Pillow (pip install 'xpnn[serve]')")
    from PIL import Image

    images, labels = _held_out_digits()
    ink = drawing.image_to_ink(images[1], 16, CANVAS)
    png = io.BytesIO()
    Image.fromarray(np.round(255 - ink * 255).astype(np.uint8)).save(png, format="PNG")
    bodies = [(_ink_json(ink), "application/json"),
              (json.dumps({"pixels": np.round(ink * 255).tolist()}).encode(),
               "application/json"),
              (png.getvalue(), "image/png")]
    answers = []
    for body, kind in bodies:
        status, headers, answer = _post(server, body, kind)
        assert status == 200, answer
        assert headers["Content-Security-Policy"].startswith("default-src 'self'")
        answers.append(answer)
    expected = server.reader.read(ink)["grid"]
    for answer in answers:
        assert answer["label"] == str(labels[1])
        assert sorted(answer["probabilities"]) == [str(k) for k in range(10)]
        assert sum(answer["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
        assert np.array_equal(answer["grid"], expected)
    blank = _post(server, _ink_json(np.zeros((CANVAS, CANVAS))))[2]
    assert blank == {"label": None, "probabilities": {}, "grid": []}


BAD_BODIES = [  # (body, Content-Type, status, words of the message)
    (b"{not json", "application/json", 400, "not JSON"),
    (b"[1, 2]", "application/json", 400, "expected a JSON object"),
    (json.dumps({"width": 280, "height": 280, "ink": "AAAA"}).encode(), "application/json",
     400, "holds 3 bytes; a 280x280 pad has 78400"),
    (json.dumps({"width": 280, "height": 280, "ink": "%%%"}).encode(), "application/json",
     400, "base64"),
    (json.dumps({"width": 4, "height": 4, "ink": ""}).encode(), "application/json", 400,
     "each side must be 8 to 1024"),
    (json.dumps({"width": "280", "height": 280}).encode(), "application/json", 400,
     "must be integers"),
    (json.dumps({"pixels": [[1, 2], [3]]}).encode(), "application/json", 400,
     "all of one length"),
    (json.dumps({"pixels": [[300] * 10] * 10}).encode(), "application/json", 400,
     "from 0 to 255"),
    (b"\x89PNG\r\n\x1a\n" + bytes(64), "image/png", 400, "not a readable PNG"),
    (b"hello", "text/plain", 415, "send application/json or image/png"),
    (b" " * (MAX_BODY_BYTES + 1), "application/json", 413, "at most"),
]


@pytest.mark.parametrize("body, kind, status, message", BAD_BODIES,
                         ids=[case[3][:24] for case in BAD_BODIES])
def test_bad_bodies_get_a_4xx_and_a_message(server, body, kind, status, message):
    if kind == "image/png":
        pytest.importorskip("PIL", reason="PNG bodies need Pillow (pip install 'xpnn[serve]')")
    got, _, answer = _post(server, body, kind)
    assert got == status and message in answer["error"], answer
    assert "Traceback" not in answer["error"]


def test_unknown_paths_and_methods_are_json_errors(server):
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
    for method, path, status in [("GET", "/nope", 404), ("GET", "/api/events", 404),
                                 ("POST", "/", 404), ("PUT", "/api/predict", 501)]:
        connection.request(method, path)
        response = connection.getresponse()
        assert response.status == status
        assert "error" in json.loads(response.read())
        connection.close()


def test_a_model_whose_rows_are_not_images_is_refused_with_one_line(tmp_path):
    rng = np.random.default_rng(0)
    rows = np.column_stack([rng.integers(0, 2, 60), rng.normal(size=(60, 10))])
    np.savetxt(tmp_path / "table.csv", rows, delimiter=",", fmt="%g")
    trained = xpnn("train", "--data", tmp_path / "table.csv", "--epochs", "2", "--save",
                   tmp_path / "table.safetensors", "--quiet")
    assert trained.returncode == 0, trained.stderr
    result = xpnn("serve", tmp_path / "table.safetensors")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr == (f"xpnn serve: error: {tmp_path / 'table.safetensors'}: its rows "
                             f"are 10 features, not images; the drawing pad makes 28x28 or 8x8 "
                             f"images for a classifier of one label\n")
    assert xpnn("serve").stderr.startswith("xpnn serve: error: give a MODEL")


def _fitted(estimator, n_features, y):
    import warnings

    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimator.fit(rng.random((len(y), n_features)), y)


REFUSED = [  # (what is fitted, the line's reason)
    (lambda xp: _fitted(xp.MLPRegressor(max_iter=2), 64, np.arange(12.0)), "a regressor"),
    (lambda xp: _fitted(xp.MLPClassifier(max_iter=2), 64, np.eye(3, dtype=int)[[0, 1, 2] * 4]),
     "a multi-label classifier"),
    (lambda xp: _fitted(xp.MLPClassifier(max_iter=2), 256, np.arange(12) % 2),
     "its rows are 16x16 images"),
]


@pytest.mark.parametrize("fit, reason", REFUSED, ids=[case[1] for case in REFUSED])
def test_models_the_pad_cannot_feed_are_refused(fit, reason):
    import xpnn as library
    from xpnn.errors import XpnnDataError
    from xpnn.data.preprocess import Preprocessing

    with pytest.raises(XpnnDataError, match=f"^model.safetensors: {reason}; the drawing pad "):
        DrawingReader(fit(library), Preprocessing("scale", 1.0), {}, "model.safetensors")


def test_a_kaggle_csv_model_is_read_as_28x28(tmp_path):
    """Kaggle's CSV records no image shape: its 784 pixels make the 28x28 grid (MNIST's
    recipe), 0-255 before the model's own /255."""
    rng = np.random.default_rng(0)
    rows = np.column_stack([np.arange(40) % 2, rng.integers(0, 256, (40, 784))])
    header = "label," + ",".join(f"pixel{i}" for i in range(784))
    np.savetxt(tmp_path / "train.csv", rows, delimiter=",", fmt="%d", header=header,
               comments="")
    assert xpnn("train", "--data", tmp_path / "train.csv", "--epochs", "1", "--save",
                tmp_path / "kaggle.safetensors", "--quiet").returncode == 0
    reader = DrawingReader.load(tmp_path / "kaggle.safetensors")
    assert reader.describe()["shape"] == [28, 28] and reader.recipe.value_range == 255.0
    inks = rows[:, 1:].sum(axis=1)  # the file records its training images' least ink
    assert inks.min() <= reader.target <= inks.max()
    ink = np.zeros((CANVAS, CANVAS))
    ink[40:240, 130:150] = 1.0
    answer = reader.read(ink)
    assert answer["label"] in ("0", "1") and np.array(answer["grid"]).max() == 255


def _start(*args, launcher=()):
    """``xpnn`` in a new process with a server; (process, its URL from the first line)."""
    process = subprocess.Popen([*launcher, sys.executable, "-m", "xpnn", *map(str, args)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stderr.readline()
    match = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
    assert match, line + process.stderr.read()
    return process, match.group(1)


def _interrupt(process):
    """Ctrl-C: one line, status 0."""
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=20)
    return process.returncode, err


def test_serve_runs_until_ctrl_c_and_ends_with_one_line(digits_model):
    process, url = _start("serve", digits_model, "--port", "0")
    try:
        import urllib.request

        with urllib.request.urlopen(url) as response:
            page = response.read().decode()
            assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
        assert '<canvas id="pad"' in page and 'id="prediction"' in page
    finally:
        status, err = _interrupt(process)
    assert status == 0 and err == f"xpnn serve: stopped serving {url}\n"


def _read_events(url, until="end", timeout=60):
    """The dashboard's server-sent events up to the first ``until`` one: [(kind, data)]."""
    port = int(url.rsplit(":", 1)[1].strip("/"))
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    connection.request("GET", "/api/events")
    response = connection.getresponse()
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/event-stream"
    events, kind = [], None
    for raw in response:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            events.append((kind, json.loads(line[6:])))
            if kind == until:
                break
    connection.close()
    return events


def test_train_dashboard_streams_each_epoch_then_stays_up(tmp_path):
    """xpnn train --dashboard --port 0: the run's plan, one event per epoch, the end (kept
    epoch, training time), then the pad with the trained model, until Ctrl-C."""
    process, url = _start("train", "--dashboard", "--port", "0", "--epochs", "6", "--hidden",
                          "32", "--early-stopping", "--quiet")
    try:
        events = _read_events(url)
        with __import__("urllib.request").request.urlopen(url + "api/model") as response:
            about = json.loads(response.read())
    finally:
        status, err = _interrupt(process)
    kinds = [kind for kind, _ in events]
    assert kinds == ["run"] + ["epoch"] * (len(kinds) - 2) + ["end"]
    assert events[0][1]["epochs"] == 6 and 2 <= len(kinds) - 2 <= 6
    epochs = [data for kind, data in events if kind == "epoch"]
    assert [record["epoch"] for record in epochs] == list(range(1, len(epochs) + 1))
    end = events[-1][1]
    best = max(record["val_accuracy"] for record in epochs)
    assert end["kept_epoch"] == next(r["epoch"] for r in epochs if r["val_accuracy"] == best)
    assert end["training_seconds"] == pytest.approx(sum(r["seconds"] for r in epochs))
    assert about["model"]["shape"] == [8, 8] and about["run"] is True
    assert status == 0 and err == (f"xpnn train: done; the dashboard stays at {url} until "
                                   f"Ctrl-C\nxpnn train: stopped serving {url}\n")


MPIEXEC = Path(sys.executable).parent / "mpiexec"


@pytest.mark.skipif(not MPIEXEC.exists(), reason=f"no {MPIEXEC}: install the MPI extra, "
                                                 f"pip install -e '.[test,mpi]'")
def test_with_mpi_rank_0_alone_serves_the_dashboard():
    """mpiexec -n 2 xpnn train --dashboard: one server (rank 0's), every epoch streamed;
    the other rank ends with training, and Ctrl-C on mpiexec ends rank 0 with its line."""
    from xpnn.parallel.launcher import LAUNCHER_VARIABLES

    assert not any(name in os.environ for name in LAUNCHER_VARIABLES)
    process, url = _start("train", "--dashboard", "--port", "0", "--epochs", "3", "--hidden",
                          "16", "--quiet", launcher=(str(MPIEXEC), "-n", "2"))
    try:
        events = _read_events(url)  # Ctrl-C at once: from the end event on, it stops serving
        status, err = _interrupt(process)
    finally:
        if process.poll() is None:
            process.kill()
    assert [kind for kind, _ in events] == ["run", "epoch", "epoch", "epoch", "end"]
    assert status == 0, err
    ours = [line for line in err.splitlines() if not line.startswith("[mpiexec@")]
    assert ours == [f"xpnn train: done; the dashboard stays at {url} until Ctrl-C",
                    f"xpnn train: stopped serving {url}"]


def test_serve_shows_a_finished_runs_metrics_log(tmp_path):
    log = tmp_path / "metrics.jsonl"
    assert xpnn("train", "--epochs", "3", "--hidden", "16", "--metrics-log", log,
                "--quiet").returncode == 0
    events = RunEvents.from_metrics_log(log)
    assert [kind for kind, _ in events.events] == ["run", "epoch", "epoch", "epoch", "end"]
    assert events.events[-1][1]["kept_epoch"] == 3  # no validation: the last
    log.write_text('{"epoch": 1}\nnot json\n')
    result = xpnn("serve", "--metrics-log", log)
    assert result.returncode == 2 and f"{log}, line 2: not JSON" in result.stderr


def test_port_without_dashboard_is_refused():
    result = xpnn("train", "--port", "9000")
    assert result.returncode == 2 and "add --dashboard" in result.stderr


# -- under load -------------------------------------------------------------------------


def test_under_load_no_5xx_and_no_dropped_connection(digits_model):
    """bench/serve_load.py, smaller: two rounds of 4 clients x 75 predictions against
    127.0.0.1, one body in 50 malformed or oversized; every answer 200 or 4xx, every
    connection kept, and the server's memory no larger after the second round."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import serve_load
    finally:
        sys.path.remove(str(ROOT / "bench"))
    process, port = serve_load.start_server(digits_model)
    try:
        results, memory = [], []
        for _ in range(2):
            results.append(serve_load.run_round(port, clients=4, requests=75, bad_every=50))
            memory.append(serve_load.rss_mib(process.pid))
    finally:
        _interrupt(process)
    for result in results:
        assert result["requests"] == 300
        assert result["server_errors"] == 0 and result["failed_connections"] == 0, result
        assert result["statuses"][200] == 296 and set(result["statuses"]) <= {200, 400, 413}
    assert memory[1] - memory[0] < 4.0, memory  # MiB: the second round needs no more

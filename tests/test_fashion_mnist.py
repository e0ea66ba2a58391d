"""Integration on real data no one here wrote: Fashion-MNIST from the Debian package."""
import os

import pytest

from clirun import xpnn_json

FASHION_DIR = "/usr/share/datasets/fashion-mnist"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(os.path.join(FASHION_DIR, "train-images-idx3-ubyte.gz")),
                       reason=f"Fashion-MNIST not installed in {FASHION_DIR} "
                              f"(apt-get install dataset-fashion-mnist)"),
]


def test_recipe_shortened_to_7_epochs_reaches_88_percent():
    """The README recipe (512,256, Adam, cosine) with its schedule squeezed into 7 epochs (about 8 s)."""
    summary = xpnn_json("train", "--dataset", "fashion-mnist", "--offline", "--epochs", "7",
                        process=True)  # the whole job as a user runs it
    assert summary["train_rows"] == 60000 and summary["test_rows"] == 10000
    assert summary["hidden"] == [512, 256]
    assert summary["test_accuracy"] >= 0.88, summary

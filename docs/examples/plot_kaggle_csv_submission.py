"""
Kaggle's Digit Recognizer: CSV in, submission file out
======================================================

The flow xpnn was made for: Kaggle's ``train.csv`` (a header, the label in the first
column, the pixels after it), a model trained and saved with a held-out validation split
and early stopping, and ``test.csv`` (pixels only) turned into ``submission.csv``
(``ImageId,Label``, ImageId from 1). Kaggle's files are 28x28 MNIST digits; here the same
files are written from scikit-learn's bundled 8x8 digits, so the example runs anywhere, in
seconds. The commands are the ``xpnn`` command's own, run in this process through
``xpnn.cli.parser.main`` (in a shell: ``xpnn train --data train.csv ...``).
"""
import csv
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from xpnn.cli.parser import main as xpnn

folder = Path(tempfile.mkdtemp(prefix="xpnn-kaggle-"))
X, y = load_digits(return_X_y=True)
X = X.astype(np.uint8)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0,
                                                    stratify=y)
header = ",".join(["label"] + [f"pixel{i}" for i in range(X.shape[1])])
np.savetxt(folder / "train.csv", np.column_stack([y_train, X_train]), fmt="%d",
           delimiter=",", header=header, comments="")
np.savetxt(folder / "test.csv", X_test, fmt="%d", delimiter=",", header=header[6:],
           comments="")
print((folder / "train.csv").read_text().splitlines()[1][:60], "...")

# %%
# Train: 10 % of the training rows held out for validation, stop once their accuracy has
# not improved for 10 epochs, keep the best weights, save the model (one safetensors file
# with its preprocessing: the pixels' real maximum, 16 here, 255 on Kaggle's files).
status = xpnn(["train", "--data", str(folder / "train.csv"), "--save",
               str(folder / "model.safetensors"), "--val-split", "0.1", "--early-stopping",
               "--epochs", "60", "--quiet"])
print("exit status", status)

# %%
# Predict the unlabelled test file into Kaggle's submission format:
status = xpnn(["predict", str(folder / "model.safetensors"), "--data",
               str(folder / "test.csv"), "--out", str(folder / "submission.csv")])
with open(folder / "submission.csv", newline="") as file:
    rows = list(csv.DictReader(file))
print(f"exit status {status}; {len(rows)} rows; the first three:", rows[:3])
predicted = np.array([int(row["Label"]) for row in rows])
print(f"accuracy on the held-out labels (Kaggle scores this): "
      f"{np.mean(predicted == y_test):.4f}")

# %%
# The first test images with the labels written for them (red where wrong):
fig, axes = plt.subplots(3, 8, figsize=(8, 3.4))
for axis, image, label, truth in zip(axes.flat, X_test, predicted, y_test):
    axis.imshow(image.reshape(8, 8), cmap="gray_r")
    axis.set_title(f"{label}", color="black" if label == truth else "red", fontsize=9)
    axis.set_axis_off()
fig.suptitle("submission.csv's labels for the first test images")
fig.tight_layout()
plt.show()

# %%
# The files were written to a temporary folder; remove it.
import shutil  # noqa: E402

shutil.rmtree(folder)

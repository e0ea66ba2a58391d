"""
Class weights and dropout
=========================

Two things scikit-learn's MLP does not have: ``class_weight`` (as its linear classifiers
have it) and ``dropout`` on the hidden layers. Here digit 9 is made rare in the training
rows; ``class_weight="balanced"`` raises its recall.
"""
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import recall_score
from sklearn.model_selection import train_test_split

import xpnn

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, test_size=0.4,
                                                    random_state=0, stratify=y)
rng = np.random.default_rng(0)
nines = np.flatnonzero(y_train == 9)
keep = np.setdiff1d(np.arange(len(y_train)), rng.choice(nines, len(nines) - 8, replace=False))
X_train, y_train = X_train[keep], y_train[keep]  # 8 nines left
settings = {"plain": {}, "class_weight='balanced'": {"class_weight": "balanced"},
            "balanced + dropout 0.2": {"class_weight": "balanced", "dropout": 0.2}}
recalls = {}
for name, extra in settings.items():
    model = xpnn.MLPClassifier(hidden_layer_sizes=(32,), max_iter=60, random_state=0,
                               **extra).fit(X_train, y_train)
    recalls[name] = recall_score(y_test, model.predict(X_test), average=None)
    print(f"{name:24s} recall of 9: {recalls[name][9]:.3f}  "
          f"accuracy {model.score(X_test, y_test):.3f}")

fig, axis = plt.subplots(figsize=(7, 3))
for offset, (name, recall) in enumerate(recalls.items()):
    axis.bar(np.arange(10) + 0.27 * (offset - 1), recall, width=0.27, label=name)
axis.set(xticks=range(10), xlabel="digit", ylabel="recall on the test rows", ylim=(0, 1.05))
axis.legend(fontsize=7, loc="lower left")
fig.tight_layout()
plt.show()

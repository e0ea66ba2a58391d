"""
What the first layer looks for
==============================

Each hidden unit of the first layer has one weight per pixel (a column of ``coefs_[0]``);
drawn as an 8x8 image, it shows the stroke pattern that excites the unit (red) or inhibits
it (blue).
"""
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

import xpnn

X, y = load_digits(return_X_y=True)
model = xpnn.MLPClassifier(hidden_layer_sizes=(16,), max_iter=60, alpha=1e-2,
                           random_state=0).fit(X / 16.0, y)
weights = np.asarray(model.coefs_[0])  # (64 pixels, 16 units)
limit = np.abs(weights).max()
fig, axes = plt.subplots(2, 8, figsize=(9, 2.6))
for unit, axis in enumerate(axes.ravel()):
    axis.imshow(weights[:, unit].reshape(8, 8), cmap="RdBu_r", vmin=-limit, vmax=limit)
    axis.set_title(f"unit {unit}", fontsize=7)
    axis.axis("off")
fig.suptitle(f"first-layer weights (training accuracy {model.score(X / 16.0, y):.3f})")
plt.show()

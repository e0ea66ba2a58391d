"""
Deploying with ONNX
===================

``xpnn.onnx.to_onnx`` traces the estimator's own prediction code into an ONNX graph;
onnxruntime then predicts without xpnn. The labels agree and the probabilities agree to
rounding.
"""
import matplotlib.pyplot as plt
import numpy as np
import onnxruntime
from sklearn.datasets import load_digits

import xpnn
from xpnn.onnx import to_onnx

X, y = load_digits(return_X_y=True)
X = (X / 16.0).astype(np.float32)
model = xpnn.MLPClassifier(hidden_layer_sizes=(32,), max_iter=40, random_state=0).fit(X, y)
proto = to_onnx(model)
session = onnxruntime.InferenceSession(proto.SerializeToString())
labels, probabilities = session.run(None, {"X": X})
difference = np.abs(probabilities - model.predict_proba(X))
print(f"labels equal: {np.array_equal(labels, model.predict(X))}; "
      f"largest probability difference {difference.max():.2e}")

fig, axis = plt.subplots(figsize=(5, 3))
axis.hist(difference.ravel(), bins=40)
axis.set(xlabel="|onnxruntime - predict_proba|", ylabel="probabilities", yscale="log")
fig.tight_layout()
plt.show()

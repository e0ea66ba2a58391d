"""
Digits in a few lines
=====================

``xpnn.MLPClassifier`` is scikit-learn's ``MLPClassifier``: the same parameters, fitted
attributes and methods. Here it learns scikit-learn's bundled 8x8 digits and shows its
loss curve and the test images it got wrong.
"""
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import xpnn

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, test_size=0.2,
                                                    random_state=0, stratify=y)
model = xpnn.MLPClassifier(hidden_layer_sizes=(64,), max_iter=40, random_state=0)
model.fit(X_train, y_train)
print(f"test accuracy {model.score(X_test, y_test):.4f} after {model.n_iter_} epochs")

# %%
# The training loss, one point per epoch (``loss_curve_``), and the misclassified test
# images with what the model read.
predicted = model.predict(X_test)
wrong = (predicted != y_test).nonzero()[0][:8]
fig, axes = plt.subplots(1, 1 + len(wrong), figsize=(2 + 1.2 * len(wrong), 2.2))
axes[0].plot(range(1, model.n_iter_ + 1), model.loss_curve_)
axes[0].set(xlabel="epoch", ylabel="training loss")
for axis, index in zip(axes[1:], wrong):
    axis.imshow(X_test[index].reshape(8, 8), cmap="gray_r")
    axis.set_title(f"{y_test[index]} read as {predicted[index]}", fontsize=7)
    axis.axis("off")
fig.tight_layout()
plt.show()

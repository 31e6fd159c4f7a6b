"""The same question for a Keras 3 model: an MLP on the bundled digits, 10 seeds."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras
import numpy as np
from sklearn.datasets import load_digits

import relulab.keras

X, y = load_digits(return_X_y=True)
X = (X / 16.0).astype(np.float32)
order = np.random.default_rng(0).permutation(len(X))
train, test = order[:1400], order[1400:]


def mlp(act):
    return keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, activation=act),
                             keras.layers.Dense(64, activation=act), keras.layers.Dense(10)])


result = relulab.keras.study(mlp, (X[train], y[train]), (X[test], y[test]),
                             task="classification", seeds=10, epochs=10,
                             activations=["relu", "gelu", "silu"], name="digits")
print(result.summary.pivot(index="activation", columns="metric", values="median")
      .loc[result.activations].round(4).to_string())
for c in result.comparisons:
    print(c.verdict)

"""Your own activation in a study of your own model: squared ReLU, registered once, against
relu and gelu in a digits MLP."""

import numpy as np
from sklearn.datasets import load_digits
from torch import nn

import relulab.torch
from relulab.activations import register

register("squared_relu", lambda x, xp: xp.maximum(x, 0.0) ** 2, formula="max(x, 0)^2")

X, y = load_digits(return_X_y=True)
X = (X / 16.0).astype(np.float32)
order = np.random.default_rng(0).permutation(len(X))
train, test = order[:1400], order[1400:]

result = relulab.torch.study(
    lambda act: nn.Sequential(nn.Linear(64, 64), act, nn.Linear(64, 10)),
    (X[train], y[train]), (X[test], y[test]), task="classification", seeds=10, epochs=10,
    activations=["relu", "gelu", "squared_relu"], name="digits")
print(result.summary.pivot(index="activation", columns="metric", values="median")
      .loc[result.activations].round(4).to_string())
for c in result.comparisons:
    print(c.verdict)

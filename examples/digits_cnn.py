"""A small CNN on scikit-learn's bundled digits: relu, leaky_relu, gelu and silu over 10
seeds each, with relulab.torch.study (the README's first example)."""

import numpy as np
from sklearn.datasets import load_digits
from torch import nn

import relulab.torch

X, y = load_digits(return_X_y=True)  # 1,797 8x8 images, shipped with scikit-learn
X = (X / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
order = np.random.default_rng(0).permutation(len(X))
train, test = order[:1400], order[1400:]


def cnn(act: nn.Module) -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), act, nn.Conv2d(16, 32, 3), act,
                         nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(128, 10))


result = relulab.torch.study(cnn, (X[train], y[train]), (X[test], y[test]),
                             task="classification", seeds=10, epochs=10,
                             activations=["relu", "leaky_relu", "gelu", "silu"],
                             name="digits", report="digits-cnn.html")
print(result.summary.pivot(index="activation", columns="metric", values="median")
      .loc[result.activations].round(4).to_string())
for c in result.comparisons:
    print(c.verdict)

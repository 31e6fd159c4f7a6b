"""A model that hard-codes nn.ReLU, studied by swapping its activations inside copies
(the model itself is left as it is), on scikit-learn's bundled diabetes regression."""

import numpy as np
from sklearn.datasets import load_diabetes
from torch import nn

import relulab.torch

X, y = load_diabetes(return_X_y=True)  # 442 patients, 10 features; shipped with sklearn
X = ((X - X.mean(0)) / X.std(0)).astype(np.float32)
order = np.random.default_rng(0).permutation(len(X))
train, val, test = order[:300], order[300:360], order[360:]


class Net(nn.Module):  # nn.ReLU hard-coded, twice
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU())
        self.head = nn.Linear(32, 1)

    def forward(self, x):
        return self.head(self.body(x))


model = Net()
result = relulab.torch.study(model, (X[train], y[train]), (X[test], y[test]),
                             validation=(X[val], y[val]), patience=20,
                             task="regression", seeds=10, epochs=300, batch_size=32,
                             learning_rate=3e-3,
                             activations=["relu", "elu", "gelu", "silu"], name="diabetes")
print(model.body)  # untouched: still nn.ReLU
print(result.summary.pivot(index="activation", columns="metric", values="median")
      .loc[result.activations].round(2).to_string())
for c in result.comparisons:
    print(c.verdict)

"""``relulab.keras.study`` as a user calls it: a Sequential and a functional model, each in
three lines, to verdicts, dead units per layer, a stored study and a report."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")  # before anything imports keras

import numpy as np
import pytest

keras = pytest.importorskip("keras")
import relulab.keras as rk  # noqa: E402
from relulab.errors import RelulabError  # noqa: E402
from relulab.store import Store  # noqa: E402

rng = np.random.default_rng(0)
Y = rng.integers(0, 3, 200)
X = (rng.normal(size=(200, 5)) + 1.5 * np.eye(3, 5)[Y]).astype("float32")
FAST = dict(seeds=3, epochs=2, batch_size=32, progress=False)


def sequential(act):
    return keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation=act),
                             keras.layers.Dense(3)])


def functional(act):
    x = keras.Input((5,))
    h = keras.layers.Dense(8)(x)
    h = keras.layers.Activation(act)(h)
    return keras.Model(x, keras.layers.Dense(3)(h))


@pytest.mark.parametrize("build", [sequential, functional])
def test_a_keras_model_goes_through_a_study_in_three_lines(build, tmp_path):
    result = rk.study(build, (X[:150], Y[:150]), (X[150:], Y[150:]), task="classification",
                      activations=["relu", "gelu"], db=tmp_path / "r.db",
                      report=tmp_path / "r.html", **FAST)
    assert [c.activation for c in result.comparisons] == ["gelu"]
    assert "paired p" in result.comparisons[0].verdict
    assert result.diagnostics.sites["relu"][0].units == 8
    assert result.config.model_description.startswith("keras, jax backend, 75 parameters")
    assert "keras" in (tmp_path / "r.html").read_text(encoding="utf-8")
    with Store(tmp_path / "r.db") as store:
        assert store.completed_activations(result.study_id) == {"relu", "gelu"}


def test_bad_arguments_are_one_line():
    with pytest.raises(RelulabError, match="unknown activation"):
        rk.study(sequential, (X, Y), (X, Y), task="classification",
                 activations=["relu", "nope"], db=None, **FAST)
    with pytest.raises(RelulabError, match="does not use it"):
        rk.study(lambda act: sequential("relu"), (X, Y), (X, Y), task="classification",
                 activations=["gelu"], db=None, **FAST)

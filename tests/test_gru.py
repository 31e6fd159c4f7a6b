"""The GRU family against Keras 3's own GRU (JAX backend, reset_after=True) from the same
weights, Keras' initialisation, and a study with --model gru."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")  # before anything imports keras

import jax
import numpy as np
import pytest

from relulab import models
from relulab.config import preset
from relulab.errors import RelulabError
from relulab.models import ModelSpec


def _keras():
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "jax":
        pytest.skip("keras was imported with another backend before this module")
    return keras


def _perturbed(params, key):
    # Keras' init has zero biases; every weight gets a non-trivial value for the comparison
    # (which also breaks the symmetry that could hide a gate-order mistake).
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(key, len(leaves))
    return jax.tree.unflatten(tree, [x + 0.3 * jax.random.normal(k, x.shape)
                                     for x, k in zip(leaves, keys, strict=True)])


def _keras_gru(keras, params, units, activation, timesteps, features):
    model = keras.Sequential([keras.Input((timesteps, features))])
    for k, layer in enumerate(params["gru"]):
        gru = keras.layers.GRU(units, activation=activation, reset_after=True,
                               return_sequences=k < len(params["gru"]) - 1)
        model.add(gru)
        gru.set_weights([np.asarray(layer["kernel"]), np.asarray(layer["recurrent_kernel"]),
                         np.asarray(layer["bias"])])
    dense = keras.layers.Dense(1)
    model.add(dense)
    dense.set_weights([np.asarray(params["dense"]["kernel"]),
                       np.asarray(params["dense"]["bias"])])
    return model


@pytest.mark.parametrize(("activation", "layers", "timesteps"), [
    ("tanh", 1, 1), ("relu", 1, 1), ("relu", 2, 4), ("gelu", 1, 3), ("elu", 2, 1)])
def test_gru_forward_equals_keras(activation, layers, timesteps):
    keras = _keras()
    spec = ModelSpec(family="gru", units=4, layers=layers)
    model = models.get(spec, activation)
    features = 5 if timesteps == 1 else 2
    params = jax.jit(lambda k: _perturbed(model.init(k, features), jax.random.key(2)))(
        jax.random.key(1))
    X = np.asarray(jax.random.uniform(jax.random.key(3), (16, timesteps, features)))
    ours = jax.jit(model.apply)(params, X if timesteps > 1 else X[:, 0])
    theirs = _keras_gru(keras, params, 4, activation, timesteps, features)(X)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs)[:, 0], rtol=1e-6,
                               atol=1e-6)
    # Every layer's candidate is recorded, over every timestep.
    _, _, sites = model.sites(params, X if timesteps > 1 else X[:, 0])
    assert sorted(sites) == [f"gru{k}.candidate" for k in range(1, layers + 1)]
    assert all(v.shape == (16, timesteps, 4) for v in sites.values())


def test_gru_learnable_activation_matches_keras_prelu_slope():
    """PReLU's slope, one shared scalar per layer as relulab's LSTM has it, against a Keras
    activation function with that slope."""
    keras = _keras()
    spec = ModelSpec(family="gru", units=3, layers=1)
    model = models.get(spec, "prelu")
    params = model.init(jax.random.key(7), 4)
    params = _perturbed(params, jax.random.key(8))
    slope = float(np.asarray(params["gru"][0]["activation"]["weight"]).reshape(-1)[0])
    X = np.asarray(jax.random.uniform(jax.random.key(9), (8, 3, 4), minval=-1, maxval=1))
    act = lambda x: keras.ops.where(x >= 0, x, slope * x)  # noqa: E731
    theirs = _keras_gru(keras, params, 3, act, 3, 4)(X)
    np.testing.assert_allclose(np.asarray(model.apply(params, X)),
                               np.asarray(theirs)[:, 0], rtol=1e-6, atol=1e-6)


def test_gru_init_follows_keras():
    spec = ModelSpec(family="gru", units=4, layers=2)
    params = models.init_weights(jax.random.key(0), spec, 5)
    first, second = params["gru"]
    assert first["kernel"].shape == (5, 12) and second["kernel"].shape == (4, 12)
    for layer in params["gru"]:
        assert layer["recurrent_kernel"].shape == (4, 12)
        assert layer["bias"].shape == (2, 12) and not np.any(np.asarray(layer["bias"]))
        # Keras' Orthogonal on (4, 12): orthonormal rows
        u = np.asarray(layer["recurrent_kernel"], np.float64)
        np.testing.assert_allclose(u @ u.T, np.eye(4), atol=1e-5)
        limit = np.sqrt(6 / (layer["kernel"].shape[0] + 12))
        assert np.all(np.abs(np.asarray(layer["kernel"])) <= limit)


def test_gru_refuses_an_mlp_initialiser():
    with pytest.raises(RelulabError, match="the GRU initialises as Keras does"):
        ModelSpec(family="gru", init="he_normal")


def test_a_study_with_the_gru():
    import relulab

    rng = np.random.default_rng(0)
    t = np.arange(60)
    values = 20 + 5 * np.sin(t / 3) + rng.normal(0, 0.5, 60)
    config = preset("seed", model="gru", activations=("tanh", "relu"), seeds=2, epochs=3,
                    batch_size=8)
    result = relulab.Study(config, values).run()
    assert len(result.runs) == 4 and all(np.all(np.isfinite(r.forecast)) for r in result.runs)
    sites = {k.split(":", 1)[1] for r in result.runs for k in r.unit_stats
             if k.startswith("dead:")}
    assert sites == {"gru1.candidate"}

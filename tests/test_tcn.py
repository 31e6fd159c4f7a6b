"""The TCN family against Keras 3's own causal dilated Conv1D layers (JAX backend) built
into the same residual blocks from the same weights; causality; Keras' initialisation;
and a study with --model tcn."""

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
from relulab.models.tcn import receptive_field


def _keras():
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "jax":
        pytest.skip("keras was imported with another backend before this module")
    return keras


def _perturbed(params, key):
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(key, len(leaves))
    return jax.tree.unflatten(tree, [x + 0.3 * jax.random.normal(k, x.shape)
                                     for x, k in zip(leaves, keys, strict=True)])


def _keras_tcn(keras, params, units, activation, timesteps):
    """Bai et al.'s blocks from Keras' own layers: Conv1D(causal, dilation 2^(k-1)),
    the activation after each, a 1x1 Conv1D on the residual path where channels change,
    the activation after the sum; Dense(1) on the last timestep."""
    inputs = keras.Input((timesteps, 1))
    x = inputs
    act = keras.layers.Activation(activation)
    for k, block in enumerate(params["tcn"]):
        d = 2 ** k
        c1 = keras.layers.Conv1D(units, 2, padding="causal", dilation_rate=d)
        c2 = keras.layers.Conv1D(units, 2, padding="causal", dilation_rate=d)
        a = act(c1(x))
        b = act(c2(a))
        res = x
        if "residual" in block:
            r = keras.layers.Conv1D(units, 1)
            res = r(x)
            r.set_weights([np.asarray(block["residual"]["kernel"]),
                           np.asarray(block["residual"]["bias"])])
        c1.set_weights([np.asarray(block["conv1"]["kernel"]), np.asarray(block["conv1"]["bias"])])
        c2.set_weights([np.asarray(block["conv2"]["kernel"]), np.asarray(block["conv2"]["bias"])])
        x = act(keras.layers.Add()([b, res]))
    dense = keras.layers.Dense(1)
    out = dense(x[:, -1])
    dense.set_weights([np.asarray(params["dense"]["kernel"]),
                       np.asarray(params["dense"]["bias"])])
    return keras.Model(inputs, out)


@pytest.mark.parametrize(("activation", "layers"), [
    ("relu", 1), ("tanh", 2), ("gelu", 3), ("elu", 2)])
def test_tcn_forward_equals_keras_conv1d_blocks(activation, layers):
    keras = _keras()
    spec = ModelSpec(family="tcn", units=4, layers=layers)
    model = models.get(spec, activation)
    params = jax.jit(lambda k: _perturbed(model.init(k, 9), jax.random.key(2)))(
        jax.random.key(1))
    X = np.asarray(jax.random.uniform(jax.random.key(3), (16, 9), minval=-1, maxval=1))
    ours = jax.jit(model.apply)(params, X)
    theirs = _keras_tcn(keras, params, 4, activation, 9)(X[..., None])
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs)[:, 0], rtol=1e-5,
                               atol=1e-6)
    _, _, sites = model.sites(params, X)
    assert sorted(sites) == sorted(f"tcn{k}.{s}" for k in range(1, layers + 1)
                                   for s in ("conv1", "conv2", "out"))
    assert all(v.shape == (16, 9, 4) for v in sites.values())


def test_tcn_is_causal_and_sees_its_receptive_field():
    spec = ModelSpec(family="tcn", units=3, layers=2)
    model = models.get(spec, "tanh")
    params = _perturbed(model.init(jax.random.key(0), 12), jax.random.key(1))
    X = np.asarray(jax.random.normal(jax.random.key(2), (4, 12)))
    _, _, sites = model.sites(params, X)
    Y = X.copy()
    Y[:, 8] += 1.0  # a later timestep changes no earlier output
    _, _, moved = model.sites(params, Y)
    for name in sites:
        np.testing.assert_array_equal(np.asarray(sites[name])[:, :8],
                                      np.asarray(moved[name])[:, :8])
        assert not np.allclose(np.asarray(sites[name])[:, 8:], np.asarray(moved[name])[:, 8:])
    # The forecast sees the last receptive_field(2) = 7 inputs, and none before them.
    assert receptive_field(1) == 3 and receptive_field(2) == 7 and receptive_field(3) == 15
    early = X.copy()
    early[:, : 12 - 7] += 5.0
    np.testing.assert_array_equal(np.asarray(model.apply(params, early)),
                                  np.asarray(model.apply(params, X)))
    inside = X.copy()
    inside[:, 12 - 7] += 5.0
    assert not np.allclose(np.asarray(model.apply(params, inside)),
                           np.asarray(model.apply(params, X)))


def test_tcn_init_follows_keras_conv1d():
    spec = ModelSpec(family="tcn", units=4, layers=2)
    params = models.init_weights(jax.random.key(0), spec, 5)
    first, second = params["tcn"]
    assert first["conv1"]["kernel"].shape == (2, 1, 4)
    assert first["conv2"]["kernel"].shape == (2, 4, 4)
    assert first["residual"]["kernel"].shape == (1, 1, 4) and "residual" not in second
    for block in params["tcn"]:
        for name in ("conv1", "conv2"):
            kernel = np.asarray(block[name]["kernel"])
            fan_in, fan_out = 2 * kernel.shape[1], 2 * kernel.shape[2]
            assert np.abs(kernel).max() <= np.sqrt(6 / (fan_in + fan_out))
            assert not np.any(np.asarray(block[name]["bias"]))
    with pytest.raises(RelulabError, match="the TCN initialises as Keras does"):
        ModelSpec(family="tcn", init="he_normal")


def test_a_study_with_the_tcn():
    import relulab

    rng = np.random.default_rng(0)
    t = np.arange(60)
    values = 20 + 5 * np.sin(t / 3) + rng.normal(0, 0.5, 60)
    config = preset("seed", model="tcn", layers=2, activations=("tanh", "relu"), seeds=2,
                    epochs=3, batch_size=8)
    result = relulab.Study(config, values).run()
    assert len(result.runs) == 4 and all(np.all(np.isfinite(r.forecast)) for r in result.runs)
    sites = {k.split(":", 1)[1] for r in result.runs for k in r.unit_stats
             if k.startswith("dead:")}
    assert sites == {f"tcn{k}.{s}" for k in (1, 2) for s in ("conv1", "conv2", "out")}

"""The models against Keras 3 itself (JAX backend) and against the facts of Keras' init."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")  # before anything imports keras

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from relulab import models
from relulab.models import ModelSpec
from relulab.models.initializers import (
    glorot_uniform,
    normal_from_bits,
    orthogonal,
    uniform_from_bits,
)
from relulab.specs import TrainSpec


def _keras():
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "jax":
        pytest.skip("keras was imported with another backend before this module")
    return keras


def _spec(**kw) -> ModelSpec:
    return ModelSpec(**{"units": 4, "layers": 1, **kw})


def _perturbed(params, key):
    # Keras' init has zero biases; give every weight a non-trivial value for the
    # comparison (also breaks the symmetry that could hide a gate-order mistake).
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(key, len(leaves))
    return jax.tree.unflatten(tree, [x + 0.3 * jax.random.normal(k, x.shape)
                                     for x, k in zip(leaves, keys, strict=True)])


def _keras_lstm(keras, params, spec, activation, timesteps, features):
    model = keras.Sequential([keras.Input((timesteps, features))])
    for k, layer in enumerate(params["lstm"]):
        last = k == len(params["lstm"]) - 1
        lstm = keras.layers.LSTM(spec.units, activation=activation,
                                 return_sequences=not last)
        model.add(lstm)
        lstm.set_weights([np.asarray(layer["kernel"]), np.asarray(layer["recurrent_kernel"]),
                          np.asarray(layer["bias"])])
    dense = keras.layers.Dense(1)
    model.add(dense)
    dense.set_weights([np.asarray(params["dense"]["kernel"]),
                       np.asarray(params["dense"]["bias"])])
    return model


@pytest.mark.parametrize(("activation", "layers", "timesteps"), [
    ("tanh", 1, 1), ("relu", 1, 1), ("relu", 2, 3),
])
def test_lstm_forward_equals_keras(activation, layers, timesteps):
    keras = _keras()
    spec = _spec(layers=layers)
    model = models.get(spec, activation)
    features = 5 if timesteps == 1 else 2
    params = jax.jit(lambda k: _perturbed(model.init(k, features), jax.random.key(2)))(
        jax.random.key(1))
    X = np.asarray(jax.random.uniform(jax.random.key(3), (16, timesteps, features)))
    ours = jax.jit(model.apply)(params, X if timesteps > 1 else X[:, 0])
    theirs = _keras_lstm(keras, params, spec, activation, timesteps, features)(X)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs)[:, 0], rtol=1e-6,
                               atol=1e-6)


@pytest.mark.parametrize(("activation", "layers"), [("relu", 1), ("elu", 2)])
def test_mlp_forward_equals_keras_dense_stack(activation, layers):
    keras = _keras()
    spec = _spec(family="mlp", units=8, layers=layers)
    model = models.get(spec, activation)
    params = jax.jit(lambda k: _perturbed(model.init(k, 5), jax.random.key(5)))(
        jax.random.key(4))
    X = np.asarray(jax.random.uniform(jax.random.key(6), (16, 5)))
    keras_model = keras.Sequential([keras.Input((5,))])
    for layer in params["hidden"]:
        dense = keras.layers.Dense(spec.units, activation=activation)
        keras_model.add(dense)
        dense.set_weights([np.asarray(layer["kernel"]), np.asarray(layer["bias"])])
    out = keras.layers.Dense(1)
    keras_model.add(out)
    out.set_weights([np.asarray(params["dense"]["kernel"]), np.asarray(params["dense"]["bias"])])
    ours = jax.jit(model.apply)(params, X)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(keras_model(X))[:, 0], rtol=1e-6,
                               atol=1e-6)


def test_lstm_init_follows_keras():
    spec = _spec(units=4, layers=2)
    params = jax.jit(lambda k: models.get(spec, "tanh").init(k, 5))(jax.random.key(0))
    u = spec.units
    for k, layer in enumerate(params["lstm"]):
        fan_in = 5 if k == 0 else u
        assert layer["kernel"].shape == (fan_in, 4 * u)
        assert layer["recurrent_kernel"].shape == (u, 4 * u)
        # unit_forget_bias: ones in the forget block (the second), zeros elsewhere.
        expected = np.zeros(4 * u)
        expected[u:2 * u] = 1
        np.testing.assert_array_equal(layer["bias"], expected)
        limit = np.sqrt(6 / (fan_in + 4 * u))
        assert np.abs(layer["kernel"]).max() <= limit
        U = np.asarray(layer["recurrent_kernel"], np.float64)
        np.testing.assert_allclose(U @ U.T, np.eye(u), atol=1e-5)
    np.testing.assert_array_equal(params["dense"]["bias"], [0.0])
    assert np.abs(params["dense"]["kernel"]).max() <= np.sqrt(6 / (u + 1))


def test_orthogonal_has_the_structure_of_keras_own():
    keras = _keras()
    theirs = np.asarray(keras.initializers.Orthogonal(seed=0)((4, 16)), np.float64)
    ours = np.asarray(orthogonal(jax.random.bits(jax.random.key(0), (4, 16))),
                      np.float64)
    # Keras transposes a (16, 4) Q: orthonormal rows, and the 4x4 blocks are not orthogonal.
    for U in (theirs, ours):
        np.testing.assert_allclose(U @ U.T, np.eye(4), atol=1e-5)
        assert not np.allclose(U[:, :4] @ U[:, :4].T, np.eye(4), atol=1e-2)
    # And Q's sign correction makes R's diagonal positive, i.e. Q is a function of A.
    a = np.asarray(normal_from_bits(jax.random.bits(jax.random.key(0), (16, 4))))
    q = np.linalg.qr(a)[0]
    q = q * np.sign(np.diag(np.linalg.qr(a)[1]))
    np.testing.assert_allclose(ours, q.T, atol=1e-5)


def test_bits_maps_are_jax_random_own():
    # Both jitted: XLA may contract the scale-and-shift into one FMA, eager ops do not.
    key = jax.random.key(7)

    @jax.jit
    def ours(key):
        bits = jax.random.bits(key, (1000,), jnp.uint32)
        return uniform_from_bits(bits, -0.5, 0.25), normal_from_bits(bits)

    @jax.jit
    def theirs(key):
        return (jax.random.uniform(key, (1000,), minval=-0.5, maxval=0.25),
                jax.random.normal(key, (1000,)))

    (u, n), (u_ref, n_ref) = ours(key), theirs(key)
    np.testing.assert_array_equal(u, u_ref)
    np.testing.assert_allclose(n, n_ref, rtol=1e-6, atol=1e-6)


def test_glorot_uniform_spread():
    w = np.asarray(glorot_uniform(jax.random.bits(jax.random.key(0), (200, 300))))
    limit = np.sqrt(6 / 500)
    assert np.abs(w).max() <= limit
    # U(-l, l) has variance l^2 / 3.
    assert abs(w.var() / (limit ** 2 / 3) - 1) < 0.02


def test_prelu_slope_is_a_learnable_scalar_per_layer():
    model = models.get(_spec(layers=2), "prelu")
    params = jax.jit(lambda k: model.init(k, 5))(jax.random.key(0))
    for layer in params["lstm"]:
        assert float(layer["activation"]["weight"]) == 0.25
        assert layer["recurrent_activation"] == {}
    X = jax.random.normal(jax.random.key(1), (32, 5))
    forecast = jax.jit(lambda p: model.apply(p, X))
    grads = jax.jit(jax.grad(lambda p: jnp.mean(forecast(p) ** 2)))(params)
    assert all(float(jnp.abs(g["activation"]["weight"])) > 0 for g in grads["lstm"])
    # The slope is used: a different slope changes the forecasts.
    other = jax.tree.map(lambda x: x, params)
    other["lstm"][0]["activation"]["weight"] = jnp.float32(0.9)
    assert not np.allclose(forecast(params), forecast(other))


def test_activation_params_of_a_fixed_activation_are_empty():
    params = jax.eval_shape(lambda k: models.get(_spec(family="mlp"), "relu").init(k, 5),
                            jax.random.key(0))
    assert all(layer["activation"] == {} for layer in params["hidden"])


def test_hidden_outputs_show_dead_relu_units_as_zeros():
    model = models.get(_spec(units=3), "relu")
    params = jax.jit(lambda k: model.init(k, 5))(jax.random.key(0))
    # A candidate block of large negative bias: c' = i * relu(z_c) = 0, so h = 0.
    layer = dict(params["lstm"][0])
    layer["bias"] = layer["bias"].at[2 * 3:3 * 3].set(-100.0)
    params = {**params, "lstm": (layer,)}
    _, (h,) = jax.jit(lambda p: model.hidden(p, jnp.ones((4, 5))))(params)
    np.testing.assert_array_equal(h, np.zeros((4, 3)))


def test_apply_is_vmappable_over_models():
    model = models.get(_spec(), "tanh")
    keys = jax.random.split(jax.random.key(0), 3)
    params = jax.jit(jax.vmap(lambda k: model.init(k, 5)))(keys)
    X = jnp.ones((7, 5))
    forecast = jax.jit(lambda p: model.apply(p, X))
    out = jax.jit(jax.vmap(forecast))(params)
    assert out.shape == (3, 7)
    single = forecast(jax.tree.map(lambda a: a[1], params))
    np.testing.assert_allclose(out[1], single, rtol=1e-6)


def test_hidden_gives_apply_forecasts_and_one_output_per_layer():
    for spec in (_spec(layers=2), _spec(family="mlp", units=6, layers=3)):
        model = models.get(spec, "relu")
        params = jax.jit(lambda k, model=model: model.init(k, 5))(jax.random.key(0))
        X = jax.random.normal(jax.random.key(1), (9, 5))
        forecasts, hiddens = jax.jit(model.hidden)(params, X)
        # Two programs: XLA may fuse (and so round) the head differently in each.
        np.testing.assert_allclose(forecasts, jax.jit(model.apply)(params, X), rtol=1e-6,
                                   atol=1e-7)
        assert [h.shape for h in hiddens] == [(9, spec.units)] * spec.layers


def test_model_spec_comes_from_a_study_config_and_rejects_unknown_families():
    from relulab.config import preset
    from relulab.errors import RelulabError

    spec = TrainSpec.from_config(preset("seed", model="mlp", units=6, layers=2)).model
    assert spec == ModelSpec(family="mlp", units=6, layers=2, recurrent_activation="sigmoid")
    assert hash(spec) == hash(ModelSpec("mlp", 6, 2, "sigmoid"))
    assert set(models.FAMILIES) == {"lstm", "mlp", "gru", "tcn"}
    with pytest.raises(RelulabError, match="unknown model 'transformer'"):
        ModelSpec(family="transformer")


def test_every_model_the_config_accepts_is_a_family_that_forecasts() -> None:
    from relulab.config import MODELS, preset

    for name in MODELS:
        spec = TrainSpec.from_config(preset("seed", model=name, units=3, layers=2)).model
        model = models.get(spec, "relu")
        params = jax.jit(lambda k, model=model: model.init(k, 5))(jax.random.key(0))
        out = jax.jit(model.apply)(params, jnp.ones((2, 5)))
        assert out.shape == (2,) and np.isfinite(out).all(), name


# --- the MLP's initialiser (ModelSpec.init) --------------------------------------------------


def test_mlp_hidden_layers_take_the_named_initialiser_and_the_head_stays_glorot():
    from relulab.models import initializers

    for name in ("he_normal", "lecun_normal", "glorot_uniform"):
        spec = _spec(family="mlp", units=6, layers=2, init=name)
        n = models.weight_bits(spec, 5)
        assert n == 5 * 6 + 6 * 6 + 6  # Keras' initialisers read the kernels' words only
        bits = jax.random.bits(jax.random.key(3), (n,), jnp.uint32)
        params = jax.jit(lambda b, spec=spec: models.weights_from_bits(b, spec, 5))(bits)
        draw = jax.jit(getattr(initializers, name))
        np.testing.assert_array_equal(params["hidden"][0]["kernel"],
                                      draw(bits[:30].reshape(5, 6)))
        np.testing.assert_array_equal(params["hidden"][1]["kernel"],
                                      draw(bits[30:66].reshape(6, 6)))
        np.testing.assert_array_equal(params["dense"]["kernel"],
                                      jax.jit(glorot_uniform)(bits[66:].reshape(6, 1)))
        for layer in params["hidden"]:
            np.testing.assert_array_equal(layer["bias"], np.zeros(6))


def test_mlp_with_rai_draws_its_biases_and_still_forecasts():
    from relulab.models import initializers

    spec = _spec(family="mlp", units=4, layers=3, init="rai")
    n = models.weight_bits(spec, 5)
    assert n == (5 + 3) * 4 + 2 * (4 + 3) * 4 + 4
    bits = jax.random.bits(jax.random.key(0), (n,), jnp.uint32)
    params = jax.jit(lambda b: models.weights_from_bits(b, spec, 5))(bits)
    kernel, bias = jax.jit(initializers.rai)(bits[:32].reshape(8, 4))
    np.testing.assert_array_equal(params["hidden"][0]["kernel"], kernel)
    np.testing.assert_array_equal(params["hidden"][0]["bias"], bias)
    assert all(np.any(layer["bias"] != 0) for layer in params["hidden"])
    model = models.get(spec, "relu")
    out = jax.jit(model.apply)(jax.jit(lambda k: model.init(k, 5))(jax.random.key(1)),
                               jnp.ones((3, 5)))
    assert out.shape == (3,) and np.isfinite(out).all()


def test_model_spec_reads_the_init_and_refuses_what_it_cannot_honour():
    from relulab.config import preset
    from relulab.errors import RelulabError

    spec = TrainSpec.from_config(preset("seed", model="mlp", init="he_normal")).model
    assert spec.init == "he_normal"
    assert TrainSpec.from_config(preset("seed")).model.init == "glorot_uniform"
    with pytest.raises(RelulabError, match=r"unknown init 'xavier'; choose one of: "
                       r"glorot_uniform, .*rai"):
        ModelSpec(family="mlp", init="xavier")
    # The LSTM initialises as Keras' LSTM does; another init would be silently ignored.
    with pytest.raises(RelulabError, match=r"init 'rai' applies to the MLP.*--model mlp"):
        ModelSpec(family="lstm", init="rai")


@pytest.mark.parametrize("config, spec", [
    (dict(model="transformer"), dict(family="transformer")),
    (dict(model="mlp", init="xavier"), dict(family="mlp", init="xavier")),
    (dict(init="rai"), dict(init="rai")),
    (dict(units=0), dict(units=0)),
    (dict(model="mlp", layers=-1), dict(family="mlp", layers=-1)),
])
def test_the_config_refuses_a_model_in_the_specs_one_line(config, spec):
    from relulab.config import StudyConfig
    from relulab.errors import RelulabError

    with pytest.raises(RelulabError) as from_config:
        StudyConfig(**config)
    with pytest.raises(RelulabError) as from_spec:
        ModelSpec(**spec)
    assert str(from_config.value) == str(from_spec.value)
    assert "\n" not in str(from_config.value)

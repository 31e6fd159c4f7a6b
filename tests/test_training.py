"""Training against Keras' optimiser, a plain Python reference loop and hand computations."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")  # before anything imports keras

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from relulab import models, training
from relulab.config import StudyConfig, preset
from relulab.errors import RelulabError
from relulab.models import ModelSpec


def _sine(n_fit: int = 24, n_val: int = 6, L: int = 5) -> training.TrainData:
    t = np.arange(n_fit + n_val + L, dtype=np.float32)
    y = (np.sin(t / 3) + 1) / 2
    X = np.stack([y[i:i + L] for i in range(n_fit + n_val)])
    Y = y[L:]
    return training.TrainData.from_arrays(X[:n_fit], Y[:n_fit], X[n_fit:], Y[n_fit:])


def _spec(**kw) -> training.TrainSpec:
    # The seed preset's model and training (the defaults), with few epochs.
    return training.TrainSpec(**{"epochs": 4, **kw})


def _leaves_equal(a, b) -> bool:
    def same(x, y) -> bool:
        x, y = np.asarray(x), np.asarray(y)
        return np.array_equal(x, y, equal_nan=np.issubdtype(x.dtype, np.inexact))

    return all(same(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


@pytest.fixture(scope="module")
def relu_run():
    """One small compiled program, shared by the tests that only read its output."""
    spec = _spec(epochs=3)
    return spec, training.train_many(spec, "relu", _sine(), range(5))


# ------------------------------------------------------------------------- optimiser


def test_adam_step_equals_keras_adam():
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "jax":
        pytest.skip("keras was imported with another backend")
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(5, 16)).astype(np.float32)
    grads = [rng.normal(size=(5, 16)).astype(np.float32) * s for s in (1.0, 1e-3, 10.0)]

    var = keras.Variable(w0)
    opt = keras.optimizers.Adam()
    opt.build([var])

    tx = training.keras_adam()
    params = jnp.asarray(w0)
    state = tx.init(params)
    for g in grads:
        opt.apply_gradients([(keras.ops.convert_to_tensor(g), var)])
        updates, state = tx.update(jnp.asarray(g), state, params)
        params = params + updates
        np.testing.assert_allclose(np.asarray(params), np.asarray(var.value), rtol=1e-6,
                                   atol=1e-7)


def test_keras_epsilon_is_not_optax_epsilon():
    # Keras adds eps to sqrt(v) before bias correction; optax.adam(eps=1e-7) after. On a
    # tiny gradient the first step differs visibly.
    import optax

    g = jnp.full((3,), 1e-6)
    ours, _ = training.keras_adam().update(g, training.keras_adam().init(g))
    theirs, _ = optax.adam(1e-3, eps=1e-7).update(g, optax.adam(1e-3, eps=1e-7).init(g))
    # Keras: -lr * g / (|g| + eps / sqrt(1 - b2)) at step 1.
    expected = -1e-3 * 1e-6 / (1e-6 + 1e-7 / np.sqrt(1 - 0.999))
    np.testing.assert_allclose(ours, expected, rtol=1e-5)
    assert not np.allclose(theirs, expected, rtol=1e-2)


# ------------------------------------------------------------------------- one epoch


def _reference_fit(spec, activation, data, params, orders):
    """model.fit, written as the plain loop it is: batches, Adam, epoch-end val_loss."""
    model = models.get(spec.model, activation)
    params = models.init_activation_params(params, spec.model, activation)
    tx = training.keras_adam(spec.learning_rate, spec.beta1, spec.beta2, spec.eps)
    state = tx.init(params)

    @jax.jit
    def step(params, state, x, y):
        def loss(p):
            return jnp.mean((model.apply(p, x) - y) ** 2)

        value, grads = jax.value_and_grad(loss)(params)
        updates, state = tx.update(grads, state, params)
        return jax.tree.map(jnp.add, params, updates), state, value

    losses, val_losses = [], []
    X, Y = np.asarray(data.X_fit), np.asarray(data.y_fit)
    for order in np.asarray(orders):
        total = 0.0
        for start in range(0, len(order), spec.batch_size):
            batch = order[start:start + spec.batch_size]
            params, state, value = step(params, state, X[batch], Y[batch])
            total += float(value) * len(batch)  # Keras' loss tracker weights by batch size
        losses.append(total / len(order))
        pred = model.apply(params, data.X_val)
        val_losses.append(float(np.mean((np.asarray(pred) - data.y_val) ** 2)))
    return params, np.array(losses), np.array(val_losses)


@pytest.mark.parametrize("batch_size", [1, 5])
def test_training_equals_a_plain_python_loop(batch_size):
    # 24 fit samples in batches of 5: the last batch holds 4, as in Keras.
    spec = _spec(epochs=2, batch_size=batch_size)
    data = _sine()
    out = training.train_many(spec, "tanh", data, [3])
    params, orders = training._start(spec, 5, 24, jax.random.key(3))
    ref_params, ref_loss, ref_val = _reference_fit(spec, "tanh", data, params, orders)
    np.testing.assert_allclose(out.loss[0], ref_loss, rtol=1e-5)
    np.testing.assert_allclose(out.val_loss[0], ref_val, rtol=1e-5)
    for a, b in zip(jax.tree.leaves(out.params), jax.tree.leaves(ref_params), strict=True):
        np.testing.assert_allclose(a[0], b, rtol=1e-5, atol=1e-7)
    assert int(out.best_epoch[0]) == spec.epochs - 1


@pytest.mark.parametrize("batch_size", [1, 5])
def test_a_direct_multi_step_head_trains_on_keras_mean_squared_error(batch_size):
    # A Dense(3) head on 3-step targets: Keras' MSE averages each window's three squared
    # errors, then the batch; the plain loop's jnp.mean over (batch, 3) is exactly that.
    H, L = 3, 5
    t = np.arange(40, dtype=np.float32)
    y = (np.sin(t / 3) + 1) / 2
    X = np.stack([y[i:i + L] for i in range(30)])
    Y = np.stack([y[i + L:i + L + H] for i in range(30)])
    data = training.TrainData.from_arrays(X[:24], Y[:24], X[24:], Y[24:])
    assert data.y_fit.shape == (24, H) and data.y_val.shape == (6, H)
    spec = _spec(epochs=2, batch_size=batch_size,
                 model=ModelSpec(family="mlp", units=4, outputs=H))
    out = training.train_many(spec, "tanh", data, [3])
    params, orders = training._start(spec, L, 24, jax.random.key(3))
    ref_params, ref_loss, ref_val = _reference_fit(spec, "tanh", data, params, orders)
    np.testing.assert_allclose(out.loss[0], ref_loss, rtol=1e-5)
    np.testing.assert_allclose(out.val_loss[0], ref_val, rtol=1e-5)
    for a, b in zip(jax.tree.leaves(out.params), jax.tree.leaves(ref_params), strict=True):
        np.testing.assert_allclose(a[0], b, rtol=1e-5, atol=1e-7)
    pred = training.predict_many(spec.model, "tanh", out.params, X[24:])
    assert pred.shape == (1, 6, H)


def test_val_loss_is_the_mse_of_the_final_weights_on_the_validation_tail(relu_run):
    spec, out = relu_run
    data = _sine()
    pred = np.asarray(training.predict_many(spec.model, "relu", out.params, data.X_val), np.float64)
    by_hand = ((pred - data.y_val) ** 2).mean(axis=1)
    np.testing.assert_allclose(out.val_loss[:, -1], by_hand, rtol=1e-5)


def test_without_a_validation_split_val_loss_is_nan():
    d = _sine()
    data = training.TrainData.from_arrays(d.X_fit, d.y_fit)
    out = training.train_many(_spec(), "tanh", data, [0])
    assert np.isnan(out.val_loss).all() and np.isfinite(out.loss).all()


def test_shuffle_orders_are_permutations_that_change_every_epoch():
    _, orders = training._start(_spec(epochs=6), 5, 24, jax.random.key(0))
    orders = np.asarray(orders)
    assert all(sorted(o) == list(range(24)) for o in orders)
    assert len({tuple(o) for o in orders}) == 6


# ------------------------------------------------------------------------- outcomes


def test_a_short_training_reduces_the_loss_on_a_sine():
    out = training.train_many(_spec(epochs=30), "tanh", _sine(), range(3))
    loss = np.asarray(out.loss)
    assert (loss[:, -1] < 0.5 * loss[:, 0]).all()
    assert not np.asarray(out.diverged).any()
    assert out.loss.shape == out.val_loss.shape == (3, 30)
    assert out.best_epoch.shape == out.diverged.shape == (3,)
    assert out.epoch_stats["dead_fraction"].shape == (3, 30)


def test_a_huge_learning_rate_is_flagged_not_raised():
    out = training.train_many(_spec(learning_rate=1e30), "relu", _sine(), range(2))
    assert np.asarray(out.diverged).all()
    forecasts = training.predict_many(ModelSpec(), "relu", out.params,
                                      _sine().X_val)
    assert forecasts.shape == (2, 6)


def test_early_stopping_restores_the_best_weights():
    # Validation targets are the mirror image of the fit targets, so fitting one worsens
    # the other: the validation loss soon rises and patience runs out.
    d = _sine()
    data = training.TrainData.from_arrays(d.X_fit, d.y_fit, d.X_val, 1.0 - d.y_val)
    spec = _spec(epochs=60, patience=3, learning_rate=1e-2)
    out = training.train_many(spec, "tanh", data, [0])
    val = np.asarray(out.val_loss[0])
    ran = np.isfinite(val)
    stopped_at = int(np.flatnonzero(ran)[-1])
    assert stopped_at < spec.epochs - 1, "the constructed case should stop early"
    assert np.isnan(np.asarray(out.loss[0])[~ran]).all()
    best = int(out.best_epoch[0])
    assert best == int(np.nanargmin(val))
    assert stopped_at - best == spec.patience  # Keras: wait >= patience
    pred = np.asarray(training.predict_many(spec.model, "tanh", out.params, data.X_val)[0])
    np.testing.assert_allclose(((pred - data.y_val) ** 2).mean(), val[best], rtol=1e-5)


def test_dead_fraction_counts_hidden_units_dead_on_every_fit_sample(relu_run):
    spec, out = relu_run
    data = _sine()
    dead = np.asarray(out.epoch_stats["dead_fraction"])[:, -1]
    for i in range(5):
        params = jax.tree.map(lambda a, i=i: a[i], out.params)
        _, (h,) = models.get(spec.model, "relu").hidden(params, data.X_fit)
        assert dead[i] == np.mean(np.all(np.asarray(h) == 0, axis=0))
    tanh = training.train_many(_spec(epochs=30), "tanh", data, range(3))
    np.testing.assert_array_equal(tanh.epoch_stats["dead_fraction"], 0.0)


def test_prelu_learns_its_slope():
    out = training.train_many(_spec(epochs=3), "prelu", _sine(), [2])
    slope = float(out.params["lstm"][0]["activation"]["weight"][0])
    assert slope != 0.25 and np.isfinite(slope)


def test_mlp_trains():
    spec = _spec(model=ModelSpec(family="mlp", units=8), epochs=20)
    out = training.train_many(spec, "relu", _sine(), [0, 1])
    loss = np.asarray(out.loss)
    assert (loss[:, -1] < loss[:, 0]).all()


# ------------------------------------------------------------------------- reproducibility


def test_same_seed_same_bits_and_batch_of_seeds_does_not_change_them(relu_run):
    spec, a = relu_run
    data = _sine()
    X = _sine().X_val
    b = training.train_many(spec, "relu", data, range(5))
    assert _leaves_equal(a, b)
    fa = np.asarray(training.predict_many(spec.model, "relu", a.params, X))
    single = training.train_many(spec, "relu", data, [2])
    fs = np.asarray(training.predict_many(spec.model, "relu", single.params, X))
    # Holds because each model's product is its own (M, K) x (K, N) dot, whatever the
    # number of models batched beside it.
    np.testing.assert_array_equal(fa[2], fs[0])


def test_train_is_the_per_seed_function():
    spec = _spec(epochs=3)
    data = training.TrainData(*(jnp.asarray(a) for a in _sine()))
    many = training.train_many(spec, "tanh", data, [0, 7])
    one = jax.jit(lambda d, k: training.train(spec, "tanh", d, k))(data, jax.random.key(7))
    # Forecast-deciding weights are bitwise equal; the per-epoch loss means may differ in
    # the last bit where XLA fuses their sum differently in the two programs.
    assert _leaves_equal(jax.tree.map(lambda a: a[1], many.params), one.params)
    np.testing.assert_allclose(many.loss[1], one.loss, rtol=1e-6)


def test_a_second_call_does_not_recompile():
    spec = _spec(epochs=30)
    data = _sine()
    training.train_many(spec, "tanh", data, range(3))
    before = training._fit_program.cache_info().misses
    # An equal spec built anew, from a study config that differs only outside training.
    config = preset("seed", epochs=30, activations=("tanh", "elu"), name="x")
    assert training.TrainSpec.from_config(config) == spec
    training.train_many(training.TrainSpec.from_config(config), "tanh", data, range(10, 13))
    assert training._fit_program.cache_info().misses == before


def test_a_group_of_activations_shares_one_program_and_keeps_each_ones_bits():
    spec = _spec(epochs=3, learning_rate=2e-3)
    data = _sine()
    assert training.program_groups(["relu", "prelu", "tanh", "elu"]) == [
        ("relu", "tanh", "elu"), ("prelu",)]
    before = training._fit_program.cache_info().misses
    fns = training.compile_groups(spec, ["relu", "tanh", "elu"], data, 2, workers=2)
    assert set(fns) == {"relu", "tanh", "elu"}
    assert training._fit_program.cache_info().misses == before + 1  # one program, not three
    # Each activation alone, in its own program: the same bits as through the switch.
    for name in ("relu", "tanh", "elu"):
        alone = training.train_many(spec, name, data, [4, 5])
        assert _leaves_equal(fns[name](data, np.array([4, 5])), alone)


def _series_data(config, lengths, seed=0):
    from relulab.windows import prepare

    rng = np.random.default_rng(seed)
    out = []
    for n in lengths:
        t = np.arange(n)
        out.append(training.TrainData.from_prepared(
            prepare(10 + 3 * np.sin(t / 4) + rng.normal(0, 0.5, n), config)))
    return out


@pytest.mark.parametrize("kw", [
    {"model": "lstm", "units": 3, "epochs": 12, "patience": 3, "lookback": 4},
    {"model": "mlp", "units": 5, "layers": 2, "epochs": 10, "batch_size": 4, "lookback": 6},
])
def test_series_of_different_lengths_share_a_program_bit_for_bit(kw):
    """Padded to shared row counts and trained in one batch, each series gives exactly the
    numbers it gives trained alone, unpadded: every field, every seed, every activation."""
    config = StudyConfig(activations=("tanh", "relu", "prelu"), seeds=3, test_size=5, **kw)
    spec = training.TrainSpec.from_config(config)
    datas = _series_data(config, (40, 57, 71))
    batch = training.make_batch(datas, rows=80, val_rows=12)
    assert batch.padded and batch.data.X_fit.shape[:2] == (3, 80)
    for group in training.program_groups(config.activations):
        prog = training.program(spec, group, batch, 3)
        for name in group:
            out = prog.train(name, batch, [0, 1, 2])
            for i, data in enumerate(datas):
                alone = training.train_many(spec, name, data, [0, 1, 2])
                assert _leaves_equal(jax.tree.map(lambda a, i=i: a[i], out), alone), (name, i)


def test_a_series_batch_gives_each_series_its_own_numbers():
    """The same series trained in a batch of one and in a batch of five (with others)."""
    config = StudyConfig(activations=("relu",), seeds=2, test_size=5, epochs=6, units=3)
    spec = training.TrainSpec.from_config(config)
    datas = _series_data(config, (50,) * 5, seed=3)
    five = training.program(spec, ("relu",), training.make_batch(datas), 2)
    out = five.train("relu", training.make_batch(datas), [7, 8])
    for i in (0, 4):
        one = training.make_batch([datas[i]])
        alone = training.program(spec, ("relu",), one, 2).train("relu", one, [7, 8])
        assert _leaves_equal(jax.tree.map(lambda a, i=i: a[i], out),
                             jax.tree.map(lambda a: a[0], alone))


def test_a_padded_batch_refuses_the_unmasked_program():
    """The unmasked program would train on the padding rows as data: never silently."""
    import dataclasses

    config = StudyConfig(activations=("relu",), seeds=1, test_size=5, epochs=2, units=3)
    spec = training.TrainSpec.from_config(config)
    batch = training.make_batch(_series_data(config, (40, 45)), rows=48, val_rows=8)
    masked = training.program(spec, ("relu",), batch, 1)
    assert masked.padded
    with pytest.raises(ValueError, match="padding rows"):
        dataclasses.replace(masked, padded=False).train("relu", batch, [0])


def test_train_spec_defaults_are_the_seed_preset():
    assert training.TrainSpec.from_config(preset("seed")) == training.TrainSpec()
    spec = training.TrainSpec.from_config(preset("seed", model="mlp", units=6, patience=3,
                                                 batch_size=4))
    assert spec.model == ModelSpec(family="mlp", units=6)
    assert (spec.patience, spec.batch_size) == (3, 4)
    # Keras: ceil(n / batch_size) steps, the last batch possibly smaller.
    assert [training.steps_per_epoch(spec, n) for n in (1, 4, 5, 24)] == [1, 1, 2, 6]
    with pytest.raises(RelulabError, match="batch_size must be at least 1"):
        training.TrainSpec(batch_size=0)


@pytest.mark.parametrize("field, value", [
    ("epochs", 0), ("batch_size", 0), ("patience", 0), ("learning_rate", 0.0),
    ("learning_rate", float("nan")), ("beta1", 1.0), ("beta2", -0.1), ("eps", 0.0),
])
def test_the_config_refuses_training_settings_in_the_specs_one_line(field, value):
    with pytest.raises(RelulabError) as from_config:
        StudyConfig(**{field: value})
    with pytest.raises(RelulabError) as from_spec:
        training.TrainSpec(**{field: value})
    assert str(from_config.value) == str(from_spec.value)
    assert str(from_spec.value).startswith(f"{field} must") and "\n" not in str(from_spec.value)

"""relulab.keras.KerasEngine: a user's Keras 3 model trained per activation over paired
seeds (JAX backend), on tiny data.

References are independent of the engine: the user's own model (the test's build keeps
it) evaluated in NumPy or by Keras after training, a training loop written here with
``train_on_batch`` over the documented batch order, and units made dead by construction.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")  # before anything imports keras

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from relulab.errors import RelulabError

keras = pytest.importorskip("keras")

from relulab import activations  # noqa: E402
from relulab.config import StudyConfig  # noqa: E402
from relulab.keras import KerasEngine, site_names  # noqa: E402
from relulab.keras.engine_keras import unit_records  # noqa: E402
from relulab.tasks import TaskData, run_record  # noqa: E402

FEATURES = 4


def _x(rng, n):
    return rng.standard_normal((n, FEATURES)).astype("float32")


def _classification(n=64, val=True):
    rng = np.random.default_rng(0)
    xs = [_x(rng, n) for _ in range(3)]
    ys = [(x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5) for x in xs]
    return TaskData("toy", "classification", xs[0], ys[0], xs[1], ys[1],
                    *((xs[2], ys[2]) if val else (None, None)), classes=3)


def _regression(n=64, val=True, y_val_sign=1.0):
    rng = np.random.default_rng(1)
    xs = [_x(rng, n) for _ in range(3)]
    ys = [(x[:, 0] - 2 * x[:, 1]).astype(np.float64) for x in xs]
    return TaskData("toy", "regression", xs[0], ys[0], xs[1], ys[1],
                    *((xs[2], y_val_sign * ys[2]) if val else (None, None)))


def _config(task, **kw):
    return StudyConfig(task=task, model="user", **{"epochs": 3, "batch_size": 16, **kw})


class Functional:
    """build(act): a functional model whose hidden layer applies ``act``; keeps every
    model it makes (and its weights when made) for the references."""

    def __init__(self, outputs, units=8, **dense):
        self.outputs, self.units, self.dense = outputs, units, dense
        self.models, self.initial = [], []

    def __call__(self, act):
        inputs = keras.Input((FEATURES,))
        h = keras.layers.Dense(self.units, activation=act, name="hidden", **self.dense)(inputs)
        model = keras.Model(inputs, keras.layers.Dense(self.outputs)(h))
        self.models.append(model)
        self.initial.append(model.get_weights())
        return model


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# -- classification and regression ------------------------------------------------------


def test_functional_classification_predicts_the_softmax_of_its_models_logits():
    data = _classification(val=False)
    build = Functional(3)
    engine = KerasEngine(build, {"relu": lambda: "relu"})
    fitted = engine.fit("relu", [3, 4], data, _config("classification"))

    assert [f.seed for f in fitted] == [3, 4]
    for f, model in zip(fitted, build.models, strict=True):
        assert f.loss.shape == (3,) and np.isfinite(f.loss).all()
        assert np.isnan(f.val_loss).all() and f.val_pred is None and f.best_epoch == 2
        assert f.test_pred.dtype == np.float64 and f.test_pred.shape == (64, 3)
        logits = np.asarray(model.predict(data.x_test, verbose=0), np.float64)
        np.testing.assert_allclose(f.test_pred, _softmax(logits), rtol=1e-5, atol=1e-7)
        record = run_record(data, "relu", f)
        assert not record.diverged and 0 <= record.metrics["accuracy"] <= 1
    # trained: the two seeds end apart, and each loss went down
    assert not np.allclose(fitted[0].test_pred, fitted[1].test_pred)
    assert all(f.loss[-1] < f.loss[0] for f in fitted)


@pytest.mark.parametrize("flat", [False, True], ids=["(n,1)", "(n,)"])
def test_sequential_regression_and_its_validation_loss(flat):
    data = _regression()
    head = [keras.layers.Dense(1), keras.layers.Reshape(())] if flat else [keras.layers.Dense(1)]
    models = []

    def build(act):
        models.append(keras.Sequential([keras.Input((FEATURES,)),
                                        keras.layers.Dense(8, activation=act), *head]))
        return models[-1]

    engine = KerasEngine(build, {"tanh": lambda: activations.get("tanh")})
    (f,) = engine.fit("tanh", [0], data, _config("regression", learning_rate=1e-2))
    assert f.test_pred.shape == (64,) and f.val_pred.shape == (64,)
    # the last epoch's validation loss is the MSE of the predictions made after it
    mse = np.mean((f.val_pred - data.y_val) ** 2)
    np.testing.assert_allclose(f.val_loss[-1], mse, rtol=1e-5)
    reference = np.asarray(models[0].predict(data.x_test, verbose=0), np.float64).reshape(-1)
    np.testing.assert_allclose(f.test_pred, reference, rtol=1e-5, atol=1e-6)
    assert f.loss[-1] < f.loss[0]


# -- pairing ----------------------------------------------------------------------------


def test_pairing_same_initial_weights_and_batch_orders_across_activations():
    data = _regression(n=48, val=False)
    build = Functional(1)
    # the same function under two names: paired seeds must train identically
    engine = KerasEngine(build, {"relu": lambda: "relu",
                                 "ours": lambda: activations.get("relu")})
    config = _config("regression", epochs=2, optimizer="sgd", learning_rate=0.05)
    a = engine.fit("relu", [7, 8], data, config)
    b = engine.fit("ours", [7, 8], data, config)
    first_relu, second_relu, first_ours, second_ours = build.initial
    for x, y in zip(first_relu, first_ours, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(first_relu[0], second_relu[0])  # seeds differ
    for x, y in zip(second_relu, second_ours, strict=True):
        np.testing.assert_array_equal(x, y)
    for fa, fb in zip(a, b, strict=True):
        np.testing.assert_allclose(fa.loss, fb.loss, rtol=1e-6)
        np.testing.assert_allclose(fa.test_pred, fb.test_pred, rtol=1e-5, atol=1e-7)

    # the documented order, trained here by hand from seed 8's initial weights
    model = keras.Sequential([keras.Input((FEATURES,)),
                              keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
    model.set_weights(second_relu)
    model.compile(keras.optimizers.SGD(0.05), "mse")
    y = data.y_train.astype("float32")[:, None]
    for epoch in range(2):
        order = np.random.default_rng([8, epoch]).permutation(48)
        for start in range(0, 48, 16):
            rows = order[start:start + 16]
            model.train_on_batch(data.x_train[rows], y[rows])
    reference = np.asarray(model.predict(data.x_test, verbose=0), np.float64).reshape(-1)
    np.testing.assert_allclose(a[1].test_pred, reference, rtol=1e-5, atol=1e-6)


# -- early stopping and divergence ------------------------------------------------------


def test_early_stopping_restores_the_best_epochs_weights():
    # The validation targets are the training targets' negation: the better the model
    # fits, the worse it validates, so the validation loss rises and training stops.
    data = _regression(y_val_sign=-1.0)
    engine = KerasEngine(Functional(1), {"relu": lambda: "relu"}, track_units=False)
    config = _config("regression", epochs=40, patience=2, learning_rate=0.05)
    (f,) = engine.fit("relu", [0], data, config)

    best = int(np.argmin(f.val_loss))
    assert f.best_epoch == best
    assert len(f.loss) == best + 2 + 1 < 40  # stopped `patience` epochs after the best
    mse = np.mean((f.val_pred - data.y_val) ** 2)
    np.testing.assert_allclose(mse, f.val_loss[best], rtol=1e-5)
    assert f.val_loss[-1] > f.val_loss[best] * 1.01
    assert f.epoch_stats == {} and f.unit_stats == {}


def test_a_diverging_seed_stops_and_is_marked_diverged():
    data = _regression(val=False)
    data = TaskData("big", "regression", data.x_train * 100, data.y_train * 1e4,
                    data.x_test, data.y_test)
    engine = KerasEngine(Functional(1), {"relu": lambda: "relu"})
    config = _config("regression", epochs=30, optimizer="sgd", learning_rate=1e3)
    (f,) = engine.fit("relu", [0], data, config)
    assert len(f.loss) < 30 and not np.isfinite(f.loss[-1])
    assert np.isfinite(f.loss[:-1]).all()
    assert f.best_epoch == len(f.loss) - 1
    record = run_record(data, "relu", f)
    assert record.diverged and np.isnan(record.metrics["rmse"])


# -- dead units -------------------------------------------------------------------------


def test_a_layer_with_bias_minus_100_is_all_dead():
    data = _classification(val=False)
    build = Functional(3, bias_initializer=keras.initializers.Constant(-100.0))
    engine = KerasEngine(build, {"relu": lambda: "relu"})
    (f,) = engine.fit("relu", [0], data, _config("classification"))
    for key in ("dead_share:hidden", "dormant_share:hidden", "dead_fraction"):
        np.testing.assert_array_equal(f.epoch_stats[key], [1.0, 1.0, 1.0])
    assert f.unit_stats["dead:hidden"].tolist() == [True] * 8
    assert f.unit_stats["death_epoch:hidden"].tolist() == [0] * 8
    assert f.unit_stats["came_back:hidden"].tolist() == [False] * 8


def _half_dead(shape, dtype=None):
    return keras.ops.convert_to_tensor(np.where(np.arange(shape[0]) % 2, 0.0, -100.0), dtype)


def test_dead_units_match_numpy_on_the_tracked_inputs():
    data = _classification(val=False)
    build = Functional(3, units=6, bias_initializer=_half_dead)
    engine = KerasEngine(build, {"relu": lambda: "relu"}, max_track=20)
    (f,) = engine.fit("relu", [2], data, _config("classification", epochs=2))
    kernel, bias = build.models[0].get_layer("hidden").get_weights()
    h = np.maximum(data.x_train[:20].astype(np.float64) @ kernel + bias, 0)
    reference = (h == 0).all(axis=0)
    assert reference[::2].all()  # the -100 units, at least
    np.testing.assert_array_equal(f.unit_stats["dead:hidden"], reference)
    assert f.epoch_stats["dead_share:hidden"][-1] == reference.mean()
    assert (f.unit_stats["dormant:hidden"] >= reference).all()  # dead => dormant


def test_unit_records_by_hand():
    # one site of three units over four epochs: unit 0 dies at epoch 1 and comes back at
    # 3, unit 1 is dead from the start, unit 2 never dies; epoch 2's weights are kept
    dead = [[np.array(m, bool)] for m in ([0, 1, 0], [1, 1, 0], [1, 1, 0], [0, 1, 0])]
    dormant = [[np.array(m, bool)] for m in ([0, 1, 1], [1, 1, 0], [1, 1, 1], [0, 1, 0])]
    epoch_stats, unit_stats = unit_records(["s"], dead, dormant, kept=2)
    np.testing.assert_allclose(epoch_stats["dead_share:s"], [1 / 3, 2 / 3, 2 / 3, 1 / 3])
    np.testing.assert_allclose(epoch_stats["dormant_share:s"], [2 / 3, 2 / 3, 1, 1 / 3])
    np.testing.assert_allclose(epoch_stats["dead_fraction"], [1 / 3, 2 / 3, 2 / 3, 1 / 3])
    assert unit_stats["death_epoch:s"].tolist() == [1, 0, -1]
    assert unit_stats["came_back:s"].tolist() == [True, False, False]
    assert unit_stats["dead:s"].tolist() == [True, True, False]
    assert unit_stats["dormant:s"].tolist() == [True, True, True]


# -- names --------------------------------------------------------------------------------


def test_site_names_do_not_depend_on_models_built_before():
    data = _classification(val=False)

    def build(act):
        inputs = keras.Input((FEATURES,))
        h = keras.layers.Dense(5, activation=act)(inputs)
        h = keras.layers.Dense(5, activation=act, name="mine")(h)
        h = keras.layers.Dense(5, activation=act)(h)
        return keras.Model(inputs, keras.layers.Dense(3)(h))

    engine = KerasEngine(build, {"elu": lambda: "elu"})
    config = _config("classification", epochs=1)
    (first,) = engine.fit("elu", [0], data, config)
    [keras.layers.Dense(2) for _ in range(5)]  # Keras' counter moves on
    (second,) = engine.fit("elu", [1], data, config)
    want = {"dead:dense", "dead:mine", "dead:dense_1"}
    assert want <= set(first.unit_stats) and set(first.unit_stats) == set(second.unit_stats)
    assert not any(k.startswith("dead:dense_2") for k in first.unit_stats)  # the head


def test_site_names_by_hand():
    layers = [keras.layers.Dense(1, name="dense_4"), keras.layers.Conv1D(1, 1, name="dense_1"),
              keras.layers.Dense(1, name="head"), keras.layers.Dense(1, name="dense_9"),
              keras.layers.Conv1D(1, 1, name="conv1d_3")]
    # Keras' own names renumbered by class; a user's name kept, the later of a clash suffixed
    assert site_names(layers) == ["dense", "dense_1", "head", "dense_1_1", "conv1d"]


# -- refusals -----------------------------------------------------------------------------


def _one_line(excinfo):
    return "\n" not in str(excinfo.value)


def test_a_build_that_ignores_its_activation_is_refused():
    def build(act):
        return keras.Sequential([keras.Input((FEATURES,)),
                                 keras.layers.Dense(8, activation="relu"),
                                 keras.layers.Dense(3)])

    engine = KerasEngine(build, {"gelu": lambda: activations.get("gelu")})
    with pytest.raises(RelulabError, match="does not use it") as excinfo:
        engine.fit("gelu", [0], _classification(val=False), _config("classification"))
    assert _one_line(excinfo) and "activation=act" in str(excinfo.value)


def test_an_activation_layer_is_used_and_is_its_own_site():
    def build(act):
        inputs = keras.Input((FEATURES,))
        h = act(keras.layers.Dense(8, name="pre")(inputs))
        return keras.Model(inputs, keras.layers.Dense(3)(h))

    engine = KerasEngine(build, {"prelu": lambda: keras.layers.PReLU(name="act")})
    (f,) = engine.fit("prelu", [0], _classification(val=False),
                      _config("classification", epochs=1))
    assert set(f.unit_stats) == {f"{k}:act" for k in ("dead", "dormant", "death_epoch",
                                                      "came_back")}


@pytest.mark.parametrize("task, outputs, match", [
    ("classification", 2, r"outputs shape \(n, 2\) but a classification of this data "
                          r"needs \(n, 3\)"),
    ("regression", 3, r"outputs shape \(n, 3\) but a regression of this data needs \(n,\)"),
])
def test_a_wrong_output_shape_is_refused(task, outputs, match):
    data = _classification(val=False) if task == "classification" else _regression(val=False)
    engine = KerasEngine(Functional(outputs), {"relu": lambda: "relu"})
    with pytest.raises(RelulabError, match=match) as excinfo:
        engine.fit("relu", [0], data, _config(task))
    assert _one_line(excinfo)


def test_a_softmax_output_is_refused():
    def build(act):
        return keras.Sequential([keras.Input((FEATURES,)), keras.layers.Dense(8, activation=act),
                                 keras.layers.Dense(3, activation="softmax")])

    engine = KerasEngine(build, {"relu": lambda: "relu"})
    with pytest.raises(RelulabError, match="ends in a softmax") as excinfo:
        engine.fit("relu", [0], _classification(val=False), _config("classification"))
    assert _one_line(excinfo)


def test_unknown_activation_and_bad_arguments():
    engine = KerasEngine(Functional(3), {"relu": lambda: "relu"})
    with pytest.raises(RelulabError, match="unknown activation 'gelu'; known: relu"):
        engine.fit("gelu", [0], _classification(val=False), _config("classification"))
    for kwargs in ({"max_track": 0}, {"dormant_threshold": -1.0}):
        with pytest.raises(RelulabError):
            KerasEngine(Functional(3), {"relu": lambda: "relu"}, **kwargs)
    with pytest.raises(RelulabError, match="non-empty dict"):
        KerasEngine(Functional(3), {})


# -- describe -----------------------------------------------------------------------------


def test_describe_names_the_model_and_its_parameters():
    build = Functional(3)
    described = KerasEngine(build, {"relu": lambda: "relu"}).describe()
    assert described["framework"] == "keras" and described["backend"] == "jax"
    assert described["parameters"] == FEATURES * 8 + 8 + 8 * 3 + 3
    assert described["model"] == ("Functional: InputLayer (n, 4) -> Dense (n, 8) -> "
                                  "Dense (n, 3)")
    # on the JAX backend the seeds will train as one program
    assert described["vectorised"] is True and described["why"] == ""
    assert described["seeds"] == ""  # no fit yet


# -- seeds as one program ------------------------------------------------------------------


class Regularised:
    """A model with every kind of state a step updates: dropout's seed generator, batch
    norm's moving statistics, a kernel regulariser's penalty in the loss."""

    def __init__(self):
        self.models = []

    def __call__(self, act):
        inputs = keras.Input((FEATURES,))
        h = keras.layers.Dense(8, activation=act, name="hidden",
                               kernel_regularizer=keras.regularizers.L2(1e-3))(inputs)
        h = keras.layers.BatchNormalization()(h)
        h = keras.layers.Dropout(0.2)(h)
        h = keras.layers.Activation(act, name="again")(keras.layers.Dense(6)(h))
        self.models.append(keras.Model(inputs, keras.layers.Dense(1)(h)))
        return self.models[-1]


def _same_fits(vectorised, looped):
    for a, b in zip(vectorised, looped, strict=True):
        assert a.seed == b.seed and a.best_epoch == b.best_epoch
        np.testing.assert_allclose(a.loss, b.loss, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(a.val_loss, b.val_loss, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(a.test_pred, b.test_pred, rtol=1e-5, atol=1e-6)
        if b.val_pred is not None:
            np.testing.assert_allclose(a.val_pred, b.val_pred, rtol=1e-5, atol=1e-6)
        assert a.epoch_stats.keys() == b.epoch_stats.keys()
        for key in b.epoch_stats:
            np.testing.assert_allclose(a.epoch_stats[key], b.epoch_stats[key])
        for key in b.unit_stats:
            np.testing.assert_array_equal(a.unit_stats[key], b.unit_stats[key])


def test_seeds_as_one_program_equal_the_loop_seed_by_seed_with_early_stopping():
    # The validation targets are half the truth: fitting helps for a while, then hurts,
    # so each seed stops early at its own epoch.
    data = _regression(y_val_sign=0.5)
    config = _config("regression", epochs=30, patience=2, learning_rate=0.02)
    fits, builds = {}, {}
    for vectorise in (True, False):
        builds[vectorise] = Regularised()
        engine = KerasEngine(builds[vectorise], {"relu": lambda: "relu"}, vectorise=vectorise)
        fits[vectorise] = engine.fit("relu", [0, 1, 2, 3], data, config)
        assert engine.describe()["seeds"] == ("jax.vmap" if vectorise else "loop")
        assert engine.describe()["vectorised"] is vectorise
    _same_fits(fits[True], fits[False])
    stopped = {len(f.loss) for f in fits[True]}
    assert len(stopped) > 1 and max(stopped) < 30  # the seeds stopped at different epochs
    assert len({f.best_epoch for f in fits[True]}) > 1
    assert "dead_share:hidden" in fits[True][0].epoch_stats
    assert "dead_share:again" in fits[True][0].epoch_stats
    # each seed's model holds the weights it was kept with, as after model.fit
    for a, b in zip(builds[True].models, builds[False].models, strict=True):
        for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
            np.testing.assert_allclose(wa, wb, rtol=1e-4, atol=1e-6)


def test_seeds_as_one_program_diverge_each_on_its_own():
    data = _regression(val=False)
    data = TaskData("big", "regression", data.x_train * 10, data.y_train * 100,
                    data.x_test, data.y_test)
    config = _config("regression", epochs=30, optimizer="sgd", learning_rate=6e-4)
    fits = [KerasEngine(Functional(1), {"relu": lambda: "relu"}, vectorise=v)
            .fit("relu", [0, 1, 2, 3], data, config) for v in (True, False)]
    ends = [len(f.loss) for f in fits[False]]
    assert min(ends) < 30 and len(set(ends)) > 1  # they diverged, not all at once
    assert [len(f.loss) for f in fits[True]] == ends
    for a, b in zip(*fits, strict=True):
        np.testing.assert_allclose(a.loss[:-1], b.loss[:-1], rtol=1e-5)
        assert np.isfinite(a.loss[-1]) == np.isfinite(b.loss[-1])


class _Eager(keras.layers.Layer):
    """A layer that says XLA cannot compile it (Keras then runs fit eagerly)."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.supports_jit = False

    def call(self, x):
        return x * 2.0


def test_a_model_xla_cannot_compile_loops_its_seeds_and_says_why():
    data = _classification(val=False)

    def build(act):
        inputs = keras.Input((FEATURES,))
        h = keras.layers.Dense(8, activation=act)(inputs)
        return keras.Model(inputs, keras.layers.Dense(3)(_Eager()(h)))

    engine = KerasEngine(build, {"relu": lambda: "relu"})
    fitted = engine.fit("relu", [0, 1], data, _config("classification"))
    assert len(fitted) == 2 and all(np.isfinite(f.loss).all() for f in fitted)
    described = engine.describe()
    assert described["seeds"] == "loop" and described["vectorised"] is False
    assert described["why"] == ("seeds looped: a layer of the model does not support XLA "
                                "compilation")


def test_seeds_whose_models_differ_loop_and_say_why():
    data = _classification(val=False)
    widths = iter([4, 5, 4, 5])

    def build(act):
        inputs = keras.Input((FEATURES,))
        h = keras.layers.Dense(next(widths), activation=act)(inputs)
        return keras.Model(inputs, keras.layers.Dense(3)(h))

    engine = KerasEngine(build, {"relu": lambda: "relu"})
    fitted = engine.fit("relu", [0, 1], data, _config("classification"))
    assert [f.seed for f in fitted] == [0, 1]
    assert "differ in their variables' shapes" in engine.describe()["why"]
    assert engine.describe()["seeds"] == "loop"


# -- the torch backend --------------------------------------------------------------------

TORCH_SCRIPT = """
    import warnings
    warnings.simplefilter("error", UserWarning)  # Keras' input-structure warning included
    import numpy as np
    import keras
    from relulab.config import StudyConfig
    from relulab.keras import KerasEngine
    from relulab.tasks import TaskData
    assert keras.backend.backend() == "torch"
    rng = np.random.default_rng(0)
    x = rng.standard_normal((96, 4)).astype("float32")
    y = (x[:, 0] > 0).astype(np.int64)
    data = TaskData("toy", "classification", x[:32], y[:32], x[32:64], y[32:64],
                    x[64:], y[64:], classes=2)

    def build(act):
        return keras.Sequential([keras.Input((4,)),
                                 keras.layers.Dense(6, activation=act, name="hidden",
                                                    bias_initializer=keras.initializers.Constant(-100.0)),
                                 keras.layers.Dense(2)])

    engine = KerasEngine(build, {"relu": lambda: "relu"})
    config = StudyConfig(task="classification", model="user", epochs=3, batch_size=16,
                         patience=1)
    (f,) = engine.fit("relu", [0], data, config)
    assert f.test_pred.shape == (32, 2) and np.allclose(f.test_pred.sum(axis=1), 1.0)
    assert np.isfinite(f.val_loss).all()
    assert f.epoch_stats["dead_share:hidden"].tolist() == [1.0] * len(f.loss)
    assert engine.describe()["backend"] == "torch"
    print("ok")
"""


@pytest.mark.slow
def test_the_engine_under_the_torch_backend():
    pytest.importorskip("torch")
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(TORCH_SCRIPT)], env=env,
                          capture_output=True, text=True, timeout=180)
    if done.returncode and "ModuleNotFoundError" in done.stderr:
        pytest.skip(f"Keras' torch backend does not import here: {done.stderr[-300:]}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("ok")

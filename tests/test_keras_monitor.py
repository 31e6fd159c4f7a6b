"""relulab.keras.DeadUnitCallback on small Keras 3 models (JAX backend; one torch run).

The references are made by construction and checked in NumPy: units whose bias is -1e3
under a small kernel cannot leave ReLU's zero (dead), and under GELU/SiLU they output tiny
nonzero values (dormant, not dead). A learning rate of 0 keeps the weights where they were
put, so every measured epoch must name exactly those units.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")  # before anything imports keras

import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

from relulab.errors import RelulabError

keras = pytest.importorskip("keras")

from relulab.keras import DeadUnitCallback, DeadUnitWarning, unit_activity  # noqa: E402

N, FEATURES, UNITS = 100, 6, 16
DEAD = [1, 4, 5, 7, 9, 10, 11, 12, 14]  # 9 of 16: more than warn_share=0.5


@pytest.fixture(scope="module")
def xy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, FEATURES)).astype("float32")
    return x, x[:, :1] - x[:, 1:2]


def _frozen(model):
    model.compile(keras.optimizers.SGD(learning_rate=0.0), "mse")  # weights stay as set
    return model


def _with_negative_biases(layer, units, bias, kernel_scale):
    kernel, b = layer.get_weights()
    b[:] = 0.0
    b[units] = bias
    layer.set_weights([kernel * kernel_scale, b])
    return layer.get_weights()


def _dense_model(activation, units=UNITS, bias=-1e3, kernel_scale=1e-3):
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((FEATURES,)),
                              keras.layers.Dense(units, activation=activation, name="hidden"),
                              keras.layers.Dense(1, name="head")])
    weights = _with_negative_biases(model.get_layer("hidden"), DEAD, bias, kernel_scale)
    return _frozen(model), weights


# -- the numbers ------------------------------------------------------------------------


def test_unit_activity_by_hand():
    # mean of the sums is 1.2: scores 0, 1/12, 0.83, 1.67, 2.42
    found = unit_activity(np.array([0.0, 0.1, 1.0, 2.0, 2.9]), threshold=0.1)
    assert found.dead.tolist() == [0]
    assert found.dormant.tolist() == [0, 1]
    assert unit_activity(np.array([0.0, 0.1, 1.0]), threshold=0.0).dormant.tolist() == [0]
    all_dead = unit_activity(np.zeros(3), threshold=0.1)
    assert all_dead.dead.tolist() == all_dead.dormant.tolist() == [0, 1, 2]
    # a float32 subnormal is not zero; a NaN output is neither dead nor dormant
    assert unit_activity(np.array([1e-45, 1.0]), 0.1).dead.size == 0
    assert unit_activity(np.array([np.nan, 1.0]), 0.1).dormant.size == 0


# -- the seed article's model -----------------------------------------------------------


def test_article_snippet_leaky_relu_has_no_dead_units(xy):
    x, y = xy
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((FEATURES,)), keras.layers.Dense(64),
                              keras.layers.LeakyReLU(), keras.layers.Dense(1)])
    model.compile("adam", "mse")
    monitor = DeadUnitCallback(x)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[monitor])

    h = monitor.history
    leaky = model.layers[1].name
    assert h["layer"].tolist() == [leaky, leaky]  # the Dense layers are linear: skipped
    assert h["epoch"].tolist() == [1, 2]
    assert h["activation"].tolist() == ["leaky_relu", "leaky_relu"]
    assert (h["units"] == 64).all()
    assert (h["dead"] == 0).all() and h["dead_units"].tolist() == [(), ()]


# -- dead units -------------------------------------------------------------------------


def test_known_dead_units_every_second_epoch_and_one_warning(xy):
    x, y = xy
    model, (kernel, bias) = _dense_model("relu")
    # the reference: NumPy's ReLU of the layer's own weights, all zero on every sample
    reference = np.flatnonzero((np.maximum(x @ kernel + bias, 0) == 0).all(axis=0))
    assert reference.tolist() == DEAD

    monitor = DeadUnitCallback((x, y), every=2, batch_size=17)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, epochs=5, verbose=0, callbacks=[monitor])

    h = monitor.history
    assert h["epoch"].tolist() == [2, 4]
    assert (h["layer"] == "hidden").all() and (h["units"] == UNITS).all()
    assert all(units == tuple(DEAD) for units in h["dead_units"])
    assert (h["dead"] == len(DEAD)).all()
    assert np.allclose(h["dead_fraction"], len(DEAD) / UNITS)
    assert all(set(DEAD) <= set(units) for units in h["dormant_units"])  # dead => dormant
    ours = [str(w.message) for w in caught if issubclass(w.category, DeadUnitWarning)]
    assert len(ours) == 1
    assert ours[0].startswith(f"hidden: {len(DEAD)} of {UNITS} units dead after epoch 2")
    assert "LeakyReLU" in ours[0] and "\n" not in ours[0]


@pytest.mark.parametrize("activation", ["gelu", "silu"])
def test_smooth_activation_is_dormant_not_dead(xy, activation):
    x, y = xy
    # Pre-activations near -12: outputs ~1e-5 (SiLU) or far smaller (GELU), never 0.
    model, (kernel, bias) = _dense_model(activation, bias=-12.0, kernel_scale=0.1)
    z = x.astype(np.float64) @ kernel + bias
    assert (z[:, DEAD] < -10).all() and (np.abs(z[:, [0, 2, 3]]) < 3).all()

    monitor = DeadUnitCallback(x)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[monitor])
    row = monitor.history.iloc[0]
    assert row["dead"] == 0
    assert row["dormant_units"] == tuple(DEAD)


# -- the forms of data ------------------------------------------------------------------


class _Batches(keras.utils.PyDataset):
    def __init__(self, x, y, size):
        super().__init__()
        self.x, self.y, self.size = x, y, size

    def __len__(self):
        return -(-len(self.x) // self.size)

    def __getitem__(self, i):
        s = slice(i * self.size, (i + 1) * self.size)
        return self.x[s], self.y[s]


def test_arrays_pydataset_and_generators_agree(xy):
    x, y = xy
    model, _ = _dense_model("relu", kernel_scale=1.0)

    def generate():  # a generator function: a fresh pass every time it is called
        for start in range(0, N, 30):
            yield x[start:start + 30], y[start:start + 30]

    forms = {
        "x": DeadUnitCallback(x, warn_share=1.0),
        "(x, y)": DeadUnitCallback((x, y), batch_size=7, warn_share=1.0),
        "PyDataset": DeadUnitCallback(_Batches(x, y, 25), warn_share=1.0),
        "generator": DeadUnitCallback(generate, warn_share=1.0),
        "list of batches": DeadUnitCallback(list(generate()), warn_share=1.0),
    }
    model.fit(x, y, epochs=2, verbose=0, callbacks=list(forms.values()))

    first = forms["x"].history
    assert first["dead_units"].tolist() == [tuple(DEAD)] * 2
    for name, monitor in forms.items():
        h = monitor.history
        for column in ("epoch", "layer", "units", "dead_units", "dormant_units"):
            assert h[column].tolist() == first[column].tolist(), (name, column)


def test_one_shot_generator_is_refused(xy):
    x, _ = xy
    with pytest.raises(RelulabError, match="function that returns a new one"):
        DeadUnitCallback(iter([x]))


# -- convolutions, skipped layers, unsupported models -----------------------------------


def test_conv2d_units_are_channels_and_softmax_is_skipped():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((20, 6, 6, 2)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 20)]
    keras.utils.set_random_seed(3)
    model = keras.Sequential([
        keras.Input((6, 6, 2)),
        keras.layers.Conv2D(5, 3, activation="relu", name="conv"),
        keras.layers.Flatten(),
        keras.layers.Dense(3, activation="softmax", name="probs"),
    ])
    _with_negative_biases(model.get_layer("conv"), [3], -1e3, 1.0)
    _frozen(model)

    monitor = DeadUnitCallback(x, batch_size=8)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[monitor])
    h = monitor.history
    assert h["layer"].tolist() == ["conv"]
    assert h["units"].tolist() == [5]
    assert h["dead_units"].tolist() == [(3,)]


def test_activation_layers_are_monitored(xy):
    x, y = xy
    keras.utils.set_random_seed(4)
    inputs = keras.Input((FEATURES,))
    z = keras.layers.Dense(8, name="pre")(inputs)
    a = keras.layers.ReLU(name="relu")(z)
    b = keras.layers.PReLU(name="prelu")(z)
    c = keras.layers.Activation("tanh", name="tanh")(z)
    d = keras.layers.Softmax(name="softmax")(z)
    out = keras.layers.Dense(1)(keras.layers.Concatenate()([a, b, c, d]))
    model = _frozen(keras.Model(inputs, out))

    monitor = DeadUnitCallback(x)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[monitor])
    h = monitor.history
    assert h["layer"].tolist() == ["relu", "prelu", "tanh"]
    assert h["activation"].tolist() == ["relu", "prelu", "tanh"]
    assert (h["units"] == 8).all()


def test_subclassed_model_is_refused_with_a_clear_error(xy):
    x, y = xy

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden = keras.layers.Dense(4, activation="relu")
            self.head = keras.layers.Dense(1)

        def call(self, inputs):
            return self.head(self.hidden(inputs))

    model = Subclassed()
    model.compile("sgd", "mse")
    with pytest.raises(RelulabError, match=r"functional API or keras\.Sequential"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[DeadUnitCallback(x)])


@pytest.mark.parametrize("kwargs", [{"every": 0}, {"threshold": -0.1},
                                    {"warn_share": 1.5}, {"batch_size": 0}])
def test_bad_arguments(xy, kwargs):
    with pytest.raises(RelulabError):
        DeadUnitCallback(xy[0], **kwargs)


# -- import costs and the torch backend -------------------------------------------------


def _run(script: str, backend: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KERAS_BACKEND": backend}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env=env,
                          capture_output=True, text=True, timeout=120)


def test_import_relulab_does_not_import_keras():
    done = _run("""
        import sys
        import relulab, relulab.activations
        assert "keras" not in sys.modules
    """, "jax")
    assert done.returncode == 0, done.stderr


def test_keras_without_a_backend_is_one_line_naming_keras_backend(tmp_path):
    import importlib.util

    if importlib.util.find_spec("tensorflow") is not None:
        pytest.skip("TensorFlow is installed: Keras loads it")
    # A fresh KERAS_HOME: no keras.json names a backend, so Keras reaches for TensorFlow.
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env["KERAS_HOME"] = str(tmp_path)
    done = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        from relulab.errors import RelulabError
        try:
            import relulab.keras
        except RelulabError as error:
            assert isinstance(error, ImportError)
            print(error)
    """)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip()
    assert "\n" not in line
    for fragment in ("No module named 'tensorflow'", "set KERAS_BACKEND=jax (or torch)",
                     "pip install tensorflow"):
        assert fragment in line, line


TORCH_SCRIPT = """
    import numpy as np
    import keras
    from relulab.keras import DeadUnitCallback
    assert keras.backend.backend() == "torch"
    x = np.random.default_rng(0).standard_normal((40, 6)).astype("float32")
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(1)])
    hidden = model.layers[0]
    kernel, bias = hidden.get_weights()
    bias[[2, 5]] = -1e3
    hidden.set_weights([kernel * 1e-3, bias])
    model.compile(keras.optimizers.SGD(learning_rate=0.0), "mse")
    monitor = DeadUnitCallback(x, every=2, batch_size=16)
    model.fit(x, x[:, :1], epochs=2, verbose=0, callbacks=[monitor])
    h = monitor.history
    assert h["epoch"].tolist() == [2], h
    assert h["dead_units"].tolist() == [(2, 5)], h
    print("ok")
"""


def test_dead_units_under_the_torch_backend():
    pytest.importorskip("torch")
    done = _run(TORCH_SCRIPT, "torch")
    if done.returncode and "ModuleNotFoundError" in done.stderr:
        pytest.skip(f"Keras' torch backend does not import here: {done.stderr[-300:]}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("ok")

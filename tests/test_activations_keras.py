"""Each Activation works as a Keras 3 activation under Keras' JAX and PyTorch backends.

Keras picks its backend from KERAS_BACKEND at import, so each backend runs in a fresh
subprocess. The reference is Keras' own activation of the same name, applied to the layer's
pre-activation (the same Dense layer with activation=None and the same weights). A model
with relulab activations also round-trips through model.save / keras.models.load_model
without custom_objects: the JAX run imports relulab before Keras (the registration hook
fires on Keras' import), the torch run imports Keras first (registered at relulab's import).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    import json
    import os
    import sys
    import numpy as np
    if os.environ["RELULAB_IMPORT_FIRST"] == "relulab":
        from relulab import activations as A
        assert "keras" not in sys.modules  # relulab must not import Keras (slow)
        import keras
    else:
        import keras
        from relulab import activations as A

    # our name -> (our params, Keras' own twin)
    K = keras.activations
    TWINS = {
        "relu": ({}, K.relu),
        "leaky_relu": ({}, lambda z: K.leaky_relu(z, negative_slope=0.01)),
        "prelu": ({"weight": 0.25}, lambda z: K.leaky_relu(z, negative_slope=0.25)),
        "elu": ({"alpha": 1.0}, K.elu),
        "gelu": ({}, lambda z: K.gelu(z, approximate=False)),
        "selu": ({}, K.selu),
        "celu": ({}, K.celu),
        "silu": ({}, K.silu),
        "mish": ({}, K.mish),
        "softplus": ({}, K.softplus),
        "relu6": ({}, K.relu6),
        "hard_tanh": ({}, K.hard_tanh),
        "tanh": ({}, K.tanh),
        "sigmoid": ({}, K.sigmoid),
        "identity": ({}, K.linear),
    }
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 5, 3)).astype("float32")
    out = {"backend": keras.backend.backend(), "errors": {}}
    for name in A.names():
        params, twin = TWINS[name]
        act = A.get(name, **params)
        lstm = keras.layers.LSTM(4, activation=act)
        dense = keras.layers.Dense(8, activation=act)
        model = keras.Sequential([keras.Input((5, 3)), lstm, dense])
        y = keras.ops.convert_to_numpy(model(x))
        h = lstm(x)
        linear = keras.layers.Dense(8, activation=None)
        linear.build(h.shape)
        linear.set_weights(dense.get_weights())
        ref = keras.ops.convert_to_numpy(twin(linear(h)))
        err = float(np.max(np.abs(y - ref)))
        loss_finite = True
        if name in ("gelu", "prelu", "softplus"):  # training: the backend's autodiff (slow)
            model.compile(optimizer="sgd", loss="mse")
            hist = model.fit(x, np.zeros((6, 8), "float32"), epochs=2, verbose=0)
            loss_finite = bool(np.all(np.isfinite(hist.history["loss"])))
        config = dense.get_config()["activation"]
        restored = keras.saving.deserialize_keras_object(config)  # registered: no custom_objects
        out["errors"][name] = {
            "max_abs_err": err,
            "loss_finite": loss_finite,
            "restored": restored == act,
            "lstm_config_ok": isinstance(lstm.get_config(), dict),
        }

    # save / load_model round trip, no custom_objects
    model = keras.Sequential([
        keras.Input((5, 3)), keras.layers.LSTM(4, activation=A.get("celu", alpha=0.5)),
        keras.layers.Dense(2, activation=A.get("gelu", approximate="tanh"))])
    path = os.path.join(os.environ["RELULAB_KERAS_DIR"], "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    out["round_trip"] = {
        "registered_name": model.layers[1].get_config()["activation"]["registered_name"],
        "activations": [repr(layer.activation) for layer in loaded.layers],
        "same_output": bool(np.array_equal(keras.ops.convert_to_numpy(model(x)),
                                           keras.ops.convert_to_numpy(loaded(x)))),
    }
    print(json.dumps(out))
    """
)


BACKENDS = ["jax", "torch"]


IMPORT_FIRST = {"jax": "relulab", "torch": "keras"}


@pytest.fixture(scope="module")
def keras_runs(tmp_path_factory) -> dict[str, subprocess.Popen]:
    """Both backends start at once (two cores): each subprocess mostly imports and traces."""
    if importlib.util.find_spec("keras") is None:
        pytest.skip("keras not installed")
    runs = {}
    for backend in BACKENDS:
        if importlib.util.find_spec(backend) is None:
            continue
        env = {**os.environ, "KERAS_BACKEND": backend, "JAX_PLATFORMS": "cpu",
               "RELULAB_IMPORT_FIRST": IMPORT_FIRST[backend],
               "RELULAB_KERAS_DIR": str(tmp_path_factory.mktemp(f"keras_{backend}"))}
        runs[backend] = subprocess.Popen(
            [sys.executable, "-c", SCRIPT], env=env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )
    return runs


@pytest.mark.parametrize("backend", BACKENDS)
def test_activations_work_as_keras_activations(backend, keras_runs):
    if backend not in keras_runs:
        pytest.skip(f"{backend} not installed")
    stdout, stderr = keras_runs[backend].communicate(timeout=300)
    assert keras_runs[backend].returncode == 0, stderr[-3000:]
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result["backend"] == backend
    for name, r in result["errors"].items():
        assert r["max_abs_err"] <= 1e-5, (name, r)
        assert r["loss_finite"] and r["restored"] and r["lstm_config_ok"], (name, r)
    trip = result["round_trip"]
    assert trip["registered_name"] == "relulab>Activation"
    assert trip["activations"] == ["Activation('celu', alpha=0.5)",
                                   "Activation('gelu', approximate='tanh')"]
    assert trip["same_output"]


def test_the_keras_registration_imports_nothing_of_relulab():
    """activation.py imports _keras, so _keras must not import activation.py back (it is
    handed the class to register): the two modules form no import loop."""
    import relulab.activations._keras as registration

    tree = ast.parse(Path(registration.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {m for m in imported if m and m.startswith("relulab")}


def test_the_registration_waits_for_keras_and_registers_the_class_it_was_given(monkeypatch):
    """Without importing Keras: a stand-in ``keras`` module shows install's two paths."""
    import types

    from relulab.activations import Activation, get
    from relulab.activations import _keras as registration

    registry: dict[str, type] = {}
    saving = types.SimpleNamespace(
        get_registered_object=registry.get,
        register_keras_serializable=lambda package, name: (
            lambda cls: registry.setdefault(f"{package}>{name}", cls)))
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    monkeypatch.delitem(sys.modules, "keras", raising=False)
    registration.install(Activation)  # Keras not imported: a hook waits for it
    assert registry == {} and sum(isinstance(f, registration._AfterKerasImport)
                                  for f in sys.meta_path) == 1
    monkeypatch.setitem(sys.modules, "keras", types.SimpleNamespace(saving=saving))
    registration.install(Activation)  # Keras imported: registered at once
    assert registry == {"relulab>Activation": Activation}
    registry.clear()
    assert get("relu").get_config() == {"name": "relu"}  # saving registers first
    assert registry == {"relulab>Activation": Activation}

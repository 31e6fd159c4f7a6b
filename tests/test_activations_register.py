"""A user's own activation, registered with ``relulab.activations.register``, on every
framework relulab serves (NumPy, JAX, PyTorch, Keras 3), in relulab's models and studies,
in the dead-unit monitor and the measured table; and every bad function refused in one
line at registration.

References are independent: the closed forms of the registered functions (squared ReLU,
softsign, a kink off the grid), PyTorch's own ``F.prelu`` for a learned slope, and the
built-in activations for registered copies of them (tanh, PReLU), which must train to the
same numbers in one study.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from relulab import activations as A
from relulab.activations import custom
from relulab.activations._registry import SPECS
from relulab.activations.activation import _jitted
from relulab.errors import RelulabError


def squared(x, xp):
    return xp.maximum(x, 0.0) ** 2


@pytest.fixture
def fresh():
    """What a test registers is forgotten after it. Every test uses names of its own, so no
    cache keyed by a name (JIT functions, compiled programs) outlives its definition."""
    before = set(SPECS)
    yield
    for name in set(SPECS) - before:
        del SPECS[name]
        custom._REGISTERED.pop(name, None)


# ----------------------------------------------------------------------------- libraries
def test_values_and_derivatives_on_numpy_jax_and_torch(fresh):
    torch = pytest.importorskip("torch")
    act = A.register("sq_libs", squared)
    x = np.linspace(-3.0, 3.0, 25)  # multiples of 1/4: every square is exact
    ref, dref = np.maximum(x, 0) ** 2, 2 * np.maximum(x, 0)

    np.testing.assert_array_equal(act(x), ref)
    np.testing.assert_array_equal(act.grad(x), dref)
    assert act(x.astype(np.float32)).dtype == np.float32
    assert act.grad(x.astype(np.float16)).dtype == np.float16
    np.testing.assert_array_equal(act(np.arange(-2, 3)), [0.0, 0.0, 0.0, 1.0, 4.0])
    assert act(x.reshape(5, 5)).shape == (5, 5)

    xj = jnp.asarray(x, jnp.float32)
    for out, want in ((act(xj), ref), (act.grad(xj), dref), (jax.jit(act)(xj), ref),
                      (jax.jit(act.grad)(xj), dref),
                      (jax.vmap(act)(xj.reshape(5, 5)).ravel(), ref),
                      (jax.grad(lambda v: act(v).sum())(xj), dref)):
        assert isinstance(out, jax.Array) and out.dtype == jnp.float32
        np.testing.assert_allclose(np.asarray(out), want, rtol=1e-6)

    t = torch.tensor(x, requires_grad=True)
    y = act(t)
    np.testing.assert_array_equal(y.detach().numpy(), ref)
    y.sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), dref)
    np.testing.assert_array_equal(act.grad(torch.tensor(x)).numpy(), dref)
    # On a tensor in a graph .grad is differentiable again, as the built-ins' are:
    # d/dx f'(x) = 2 where x > 0 (the kink itself left out).
    s = torch.tensor(x[x != 0], requires_grad=True)
    act.grad(s).sum().backward()
    np.testing.assert_array_equal(s.grad.numpy(), 2.0 * (x[x != 0] > 0))


def test_numpy_derivative_is_autodiff_in_float64_and_leaves_jax_as_it_was(fresh):
    act = A.register("softsign_np", lambda x, xp: x / (1 + xp.abs(x)))
    x = np.concatenate([np.linspace(-50, 50, 401), [1e-300, -1e-300]])
    d = act.grad(x)
    assert d.dtype == np.float64
    # A float32 evaluation would miss by about 1e-8.
    np.testing.assert_allclose(d, 1 / (1 + np.abs(x)) ** 2, rtol=1e-14)
    assert not jax.config.jax_enable_x64
    assert jnp.asarray(np.ones(2)).dtype == jnp.float32


def test_a_given_derivative_is_the_one_every_path_uses(fresh):
    torch = pytest.importorskip("torch")
    from relulab.torch import Registered, module

    calls = []

    def derivative(x, xp):
        calls.append(type(x))
        return xp.where(x > 0, 2 * x, 0.0 * x)

    act = A.register("sq_given", lambda x, xp: xp.where(x > 0, x * x, 0.0 * x),
                     derivative=derivative)
    x = np.linspace(-2, 2, 9)
    calls.clear()
    np.testing.assert_array_equal(act.grad(x), 2 * np.maximum(x, 0))
    np.testing.assert_array_equal(np.asarray(act.grad(jnp.asarray(x))), 2 * np.maximum(x, 0))
    assert len(calls) == 2
    m = module("sq_given")
    assert isinstance(m, Registered) and A.custom.derivative_given("sq_given")
    t = torch.tensor(x, requires_grad=True)
    m(t).sum().backward()
    assert len(calls) == 3  # the module's backward is the registered derivative
    np.testing.assert_array_equal(t.grad.numpy(), 2 * np.maximum(x, 0))


# ----------------------------------------------------------------------------- facts
FACT_CASES = [(name, {}) for name in sorted(A.names())] + [
    ("elu", {"alpha": 1.5}), ("leaky_relu", {"negative_slope": 0.0}),
    ("leaky_relu", {"negative_slope": 1.0}), ("leaky_relu", {"negative_slope": -0.5}),
    ("hard_tanh", {"min_val": -2.0, "max_val": 3.0}),
    ("softplus", {"beta": 2.0, "threshold": 15.0}), ("gelu", {"approximate": "tanh"}),
]


@pytest.mark.parametrize(("name", "params"), FACT_CASES)
def test_measured_facts_reproduce_the_catalogue(name, params):
    """The measurement that fills a registered activation's facts gives every built-in
    activation the facts its catalogue declares."""
    act = A.get(name, **params)
    assert A.measure(act) == {"monotonic": act.monotonic, "smooth": act.smooth,
                              "bounded_below": act.bounded_below}


def test_facts_of_registered_activations_are_measured_unless_declared(fresh):
    c = 0.1234  # a kink between grid points
    kinked = A.register("kink_off_grid", lambda x, xp: xp.where(x > c, x, c + 0.5 * (x - c)))
    assert (kinked.monotonic, kinked.smooth, kinked.bounded_below) == (True, False, False)
    sq = A.register("sq_facts", squared)  # C1: its derivative 2 max(x, 0) is continuous
    assert (sq.monotonic, sq.smooth, sq.bounded_below) == (True, True, True)
    bump = A.register("bump", lambda x, xp: x * xp.exp(-x * x))
    assert (bump.monotonic, bump.smooth, bump.bounded_below) == (False, True, True)
    # zero-centred as the built-ins define it: E[relu(z)^2] = 1/2 against a standard
    # deviation of sqrt(3/2 - 1/4) = 1.12; x exp(-x^2) is odd: mean 0.
    assert not sq.zero_centered and bump.zero_centered
    declared = A.register("bump_declared", lambda x, xp: x * xp.exp(-x * x), smooth=False,
                          bounded_below=False)
    assert (declared.smooth, declared.bounded_below, declared.monotonic) == (False, False,
                                                                             False)
    assert A.get("kink_off_grid").smooth is False  # get() after register: the same facts


# ----------------------------------------------------------------------------- refusals
def _sqrt_branch(x, xp):
    return xp.where(x > 0, xp.sqrt(x), 0.0)


BAD = {
    "overflows": (lambda x, xp: xp.exp(x), {}, ["is inf at x =", "finite"]),
    "nan_somewhere": (lambda x, xp: xp.log(x), {}, ["is nan at x =", "guard the input"]),
    "nan_gradient": (_sqrt_branch, {},
                     ["derivative (autodiff of fn) is nan", "inner xp.where"]),
    "centred": (lambda x, xp: x - xp.mean(x), {}, ["not elementwise", "changing x[0]"]),
    "by_first": (lambda x, xp: x - x[..., :1], {}, ["not elementwise", "changing x[0]"]),
    "by_axis": (lambda x, xp: x - xp.max(x, axis=0), {}, ["not elementwise"]),
    "reduces": (lambda x, xp: xp.sum(x), {}, ["not elementwise", "returned shape ()"]),
    "constant": (lambda x, xp: 1.0, {}, ["returned float", "array of x's library"]),
    "numpy_inside": (lambda x, xp: np.maximum(x, 0.0), {},
                     ["failed on JAX arrays under jax.jit", "xp's functions"]),
    "raises": (lambda x, xp: x.clamp(min=0), {}, ["failed on NumPy arrays",
                                                  "AttributeError"]),
    "wrong_derivative": (squared, {"derivative": lambda x, xp: 3 * xp.maximum(x, 0.0)},
                         ["derivative gives", "autodiff of fn", "correct derivative"]),
    "other_side": (lambda x, xp: xp.maximum(x, 0.0),
                   {"derivative": lambda x, xp: xp.where(x > 0, 1.0, 0.0) + 0 * x},
                   ["at the kink x = 0", "xp.where(x > 0"]),
    "rounded": (lambda x, xp: xp.floor(x * 1e6) / 1e6, {},
                ["autodiff of fn gives 0", "finite differences", "not differentiable"]),
    "not_monotonic": (lambda x, xp: x * xp.exp(-x * x), {"monotonic": True},
                      ["declared monotonic=True", "falls from x ="]),
    "not_smooth": (lambda x, xp: xp.abs(x), {"smooth": True},
                   ["declared smooth=True", "derivative jumps at x = 0"]),
    "relu": (squared, {}, ["'relu' is taken", "relulab's 'relu'", "'my_relu'"]),
    "Swish": (squared, {}, ["'Swish' is taken", "alias of relulab's 'silu'"]),
    "leakyrelu": (squared, {}, ["is taken", "'leaky_relu'"]),
    "two words": (squared, {}, ["not usable", "lowercase"]),
    "with_params": (lambda x, xp, beta: x * beta, {"params": {"beta": float("nan")}},
                    ["beta=nan must be finite"]),
    "learns_text": (lambda x, xp, mode: x, {"params": {"mode": "a"}, "learnable": ("mode",)},
                    ["learnable 'mode' must name numeric entries"]),
    "not_callable": (42, {}, ["fn must be a function"]),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_function_is_refused_in_one_line(fresh, name):
    fn, kwargs, fragments = BAD[name]
    before = dict(SPECS)
    with pytest.raises(RelulabError) as info, np.errstate(all="raise"):
        A.register(name, fn, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert SPECS == before and not A.is_registered(name)


def test_the_same_definition_registers_again_and_another_is_refused(fresh):
    first = A.register("sq_again", lambda x, xp: xp.maximum(x, 0.0) ** 2)
    mark = A.fingerprint("sq_again")
    again = A.register("sq_again", lambda x, xp: xp.maximum(x, 0.0) ** 2)  # a cell re-run
    assert again == first and A.fingerprint("sq_again") == mark
    with pytest.raises(RelulabError, match=r"already registered with another definition.*"
                                           r"'sq_again_2'.*restart Python"):
        A.register("sq_again", lambda x, xp: xp.maximum(x, 0.0) ** 3)
    np.testing.assert_array_equal(A.get("sq_again")(np.array([2.0])), [4.0])
    with pytest.raises(RelulabError, match="is taken: it is the registered activation"):
        A.register("sqagain", squared)


def test_unknown_names_say_a_registration_is_per_process():
    with pytest.raises(RelulabError, match=r"unknown activation 'nobody'.*registered "
                                           r"\(relulab.activations.register\) in each "
                                           r"process that uses it, Ray workers included"):
        A.get("nobody")


# ----------------------------------------------------------------------------- PyTorch
def test_module_swap_and_monitor_in_pytorch(fresh):
    torch = pytest.importorskip("torch")
    from rich.console import Console
    from torch import nn

    import relulab.torch as rt

    A.register("sq_torch", squared)
    m = rt.module("sq_torch")
    assert isinstance(m, rt.Registered) and repr(m) == "Registered('sq_torch')"
    assert rt.is_activation(m)

    torch.manual_seed(0)
    relu = nn.ReLU()
    net = nn.Sequential(nn.Linear(5, 16), relu, nn.Linear(16, 8), relu, nn.Linear(8, 1))
    with torch.no_grad():
        net[0].bias[[2, 7, 11]] = -1e3  # these units never fire
    x = torch.randn(64, 5, generator=torch.Generator().manual_seed(1))
    swapped = rt.swap_activations(net, "sq_torch")
    assert isinstance(swapped[1], rt.Registered) and swapped[1] is swapped[3]  # still shared

    h = torch.clamp(swapped[0](x), min=0) ** 2  # the reference, in torch's own operations
    ref = swapped[4](torch.clamp(swapped[2](h), min=0) ** 2)
    out = swapped(x)
    torch.testing.assert_close(out, ref, rtol=1e-6, atol=1e-6)
    out.sum().backward()
    mine = [p.grad.clone() for p in swapped.parameters()]
    swapped.zero_grad()
    ref.sum().backward()
    for a, b in zip(mine, (p.grad for p in swapped.parameters()), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)

    with rt.DeadUnitMonitor(swapped) as monitor, torch.no_grad():
        swapped(x)
    frame = monitor.summary(console=Console(file=open(os.devnull, "w"), width=160))
    first = frame[frame.site == "1#0"].iloc[0]
    assert first["dead_units"] == [2, 7, 11]
    assert first["activation"] == "relulab.Registered('sq_torch')"


def test_a_learnable_parameter_is_learned_in_pytorch(fresh):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    import relulab.torch as rt

    A.register("my_prelu_torch", lambda x, xp, weight: xp.where(x > 0, x, weight * x),
               params={"weight": 0.25}, learnable="weight")
    m = rt.module("my_prelu_torch", weight=0.1)
    assert [name for name, _ in m.named_parameters()] == ["weight"]
    x = torch.linspace(-2, 2, 9, dtype=torch.float32)
    t, r = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    w = torch.tensor([0.1], requires_grad=True)
    (m(t) * x).sum().backward()
    (F.prelu(r, w) * x).sum().backward()
    torch.testing.assert_close(m.weight.grad.reshape(1), w.grad)
    torch.testing.assert_close(t.grad, r.grad)


# ----------------------------------------------------------------------------- Keras 3
KERAS_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import numpy as np
    import keras
    from relulab import activations as A

    act = A.register("sq_keras", lambda x, xp: xp.maximum(x, 0.0) ** 2)
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).standard_normal((64, 3)).astype("float32")
    y = x[:, :1] ** 2
    dense = keras.layers.Dense(5, activation=act)
    model = keras.Sequential([keras.Input((3,)), dense, keras.layers.Dense(1)])
    kernel, bias = (np.asarray(w, dtype=np.float64) for w in dense.get_weights())
    expected = np.maximum(x.astype(np.float64) @ kernel + bias, 0) ** 2
    hidden = keras.Model(model.inputs, dense.output)
    err = float(np.max(np.abs(np.asarray(hidden.predict(x, verbose=0)) - expected)))
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    history = model.fit(x, y, epochs=3, batch_size=16, verbose=0).history["loss"]
    path = os.path.join(os.environ["RELULAB_KERAS_DIR"], "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    same = bool(np.allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0)))
    print(json.dumps({"backend": keras.backend.backend(), "max_abs_err": err,
                      "losses": history, "same_after_load": same,
                      "loaded": repr(loaded.layers[0].activation)}))
    """
)


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_a_registered_activation_is_a_keras_activation(backend, tmp_path):
    import importlib.util

    if importlib.util.find_spec("keras") is None or importlib.util.find_spec(backend) is None:
        pytest.skip(f"keras or {backend} not installed")
    env = {**os.environ, "KERAS_BACKEND": backend, "JAX_PLATFORMS": "cpu",
           "RELULAB_KERAS_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", KERAS_SCRIPT], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["backend"] == backend
    assert result["max_abs_err"] <= 1e-5
    assert all(np.isfinite(result["losses"])) and result["losses"][-1] < result["losses"][0]
    assert result["same_after_load"] and result["loaded"] == "Activation('sq_keras')"


# ----------------------------------------------------------------------------- studies
def _series():
    from relulab.data import Series

    t = np.arange(60)
    values = 50 + 20 * np.sin(2 * np.pi * t / 11) + np.random.default_rng(3).normal(0, 2, 60)
    return Series(values, "wave")


def test_registered_copies_of_built_ins_train_to_the_same_numbers_in_a_study(fresh):
    """relulab's own models and its study accept a registered activation by name; one
    that computes what a built-in computes trains, seed by seed, to the same numbers."""
    from relulab.config import preset
    from relulab.study import Study, make_plan
    from relulab.training import program_groups

    A.register("my_tanh", lambda x, xp: xp.tanh(x))
    A.register("my_prelu", lambda x, xp, weight: xp.where(x > 0, x, weight * x),
               params={"weight": 0.25}, learnable=("weight",))
    A.register("sq_study", squared)
    acts = ("tanh", "my_tanh", "prelu", "my_prelu", "sq_study")
    assert program_groups(acts) == [("tanh", "my_tanh", "sq_study"), ("prelu", "my_prelu")]
    config = preset("seed", model="mlp", units=4, activations=acts, seeds=2, epochs=6,
                    test_size=8)
    make_plan(config, _series())  # the plan's checks accept the names
    result = Study(config, _series()).run(store=None)
    runs = {(r.activation, r.seed): r for r in result.runs}
    for built_in, mine in (("tanh", "my_tanh"), ("prelu", "my_prelu")):
        for seed in config.seed_list:
            a, b = runs[(built_in, seed)], runs[(mine, seed)]
            for field in ("forecast", "loss", "val_loss"):
                assert np.array_equal(getattr(a, field), getattr(b, field)), (mine, field)
            assert a.epoch_stats.keys() == b.epoch_stats.keys()
            for key in a.epoch_stats:
                assert np.array_equal(a.epoch_stats[key], b.epoch_stats[key],
                                      equal_nan=True), key
    learned = [k for k in runs[("my_prelu", 0)].epoch_stats if k.startswith("learned:")]
    assert learned and all(np.isfinite(runs[("sq_study", s)].metrics["rmse"])
                           for s in config.seed_list)
    assert [c.activation for c in result.comparisons] == list(acts[1:])


def test_a_study_key_holds_the_definition_of_each_registered_activation(fresh, tmp_path):
    from relulab.config import preset
    from relulab.store import Store
    from relulab.study import Study

    config = preset("seed", model="mlp", units=2, activations=("tanh", "sq_key"), seeds=2,
                    epochs=3, test_size=8)
    assert "registered" not in config.replace(activations=("tanh", "relu"))._hashed()
    A.register("sq_key", squared)
    assert config._hashed()["registered"] == {"sq_key": A.fingerprint("sq_key")}
    first = config.key()
    store = Store(tmp_path / "r.db")
    Study(config, _series()).run(store=store)
    # The same name with another definition, as in another Python process: another study.
    del SPECS["sq_key"]
    custom._REGISTERED.pop("sq_key")
    _jitted.cache_clear()
    A.register("sq_key", lambda x, xp: xp.maximum(x, 0.0) ** 3)
    assert config.key() != first


def test_a_worker_that_did_not_register_refuses_its_shard_in_one_line(fresh, tmp_path):
    """What a Ray worker runs (``run_shard``), in a fresh process that never registered
    the activation: the shard is refused (not retried) with the line naming the fix."""
    from relulab.config import preset
    from relulab.study import make_plan

    A.register("sq_worker", squared)
    config = preset("seed", model="mlp", units=2, activations=("tanh", "sq_worker"), seeds=2,
                    epochs=3, test_size=8)
    (tmp_path / "plan.pkl").write_bytes(pickle.dumps(make_plan(config, _series())))
    script = textwrap.dedent(
        """
        import pickle, sys
        import relulab
        from relulab.study.ray_executor import Refused, run_shard
        plan = pickle.loads(open(sys.argv[1], "rb").read())
        answer = run_shard(plan, relulab.__version__)
        print(answer.reason if isinstance(answer, Refused) else "trained")
        """)
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "plan.pkl")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    said = done.stdout.strip().splitlines()[-1]
    assert said.startswith("RelulabError: unknown activation 'sq_worker'")
    assert "in each process that uses it, Ray workers included" in said


# ----------------------------------------------------------------------------- the table
def test_the_measured_table_and_the_list_include_a_registered_activation(fresh, capsys):
    from relulab import activations_table as at
    from relulab.cli import main

    A.register("sq_table", squared, formula="max(x, 0)^2")
    (row,) = at.distribution(["sq_table"], samples=20_000, seed=5)
    z = np.random.default_rng(5).standard_normal(20_000)
    y = np.maximum(z, 0) ** 2
    assert row["mean"] == pytest.approx(y.mean(), rel=1e-12)
    assert row["std"] == pytest.approx(y.std(), rel=1e-12)
    assert row["zero_fraction"] == row["zero_grad_fraction"] == np.mean(z <= 0)
    tiny = np.finfo(np.float64).tiny
    assert (row["grad_left"], row["grad_at_zero"], row["grad_right"]) == (0.0, 0.0, 2 * tiny)

    assert main(["activations", "table", "--json", "--elements", "0", "--samples", "2000"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    assert rows["sq_table"]["zero_fraction"] > 0.3
    assert main(["activations", "list"]) == 0
    listed = capsys.readouterr().out
    assert "sq_table" in listed and "max(x, 0)^2" in listed

"""The activation family: API, error messages, dtype policy, kinks and numerical safety.

References are independent: PyTorch's own functions and autograd (for kink conventions),
hand-computed values, and the dtype's limits. Accuracy against torch/jax/mpmath lives in
test_activations_reference.py, property-based checks in test_activations_hypothesis.py.
"""

from __future__ import annotations

import math
import warnings
from functools import partial

import numpy as np
import pytest

from relulab import activations as A
from relulab.errors import RelulabError

ALL = A.names()


def test_names_are_the_documented_family():
    assert ALL == sorted([
        "relu", "leaky_relu", "prelu", "elu", "gelu", "selu", "celu", "silu", "mish",
        "softplus", "relu6", "hard_tanh", "tanh", "sigmoid", "identity",
    ])


@pytest.mark.parametrize("alias, name", [
    ("swish", "silu"), ("hardtanh", "hard_tanh"), ("Leaky-ReLU", "leaky_relu"),
    ("leakyrelu", "leaky_relu"), ("GELU", "gelu"), ("linear", "identity"),
])
def test_aliases(alias, name):
    assert A.get(alias).name == name


@pytest.mark.parametrize("names, first, second, name", [
    (("tanh", "swish", "silu"), "swish", "silu", "silu"),
    (("ReLU", "relu"), "ReLU", "relu", "relu"),
    (("hard_tanh", "hardtanh"), "hard_tanh", "hardtanh", "hard_tanh"),
])
def test_two_spellings_of_one_function_are_refused(names, first, second, name):
    with pytest.raises(RelulabError, match=(f"activations '{first}' and '{second}' are one "
                                            f"function \\({name}\\); list it once")):
        A.canonical_names(names)


def test_canonical_names_of_distinct_functions():
    assert A.canonical_names(["Swish", "tanh", "leaky-relu"]) == ("silu", "tanh", "leaky_relu")


def test_module_functions_alias():
    x = np.array([-1.0, 2.0])
    np.testing.assert_array_equal(A.swish(x), A.silu(x))
    np.testing.assert_array_equal(A.hardtanh(x), A.hard_tanh(x))


def test_unknown_name_lists_what_exists():
    with pytest.raises(RelulabError, match=r"unknown activation 'relu7'.*leaky_relu.*swish"):
        A.get("relu7")


@pytest.mark.parametrize("name, params, match", [
    ("elu", {"beta": 1.0}, "no parameter beta; its parameters: alpha=1.0"),
    ("relu", {"alpha": 1.0}, "no parameter alpha; its parameters: none"),
    ("elu", {"alpha": -1.0}, "alpha=-1.0 must be >= 0"),
    ("celu", {"alpha": 0.0}, "alpha=0.0 must be > 0"),
    ("softplus", {"beta": 0.0}, "beta=0.0 must be > 0"),
    ("gelu", {"approximate": "exact"}, "'none'.*'tanh'"),
    ("hard_tanh", {"min_val": 2.0}, "min_val=2.0 must be below max_val=1.0"),
    ("leaky_relu", {"negative_slope": float("nan")}, "must be finite"),
    ("leaky_relu", {"negative_slope": "0.1"}, "must be a number"),
])
def test_bad_parameters_raise_clear_errors(name, params, match):
    with pytest.raises(RelulabError, match=match):
        A.get(name, **params)


def test_apply_overrides_are_validated_too():
    with pytest.raises(RelulabError, match="no parameter slope"):
        A.get("leaky_relu").apply(np.zeros(2), slope=0.2)


def test_defaults_are_pytorchs():
    assert A.get("leaky_relu").params == {"negative_slope": 0.01}
    assert A.get("prelu").params == {"weight": 0.25}
    assert A.get("elu").params == {"alpha": 1.0}
    assert A.get("celu").params == {"alpha": 1.0}
    assert A.get("gelu").params == {"approximate": "none"}
    assert A.get("softplus").params == {"beta": 1.0, "threshold": 20.0}
    assert A.get("hard_tanh").params == {"min_val": -1.0, "max_val": 1.0}
    assert A.get("gelu", approximate=True).params == {"approximate": "tanh"}


def test_descriptions():
    for name in ALL:
        act = A.get(name)
        assert act.name == name == act.__name__
        assert act.formula and act.text_formula and act.reference
        assert isinstance(act.params, dict)
        for prop in ("monotonic", "smooth", "bounded_below", "zero_centered"):
            assert isinstance(getattr(act, prop), bool)
    assert A.get("prelu").learnable == ("weight",)
    assert all(A.get(n).learnable == () for n in ALL if n != "prelu")


# The plain-text formulas are Python over x (" = " joins equal forms, "; " starts a
# remark): evaluated with math's functions they must give the activation's values.
_MATH = {"exp": math.exp, "ln": math.log, "erf": math.erf, "sqrt": math.sqrt, "pi": math.pi,
         "tanh": math.tanh, "inf": math.inf, "sigmoid": lambda z: 1 / (1 + math.exp(-z)),
         "Phi": lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))}


def _other_value(name: str, key: str, value):
    """A valid value of the parameter other than ``value``."""
    if key == "approximate":
        return "tanh" if value == "none" else "none"
    return 2 * value


def _evaluated(text: str, x: float) -> list[float]:
    expression = text.split("; ")[0].replace("^", "**")
    return [eval(side, {"__builtins__": {"max": max, "min": min}, **_MATH}, {"x": x})
            for side in expression.split(" = ")]


def _variants():
    for name in ALL:
        yield name, {}
        for key, value in A.get(name).params.items():
            yield name, {key: _other_value(name, key, value)}


@pytest.mark.parametrize("name, params", list(_variants()),
                         ids=[f"{n}-{'-'.join(f'{k}={v}' for k, v in p.items())}"
                              for n, p in _variants()])
def test_the_text_formula_computes_the_activation_with_its_parameters(name, params):
    act = A.get(name, **params)
    # selu's text rounds its constants to five digits
    rtol = 1e-4 if name == "selu" else 1e-12
    for x in (-3.0, -1.3, -0.4, 0.0, 0.7, 1.9, 3.5, 25.0):
        want = float(act(np.array(x)))
        for got in _evaluated(act.text_formula, x):
            assert math.isclose(got, want, rel_tol=rtol, abs_tol=1e-12), (act.text_formula, x)


@pytest.mark.parametrize("name, key", [(n, k) for n in ALL for k in A.get(n).params])
def test_formulas_follow_every_parameter(name, key):
    default = A.get(name)
    other = _other_value(name, key, default.params[key])
    changed = A.get(name, **{key: other})
    assert changed.formula != default.formula
    assert changed.text_formula != default.text_formula
    if isinstance(other, float):
        assert f"{other:g}" in changed.formula and f"{other:g}" in changed.text_formula


def test_the_gelu_formula_is_the_one_computed():
    tanh = A.get("gelu", approximate="tanh")
    assert r"\tanh" in tanh.formula and "erf" not in tanh.formula + tanh.text_formula
    exact = A.get("gelu")
    assert "erf" in exact.formula and "tanh" not in exact.formula + exact.text_formula


def test_an_array_parameter_is_named_in_the_formula():
    act = A.get("prelu", weight=np.array([0.1, 0.2]))
    assert act.text_formula.startswith("x if x > 0 else weight * x")
    assert r"a\,x" in act.formula


def test_facts_hand_checked():
    facts = {n: (A.get(n).monotonic, A.get(n).smooth, A.get(n).bounded_below) for n in ALL}
    assert facts["relu"] == (True, False, True)
    assert facts["gelu"] == (False, True, True)  # dips to -0.17 near x = -0.75
    assert facts["silu"] == (False, True, True)
    assert facts["mish"] == (False, True, True)
    assert facts["elu"] == (True, True, True)  # C1 exactly when alpha = 1
    assert A.get("elu", alpha=2.0).smooth is False
    assert facts["selu"] == (True, False, True)
    assert facts["leaky_relu"] == (True, False, False)
    assert facts["identity"] == (True, True, False)
    centred = {n for n in ALL if A.get(n).zero_centered}
    assert centred == {"tanh", "hard_tanh", "identity", "elu", "celu", "selu"}


def test_hand_computed_values():
    x = np.array([-3.0, -0.7, 0.0, 1.2, 5.0])
    np.testing.assert_array_equal(A.relu(x), [0, 0, 0, 1.2, 5])  # the seed article's table
    np.testing.assert_allclose(A.leaky_relu(x, 0.1), [-0.3, -0.07, 0, 1.2, 5])
    np.testing.assert_allclose(A.elu(np.array([-1.0])), [math.expm1(-1.0)])
    np.testing.assert_allclose(A.relu6(np.array([-1.0, 3.0, 7.0])), [0, 3, 6])
    np.testing.assert_allclose(A.hard_tanh(np.array([-3.0, 0.5, 3.0]), -2.0, 2.0), [-2, 0.5, 2])
    np.testing.assert_allclose(A.gelu(np.array([1.0])), [0.5 * (1 + math.erf(1 / math.sqrt(2)))])
    np.testing.assert_allclose(A.softplus(np.array([0.0])), [math.log(2)])
    np.testing.assert_allclose(A.softplus(np.array([0.0]), beta=2.0), [math.log(2) / 2])
    np.testing.assert_array_equal(A.softplus(np.array([30.0])), [30.0])  # threshold


# ----------------------------------------------------------------- arrays and dtypes
def _frameworks():
    out = ["numpy"]
    try:
        import torch  # noqa: F401

        out.append("torch")
    except ImportError:
        pass
    try:
        import jax  # noqa: F401

        out.append("jax")
    except ImportError:
        pass
    return out


def _make(framework, values, dtype):
    if framework == "numpy":
        return np.asarray(values, dtype=dtype)
    if framework == "torch":
        import torch

        return torch.tensor(np.asarray(values, dtype=dtype))
    import jax.numpy as jnp

    return jnp.asarray(np.asarray(values, dtype=dtype))


@pytest.mark.parametrize("framework", _frameworks())
@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_output_keeps_type_shape_dtype(framework, dtype):
    x = _make(framework, np.linspace(-3, 3, 12).reshape(3, 4), dtype)
    for name in ALL:
        act = A.get(name)
        for y in (act(x), act.grad(x), act.apply(x, native=False)):
            assert type(y) is type(x) or framework == "jax", (name, type(y))
            assert tuple(y.shape) == (3, 4), name
            assert str(y.dtype).endswith(dtype), (name, y.dtype)


def test_jax_output_is_a_jax_array():
    jax = pytest.importorskip("jax")
    y = A.get("gelu")(jax.numpy.ones(3))
    assert isinstance(y, jax.Array)


@pytest.mark.parametrize("framework", _frameworks())
def test_integer_and_bool_input_promote_to_the_default_float(framework):
    x = _make(framework, [-2, 0, 3], "int32")
    expected = {"numpy": "float64", "torch": "float32", "jax": "float32"}[framework]
    for name in ALL:
        y = A.get(name)(x)
        assert str(y.dtype).endswith(expected), (name, y.dtype)
    b = _make(framework, [True, False], "bool")
    assert str(A.relu(b).dtype).endswith(expected)
    np.testing.assert_array_equal(np.asarray(A.relu(x)), [0.0, 0.0, 3.0])


def test_python_numbers_and_lists():
    np.testing.assert_array_equal(A.relu([-1, 2]), [0.0, 2.0])
    assert A.get("sigmoid")(0.0) == 0.5


def test_complex_input_is_refused():
    with pytest.raises(RelulabError, match="real"):
        A.relu(np.array([1j]))


def test_torch_device_and_requires_grad_survive():
    torch = pytest.importorskip("torch")
    x = torch.linspace(-2, 2, 5, requires_grad=True)
    for name in ALL:
        for native in (True, False):
            y = A.get(name).apply(x, native=native)
            assert y.device == x.device and y.requires_grad, name


def test_prelu_weight_per_channel_and_learned():
    x = np.array([[-1.0, -2.0, 3.0], [-4.0, 5.0, -6.0]])
    w = np.array([0.1, 0.2, 0.3])
    expected = np.where(x > 0, x, w * x)
    np.testing.assert_allclose(A.prelu(x, w), expected)
    np.testing.assert_allclose(A.get("prelu").apply(x, weight=w), expected)
    np.testing.assert_allclose(A.get("prelu").grad(x, weight=w), np.where(x > 0, 1.0, w + 0 * x))


def test_prelu_learned_weight_under_jax_grad():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    act = A.get("prelu")
    x = jnp.array([[-1.0, 2.0], [-3.0, -4.0]])

    def loss(w):
        return jnp.sum(act.apply(x, weight=w))

    g = jax.jit(jax.grad(loss))(jnp.array([0.2, 0.5]))
    np.testing.assert_allclose(np.asarray(g), [-4.0, -4.0])  # d/dw sum(w x) over x <= 0


def test_prelu_torch_native_matches_nn_prelu():
    torch = pytest.importorskip("torch")
    x = torch.randn(4, 3, dtype=torch.float64)
    w = torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64, requires_grad=True)
    ours = A.get("prelu").apply(x, weight=w)
    ours.sum().backward()
    g_ours = w.grad.clone()
    w.grad = None
    ref = torch.nn.functional.prelu(x, w)
    ref.sum().backward()
    torch.testing.assert_close(ours, ref)
    torch.testing.assert_close(g_ours, w.grad)


# ----------------------------------------------------------------- kinks (PyTorch's autograd)
KINKS = {
    "relu": ({}, [0.0]),
    "leaky_relu": ({"negative_slope": 0.1}, [0.0]),
    "prelu": ({"weight": 0.3}, [0.0]),
    "elu": ({"alpha": 2.0}, [0.0]),
    "celu": ({"alpha": 2.0}, [0.0]),
    "selu": ({}, [0.0]),
    "relu6": ({}, [0.0, 6.0]),
    "hard_tanh": ({"min_val": -1.0, "max_val": 1.0}, [-1.0, 1.0]),
    "softplus": ({"beta": 2.0, "threshold": 20.0}, [10.0]),
}


def _torch_twin(torch, name, p):
    F = torch.nn.functional
    return {
        "relu": F.relu,
        "leaky_relu": lambda x: F.leaky_relu(x, p.get("negative_slope", 0.01)),
        "prelu": lambda x: F.prelu(x, torch.tensor([p.get("weight", 0.25)], dtype=x.dtype)),
        "elu": lambda x: F.elu(x, p.get("alpha", 1.0)),
        "celu": lambda x: F.celu(x, p.get("alpha", 1.0)),
        "selu": F.selu,
        "relu6": F.relu6,
        "hard_tanh": lambda x: F.hardtanh(x, p.get("min_val", -1.0), p.get("max_val", 1.0)),
        "softplus": lambda x: F.softplus(x, p.get("beta", 1.0), p.get("threshold", 20.0)),
    }[name]


@pytest.mark.parametrize("name", sorted(KINKS))
def test_kink_derivatives_follow_pytorch_autograd(name):
    torch = pytest.importorskip("torch")
    params, kinks = KINKS[name]
    # which side of the kink is exact; rtol only forgives sigmoid(20) rounding in softplus
    same = partial(np.testing.assert_allclose, rtol=1e-15, atol=0)
    xs = torch.tensor(kinks + [-0.0] * (0.0 in kinks), dtype=torch.float64, requires_grad=True)
    _torch_twin(torch, name, params)(xs).sum().backward()
    expected = xs.grad.numpy()
    act = A.get(name, **params)
    x = xs.detach().numpy()
    same(act.grad(x), expected)  # NumPy, analytic
    same(act.grad(torch.from_numpy(x)).numpy(), expected)
    # autograd through the generic definition also lands on PyTorch's side of the kink
    xg = torch.from_numpy(x.copy()).requires_grad_(True)
    act.apply(xg, native=False).sum().backward()
    same(xg.grad.numpy(), expected)
    jax = pytest.importorskip("jax")
    with jax.enable_x64(True):
        g = jax.vmap(jax.grad(lambda v: act(v)))(jax.numpy.asarray(x))
        same(np.asarray(g), expected)
        same(np.asarray(act.grad(jax.numpy.asarray(x))), expected)


# ----------------------------------------------------------------- numerical safety
def _extremes(dtype):
    big = {"float16": float(np.finfo(np.float16).max), "float32": 1e4, "float64": 1e300}[dtype]
    tiny = float(np.finfo(dtype).smallest_subnormal)
    return [-big, -100.0, -20.0, -1.0, -tiny, 0.0, tiny, 1.0, 6.0, 20.0, 100.0, big]


def _representable(name, dtype, x):
    """Inputs whose true output fits the dtype: selu(x) = 1.0507 x overflows at the top of
    float16's range (and warns, rightly), so it is tested below that."""
    if name == "selu":
        return np.abs(x.astype(np.float64)) * 1.0507009873554805 <= float(np.finfo(dtype).max)
    return np.ones(x.shape, bool)


@pytest.mark.parametrize("framework", _frameworks())
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_finite_everywhere_without_warnings(framework, dtype):
    jax_x64 = None
    if framework == "jax":
        import jax

        jax_x64 = jax.enable_x64(True)
        jax_x64.__enter__()
    try:
        x_np = np.array(_extremes(dtype), dtype=dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # NumPy RuntimeWarnings (overflow, invalid) fail
            for name in ALL:
                act = A.get(name)
                ok = _representable(name, dtype, x_np)
                x = _make(framework, x_np[ok], dtype)
                outs = [act(x), act.grad(x)]
                if framework == "torch":
                    outs.append(act.apply(x, native=False))
                for y in outs:
                    y = np.asarray(y, dtype=np.float64)
                    assert np.isfinite(y).all(), (name, x_np[ok][~np.isfinite(y)])
    finally:
        if jax_x64 is not None:
            jax_x64.__exit__(None, None, None)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_autodiff_gradients_finite_everywhere(dtype):
    torch = pytest.importorskip("torch")
    jax = pytest.importorskip("jax")
    x_np = np.array(_extremes(dtype), dtype=dtype)
    for name in ALL:
        act = A.get(name)
        xt = torch.tensor(x_np, requires_grad=True)
        act.apply(xt, native=False).sum().backward()
        assert torch.isfinite(xt.grad).all(), (name, xt.grad)
        with jax.enable_x64(True):
            g = jax.vmap(jax.grad(lambda v, act=act: act(v)))(jax.numpy.asarray(x_np))
            assert np.isfinite(np.asarray(g)).all(), (name, g)


@pytest.mark.parametrize("framework", _frameworks())
def test_nan_in_nan_out(framework):
    x = _make(framework, [np.nan, 1.0, -1.0, 0.0], "float32")
    for name in ALL:
        act = A.get(name)
        for y in (act(x), act.grad(x), act.apply(x, native=False)):
            y = np.asarray(y)
            assert np.isnan(y[0]) and np.isfinite(y[1:]).all(), (name, y)


# ----------------------------------------------------------------- subnormals
# f(x) = x for every x > 0 (hard_tanh, relu6: below max_val), so f'(x) = 1 there.
IDENTITY_ON_POSITIVES = [
    ("relu", {}), ("leaky_relu", {}), ("leaky_relu", {"negative_slope": 2.0}), ("prelu", {}),
    ("elu", {"alpha": 1.5}), ("celu", {"alpha": 0.7}), ("relu6", {}), ("hard_tanh", {}),
    ("hard_tanh", {"min_val": -2.0, "max_val": 3.0}), ("identity", {}),
]


@pytest.mark.parametrize("framework", _frameworks())
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_positive_subnormals_are_returned_exactly(framework, dtype):
    """XLA on CPU compares and computes with denormals-are-zero: `where(x > 0, x, s x)` took
    the slope branch for x = 1e-40 and flushed it to 0, where jax.nn.leaky_relu and every
    torch.nn.functional twin return x. Every path of ours returns x, and derivative 1."""
    jax_x64 = None
    if framework == "jax":
        import jax

        jax_x64 = jax.enable_x64(True)
        jax_x64.__enter__()
    try:
        fi = np.finfo(dtype)
        x_np = np.array([fi.smallest_subnormal, 3 * fi.smallest_subnormal, fi.tiny / 2,
                         fi.tiny - fi.smallest_subnormal, fi.tiny], dtype)
        x = _make(framework, x_np, dtype)
        for name, params in IDENTITY_ON_POSITIVES:
            act = A.get(name, **params)
            values = [act(x), act.apply(x, native=False)]
            grads = [act.grad(x)]
            if name == "prelu":  # an array weight takes the `where` path on every library
                values.append(act.apply(x, weight=np.asarray(0.3)))
                grads.append(act.grad(x, weight=np.asarray(0.3)))
            for y in values:
                assert str(y.dtype).endswith(dtype)
                np.testing.assert_array_equal(np.asarray(y), x_np, err_msg=f"{act} {framework}")
            for g in grads:
                np.testing.assert_array_equal(np.asarray(g), 1.0, err_msg=f"{act} {framework}")
    finally:
        if jax_x64 is not None:
            jax_x64.__exit__(None, None, None)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_autodiff_at_positive_subnormals_is_one(dtype):
    torch = pytest.importorskip("torch")
    jax = pytest.importorskip("jax")
    fi = np.finfo(dtype)
    x = np.array([fi.smallest_subnormal, fi.tiny / 2], dtype)
    for name, params in IDENTITY_ON_POSITIVES:
        act = A.get(name, **params)
        xt = torch.tensor(x, requires_grad=True)
        act.apply(xt, native=False).sum().backward()
        np.testing.assert_array_equal(xt.grad.numpy(), 1.0, err_msg=str(act))
        with jax.enable_x64(True):
            g = jax.vmap(jax.grad(act))(jax.numpy.asarray(x))
        np.testing.assert_array_equal(np.asarray(g), 1.0, err_msg=str(act))


def test_negative_subnormals_follow_the_formula_off_jax():
    """NumPy and torch keep subnormal arithmetic: f(x) = s x (leaky/prelu) or alpha
    expm1(x) ~ alpha x (ELU family), rounded. (XLA on CPU flushes these results to -0, as it
    does jax.nn's.)"""
    torch = pytest.importorskip("torch")
    x = -np.array([np.finfo(np.float32).tiny / 2, 1e-40], np.float32)
    for name, params, slope in [("leaky_relu", {"negative_slope": 0.1}, 0.1),
                                ("prelu", {"weight": 0.3}, 0.3), ("elu", {"alpha": 1.5}, 1.5),
                                ("relu", {}, 0.0)]:
        act = A.get(name, **params)
        want = (np.float32(slope) * x).astype(np.float32)
        for y in (act(x), act(torch.from_numpy(x)), act.apply(torch.from_numpy(x), native=False)):
            np.testing.assert_array_equal(np.asarray(y), want, err_msg=str(act))


# ----------------------------------------------------------------- infinities
_SA = A.functions.SELU_SCALE * A.functions.SELU_ALPHA
# (name, params) -> f(-inf), f(+inf), f'(-inf), f'(+inf): the mathematical limits
INF = math.inf
INF_LIMITS = [
    ("relu", {}, 0.0, INF, 0.0, 1.0),
    ("leaky_relu", {}, -INF, INF, 0.01, 1.0),
    ("leaky_relu", {"negative_slope": 0.0}, 0.0, INF, 0.0, 1.0),  # not 0 * -inf
    ("leaky_relu", {"negative_slope": 2.0}, -INF, INF, 2.0, 1.0),
    ("prelu", {}, -INF, INF, 0.25, 1.0),
    ("prelu", {"weight": -0.5}, INF, INF, -0.5, 1.0),
    ("elu", {"alpha": 1.5}, -1.5, INF, 0.0, 1.0),
    ("selu", {}, -_SA, INF, 0.0, A.functions.SELU_SCALE),
    ("celu", {"alpha": 0.7}, -0.7, INF, 0.0, 1.0),
    ("gelu", {}, 0.0, INF, 0.0, 1.0),
    ("gelu", {"approximate": "tanh"}, 0.0, INF, 0.0, 1.0),
    ("silu", {}, 0.0, INF, 0.0, 1.0),
    ("mish", {}, 0.0, INF, 0.0, 1.0),
    ("softplus", {}, 0.0, INF, 0.0, 1.0),
    ("softplus", {"beta": 2.0, "threshold": INF}, 0.0, INF, 0.0, 1.0),
    ("relu6", {}, 0.0, 6.0, 0.0, 0.0),
    ("hard_tanh", {"min_val": -2.0, "max_val": 3.0}, -2.0, 3.0, 0.0, 0.0),
    ("tanh", {}, -1.0, 1.0, 0.0, 0.0),
    ("sigmoid", {}, 0.0, 1.0, 0.0, 0.0),
    ("identity", {}, -INF, INF, 1.0, 1.0),
]


def test_inf_limits_cover_the_family():
    assert {row[0] for row in INF_LIMITS} == set(ALL)


@pytest.mark.parametrize("framework", _frameworks())
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_infinities_give_the_limits(framework, dtype):
    """f(+-inf) and f'(+-inf) are the limits (rounded to the dtype), without warnings, on
    every path of ours: NumPy, jitted JAX, the generic definition on torch tensors."""
    jax_x64 = None
    if framework == "jax":
        import jax

        jax_x64 = jax.enable_x64(True)
        jax_x64.__enter__()
    try:
        x = _make(framework, [-INF, INF], dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for name, params, lo, hi, dlo, dhi in INF_LIMITS:
                act = A.get(name, **params)
                value = act.apply(x, native=False) if framework == "torch" else act(x)
                for got, want in ((value, [lo, hi]), (act.grad(x), [dlo, dhi])):
                    got = np.asarray(got, dtype=np.float64)
                    want = np.asarray(want, dtype=dtype).astype(np.float64)
                    np.testing.assert_array_equal(got, want, err_msg=f"{act} {dtype}")
    finally:
        if jax_x64 is not None:
            jax_x64.__exit__(None, None, None)


def test_autodiff_at_infinities_gives_the_limit_derivative():
    torch = pytest.importorskip("torch")
    jax = pytest.importorskip("jax")
    x = np.array([-INF, INF])
    for name, params, _, _, dlo, dhi in INF_LIMITS:
        act = A.get(name, **params)
        xt = torch.tensor(x, requires_grad=True)
        act.apply(xt, native=False).sum().backward()
        np.testing.assert_array_equal(xt.grad.numpy(), [dlo, dhi], err_msg=str(act))
        with jax.enable_x64(True):
            g = jax.vmap(jax.grad(act))(jax.numpy.asarray(x))
        np.testing.assert_array_equal(np.asarray(g), [dlo, dhi], err_msg=str(act))


# ----------------------------------------------------------------- NumPy fast forms
def test_numpy_select_free_forms_equal_the_where_forms():
    """On NumPy, relu/leaky/prelu/ELU family/hard_tanh use max/min/clip instead of `where`
    (speed); they must select exactly what the `where` definitions select."""
    x = np.concatenate([_extremes("float64"), [-0.0, np.nan],
                        np.random.default_rng(5).standard_normal(200)])
    pos = np.where(x > 0, x, 0.0)
    same = np.testing.assert_array_equal
    same(A.relu(x), np.where(x <= 0, 0.0, x))
    for s in (0.0, 0.01, 0.3, 1.0, 2.0, -0.5):
        with np.errstate(over="ignore"):  # s x overflows at -1e300 for |s| > 1, both forms
            same(A.leaky_relu(x, s), np.where(x > 0, x, s * x))
            same(A.prelu(x, s), np.where(x > 0, x, s * x))
    w = np.full_like(x, 0.3)  # an array weight keeps the where form
    same(A.prelu(x, w), np.where(x > 0, x, w * x))
    neg = np.where(x > 0, 0.0, x)
    same(A.elu(x, 1.5), np.where(x > 0, x, 1.5 * np.expm1(neg)))
    same(A.celu(x, 0.7), np.where(x > 0, x, 0.7 * np.expm1(neg * (1 / 0.7))))
    sa = A.functions.SELU_SCALE * A.functions.SELU_ALPHA
    same(A.selu(x), np.where(x > 0, A.functions.SELU_SCALE * pos, sa * np.expm1(neg)))
    same(A.hard_tanh(x, -2.0, 3.0), np.where(x <= -2, -2.0, np.where(x >= 3, 3.0, x)))
    same(A.relu6(x), np.where(x <= 0, 0.0, np.where(x >= 6, 6.0, x)))

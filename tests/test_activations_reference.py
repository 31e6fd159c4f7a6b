"""Accuracy of the family against the exact function, and against the frameworks' own error.

Values: the reference is the exact function, evaluated with mpmath at 200 bits at each
(exactly representable) input and rounded once to the dtype (:func:`exact`). Every path of
ours (NumPy, jitted JAX, the generic array-API definition on torch tensors) is held to our
documented bound in ulp of that value (:data:`OURS_ULP`), and the framework's own function
(``torch.nn.functional``, ``jax.nn``) is measured against the same values: ours may be no
worse than the framework's worst error plus :data:`SLACK_ULP`. No test holds our bits to a
framework's bits: PyTorch's and XLA's float32 results depend on the CPU's vector path
(``F.gelu`` moves by 4 ulp between an AVX2 and an AVX-512 machine), so such a test measures
the CPU, not us.

Derivatives: ``.grad`` against central finite differences of the reference, against PyTorch
autograd of ``torch.nn.functional`` and ``jax.grad`` of ``jax.nn``, all in float64 with
relative tolerances thousands of ulp wide (robust on any CPU), and autodiff through our own
definitions against ``.grad``.

Why a few bounds exceed 2 ulp is written next to them and in docs/activations.md.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

from relulab import activations as A

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
mp = pytest.importorskip("mpmath")
F = torch.nn.functional
jnn = jax.nn
jnp = jax.numpy

# name -> (our name, params, torch twin, jax twin or None)
CASES = {
    "relu": ("relu", {}, F.relu, jnn.relu),
    "leaky_relu": ("leaky_relu", {"negative_slope": 0.1},
                   lambda x: F.leaky_relu(x, 0.1), lambda x: jnn.leaky_relu(x, 0.1)),
    "prelu": ("prelu", {"weight": 0.3},
              lambda x: F.prelu(x, torch.tensor([0.3], dtype=x.dtype)), None),
    "elu": ("elu", {"alpha": 1.5}, lambda x: F.elu(x, 1.5), lambda x: jnn.elu(x, 1.5)),
    "selu": ("selu", {}, F.selu, jnn.selu),
    "celu": ("celu", {"alpha": 0.7}, lambda x: F.celu(x, 0.7), lambda x: jnn.celu(x, 0.7)),
    "gelu": ("gelu", {}, F.gelu, lambda x: jnn.gelu(x, approximate=False)),
    "gelu_tanh": ("gelu", {"approximate": "tanh"}, lambda x: F.gelu(x, approximate="tanh"),
                  lambda x: jnn.gelu(x, approximate=True)),
    "silu": ("silu", {}, F.silu, jnn.silu),
    "mish": ("mish", {}, F.mish, jnn.mish),
    "softplus": ("softplus", {"beta": 2.0, "threshold": 15.0},
                 lambda x: F.softplus(x, 2.0, 15.0), None),
    # jax.nn.softplus has no threshold: compare with ours at threshold=inf
    "softplus_exact": ("softplus", {"threshold": math.inf},
                       lambda x: torch.logaddexp(x, torch.zeros_like(x)), jnn.softplus),
    "relu6": ("relu6", {}, F.relu6, jnn.relu6),
    "hard_tanh": ("hard_tanh", {"min_val": -2.0, "max_val": 3.0},
                  lambda x: F.hardtanh(x, -2.0, 3.0), None),
    "hard_tanh_default": ("hard_tanh", {}, F.hardtanh, jnn.hard_tanh),
    "tanh": ("tanh", {}, torch.tanh, jnp.tanh),
    "sigmoid": ("sigmoid", {}, torch.sigmoid, jnn.sigmoid),
    "identity": ("identity", {}, lambda x: x, lambda x: x),
}


# ----------------------------------------------------------------- the exact reference
def _exact_functions() -> dict:
    """case -> the mathematical function (mpmath), with the case's parameters as real
    numbers ("0.1", not the binary float nearest to it)."""
    sig = lambda v: 1 / (1 + mp.exp(-v))  # noqa: E731
    sp = lambda v: mp.log1p(mp.exp(v))  # noqa: E731
    k, c = mp.sqrt(2 / mp.pi), mp.mpf("0.044715")
    lam, alpha = mp.mpf(A.functions.SELU_SCALE), mp.mpf(A.functions.SELU_ALPHA)
    d = mp.mpf
    return {
        "relu": lambda v: max(v, 0),
        "leaky_relu": lambda v: v if v > 0 else d("0.1") * v,
        "prelu": lambda v: v if v > 0 else d("0.3") * v,
        "elu": lambda v: v if v > 0 else d("1.5") * mp.expm1(v),
        "selu": lambda v: lam * (v if v > 0 else alpha * mp.expm1(v)),
        "celu": lambda v: v if v > 0 else d("0.7") * mp.expm1(v / d("0.7")),
        "gelu": lambda v: v * mp.erfc(-v / mp.sqrt(2)) / 2,
        "gelu_tanh": lambda v: v * sig(2 * k * (v + c * v**3)),
        "silu": lambda v: v * sig(v),
        "mish": lambda v: v * mp.tanh(sp(v)),
        "softplus": lambda v: v if 2 * v > 15 else sp(2 * v) / 2,
        "softplus_exact": sp,
        "relu6": lambda v: min(max(v, 0), 6),
        "hard_tanh": lambda v: min(max(v, -2), 3),
        "hard_tanh_default": lambda v: min(max(v, -1), 1),
        "tanh": mp.tanh,
        "sigmoid": sig,
        "identity": lambda v: v,
    }


def _gelu_conditions() -> dict:
    """How much the GELUs amplify the rounding of their argument: the condition number
    |x g'(x) / g(x)| of the factor g = Phi (exact form) or sigma(2u) (tanh form), whose
    argument (x/sqrt2, the cubic u) is rounded before it. In the negative tail it grows like
    x**2 (x**3 for the tanh form), and every working-precision implementation loses a few
    times that many ulp, ours included."""
    sig = lambda v: 1 / (1 + mp.exp(-v))  # noqa: E731
    k, c = mp.sqrt(2 / mp.pi), mp.mpf("0.044715")
    return {
        "gelu": lambda v: abs(v * mp.npdf(v) / mp.ncdf(v)),
        "gelu_tanh": lambda v: abs(2 * v * k * (1 + 3 * c * v**2) * sig(-2 * k * (v + c * v**3))),
    }


EXACT = _exact_functions()
CONDITION = _gelu_conditions()


def round_to(value, dtype) -> float:
    """``value`` (mpf) rounded to nearest, ties to even, in ``dtype``, subnormals included:
    one rounding, not two through float64."""
    fi = np.finfo(dtype)
    if value == 0:
        return 0.0
    exponent = max(mp.frexp(value)[1] - 1, fi.minexp)  # the binade [2^e, 2^(e+1))
    shift = exponent - fi.nmant  # the dtype's spacing there is 2^shift
    # ldexp only moves the exponent and nint rounds once: no working-precision rounding
    rounded = float(mp.ldexp(mp.nint(mp.ldexp(value, -shift)), shift))  # exact in float64
    return rounded if abs(rounded) <= float(fi.max) else math.copysign(math.inf, rounded)


def exact(case: str, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The exact values of ``case`` at ``x``, rounded to ``x.dtype``, and the condition
    number there (0 where it does not enter our bound)."""
    with mp.workprec(200):
        points = [mp.mpf(float(v)) for v in x]
        values = np.array([round_to(EXACT[case](v), x.dtype) for v in points], x.dtype)
        cond_fn = CONDITION.get(case)
        cond = np.array([float(cond_fn(v)) if cond_fn else 0.0 for v in points])
    return values, cond


def grid(dtype: str) -> np.ndarray:
    fi = np.finfo(dtype)
    rng = np.random.default_rng(0)
    special = [0.0, -0.0, fi.smallest_subnormal, -fi.smallest_subnormal, fi.tiny / 2,
               -fi.tiny / 2, 1e4, -1e4, 1.0, -1.0, -2.0, 3.0, 6.0, 7.5, 15.0, 20.0]
    return np.concatenate([
        np.array(special, dtype), rng.standard_normal(1000).astype(dtype),
        (8 * rng.standard_normal(1000)).astype(dtype), np.linspace(-30, 30, 601, dtype=dtype),
    ])


@functools.cache
def exact_on_grid(case: str, dtype: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, exact values, condition numbers) on :func:`grid`, computed once per case and
    dtype for all the tests of this module."""
    x = grid(dtype)
    return (x, *exact(case, x))


def ulp_error(y, reference, flushed_at=None) -> np.ndarray:
    """|y - reference| in units of np.spacing(reference), per element; equal values
    (signed zeros, NaN against NaN) count 0. ``flushed_at``: the inputs x, for a path that
    flushes subnormals to 0 (XLA on CPU, jax.nn's results as ours): a 0 where the exact
    value is below the smallest normal times max(1, |x|) counts 0 too (for f = x g(x),
    g(x) is subnormal there and flushed before the product)."""
    y = np.asarray(y)
    reference = np.asarray(reference)
    assert y.dtype == reference.dtype, (y.dtype, reference.dtype)
    spacing = np.spacing(np.abs(reference)).astype(np.float64)
    err = np.abs(y.astype(np.float64) - reference.astype(np.float64)) / spacing
    err[(y == reference) | (np.isnan(y) & np.isnan(reference))] = 0.0
    if flushed_at is not None:
        scale = np.maximum(1.0, np.abs(np.asarray(flushed_at, dtype=np.float64)))
        tiny = np.finfo(reference.dtype).tiny
        err[(y == 0) & (np.abs(reference.astype(np.float64)) < tiny * scale)] = 0.0
    return err


# Our bound in ulp of the exact value where it is not 2, on NumPy and on the generic torch
# path; for the GELUs plus 3 cond (see _gelu_conditions): the factor's argument is rounded
# up to three times (x * x * x, c *, + x, k *), and that error is amplified by cond. The worst
# cases measured on this grid are tabulated in docs/activations.md; these bounds hold with
# torch, NumPy and XLA on AVX-512, held to AVX2, and held to their scalar/SSE4.2 paths
# (ATEN_CPU_CAPABILITY, NPY_DISABLE_CPU_FEATURES, XLA_FLAGS=--xla_cpu_max_isa).
OURS_ULP = {
    # SciPy's and XLA's erfc compute 1 - erf(z) for |z| < 1: near z = 1 (x = -1.4) that is
    # up to 5 times erf's own error (10 ulp at x = -1.40 with XLA held to SSE4.2, no FMA)
    ("gelu", "float32"): 4, ("gelu", "float64"): 4,
    # three roundings after a ~1 ulp exp/log1p/tanh (NumPy's float32 SIMD ones)
    ("mish", "float32"): 3, ("mish", "float64"): 3, ("silu", "float32"): 3,
    ("softplus_exact", "float32"): 3,
}
# The jitted JAX path uses XLA's expm1 and tanh, themselves up to 4 (float32) and 6
# (float64) ulp from the truth; jax.nn, which uses the same, measures the same.
JAX_ULP = {
    ("elu", "float32"): 4, ("elu", "float64"): 3, ("selu", "float32"): 4,
    ("selu", "float64"): 3, ("celu", "float32"): 5, ("celu", "float64"): 3,
    ("mish", "float32"): 4, ("mish", "float64"): 4, ("tanh", "float32"): 4,
    ("tanh", "float64"): 6,
}
# Ours may be worse than the framework's own worst error (on the same points) by at most
# this: our formula and the framework's may round differently by a step.
SLACK_ULP = 1.0


def _check(case, dtype, ours, theirs=None, on_jax=False):
    """Ours within its bound of the exact value everywhere; and, given the framework's
    values, ours no worse than the framework's worst error plus SLACK_ULP."""
    x, truth, cond = exact_on_grid(case, dtype)
    flushed_at = x if on_jax else None
    err = ulp_error(ours, truth, flushed_at)
    bound = (JAX_ULP if on_jax else {}).get((case, dtype)) or OURS_ULP.get((case, dtype), 2)
    bad = err > bound + 3.0 * cond
    assert not bad.any(), list(zip(x[bad], err[bad], cond[bad], strict=True))[:5]
    if theirs is not None:
        worst_theirs = ulp_error(theirs, truth, flushed_at).max()
        assert err.max() <= worst_theirs + SLACK_ULP, (err.max(), worst_theirs)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_torch_path_within_bound_of_exact_and_no_worse_than_torch(case, dtype):
    name, params, twin, _ = CASES[case]
    xt = torch.from_numpy(exact_on_grid(case, dtype)[0])
    ours = A.get(name, **params).apply(xt, native=False).numpy()
    _check(case, dtype, ours, twin(xt).numpy())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_jax_path_within_bound_of_exact_and_no_worse_than_jax(case, dtype):
    name, params, _, twin = CASES[case]
    x = exact_on_grid(case, dtype)[0]
    with jax.enable_x64(True):
        ours = np.asarray(A.get(name, **params)(jnp.asarray(x)))
        theirs = None if twin is None else np.asarray(twin(jnp.asarray(x)))
    _check(case, dtype, ours, theirs, on_jax=True)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_numpy_path_within_bound_of_exact(case, dtype):
    name, params, _, _ = CASES[case]
    x = exact_on_grid(case, dtype)[0]
    _check(case, dtype, A.get(name, **params)(x))


def test_rounding_of_the_reference():
    """round_to rounds once, to nearest even, with float32's subnormal spacing."""
    f32 = np.float32
    tiny = float(np.finfo(f32).smallest_subnormal)
    assert round_to(mp.mpf(1) + mp.ldexp(1, -24), f32) == 1.0  # tie: to even
    assert round_to(mp.mpf(1) + mp.ldexp(3, -24), f32) == 1 + 2**-22  # tie: to even
    assert round_to(mp.mpf(tiny) * mp.mpf("1.49"), f32) == tiny
    assert round_to(mp.mpf(tiny) * mp.mpf("1.51"), f32) == 2 * tiny
    assert round_to(mp.mpf(tiny) * mp.mpf("0.49"), f32) == 0.0
    assert round_to(mp.mpf(2) ** 200, f32) == math.inf
    assert round_to(mp.mpf("0.1"), np.float64) == 0.1
    assert exact("gelu", np.array([1.0], f32))[0][0] == f32(0.5 * (1 + math.erf(2**-0.5)))


def test_native_torch_dispatch_is_torch_itself():
    x = torch.from_numpy(grid("float32"))
    for case, (name, params, twin, _) in CASES.items():
        if case == "softplus_exact":
            continue  # threshold=inf has no torch twin: the generic path runs instead
        torch.testing.assert_close(A.get(name, **params)(x), twin(x), rtol=0, atol=0)


@pytest.mark.parametrize("case", ["gelu", "gelu_tanh"])
def test_gelu_tail_more_accurate_than_the_frameworks(case):
    name, params, torch_twin, _ = CASES[case]
    x = np.linspace(-9, -2, 57).astype(np.float32)
    truth, _ = exact(case, x)
    ours = ulp_error(A.get(name, **params)(x), truth)
    theirs = ulp_error(torch_twin(torch.from_numpy(x)).numpy(), truth)
    assert ours.max() < 200 and theirs.max() > 1e6  # torch: 1 + erf(x) has no digits left
    assert (ours <= np.maximum(theirs, 4 + x.astype(np.float64) ** 2)).all()


# ----------------------------------------------------------------- derivatives
KINK_POINTS = {"relu": [0], "leaky_relu": [0], "prelu": [0], "elu": [0], "selu": [0],
               "celu": [0], "relu6": [0, 6], "hard_tanh": [-2, 3], "hard_tanh_default": [-1, 1],
               "softplus": [7.5], "softplus_exact": []}


def _smooth_points(case, n=400):
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.standard_normal(n), 5 * rng.standard_normal(n)])
    for k in KINK_POINTS.get(case, []):
        x = x[np.abs(x - k) > 1e-3]
    return x


def _torch_grad(fn, x):
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    fn(xt).sum().backward()
    return xt.grad.numpy()


@pytest.mark.parametrize("case", sorted(CASES))
def test_grad_matches_central_differences_of_torch(case):
    name, params, twin, _ = CASES[case]
    x = _smooth_points(case)
    h = 1e-6 * np.maximum(1.0, np.abs(x))
    fd = (twin(torch.from_numpy(x + h)).numpy() - twin(torch.from_numpy(x - h)).numpy()) / (2 * h)
    np.testing.assert_allclose(A.get(name, **params).grad(x), fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("case", sorted(CASES))
def test_grad_matches_torch_autograd(case):
    name, params, twin, _ = CASES[case]
    x = np.concatenate([_smooth_points(case), [-1e4, -100.0, 100.0, 1e4]])
    ours = A.get(name, **params).grad(torch.from_numpy(x)).numpy()
    # PyTorch's CELU backward multiplies by a float32-rounded coefficient (relative error up
    # to ~3e-7 at x = -10);
    # its vectorised GELU-tanh backward is off by up to 5e-15 absolute in the tails.
    rtol = 1e-5 if name == "celu" else 1e-12
    np.testing.assert_allclose(ours, _torch_grad(twin, x), rtol=rtol, atol=1e-14)


@pytest.mark.parametrize("case", sorted(c for c in CASES if CASES[c][3] is not None))
def test_grad_matches_jax_grad_of_jax_nn(case):
    name, params, _, twin = CASES[case]
    x = np.concatenate([_smooth_points(case), [-1e4, -100.0, 100.0, 1e4]])
    with jax.enable_x64(True):
        reference = np.asarray(jax.vmap(jax.grad(twin))(jnp.asarray(x)))
        ours = np.asarray(A.get(name, **params).grad(jnp.asarray(x)))
    # jax.nn's gelu-tanh and tanh gradients use 1 - t**2, which cancels near saturation
    np.testing.assert_allclose(ours, reference, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("case", sorted(CASES))
def test_autodiff_through_our_definitions_equals_grad(case):
    name, params, _, _ = CASES[case]
    act = A.get(name, **params)
    x = np.concatenate([_smooth_points(case, 200), [-1e300, -1e4, 1e4, 1e300]])
    expected = act.grad(x)
    by_torch = _torch_grad(lambda t: act.apply(t, native=False), x)
    np.testing.assert_allclose(by_torch, expected, rtol=1e-9, atol=1e-12)
    with jax.enable_x64(True):
        by_jax = np.asarray(jax.vmap(jax.grad(act))(jnp.asarray(x)))
    np.testing.assert_allclose(by_jax, expected, rtol=1e-9, atol=1e-12)

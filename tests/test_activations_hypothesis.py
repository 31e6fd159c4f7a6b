"""Property-based checks of the safety rules, over the whole finite range of each dtype.

For every activation, any finite input array gives a finite value and a finite derivative
of the same shape and dtype, without NumPy warnings; a NaN anywhere gives NaN exactly there.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from relulab import activations as A

DTYPES = [np.float16, np.float32, np.float64]
PARAMS = {  # non-default parameters exercise the parameter plumbing too
    "leaky_relu": {"negative_slope": 0.2}, "prelu": {"weight": 0.5}, "elu": {"alpha": 0.5},
    "celu": {"alpha": 3.0}, "softplus": {"beta": 3.0, "threshold": 10.0},
    "hard_tanh": {"min_val": -2.0, "max_val": 0.5}, "gelu": {"approximate": "tanh"},
}
SETTINGS = settings(max_examples=25, deadline=None)


def _activations():
    return [A.get(n) for n in A.names()] + [A.get(n, **p) for n, p in PARAMS.items()]


@st.composite
def finite_arrays(draw):
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=5))
    # selu(x) = 1.0507 x: keep inputs where the true output is representable
    limit = float(dtype(np.finfo(dtype).max / 1.06))
    elements = st.floats(-limit, limit, allow_nan=False, width=np.finfo(dtype).bits)
    return draw(hnp.arrays(dtype, shape, elements=elements))


@SETTINGS
@given(x=finite_arrays())
def test_finite_in_finite_out_same_shape_and_dtype(x):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for act in _activations():
            for y in (act(x), act.grad(x)):
                assert y.shape == x.shape and y.dtype == x.dtype, act
                assert np.isfinite(y).all(), (act, x[~np.isfinite(y)])


@SETTINGS
@given(x=finite_arrays(), data=st.data())
def test_nan_propagates_exactly_where_it_is(x, data):
    x = np.atleast_1d(x).copy()
    i = data.draw(st.integers(0, x.size - 1))
    x.flat[i] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for act in _activations():
            for y in (act(x), act.grad(x)):
                assert np.isnan(y.flat[i]), act
                assert np.isfinite(np.delete(y.ravel(), i)).all(), act


@SETTINGS
@given(x=finite_arrays())
def test_torch_generic_path_finite_too(x):
    torch = pytest.importorskip("torch")
    t = torch.from_numpy(np.ascontiguousarray(x))
    for act in _activations():
        for y in (act.apply(t, native=False), act.grad(t)):
            assert y.dtype == t.dtype and y.shape == t.shape
            assert torch.isfinite(y).all(), act


@SETTINGS
@given(x=hnp.arrays(np.float64, 8, elements=st.floats(-50, 50)))
def test_monotonic_flag_holds_on_samples(x):
    x = np.sort(x)
    for act in _activations():
        if act.monotonic:
            assert (np.diff(act(x)) >= 0).all(), act
        if act.bounded_below:
            assert np.all(act(x) >= -3.0), act  # celu(alpha=3)'s floor, the lowest here
        else:
            assert act(np.array([-1e6]))[0] < -3.0, act

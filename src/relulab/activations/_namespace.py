"""What one definition needs from the array library it is handed.

Every activation starts with :func:`floating`: it finds the array namespace (NumPy, JAX
including tracers, PyTorch) through array-api-compat and applies the integer-input policy.
The array API standard has no ``erf``/``erfc``; :func:`erfc` dispatches it per library.
:func:`greater` and :func:`less` compare exactly where XLA on CPU would read a subnormal
input as 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import (
    array_namespace,
    is_jax_namespace,
    is_numpy_namespace,
    is_torch_namespace,
)

from relulab.errors import RelulabError


def floating(x: Any) -> tuple[Any, Any]:
    """Return ``(xp, x)`` with ``x`` in a real floating dtype of its own library.

    Policy for non-floating input (as ``jax.nn`` does, unlike ``torch.nn.functional``, which
    refuses integers in most activations): booleans and integers are promoted to the
    library's default floating dtype (NumPy float64; PyTorch ``torch.get_default_dtype()``;
    JAX float32, or float64 under ``jax_enable_x64``). Python scalars and lists become
    NumPy float64 arrays. Complex input is an error: these functions are real.
    """
    try:
        xp = array_namespace(x)
    except TypeError:
        x = np.asarray(x)
        xp = array_namespace(x)
    dtype = x.dtype
    if xp.isdtype(dtype, "real floating"):
        return xp, x
    if xp.isdtype(dtype, ("integral", "bool")):
        default = xp.__array_namespace_info__().default_dtypes()["real floating"]
        return xp, xp.astype(x, default)
    raise RelulabError(
        f"activation input has dtype {dtype}; activations are real functions: pass a real "
        "floating (or integer, promoted to float) array"
    )


def erfc(xp: Any, x: Any) -> Any:
    """Complementary error function in ``x``'s library and dtype."""
    if is_numpy_namespace(xp):
        from scipy.special import erfc as _erfc

        # SciPy has no float16 loop (it would return float64): compute in float32.
        work = x.astype(np.float32) if x.dtype == np.float16 else x
        return np.asarray(_erfc(work), dtype=x.dtype)
    if is_torch_namespace(xp):
        import torch

        return torch.special.erfc(x)
    if is_jax_namespace(xp):
        from jax import lax

        return lax.erfc(x)
    raise RelulabError(
        f"erfc (needed by the exact GELU) is not available for {xp.__name__} arrays; "
        "use NumPy, JAX or PyTorch arrays, or gelu(approximate='tanh')"
    )


def param(xp: Any, x: Any, value: Any) -> Any:
    """A parameter ready to combine with ``x``: Python numbers stay weakly typed scalars;
    arrays (a learned PReLU weight, a JAX tracer, a torch Parameter) move to ``x``'s
    dtype (and device) so the output keeps ``x``'s dtype."""
    if isinstance(value, int | float):
        return float(value)
    if is_torch_namespace(xp):
        import torch

        return torch.as_tensor(value, dtype=x.dtype, device=x.device)
    return xp.asarray(value, dtype=x.dtype)


def greater(xp: Any, x: Any, c: float) -> Any:
    """``x > c`` elementwise, exact also for subnormal ``x`` (False for NaN).

    XLA on CPU runs with denormals-are-zero: there a subnormal ``x > 0`` is False, so
    ``where(x > 0, x, s * x)`` would return ``s * x``, flushed to 0, for a positive
    subnormal. Against 0, JAX therefore compares the bits, read as a signed integer:
    above 0 (sign bit clear, not +0) and at most +inf's (not a NaN). Two integer
    comparisons, no float test: the cheapest exact form found (its compile time is within
    noise of ``x > 0``'s, where an ``isnan`` beside it cost a few percent of it).
    Against any other (normal) ``c`` a subnormal compares as 0 would: no change.
    """
    if c == 0 and is_jax_namespace(xp):
        from jax import lax

        bits = lax.bitcast_convert_type(x, _SIGNED_INT[x.dtype.itemsize])
        inf = lax.bitcast_convert_type(xp.asarray(xp.inf, dtype=x.dtype), bits.dtype)
        return (bits > 0) & (bits <= inf)
    return x > c


def less(xp: Any, x: Any, c: float) -> Any:
    """``x < c`` elementwise, exact also for subnormal ``x`` (see :func:`greater`); negation
    only flips the sign bit, which flushing does not touch."""
    if c == 0 and is_jax_namespace(xp):
        return greater(xp, -x, 0.0)
    return x < c


_SIGNED_INT = {2: "int16", 4: "int32", 8: "int64"}


def choose(xp: Any, x: Any, cond: Any, a: Any, b: Any) -> Any:
    """``a`` where ``cond`` else ``b`` (constants or arrays) in ``x``'s dtype and shape,
    NaN wherever ``x`` is NaN: derivatives that are piecewise constant still propagate NaN."""
    one = xp.ones_like(x)
    return xp.where(xp.isnan(x), x, xp.where(cond, a * one, b * one))

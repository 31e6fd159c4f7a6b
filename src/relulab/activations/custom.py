r"""Your own activation: :func:`register` makes a function one of the family.

``fn(x, xp, **params)`` is written once with array-API operations on ``xp``, the array
namespace of ``x`` (``array_api_compat.numpy``, ``jax.numpy`` or ``array_api_compat.torch``),
and is then evaluated on NumPy, JAX (tracers included) and PyTorch arrays like the built-in
definitions::

    >>> from relulab import activations
    >>> act = activations.register("squared_relu", lambda x, xp: xp.maximum(x, 0.0) ** 2)
    >>> act([-1.0, 0.5, 2.0]), act.grad([-1.0, 0.5, 2.0])
    (array([0.  , 0.25, 4.  ]), array([0., 1., 4.]))

Its derivative is ``derivative(x, xp, **params)`` when given, else autodiff of ``fn``:
``jax.vjp`` on JAX arrays, ``torch.autograd`` on tensors, and on NumPy arrays JAX on the
CPU with 64-bit types enabled for the call (NumPy has no autodiff; JAX is a dependency of
relulab, and a float64 array keeps float64). An elementwise function's Jacobian is
diagonal, so one reverse-mode pass (``jax.vjp``, as training differentiates) with ones gives every
element's f'(x).

At registration ``fn`` (and ``derivative``) are evaluated on the *check grid*
(:data:`GRID`: [-8, 8] in steps of 1/128, which holds 0, the integers and the halves
exactly; 48 points geometrically out to ±1e4; ±1e-8, ±1e-30, ±1e-300), and any of these
refuses it with one line naming the problem and the fix:

* it raises, or returns something other than an array of ``x``'s library and shape, on
  NumPy, JAX (under ``jax.jit``) or PyTorch (when installed), or its JAX or PyTorch values
  differ from its NumPy values (float64, relative 1e-7);
* it is not elementwise: changing one element of ``x`` (the first, the middle, the last)
  changes another output, or a 2-D input gives other values than the same numbers flat;
* a value or a derivative is NaN or infinite (float32 and float64);
* ``derivative`` differs from autodiff of ``fn`` at a grid point (relative 1e-6: relulab's
  JAX models differentiate ``fn`` itself, so the two must agree, at kinks too), or the
  derivative lies outside the finite-difference slopes at a point (steps of
  ``2**-17 * max(1, |x|)``: between the smallest and the largest of the left, right and
  central slopes, with 1e-4 relative slack; at a kink any value between the one-sided
  slopes is accepted);
* a declared fact is refuted by the grid (``monotonic=True`` with a decrease,
  ``smooth=True`` with a kink).

Facts not declared are measured on the grid, with the default parameters (others on
demand): **monotonic** when no step between neighbouring grid points decreases by more
than 1e-9 (1 + |f| on both sides) and no derivative is below -1e-9 (1 + |f'|);
**smooth** (C1) when bisecting every grid interval 60 times towards the larger change
leaves no jump in f or f' above 1e-6 (1 + the larger value): a kink anywhere in
[-1e4, 1e4] is found, wherever it lies; **bounded below** unless its minimum over the grid
lies below its minimum over [-100, 100] by more than 1e-6 (1 + |that minimum|), i.e. it
still falls between |x| = 100 and 1e4. ``zero_centered`` is measured for every activation
(:attr:`~relulab.activations.Activation.zero_centered`). Measured so, every built-in
activation gets the facts its catalogue declares.

A name is one definition for the life of the process: compiled training programs and
cached JIT functions are keyed by it. Registering the same name again is accepted when the
definition is the same (a notebook cell run twice: same values and derivative on the grid,
same parameters); another definition under that name is refused (register it under a new
name, or restart Python). A study's key holds each registered activation's
:func:`fingerprint`, so a results database never resumes a study with runs of another
definition that had the same name.

Registration is process-local. A Ray worker (``RayExecutor``) or any other process that
trains must register the activation too, e.g. by importing a module that calls
:func:`register`; where it has not, it stops with relulab's "unknown activation" line,
which says so.
"""

from __future__ import annotations

import functools
import hashlib
import json
import keyword
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from array_api_compat import (
    is_jax_namespace,
    is_numpy_namespace,
    is_torch_namespace,
)

from relulab.activations._namespace import floating, param
from relulab.activations._registry import ALIASES, SPECS, Params, Spec, canonical
from relulab.activations.activation import Activation, get
from relulab.errors import RelulabError

__all__ = ["GRID", "derivative_given", "fingerprint", "is_registered", "measure", "register"]

# The check grid (float64, sorted): see the module docstring.
_DENSE = np.arange(-1024, 1025) / 128.0
_WIDE = np.geomspace(8.0, 1e4, 49)[1:]
_TINY = np.array([1e-300, 1e-30, 1e-8])
GRID = np.unique(np.concatenate([-_WIDE, -_TINY, _DENSE, _TINY, _WIDE]))
_INNER = np.abs(GRID) <= 100.0

# NumPy returns a scalar, not a 0-d array, from a ufunc on a 0-d array.
_NUMPY = (np.ndarray, np.generic)
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_FACTS = ("monotonic", "smooth", "bounded_below")

# The registered activations: name -> fingerprint (the definition's identity).
_REGISTERED: dict[str, str] = {}


# --------------------------------------------------------------------------- the API
def register(
    name: str,
    fn: Callable[..., Any],
    *,
    params: Mapping[str, Any] | None = None,
    derivative: Callable[..., Any] | None = None,
    learnable: Iterable[str] = (),
    formula: str | None = None,
    monotonic: bool | None = None,
    smooth: bool | None = None,
    bounded_below: bool | None = None,
) -> Activation:
    """Make ``fn`` the activation ``name``; return it (as :func:`get` would).

    Args:
        name: lowercase letters, digits and underscores, starting with a letter, and no
            built-in name or alias (``relu``, ``swish``, ``leakyrelu``...).
        fn: ``fn(x, xp, **params)``, elementwise, written with ``xp``'s functions
            (``xp.where``, ``xp.exp``, ``xp.maximum``, ...), never NumPy's directly.
        params: the parameters' defaults (numbers or strings), e.g. ``{"beta": 1.0}``;
            ``get(name, beta=2.0)`` overrides them.
        derivative: ``derivative(x, xp, **params)``, f'(x) elementwise; autodiff of ``fn``
            when omitted. Either way it must agree with autodiff of ``fn``.
        learnable: names among ``params`` (numbers) that relulab's models and the
            ``relulab.torch`` module learn, one scalar per layer (as PReLU's ``weight``).
        formula: plain text for ``relulab activations list``, e.g. ``"max(x, 0)^2"``.
        monotonic, smooth, bounded_below: facts to declare instead of measuring them
            (a declared ``monotonic=True`` or ``smooth=True`` that the grid refutes is
            refused).

    Raises:
        RelulabError: one line naming the problem and the fix (module docstring).
    """
    key = _checked_name(name)
    for label, f in (("fn", fn), ("derivative", derivative)):
        if f is not None and not callable(f):
            raise RelulabError(f"activation {key!r}: {label} must be a function "
                               f"{label}(x, xp, **params), got {type(f).__name__}")
    defaults, learned = _checked_params(key, params, learnable)
    declared = {"monotonic": monotonic, "smooth": smooth, "bounded_below": bounded_below}
    for fact, claim in declared.items():
        if claim is not None and not isinstance(claim, bool):
            raise RelulabError(f"activation {key!r}: {fact}={claim!r} must be True, False or "
                               "None (None: measured)")
    if formula is not None and not isinstance(formula, str):
        raise RelulabError(f"activation {key!r}: formula must be text, e.g. 'max(x, 0)^2'")

    value = _Definition(key, fn, "fn")
    grad = _Definition(key, derivative, "derivative") if derivative else _Autodiff(value)
    checked = _check(key, value, grad, _Autodiff(value) if derivative else None, defaults)
    facts = _Facts(value, grad, {_items(defaults): checked})
    measured = facts.at(defaults)
    for fact in ("monotonic", "smooth"):
        if declared[fact] and not getattr(measured, fact):
            raise RelulabError(
                f"activation {key!r}: declared {fact}=True, but on the check grid "
                f"{measured.falls if fact == 'monotonic' else measured.kink}; correct fn, or "
                f"leave {fact} out to have it measured")
    mark = _fingerprint(checked, defaults, learned)
    if key in _REGISTERED and _REGISTERED[key] != mark:
        raise RelulabError(
            f"activation {key!r} is already registered with another definition; a name keeps "
            "one definition for the life of the process (compiled programs and stored "
            f"studies are keyed by it): register this one under a new name, e.g. "
            f"{key + '_2'!r}, or restart Python")

    where = f"{getattr(fn, '__module__', None) or '?'}.{getattr(fn, '__qualname__', '?')}"
    text = formula or f"{key}(x), registered ({where})"
    escaped = key.replace("_", r"\_")
    tex = formula or rf"\mathrm{{{escaped}}}(x)"
    SPECS[key] = Spec(
        key, value, grad, defaults, lambda p: tex, lambda p: text,
        f"registered in this process by {where}",
        *(_fact(declared[f], facts, f) for f in _FACTS),
        learnable=learned, check=functools.partial(_check_values, key, defaults),
    )
    _REGISTERED[key] = mark
    return get(key)


def is_registered(name: str) -> bool:
    """Whether ``name`` is an activation registered in this process (not a built-in)."""
    try:
        return canonical(name) in _REGISTERED
    except RelulabError:
        return False


def derivative_given(name: str) -> bool:
    """Whether registered activation ``name`` came with its own ``derivative`` (else its
    ``.grad`` is autodiff of ``fn``)."""
    return is_registered(name) and not isinstance(SPECS[canonical(name)].grad, _Autodiff)


def fingerprint(name: str) -> str | None:
    """The identity of registered activation ``name``'s definition: a hash of its default
    parameters, learnable names, and values and derivatives on :data:`GRID` (to 10
    significant digits, so a CPU's last bits do not change it). None for a built-in or an
    unknown name. A study's key holds it (``StudyConfig.key``)."""
    try:
        return _REGISTERED.get(canonical(name))
    except RelulabError:
        return None


def measure(act: Activation) -> dict[str, bool]:
    """``monotonic``, ``smooth`` and ``bounded_below`` of ``act`` (any activation, built-in
    or registered, with its parameters) measured on the check grid, as a registered
    activation's undeclared facts are (module docstring)."""
    spec = SPECS[act.name]
    facts = _Facts(spec.fn, spec.grad, {}).at(act.params)
    return {fact: bool(getattr(facts, fact)) for fact in _FACTS}


# --------------------------------------------------------------------------- definitions
class _Definition:
    """The family's calling convention, ``f(x, **params)`` on any array, around a user's
    ``fn(x, xp, **params)``: the integer policy first (``floating``), array parameters (a
    learned value, a tracer) in ``x``'s dtype and device, the output in ``x``'s dtype."""

    def __init__(self, name: str, fn: Callable[..., Any], label: str) -> None:
        self.name, self.fn, self.label = name, fn, label
        self.__name__ = self.__qualname__ = f"{name}.{label}"

    def __call__(self, x: Any, **params: Any) -> Any:
        xp, x = floating(x)
        values = {k: v if isinstance(v, float | str) else param(xp, x, v)
                  for k, v in params.items()}
        y = self.fn(x, xp, **values)
        dtype = getattr(y, "dtype", None)
        return y if dtype is None or dtype == x.dtype else xp.astype(y, x.dtype)


class _Autodiff:
    """f'(x) by autodiff of an elementwise definition ``value``: the Jacobian is diagonal,
    so one reverse-mode pass with a cotangent of ones gives every element's derivative."""

    def __init__(self, value: _Definition) -> None:
        self.value = value
        self.__name__ = self.__qualname__ = f"{value.name}.autodiff"
        self._on_cpu: dict[tuple, Any] = {}

    def __call__(self, x: Any, **params: Any) -> Any:
        xp, x = floating(x)
        if is_jax_namespace(xp):
            return self._jax(x, **params)
        if is_torch_namespace(xp):
            return self._torch(x, params)
        if is_numpy_namespace(xp):
            return self._numpy(x, params)
        raise RelulabError(f"activation {self.value.name!r}: no autodiff for {xp.__name__} "
                           "arrays; use NumPy, JAX or PyTorch arrays, or register it with "
                           "derivative=")

    def _jax(self, x: Any, **params: Any) -> Any:
        import jax
        import jax.numpy as jnp

        # Reverse mode, as training differentiates: a NaN that jax.grad would carry back
        # from a branch xp.where does not take (0 * nan) shows here too, where forward
        # mode would hide it.
        y, pullback = jax.vjp(lambda v: self.value(v, **params), x)
        return pullback(jnp.ones_like(y))[0]

    def _torch(self, x: Any, params: Params) -> Any:
        import torch

        # A tensor that is part of a graph keeps it (create_graph), so .grad is itself
        # differentiable, as the analytic derivatives of the built-ins are.
        graph = x.requires_grad and torch.is_grad_enabled()
        leaf = x if graph else x.detach().requires_grad_(True)
        with torch.enable_grad():
            y = self.value(leaf, **params)
            if not y.requires_grad:  # fn does not depend on x: f' = 0
                return torch.zeros_like(x)
            (g,) = torch.autograd.grad(y, leaf, torch.ones_like(y), create_graph=graph)
        return g

    def _numpy(self, x: np.ndarray, params: Params) -> np.ndarray:
        # NumPy has no autodiff: JAX on the CPU, 64-bit for the call so float64 stays so.
        import jax

        static = {k: v for k, v in params.items() if isinstance(v, float | str)}
        dynamic = {k: np.asarray(v) for k, v in params.items() if k not in static}
        key = (tuple(sorted(static.items())), tuple(sorted(dynamic)))
        with jax.enable_x64(True):
            fn = self._on_cpu.get(key)
            if fn is None:
                fn = self._on_cpu[key] = jax.jit(functools.partial(self._jax, **static))
            cpu = jax.devices("cpu")[0]
            out = fn(jax.device_put(x, cpu), **jax.device_put(dynamic, cpu))
            return np.asarray(out, dtype=x.dtype)


def _fact(declared: bool | None, facts: _Facts, fact: str) -> Callable[[Params], bool]:
    if declared is not None:
        return lambda p: declared
    return lambda p: getattr(facts.at(p), fact)


def _check_values(name: str, defaults: Params, params: Params) -> None:
    """``get(name, **params)``: each value of the kind of its default; numbers finite."""
    for key, value in params.items():
        if isinstance(defaults[key], str):
            if not isinstance(value, str):
                raise RelulabError(f"activation {name!r}: parameter {key}={value!r} must be "
                                   f"text, like its default {defaults[key]!r}")
        elif isinstance(value, bool | str) or value is None:
            raise RelulabError(f"activation {name!r}: parameter {key}={value!r} must be a "
                               "number")
        elif isinstance(value, float) and not math.isfinite(value):
            raise RelulabError(f"activation {name!r}: parameter {key}={value!r} must be "
                               "finite")


# --------------------------------------------------------------------------- names, params
def _checked_name(name: Any) -> str:
    """``name`` if it can be a new activation's (or is a registered one's), else one line."""
    if isinstance(name, str) and name in _REGISTERED:
        return name
    try:
        taken = canonical(name)
    except RelulabError:
        taken = None
    if taken is not None:
        what = "an alias of " if name.strip().lower() in ALIASES else ""
        kind = "the registered activation" if taken in _REGISTERED else "relulab's"
        raise RelulabError(
            f"activation name {name!r} is taken: it is {what}{kind} {taken!r} (names are "
            "compared without case, '-' and '_'); choose another, e.g. "
            f"'my_{taken}'")
    if not isinstance(name, str) or not _NAME.match(name) or keyword.iskeyword(name):
        raise RelulabError(
            f"activation name {name!r} is not usable: use lowercase letters, digits and "
            "underscores, starting with a letter, e.g. 'squared_relu'")
    return name


def _checked_params(name: str, params: Mapping[str, Any] | None,
                    learnable: Iterable[str]) -> tuple[Params, tuple[str, ...]]:
    if params is not None and not isinstance(params, Mapping):
        raise RelulabError(f"activation {name!r}: params must be a dict of defaults, e.g. "
                           "params={'beta': 1.0}")
    defaults: Params = {}
    for key, value in (params or {}).items():
        if not (isinstance(key, str) and key.isidentifier()) or key in ("x", "xp", "native"):
            raise RelulabError(f"activation {name!r}: parameter name {key!r} is not usable: "
                               "use a Python identifier other than x, xp and native")
        if isinstance(value, str):
            defaults[key] = value
            continue
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer
                                                     | np.floating):
            raise RelulabError(f"activation {name!r}: parameter {key}={value!r} must be a "
                               "number or text")
        if not math.isfinite(value):
            raise RelulabError(f"activation {name!r}: parameter {key}={value!r} must be "
                               "finite")
        defaults[key] = float(value)
    if isinstance(learnable, str):
        learnable = (learnable,)
    learned = tuple(learnable)
    wrong = [k for k in learned if not isinstance(defaults.get(k), float)]
    if wrong:
        raise RelulabError(f"activation {name!r}: learnable {', '.join(map(repr, wrong))} "
                           "must name numeric entries of params, e.g. params={'beta': 1.0}, "
                           "learnable=('beta',)")
    return defaults, learned


# --------------------------------------------------------------------------- the checks
@dataclass(frozen=True)
class _Checked:
    """What the checks computed on :data:`GRID` (float64, NumPy) with the defaults."""

    y: np.ndarray
    dy: np.ndarray


def _check(name: str, value: _Definition, grad: Any, autodiff: _Autodiff | None,
           params: Params) -> _Checked:
    """Every check of the module docstring, in order; the first failure raises."""
    import jax
    import jax.numpy as jnp

    with np.errstate(all="ignore"):
        y = _run(name, value, GRID, params, "NumPy arrays", _NUMPY)
        _elementwise(name, value, y, params)
        _finite(name, "its value", GRID, y, "float64")
        x32 = GRID.astype(np.float32)
        _finite(name, "its value", x32, _run(name, value, x32, params, "NumPy arrays", _NUMPY),
                "float32")
        with jax.enable_x64(True):
            out = _run(name, jax.jit(functools.partial(value, **params)),
                       jnp.asarray(GRID), {}, "JAX arrays under jax.jit", jax.Array)
        _same(name, "JAX", GRID, np.asarray(out), y)
        out = _run(name, jax.jit(functools.partial(value, **params)), jnp.asarray(x32), {},
                   "JAX arrays under jax.jit", jax.Array)
        _finite(name, "its value on JAX", x32, np.asarray(out), "float32")
        _torch_checks(name, value, y, params)

        label = "its derivative" + ("" if autodiff else " (autodiff of fn)")
        dy = _run(name, grad, GRID, params, "NumPy arrays", _NUMPY,
                  "derivative" if autodiff else "autodiff of fn")
        _finite(name, label, GRID, dy, "float64")
        d32 = _run(name, jax.jit(functools.partial(grad, **params)), jnp.asarray(x32), {},
                   "JAX arrays under jax.jit", jax.Array,
                   "derivative" if autodiff else "autodiff of fn")
        _finite(name, label, x32, np.asarray(d32), "float32")
        if autodiff is not None:
            _agree_with_autodiff(name, value, dy, np.asarray(autodiff(GRID, **params)),
                                 params)
        _agree_with_differences(name, value, dy, params, autodiff is not None)
    return _Checked(y, dy)


def _run(name: str, fn: Any, x: Any, params: Params, library: str, kind: Any,
         label: str = "fn") -> Any:
    """``fn(x, **params)``, or one line: it raised, or gave no array of x's kind and shape."""
    try:
        out = fn(x, **params)
    except RelulabError:
        raise
    except Exception as exc:
        said = (str(exc).strip().splitlines() or [""])[0][:200]
        raise RelulabError(
            f"activation {name!r}: {label} failed on {library} ({type(exc).__name__}: "
            f"{said}); write it with xp's functions (xp.where, xp.exp, xp.maximum...), not "
            "NumPy's, and without Python if/for on array values") from None
    if not isinstance(out, kind):
        raise RelulabError(
            f"activation {name!r}: {label} returned {type(out).__name__} for {library} input; "
            f"it must return an array of x's library (build it from x with xp's functions)")
    if tuple(out.shape) != tuple(x.shape):
        raise RelulabError(
            f"activation {name!r}: {label} is not elementwise: it returned shape "
            f"{tuple(out.shape)} for an input of shape {tuple(x.shape)}; an activation "
            "gives one output per input element")
    return out


def _elementwise(name: str, value: _Definition, y: np.ndarray, params: Params) -> None:
    """Each output depends on its own input alone: one changed input element changes no
    other output, and a 2-D or 0-d input gives the values of the same numbers flat."""
    n = GRID.size
    for k in (0, n // 2, n - 1):
        x = GRID.copy()
        x[k] = 7.5 if x[k] < 0 else -7.5
        changed = ~_same_bits(_run(name, value, x, params, "NumPy arrays", _NUMPY), y)
        changed[k] = False
        if changed.any():
            other = int(np.flatnonzero(changed)[0])
            raise RelulabError(
                f"activation {name!r}: fn is not elementwise: changing x[{k}] changed the "
                f"output at {other} (x = {GRID[other]:.6g}); an activation maps each element "
                "alone: no sums, means, maxima or indexing over x")
    m = n - n % 2
    table = _run(name, value, GRID[:m].reshape(2, -1), params, "NumPy arrays", _NUMPY)
    point = _run(name, value, np.asarray(GRID[n // 2 + 1]), params, "NumPy arrays", _NUMPY)
    if not (_same_bits(table.ravel(), y[:m]).all()
            and _same_bits(np.ravel(point), y[n // 2 + 1:n // 2 + 2]).all()):
        raise RelulabError(
            f"activation {name!r}: fn is not elementwise: a 2-D (or 0-d) input gives other "
            "values than the same numbers in 1-D; an activation maps each element alone, "
            "whatever the shape")


def _same_bits(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a == b) | (np.isnan(a) & np.isnan(b))


def _finite(name: str, what: str, x: np.ndarray, y: np.ndarray, dtype: str) -> None:
    bad = ~np.isfinite(y) & np.isfinite(x)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        fix = ("a branch that xp.where does not take still gives nan or inf to autodiff: "
               "guard that branch's input with an inner xp.where, as relulab's ELU does"
               if "derivative" in what else
               "rewrite it to stay finite there (guard the input of exp, log, sqrt, /)")
        raise RelulabError(
            f"activation {name!r}: {what} is {y[i]} at x = {float(x[i]):.6g} ({dtype}); every "
            f"finite input must give a finite result on [-1e4, 1e4]: {fix}")


def _same(name: str, library: str, x: np.ndarray, out: np.ndarray, y: np.ndarray) -> None:
    bad = ~(np.abs(out - y) <= 1e-7 * (np.abs(y) + 1e-5))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise RelulabError(
            f"activation {name!r}: fn gives {out[i]:.10g} on {library} and {y[i]:.10g} on "
            f"NumPy at x = {x[i]:.6g} (float64); it must compute the same function whatever "
            "xp is: use xp's functions only")


def _torch_checks(name: str, value: _Definition, y: np.ndarray, params: Params) -> None:
    try:
        import torch
    except ImportError:
        return  # PyTorch is optional
    out = _run(name, value, torch.from_numpy(GRID.copy()), params, "PyTorch tensors", torch.Tensor)
    _same(name, "PyTorch", GRID, out.detach().numpy(), y)
    x32 = torch.from_numpy(GRID.astype(np.float32))
    out = _run(name, value, x32, params, "PyTorch tensors", torch.Tensor)
    _finite(name, "its value on PyTorch", x32.numpy(), out.detach().numpy(), "float32")


def _agree_with_autodiff(name: str, value: _Definition, given: np.ndarray,
                         auto: np.ndarray, params: Params) -> None:
    bad = ~(np.abs(given - auto) <= 1e-6 * np.abs(auto) + 1e-9)
    if not bad.any():
        return
    i = int(np.flatnonzero(bad)[0])
    x = GRID[i]
    left, right = _one_sided(value, np.asarray([x]), params)
    if abs(left[0] - right[0]) > 1e-4 * (1 + abs(left[0]) + abs(right[0])):
        raise RelulabError(
            f"activation {name!r}: at the kink x = {x:.6g} derivative gives {given[i]:.10g} "
            f"and autodiff of fn {auto[i]:.10g}; relulab's JAX models differentiate fn "
            "itself, so fn must take derivative's side: choose it with a comparison, e.g. "
            "xp.where(x > 0, x, 0.0) rather than xp.maximum(x, 0.0), whose autodiff splits "
            "a tie in half; or leave derivative out")
    raise RelulabError(
        f"activation {name!r}: derivative gives {given[i]:.10g} at x = {x:.6g}, autodiff "
        f"of fn {auto[i]:.10g}; correct derivative, or leave it out to use autodiff")


def _one_sided(value: _Definition, x: np.ndarray, params: Params,
               ) -> tuple[np.ndarray, np.ndarray]:
    """The left and right finite-difference slopes of ``value`` at ``x``."""
    e = _step(x)
    f0 = value(x, **params)
    return (f0 - value(x - e, **params)) / e, (value(x + e, **params) - f0) / e


def _step(x: np.ndarray) -> np.ndarray:
    return 2.0**-17 * np.maximum(1.0, np.abs(x))


def _agree_with_differences(name: str, value: _Definition, d: np.ndarray, params: Params,
                            given: bool) -> None:
    """``d`` within the finite-difference slopes of ``value`` at every grid point."""
    e = _step(GRID)
    f0 = value(GRID, **params)
    fp, fm = value(GRID + e, **params), value(GRID - e, **params)
    slopes = np.stack([(f0 - fm) / e, (fp - f0) / e, (fp - fm) / (2 * e)])
    noise = 4 * np.finfo(np.float64).eps * (np.abs(f0) + np.abs(fp) + np.abs(fm)) / e
    tol = 1e-4 * (1 + np.abs(slopes[2])) + noise
    bad = (d < slopes.min(axis=0) - tol) | (d > slopes.max(axis=0) + tol)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        what = ("derivative" if given else "autodiff of fn")
        fix = ("correct derivative" if given else "a part of fn is not differentiable (a "
               "cast, a rounding, an integer step): rewrite fn")
        raise RelulabError(
            f"activation {name!r}: {what} gives {d[i]:.10g} at x = {GRID[i]:.6g}, finite "
            f"differences of fn {slopes[2, i]:.10g}: fn is not differentiable as claimed; "
            f"{fix}")


# --------------------------------------------------------------------------- the facts
@dataclass(frozen=True)
class _Measured:
    monotonic: bool
    smooth: bool
    bounded_below: bool
    falls: str  # where it decreases, in words ("" when monotonic)
    kink: str  # where it or its derivative jumps, in words ("" when smooth)


def _items(params: Params) -> tuple:
    return tuple(sorted(params.items()))


class _Facts:
    """The measured facts of one definition, per (concrete) parameters; ``known`` holds
    what the checks already computed on the grid."""

    def __init__(self, value: Callable[..., Any], grad: Callable[..., Any],
                 known: dict[tuple, _Checked]) -> None:
        self.value, self.grad, self.known = value, grad, known
        self._cache: dict[tuple, _Measured] = {}

    def at(self, params: Params) -> _Measured:
        items = _items(params)
        if not all(isinstance(v, float | str) for _, v in items):
            raise RelulabError("an activation's measured facts need concrete (number) "
                               "parameters, not arrays")
        if items not in self._cache:
            self._cache[items] = self._measure(params, self.known.get(items))
        return self._cache[items]

    def _measure(self, params: Params, known: _Checked | None) -> _Measured:
        def value(v: np.ndarray) -> np.ndarray:
            return np.asarray(self.value(v, **params), dtype=np.float64)

        def grad(v: np.ndarray) -> np.ndarray:
            return np.asarray(self.grad(v, **params), dtype=np.float64)

        with np.errstate(all="ignore"):
            y = known.y if known is not None else value(GRID)
            dy = known.dy if known is not None else grad(GRID)
            falls = np.diff(y) < -1e-9 * (1 + np.abs(y[:-1]) + np.abs(y[1:]))
            falls_d = dy < -1e-9 * (1 + np.abs(dy))
            f_jump, d_jump = _jumps(value, y), _jumps(grad, dy)
            lowest, inner = float(np.min(y)), float(np.min(y[_INNER]))
        said = ""
        if falls.any():
            i = int(np.flatnonzero(falls)[0])
            said = f"it falls from x = {GRID[i]:.6g} to x = {GRID[i + 1]:.6g}"
        elif falls_d.any():
            i = int(np.flatnonzero(falls_d)[0])
            said = f"its derivative is {dy[i]:.6g} at x = {GRID[i]:.6g}"
        kink = (f"it jumps at x = {f_jump:.6g}" if f_jump is not None else
                f"its derivative jumps at x = {d_jump:.6g}" if d_jump is not None else "")
        return _Measured(monotonic=not said, smooth=not kink,
                         bounded_below=not lowest < inner - 1e-6 * (1 + abs(inner)),
                         falls=said, kink=kink)


def _jumps(g: Callable[[np.ndarray], np.ndarray], at_grid: np.ndarray) -> float | None:
    """Where ``g`` (values on :data:`GRID`: ``at_grid``) jumps, or None: every grid
    interval is bisected 60 times towards its half with the larger change, so a jump
    anywhere in it is cornered between two neighbouring floats, while a continuous
    function's change shrinks with the interval."""
    lo, hi = GRID[:-1].copy(), GRID[1:].copy()
    g_lo, g_hi = at_grid[:-1].copy(), at_grid[1:].copy()
    for _ in range(60):
        mid = lo + (hi - lo) / 2
        g_mid = g(mid)
        left = np.abs(g_mid - g_lo) >= np.abs(g_hi - g_mid)
        hi, g_hi = np.where(left, mid, hi), np.where(left, g_mid, g_hi)
        lo, g_lo = np.where(left, lo, mid), np.where(left, g_lo, g_mid)
    jump = np.abs(g_hi - g_lo) > 1e-6 * (1 + np.maximum(np.abs(g_lo), np.abs(g_hi)))
    # The two ends are neighbouring floats: a kink at 0 is cornered at -5e-324.
    return round(float(lo[jump][0]), 10) + 0.0 if jump.any() else None


def _fingerprint(checked: _Checked, defaults: Params, learnable: tuple[str, ...]) -> str:
    digits = ",".join(f"{v:.9e}" for v in np.concatenate([checked.y, checked.dy]))
    blob = json.dumps({"params": defaults, "learnable": list(learnable)}, sort_keys=True)
    return hashlib.sha256(f"{blob}|{digits}".encode()).hexdigest()[:16]

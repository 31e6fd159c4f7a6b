"""The pros-and-cons table of the activation family, measured instead of asserted.

For each activation (the family's, and any registered in this process with
:func:`relulab.activations.register`, whose derivative may be autodiff)
:func:`distribution` pushes a fixed standard-normal sample through the function and its
derivative and reports what an article would otherwise give as opinion:

* ``mean`` and ``std`` of :math:`f(z)`, :math:`z \\sim N(0, 1)`: how far the activation moves
  the next layer's input away from zero mean and unit scale;
* ``zero_fraction``: the fraction of outputs exactly equal to 0 (sparsity);
* ``zero_grad_fraction``: the fraction of inputs where :math:`f'(z) = 0` exactly, i.e. where
  a unit passes no gradient back (the "dying" risk);
* ``grad_left`` / ``grad_right``: the one-sided derivatives at 0, evaluated as
  :math:`f'(-t)` and :math:`f'(t)` with ``t`` the smallest normal float64 (2.2e-308), and
  ``grad_at_zero``: what ``.grad(0)`` returns, which at a kink is PyTorch's convention
  (ReLU: 0, LeakyReLU/PReLU/SELU: the left slope, ...), not a limit.

:func:`throughput` times each activation on float32 input in NumPy, JAX (jitted) and PyTorch
(when importable) beside the framework's own function, through the family's timing helper
:mod:`relulab.activations.bench`; it is the only impure part and the CLI can skip it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from relulab import activations
from relulab.activations.twins import FRAMEWORKS

SAMPLES = 10**6
SEED = 0
ELEMENTS = 10**7


def distribution(
    names: Iterable[str] | None = None,
    *,
    samples: int = SAMPLES,
    seed: int = SEED,
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """One row per activation of statistics on ``samples`` standard-normal draws (float64).

    ``params`` maps an activation name to parameters overriding its defaults. Each row is a
    plain dict: ``name``, ``params`` and the floats described in the module docstring.
    """
    names = list(activations.names() if names is None else names)
    params = params or {}
    z = np.random.default_rng(seed).standard_normal(samples)
    tiny = np.finfo(np.float64).tiny
    at_zero = np.array([-tiny, 0.0, tiny])
    rows = []
    for name in names:
        act = activations.get(name, **dict(params.get(name, {})))
        y = np.asarray(act(z))
        dy = np.asarray(act.grad(z))
        left, mid, right = (float(v) for v in np.asarray(act.grad(at_zero)))
        rows.append(
            {
                "name": act.name,
                "params": _plain(act.params),
                "mean": float(y.mean()),
                "std": float(y.std()),
                "zero_fraction": float(np.mean(y == 0)),
                "zero_grad_fraction": float(np.mean(dy == 0)),
                "grad_left": left,
                "grad_at_zero": mid,
                "grad_right": right,
            }
        )
    return rows


def available_frameworks() -> tuple[str, ...]:
    """The frameworks of :data:`FRAMEWORKS` importable here (PyTorch is optional)."""
    present = []
    for framework in FRAMEWORKS:
        try:
            __import__(framework)
        except ImportError:
            continue
        present.append(framework)
    return tuple(present)


def throughput(
    names: Iterable[str] | None = None,
    *,
    elements: int = ELEMENTS,
    frameworks: Sequence[str] | None = None,
    on_step: Callable[[str, str], None] | None = None,
) -> dict[str, dict[str, dict[str, float | None]]]:
    """Throughput in million float32 elements per second: ``{name: {framework: {"ours",
    "generic", "native"}}}``. ``ours`` is what ``act(x)`` does (on PyTorch a dispatch to the
    ``torch.nn.functional`` twin), ``generic`` (PyTorch only, else None) relulab's own
    array-API definition, ``native`` the framework's function (None where there is none).

    Timing is delegated to :func:`relulab.activations.bench.throughput` so that the CLI, the
    benchmark script and this table measure the same way. ``on_step(name, framework)`` is
    called before each measurement (for a progress display).
    """
    from relulab.activations import bench

    names = list(activations.names() if names is None else names)
    frameworks = tuple(available_frameworks() if frameworks is None else frameworks)
    result: dict[str, dict[str, dict[str, float | None]]] = {}
    for name in names:
        result[name] = {}
        for framework in frameworks:
            if on_step is not None:
                on_step(name, framework)
            result[name][framework] = _measure(bench, name, framework, elements)
    return result


def _measure(bench: Any, name: str, framework: str, elements: int) -> dict[str, float | None]:
    measured = bench.throughput(name, framework, n=elements)
    return {key: _finite_or_none(measured.get(key)) for key in _THROUGHPUT_KEYS}


# ours: what act(x) does (on PyTorch it dispatches to the torch.nn.functional twin);
# generic: PyTorch only, relulab's array-API definition (act.apply(x, native=False));
# native: the framework's own function, None where it has none.
_THROUGHPUT_KEYS = ("ours", "generic", "native")


def _finite_or_none(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _plain(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters as JSON-friendly Python scalars."""
    out = {}
    for key, value in params.items():
        if isinstance(value, np.generic):
            value = value.item()
        elif isinstance(value, np.ndarray):
            value = value.tolist()
        out[key] = value
    return out

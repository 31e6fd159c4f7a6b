"""Throughput of our activations beside each framework's native function.

Used by ``benchmarks/activations.py`` and by the CLI's ``activations table`` throughput
column: :func:`throughput` returns million elements per second for ours and for the native
twin (``None`` where the framework has none) on ``n`` float32 elements.

Native twins are those of :mod:`relulab.activations.twins`: ``jax.nn.*`` (jitted) for JAX,
``torch.nn.functional.*`` for PyTorch, NumPy/SciPy one-liners for NumPy.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from relulab.activations.activation import get
from relulab.activations.twins import FRAMEWORKS, twin
from relulab.errors import RelulabError

__all__ = ["FRAMEWORKS", "data", "median_seconds", "native_twin", "throughput"]


def native_twin(name: str, framework: str, params: dict[str, Any]) -> Callable | None:
    """The framework's own function with the same parameters (:mod:`.twins`; jitted on
    JAX), or None."""
    fn = twin(name, framework, params)
    if fn is not None and framework == "jax":
        import jax

        return jax.jit(fn)
    return fn


def data(framework: str, n: int, seed: int = 0) -> Any:
    """``n`` standard-normal float32 elements as the framework's array."""
    x = np.random.default_rng(seed).standard_normal(n, dtype=np.float32)
    if framework == "jax":
        import jax.numpy as jnp

        return jnp.asarray(x)
    if framework == "torch":
        import torch

        return torch.from_numpy(x)
    if framework == "numpy":
        return x
    raise RelulabError(f"unknown framework {framework!r}; known: {', '.join(FRAMEWORKS)}")


def median_seconds(fns: list[Callable[[Any], Any]], x: Any, repeats: int = 5) -> list[float]:
    """Median wall time of each ``fn(x)``, after one warm-up call each (which also compiles
    JAX); JAX results are waited for with ``block_until_ready``. The functions are timed in
    alternation, so a burst of load on a shared machine hits all of them alike."""

    def run(fn: Callable[[Any], Any]) -> float:
        start = time.perf_counter()
        y = fn(x)
        if hasattr(y, "block_until_ready"):
            y.block_until_ready()
        return time.perf_counter() - start

    for fn in fns:
        run(fn)
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            times[i].append(run(fn))
    return [statistics.median(t) for t in times]


def throughput(name: str, framework: str = "numpy", n: int = 10**7, repeats: int = 5,
               **params: Any) -> dict[str, float | None]:
    """Million elements per second: ``ours`` (what ``act(x)`` does, native dispatch on
    torch), ``generic`` (torch only: the array-API definition, ``native=False``) and
    ``native`` (the framework's twin; None where it has none), plus ``ratio`` = our time /
    native time (None without a twin) and, on torch, ``generic_ratio``."""
    act = get(name, **params)
    x = data(framework, n)
    fns: dict[str, Callable[[Any], Any]] = {"ours": act}
    if framework == "torch":
        fns["generic"] = lambda v: act.apply(v, native=False)
    twin = native_twin(act.name, framework, act.params)
    if twin is not None:
        fns["native"] = twin
    seconds = dict(zip(fns, median_seconds(list(fns.values()), x, repeats), strict=True))
    result: dict[str, float | None] = {
        key: (n / seconds[key] / 1e6 if key in seconds else None)
        for key in ("ours", "generic", "native")
    }
    result["ratio"] = seconds["ours"] / seconds["native"] if twin is not None else None
    result["generic_ratio"] = (seconds["generic"] / seconds["native"]
                               if twin is not None and "generic" in seconds else None)
    return result

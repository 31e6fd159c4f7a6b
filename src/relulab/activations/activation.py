"""`Activation`: one activation with its parameters, callable on any array.

The definitions in :mod:`.functions` are plain array-API code. An ``Activation`` adds the
two fast paths that make it as quick as the framework's own function:

* JAX arrays go through a ``jax.jit`` of the definition, cached per (activation, concrete
  parameters, which parameters are arrays), so an eager call is one fused kernel; under an
  outer ``jit``/``vmap``/``grad`` the cached function is simply inlined.
* PyTorch tensors go to the ``torch.nn.functional`` twin when one exists with the same
  semantics (``native=True``, the default); ``apply(x, native=False)`` runs the generic
  array-API definition instead (that is the path the tests check against PyTorch).

NumPy arrays always run the generic definition.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from array_api_compat import is_jax_array, is_torch_array

from relulab.activations import _keras
from relulab.activations._namespace import floating
from relulab.activations._registry import SPECS, Params, Spec, canonical, resolve
from relulab.activations.twins import twin
from relulab.errors import RelulabError


class Activation:
    """An activation function with fixed (default) parameters.

    ``act(x)`` evaluates it, ``act.grad(x)`` its analytic derivative, both in ``x``'s array
    library, shape, device and floating dtype. ``act.apply(x, **params)`` overrides
    parameters for one call; values may be arrays or JAX tracers (a learned PReLU weight).
    Also usable as a Keras 3 activation (``keras.layers.Dense(8, activation=act)``).
    """

    def __init__(self, spec: Spec, params: Params):
        self._spec = spec
        self._params = dict(params)
        # Keras (and other tools) name callables by __name__.
        self.__name__ = spec.name
        self.__qualname__ = spec.name

    # ----------------------------------------------------------------- evaluation
    def __call__(self, x: Any) -> Any:
        return self.apply(x)

    def apply(self, x: Any, *, native: bool = True, **params: Any) -> Any:
        """Evaluate with ``params`` overriding :attr:`params`.

        ``native=False`` forces the generic array-API definition on PyTorch tensors.
        """
        merged = resolve(self._spec, self._params, params) if params else self._params
        if self._spec.name == "identity":
            return self._spec.fn(x)  # nothing to fuse: a jit would only copy the buffer
        if is_jax_array(x):
            return _jax_call(self._spec.name, "value", merged, x)
        if native and is_torch_array(x):
            out = _torch_native(self._spec.name, merged, x)
            if out is not None:
                return out
        return self._spec.fn(x, **merged)

    def grad(self, x: Any, **params: Any) -> Any:
        """Analytic derivative f'(x), with PyTorch's one-sided value at kinks."""
        merged = resolve(self._spec, self._params, params) if params else self._params
        if is_jax_array(x):
            return _jax_call(self._spec.name, "grad", merged, x)
        return self._spec.grad(x, **merged)

    # ----------------------------------------------------------------- description
    @property
    def name(self) -> str:
        return self._spec.name

    @property
    def params(self) -> Params:
        return dict(self._params)

    @property
    def formula(self) -> str:
        """LaTeX, with this activation's parameter values."""
        return self._spec.formula(self._params)

    @property
    def text_formula(self) -> str:
        """Plain text, for terminals, with this activation's parameter values."""
        return self._spec.text_formula(self._params)

    @property
    def reference(self) -> str:
        return self._spec.reference

    @property
    def learnable(self) -> tuple[str, ...]:
        return self._spec.learnable

    @property
    def monotonic(self) -> bool:
        """Non-decreasing everywhere."""
        return bool(self._spec.monotonic(self._params))

    @property
    def smooth(self) -> bool:
        """Continuously differentiable (C1)."""
        return bool(self._spec.smooth(self._params))

    @property
    def bounded_below(self) -> bool:
        return bool(self._spec.bounded_below(self._params))

    @property
    def zero_centered(self) -> bool:
        """Mean output on standard-normal input within 0.25 standard deviations of 0.

        A measured definition (Gauss-Hermite quadrature, 80 nodes): tanh, hard_tanh,
        identity, elu, celu and selu qualify; relu, sigmoid, softplus, gelu, silu, mish do
        not. PReLU/leaky ReLU qualify only with slopes near 1.
        """
        return _zero_centered(self._spec.name, _hashable(self._params))

    # ----------------------------------------------------------------- plumbing
    def get_config(self) -> Params:
        """Keras serialisation: rebuilt by ``Activation.from_config`` / :func:`get`."""
        # Keras calls this before it records our registered name.
        _keras.register_if_imported(Activation)
        return {"name": self.name, **{k: v for k, v in self._params.items()
                                      if isinstance(v, float | str)}}

    @classmethod
    def from_config(cls, config: Params) -> Activation:
        config = dict(config)
        return get(config.pop("name"), **config)

    def __repr__(self) -> str:
        args = "".join(f", {k}={v!r}" for k, v in self._params.items())
        return f"Activation({self.name!r}{args})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Activation):
            return NotImplemented
        key, other_key = _hashable(self._params), _hashable(other._params)
        if key is None or other_key is None:
            return self is other
        return (self.name, key) == (other.name, other_key)

    def __hash__(self) -> int:
        key = _hashable(self._params)
        return hash((self.name, key)) if key is not None else id(self)


def get(name: str, **params: Any) -> Activation:
    """The activation called ``name`` (aliases accepted, e.g. ``swish``) with ``params``.

    Unknown names or parameters, and invalid values, raise :class:`RelulabError` listing
    what exists.
    """
    if isinstance(name, Activation):
        return Activation(name._spec, resolve(name._spec, name._params, params))
    spec = SPECS[canonical(name)]
    return Activation(spec, resolve(spec, {}, params))


def names() -> list[str]:
    """Canonical names, sorted."""
    return sorted(SPECS)


def _hashable(params: Params) -> tuple | None:
    items = tuple(sorted(params.items()))
    return items if all(isinstance(v, float | str) for _, v in items) else None


# --------------------------------------------------------------------------- JAX
def _jax_call(name: str, kind: str, params: Params, x: Any) -> Any:
    static = {k: v for k, v in params.items() if isinstance(v, float | str)}
    dynamic = {k: v for k, v in params.items() if k not in static}
    fn = _jitted(name, kind, tuple(sorted(static.items())), tuple(sorted(dynamic)))
    return fn(x, **dynamic)


@functools.lru_cache(maxsize=512)
def _jitted(name: str, kind: str, static: tuple, dynamic_names: tuple) -> Any:
    import jax

    spec = SPECS[name]
    definition = spec.fn if kind == "value" else spec.grad
    return jax.jit(functools.partial(definition, **dict(static)))


# --------------------------------------------------------------------------- PyTorch
def _torch_native(name: str, params: Params, x: Any) -> Any:
    """The ``torch.nn.functional`` twin's output, or None where there is no exact twin
    (array-valued parameters other than a PReLU weight, or a PReLU weight that would
    broadcast differently from ``F.prelu``'s channel axis)."""
    import torch
    import torch.nn.functional as F

    if not all(isinstance(v, float | str) for k, v in params.items() if k != "weight"):
        return None
    _, x = floating(x)  # integer policy first: torch's twins refuse integer tensors
    if name == "prelu":
        w = params["weight"]
        if isinstance(w, float):
            return F.leaky_relu(x, w)  # the same values as F.prelu, without a weight tensor
        w = torch.as_tensor(w, dtype=x.dtype, device=x.device)
        if w.ndim == 0 or w.numel() == 1 or (x.ndim == 2 and w.ndim == 1):
            return F.prelu(x, w.reshape(-1) if w.ndim else w.reshape(1))
        return None
    fn = twin(name, "torch", params)
    return fn(x) if fn is not None else None


# --------------------------------------------------------------------------- facts
@functools.lru_cache(maxsize=256)
def _zero_centered(name: str, params: tuple | None) -> bool:
    if params is None:
        raise RelulabError(
            f"activation {name!r}: zero_centered needs concrete (scalar) parameters"
        )
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)  # E[g(Z)], Z ~ N(0, 1)
    weights = weights / weights.sum()
    y = np.asarray(SPECS[name].fn(nodes, **dict(params)), dtype=np.float64)
    mean = float(weights @ y)
    std = float(np.sqrt(max(weights @ (y - mean) ** 2, 0.0)))
    return abs(mean) <= 0.25 * std

"""``relulab.torch.modules``: the activation family as PyTorch ``nn.Module`` s.

One module per activation, named, parametrised and printed like its ``torch.nn`` twin
(``LeakyReLU(negative_slope=0.01)``, ``PReLU(num_parameters=1)``, ...), usable anywhere a
``torch.nn`` activation is, e.g. in ``nn.Sequential``::

    >>> import torch
    >>> from relulab.torch import LeakyReLU, PReLU
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), PReLU(4), torch.nn.Linear(4, 1))
    >>> net(torch.ones(2, 3)).shape
    torch.Size([2, 1])

The forward pass evaluates relulab's own definition (:mod:`relulab.activations`), never
``torch.nn.functional``. The backward pass of the parameter-free modules is relulab's
analytic derivative ``.grad`` (wrapped in a ``torch.autograd.Function``): one saved input,
PyTorch's convention at every kink, and differentiable again for double backward. ``PReLU``
differentiates through relulab's ``prelu`` with autograd so its ``weight`` gets a gradient.

Unlike ``torch.nn``, the modules take no ``inplace`` argument (they always return a new
tensor), and their hyper-parameters are read-only: build a new module to change one.

Needs PyTorch: ``pip install 'relulab[torch]'``.
"""

from __future__ import annotations

from typing import Any, ClassVar

try:
    import torch
    from torch import Tensor, nn
except ImportError as exc:  # pragma: no cover - exercised by a test that hides torch
    raise ImportError(
        "relulab.torch needs PyTorch, which is not installed; "
        "install it with: pip install 'relulab[torch]'"
    ) from exc

from relulab import activations
from relulab.activations.custom import derivative_given
from relulab.errors import RelulabError

__all__ = [
    "CELU",
    "ELU",
    "GELU",
    "SELU",
    "Hardtanh",
    "Identity",
    "LeakyReLU",
    "Mish",
    "PReLU",
    "ReLU",
    "ReLU6",
    "Registered",
    "SiLU",
    "Sigmoid",
    "Softplus",
    "Tanh",
    "is_activation",
    "module",
]


class _AnalyticGrad(torch.autograd.Function):
    """y = f(x) with dy/dx from the activation's analytic ``.grad`` (PyTorch's kinks).

    Elementwise, so under ``torch.func.vmap`` it runs once on the whole batched tensor, the
    batch axis where it was (:meth:`vmap`): many models stacked on one axis train through
    it at once (:mod:`relulab.torch.vectorised`)."""

    @staticmethod
    def forward(x: Tensor, activation: Any) -> Tensor:
        # native=False: relulab's own definition, not the torch.nn.functional twin that
        # Activation would otherwise dispatch to.
        y = activation.apply(x, native=False)
        # autograd cannot save an input that is also returned as-is (identity): return a view.
        return x.view_as(x) if y is x else y

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Tensor, Any], output: Tensor) -> None:
        x, activation = inputs
        ctx.activation = activation
        ctx.save_for_backward(x)

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor | None, None]:
        (x,) = ctx.saved_tensors
        return grad_output * ctx.activation.grad(x), None

    @staticmethod
    def vmap(info: Any, in_dims: tuple[int | None, None], x: Tensor,
             activation: Any) -> tuple[Tensor, int | None]:
        return _AnalyticGrad.apply(x, activation), in_dims[0]


def _analytic(x: Tensor, activation: Any) -> Tensor:
    """The activation with its analytic derivative; without gradients (evaluation), its
    definition alone, as plain tensor operations that vmap batches natively."""
    if torch.is_grad_enabled():
        return _AnalyticGrad.apply(x, activation)
    return _AnalyticGrad.forward(x, activation)


class _Elementwise(nn.Module):
    """An elementwise activation without learnable parameters.

    Shape:
        - Input: :math:`(*)`, any number of dimensions.
        - Output: :math:`(*)`, same shape as the input.
    """

    _relulab_name: ClassVar[str]

    def __init__(self, **params: Any) -> None:
        super().__init__()
        self._params = dict(params)  # as given, for extra_repr
        self._activation = activations.get(self._relulab_name, **params)

    def forward(self, input: Tensor) -> Tensor:
        return _analytic(input, self._activation)

    def extra_repr(self) -> str:
        return ", ".join(f"{key}={value!r}" for key, value in self._params.items())


def _read_only(key: str, doc: str) -> property:
    return property(lambda self: self._params[key], doc=doc)


class ReLU(_Elementwise):
    r"""ReLU: :math:`\max(0, x)`; gradient 0 at 0, like ``torch.nn.ReLU``.

    Shape:
        - Input: :math:`(*)`, any number of dimensions.
        - Output: :math:`(*)`, same shape as the input.
    """

    _relulab_name = "relu"

    def __init__(self) -> None:
        super().__init__()


class LeakyReLU(_Elementwise):
    r"""Leaky ReLU: :math:`x` for :math:`x > 0`, else ``negative_slope`` :math:`\cdot x`.

    Args:
        negative_slope: slope for negative inputs (and the gradient at 0). Default 0.01.

    Shape:
        - Input: :math:`(*)`, any number of dimensions.
        - Output: :math:`(*)`, same shape as the input.
    """

    _relulab_name = "leaky_relu"
    negative_slope = _read_only("negative_slope", "slope for negative inputs")

    def __init__(self, negative_slope: float = 1e-2) -> None:
        super().__init__(negative_slope=negative_slope)


class ELU(_Elementwise):
    r"""ELU: :math:`x` for :math:`x > 0`, else :math:`\alpha (e^x - 1)`.

    Args:
        alpha: the saturation value :math:`-\alpha` for large negative inputs. Default 1.0.

    Shape:
        - Input: :math:`(*)`, any number of dimensions.
        - Output: :math:`(*)`, same shape as the input.
    """

    _relulab_name = "elu"
    alpha = _read_only("alpha", "the negative saturation magnitude")

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__(alpha=alpha)


class CELU(_Elementwise):
    r"""CELU: :math:`\max(0, x) + \min(0, \alpha (e^{x/\alpha} - 1))`.

    Args:
        alpha: the :math:`\alpha` of the formula. Default 1.0.

    Shape:
        - Input: :math:`(*)`, any number of dimensions.
        - Output: :math:`(*)`, same shape as the input.
    """

    _relulab_name = "celu"
    alpha = _read_only("alpha", "the alpha of the formula")

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__(alpha=alpha)


class GELU(_Elementwise):
    r"""GELU: :math:`x \Phi(x)`, or its tanh approximation with ``approximate='tanh'``.

    Args:
        approximate: ``'none'`` (exact, PyTorch's default) or ``'tanh'`` (JAX's default).

    Shape:
        - Input: :math:`(*)`, any number of dimensions.
        - Output: :math:`(*)`, same shape as the input.
    """

    _relulab_name = "gelu"
    approximate = _read_only("approximate", "'none' or 'tanh'")

    def __init__(self, approximate: str = "none") -> None:
        super().__init__(approximate=approximate)


class SELU(_Elementwise):
    r"""SELU: :math:`\lambda x` for :math:`x > 0`, else :math:`\lambda \alpha (e^x - 1)`
    with the self-normalising constants :math:`\lambda \approx 1.0507`,
    :math:`\alpha \approx 1.6733`.

    Shape:
        - Input: :math:`(*)`, any number of dimensions.
        - Output: :math:`(*)`, same shape as the input.
    """

    _relulab_name = "selu"

    def __init__(self) -> None:
        super().__init__()


class SiLU(_Elementwise):
    r"""SiLU (swish): :math:`x \sigma(x)`.

    Shape:
        - Input: :math:`(*)`, any number of dimensions.
        - Output: :math:`(*)`, same shape as the input.
    """

    _relulab_name = "silu"

    def __init__(self) -> None:
        super().__init__()


class Mish(_Elementwise):
    r"""Mish: :math:`x \tanh(\operatorname{softplus}(x))`.

    Shape:
        - Input: :math:`(*)`, any number of dimensions.
        - Output: :math:`(*)`, same shape as the input.
    """

    _relulab_name = "mish"

    def __init__(self) -> None:
        super().__init__()


class Softplus(_Elementwise):
    r"""Softplus: :math:`\frac{1}{\beta} \log(1 + e^{\beta x})`, and :math:`x` where
    :math:`\beta x >` ``threshold`` (as ``torch.nn.Softplus``).

    Args:
        beta: sharpness. Default 1.0.
        threshold: above ``beta * x > threshold`` the function is the identity. Default 20.0.

    Shape:
        - Input: :math:`(*)`, any number of dimensions.
        - Output: :math:`(*)`, same shape as the input.
    """

    _relulab_name = "softplus"
    beta = _read_only("beta", "sharpness")
    threshold = _read_only("threshold", "linear above beta * x > threshold")

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__(beta=beta, threshold=threshold)


class ReLU6(_Elementwise):
    r"""ReLU6: :math:`\min(\max(0, x), 6)`; gradient 0 at 0 and at 6, like ``torch``.

    Shape:
        - Input: :math:`(*)`, any number of dimensions.
        - Output: :math:`(*)`, same shape as the input.
    """

    _relulab_name = "relu6"

    def __init__(self) -> None:
        super().__init__()


class Hardtanh(_Elementwise):
    r"""Hardtanh: :math:`x` clipped to [``min_val``, ``max_val``]; gradient 0 at both ends.

    Args:
        min_val: lower end of the linear region. Default -1.0.
        max_val: upper end of the linear region. Default 1.0.

    Shape:
        - Input: :math:`(*)`, any number of dimensions.
        - Output: :math:`(*)`, same shape as the input.
    """

    _relulab_name = "hard_tanh"
    min_val = _read_only("min_val", "lower end of the linear region")
    max_val = _read_only("max_val", "upper end of the linear region")

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0) -> None:
        super().__init__(min_val=min_val, max_val=max_val)


class Tanh(_Elementwise):
    r"""Tanh: :math:`\tanh(x)`.

    Shape:
        - Input: :math:`(*)`, any number of dimensions.
        - Output: :math:`(*)`, same shape as the input.
    """

    _relulab_name = "tanh"

    def __init__(self) -> None:
        super().__init__()


class Sigmoid(_Elementwise):
    r"""Sigmoid: :math:`1 / (1 + e^{-x})`.

    Shape:
        - Input: :math:`(*)`, any number of dimensions.
        - Output: :math:`(*)`, same shape as the input.
    """

    _relulab_name = "sigmoid"

    def __init__(self) -> None:
        super().__init__()


class Identity(_Elementwise):
    r"""Identity: :math:`x` (an activation slot left linear).

    Unlike ``torch.nn.Identity`` it takes no arguments and returns a new tensor.

    Shape:
        - Input: :math:`(*)`, any number of dimensions.
        - Output: :math:`(*)`, same shape as the input.
    """

    _relulab_name = "identity"

    def __init__(self) -> None:
        super().__init__()


class PReLU(nn.Module):
    r"""PReLU: :math:`x` for :math:`x > 0`, else :math:`a x` with a learnable slope :math:`a`.

    As ``torch.nn.PReLU``: one slope shared by all channels (``num_parameters=1``) or one
    per channel, the channel being dimension 1 of the input (dimension 0 does not count as a
    channel: an input with fewer than 2 dimensions has one channel). At 0 the input gradient
    is :math:`a` and the slope's gradient is 0, as in PyTorch.

    Args:
        num_parameters: number of slopes: 1 or the number of input channels. Default 1.
        init: initial value of every slope. Default 0.25.
        device, dtype: of the ``weight`` parameter.

    Attributes:
        weight: the learnable slopes, shape ``(num_parameters,)``.

    Shape:
        - Input: :math:`(*)` with ``num_parameters == 1``; :math:`(N, C, *)` with
          ``num_parameters == C``.
        - Output: same shape as the input.
    """

    def __init__(
        self, num_parameters: int = 1, init: float = 0.25, device: Any = None, dtype: Any = None
    ) -> None:
        if not isinstance(num_parameters, int) or num_parameters < 1:
            raise RelulabError(
                f"PReLU(num_parameters={num_parameters!r}): need a positive integer, 1 for "
                "one shared slope or the number of channels (input dimension 1)"
            )
        super().__init__()
        self.num_parameters = num_parameters
        self.init = init
        self._activation = activations.get("prelu")
        self.weight = nn.Parameter(torch.empty(num_parameters, device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.constant_(self.weight, self.init)

    def forward(self, input: Tensor) -> Tensor:
        return self._activation.apply(
            input, native=False, weight=self._broadcast_weight(input)
        )

    def _broadcast_weight(self, input: Tensor) -> Tensor:
        if self.num_parameters == 1:
            return self.weight.reshape(())  # a 0-d slope keeps a 0-d input 0-d
        channels = input.shape[1] if input.ndim >= 2 else 1
        if channels != self.num_parameters:
            raise RelulabError(
                f"PReLU(num_parameters={self.num_parameters}) got an input of shape "
                f"{tuple(input.shape)} with {channels} channel(s) in dimension 1; give it "
                f"{self.num_parameters} channels or use PReLU(num_parameters={channels})"
            )
        return self.weight.reshape((channels,) + (1,) * (input.ndim - 2))

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class Registered(nn.Module):
    r"""An activation registered with :func:`relulab.activations.register`, as a module.

    The forward pass is the registered ``fn``; the backward pass is its ``derivative``
    when one was registered (as the built-in modules use their analytic ``.grad``), else
    PyTorch's autograd through ``fn``. Each learnable parameter of the activation is an
    ``nn.Parameter`` scalar started at its value (one shared by all units, as
    ``PReLU(num_parameters=1)``).

    Args:
        name: the registered name.
        **params: its parameters, overriding the registered defaults.

    Shape:
        - Input: :math:`(*)`, any number of dimensions.
        - Output: :math:`(*)`, same shape as the input.
    """

    def __init__(self, name: str, **params: Any) -> None:
        if not activations.is_registered(name):
            activations.get(name)  # an unknown name: the line that lists the known ones
            raise RelulabError(
                f"relulab.torch.Registered({name!r}): {name!r} is relulab's own activation, "
                f"not a registered one; use relulab.torch.module({name!r})")
        super().__init__()
        self._activation = activations.get(name, **params)
        self._params = dict(params)  # as given, for extra_repr
        self._learnable = self._activation.learnable
        for key in self._learnable:
            start = torch.tensor(float(self._activation.params[key]))
            self.register_parameter(key, nn.Parameter(start))
        self._analytic = derivative_given(name)

    @property
    def name(self) -> str:
        return self._activation.name

    def forward(self, input: Tensor) -> Tensor:
        if self._learnable:
            learned = {key: getattr(self, key) for key in self._learnable}
            return self._activation.apply(input, native=False, **learned)
        if self._analytic:
            return _analytic(input, self._activation)
        return self._activation.apply(input, native=False)

    def extra_repr(self) -> str:
        return ", ".join([repr(self.name)] + [f"{k}={v!r}" for k, v in self._params.items()])


_MODULES: dict[str, type[nn.Module]] = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "prelu": PReLU,
    "elu": ELU,
    "gelu": GELU,
    "selu": SELU,
    "celu": CELU,
    "silu": SiLU,
    "mish": Mish,
    "softplus": Softplus,
    "relu6": ReLU6,
    "hard_tanh": Hardtanh,
    "tanh": Tanh,
    "sigmoid": Sigmoid,
    "identity": Identity,
}


def module(name: str, **params: Any) -> nn.Module:
    """The ``nn.Module`` for activation ``name`` (aliases such as ``swish`` allowed).

    ``params`` are the module's constructor arguments, e.g.
    ``module("leaky_relu", negative_slope=0.1)`` or ``module("prelu", num_parameters=8)``;
    for an activation registered with :func:`relulab.activations.register`, its parameters
    (a :class:`Registered` module).
    """
    canonical = activations.get(name).name  # raises RelulabError listing the known names
    if activations.is_registered(canonical):
        return Registered(canonical, **params)
    cls = _MODULES.get(canonical)
    if cls is None:
        raise RelulabError(
            f"activation {name!r} has no relulab.torch module yet; modules exist for "
            f"{', '.join(sorted(_MODULES))}"
        )
    try:
        return cls(**params)
    except TypeError as exc:
        raise RelulabError(f"relulab.torch.{cls.__name__}: {exc}; see its docstring") from None


# torch.nn's elementwise activations: what the dead-unit monitor watches and
# swap_activations replaces. Softmax and its kin (not elementwise), GLU (halves a dimension)
# and MultiheadAttention, which torch.nn files beside them, are not activation slots.
TORCH_ACTIVATIONS: tuple[type[nn.Module], ...] = tuple(
    getattr(nn, name)
    for name in (
        "CELU ELU GELU Hardshrink Hardsigmoid Hardswish Hardtanh LeakyReLU LogSigmoid Mish "
        "PReLU RReLU ReLU ReLU6 SELU SiLU Sigmoid Softplus Softshrink Softsign Tanh "
        "Tanhshrink Threshold"
    ).split()
    if hasattr(nn, name)  # an older torch may lack one
)
RELULAB_ACTIVATIONS: tuple[type[nn.Module], ...] = (_Elementwise, PReLU, Registered)


def is_activation(module: nn.Module, extra: tuple[type[nn.Module], ...] = ()) -> bool:
    """True for a ``torch.nn`` elementwise activation module, one of relulab's, or an
    instance of a class in ``extra`` (subclasses included)."""
    return isinstance(module, TORCH_ACTIVATIONS + RELULAB_ACTIVATIONS + tuple(extra))

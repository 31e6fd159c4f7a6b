"""A ``torch.nn.Sequential`` model run on parameters stacked over seeds, without vmap.

:class:`relulab.torch.vectorised.TorchEngine` trains every seed of an activation at once.
For any model it can do that with ``torch.func`` (``functional_call`` under ``vmap``); for
a model built of ``nn.Sequential`` containers whose layers are all of the kinds below, it
runs the layers itself on tensors that carry the seeds as their leading axis, which costs
the same arithmetic without vmap's per-operation dispatch and ``functional_call``'s
re-parametrisation (on the CPU, about half the time per step of a small MLP):

- ``nn.Linear``: one batched matrix product over the seeds (``baddbmm``);
- ``nn.Conv1d`` / ``nn.Conv2d`` (zero padding): one grouped convolution, the seeds'
  channels side by side (what vmap's own batching rule does);
- ``nn.LayerNorm``: the normalisation, then each seed's affine weights;
- layers without parameters that treat the first axis as a batch of independent rows:
  elementwise activations (torch.nn's, relulab's, the user's activation class, none with
  learnable parameters), dropout, pooling, ``Flatten`` / ``Unflatten`` not touching the
  batch axis, ``Softmax`` / ``LogSoftmax`` over another axis, ``Identity``: the module
  itself on the seeds' rows stacked into one batch.

Between layers the activations keep the layout the last layer left them in (``_Flow``):
seeds leading; a grouped convolution's ``(n, seeds * channels, ...)``, kept through the
activations, pooling and dropout after it, so a stack of convolutions does not copy its
activations to the seeds-leading layout and back around every elementwise layer (on the
benchmark's digits CNN those copies cost a quarter of a step); or, for inputs every seed
sees (evaluation), one copy of the rows, which a first convolution or linear layer meets
with every seed's weights side by side in one ordinary product. Grouped 2-D convolutions
run on channels-last tensors, where oneDNN's grouped convolution is some 10% faster; a
plain one (one seed's, as the unit-tracking pass runs them) takes its input as it comes,
which spares a copy (the tracking pass of the digits CNN: 66 ms against 71, an epoch).
A max-pooling's gradient is computed by :class:`_MaxPool`, the same numbers as PyTorch's
own without its conversions between the two layouts.

Anything else (a custom ``forward``, batch norm's running statistics, PReLU's learnable
slope, an embedding, ...) makes :func:`layers_of` return why, and the engine uses vmap.
The arithmetic is the same operation for operation up to the order of float32 sums, so
the two ways agree within float32 rounding.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from relulab.torch.modules import is_activation

__all__ = ["Layer", "layers_of", "run", "shared"]

# Parameterless layers that treat dimension 0 as a batch of independent rows (checked by
# exact type: a subclass may override forward).
_ROWS: tuple[type[nn.Module], ...] = tuple(
    getattr(nn, name) for name in (
        "Identity Dropout Dropout1d Dropout2d Dropout3d AlphaDropout Flatten Unflatten "
        "MaxPool1d MaxPool2d MaxPool3d AvgPool1d AvgPool2d AvgPool3d AdaptiveAvgPool1d "
        "AdaptiveAvgPool2d AdaptiveAvgPool3d AdaptiveMaxPool1d AdaptiveMaxPool2d "
        "AdaptiveMaxPool3d Softmax LogSoftmax"
    ).split() if hasattr(nn, name))
_CONVS = {nn.Conv1d: F.conv1d, nn.Conv2d: F.conv2d}
# A max-pooling's function and its input's dimensions with the batch axis (_MaxPool).
_POOLS = {nn.MaxPool1d: (F.max_pool1d, 3), nn.MaxPool2d: (F.max_pool2d, 4)}
# Parameterless layers that act on each channel of each input apart (elementwise, or
# within one channel's positions): a grouped convolution's output goes through them as it
# is, the seeds' channels side by side.
_PER_CHANNEL: tuple[type[nn.Module], ...] = tuple(
    getattr(nn, name) for name in (
        "Identity Dropout Dropout1d Dropout2d Dropout3d AlphaDropout MaxPool1d MaxPool2d "
        "MaxPool3d AvgPool1d AvgPool2d AvgPool3d AdaptiveAvgPool1d AdaptiveAvgPool2d "
        "AdaptiveAvgPool3d AdaptiveMaxPool1d AdaptiveMaxPool2d AdaptiveMaxPool3d"
    ).split() if hasattr(nn, name))

# Called with a site's key (module path, call index) and its output, seeds leading.
Record = Callable[[tuple[str, int], Tensor], None]


class Layer(NamedTuple):
    """One layer of the stacked forward pass."""

    kind: str  # "linear" | "conv" | "layer_norm" | "rows" | "activation"
    module: nn.Module
    prefix: str  # its parameters' names in the stacked state: prefix + "weight"
    path: str  # its path in the model, "model" for the model itself


def layers_of(model: nn.Module, extra: tuple[type[nn.Module], ...] = ()
              ) -> list[Layer] | str:
    """The layers of ``model`` in the order its forward pass calls them, or one line
    saying why it cannot be run stacked (then vmap runs it)."""
    names = {id(module): name for name, module in model.named_modules()}
    layers: list[Layer] = []

    def walk(module: nn.Module) -> str:
        if type(module) is nn.Sequential:
            for child in module:
                why = walk(child)
                if why:
                    return why
            return ""
        name = names[id(module)]
        path, prefix = name or "model", f"{name}." if name else ""
        kind = _kind(module, extra)
        if kind.startswith("not "):
            return f"{type(module).__name__} at {path!r} {kind[4:]}"
        layers.append(Layer(kind, module, prefix, path))
        return ""

    why = walk(model)
    if why:
        return why
    if not layers:
        return "the model has no layers"
    return layers


def _kind(module: nn.Module, extra: tuple[type[nn.Module], ...]) -> str:
    has_state = any(True for _ in module.parameters()) or any(True for _ in module.buffers())
    if is_activation(module, extra):
        return "not stacked: it has learnable parameters" if has_state else "activation"
    if type(module) is nn.Linear:
        return "linear"
    if type(module) in _CONVS:
        return "conv" if module.padding_mode == "zeros" else "not stacked: padding mode"
    if type(module) is nn.LayerNorm:
        return "layer_norm"
    if type(module) in _ROWS and not has_state:
        if isinstance(module, nn.Flatten) and not module.start_dim >= 1:
            return "not stacked: it flattens the batch axis"
        if isinstance(module, nn.Unflatten) and not module.dim >= 1:
            return "not stacked: it unflattens the batch axis"
        if isinstance(module, (nn.Softmax, nn.LogSoftmax)) and module.dim in (None, 0):
            return "not stacked: it normalises over the batch axis"
        if getattr(module, "return_indices", False):
            return "not stacked: it returns indices"
        return "rows"
    return "not stacked: a layer only vmap runs"


def run(layers: list[Layer], params: Mapping[str, Tensor], x: Tensor, seeds: int, *,
        record: Record | None = None, stop: tuple[str, int] | None = None) -> Tensor | None:
    """The forward pass of every seed: ``x`` is ``(seeds, n, ...)``, or ``(n, ...)``
    shared by all seeds as :func:`shared` makes it; ``params`` the stacked parameters
    (``(seeds, ...)`` each, as ``torch.func.stack_module_state`` names them). Returns
    ``(seeds, n, ...)``.

    ``record(key, output)`` is called with every activation call's output (seeds leading),
    ``key`` = (module path, call index within this pass); with ``stop`` the pass ends after
    that site and returns None. Dropout follows each module's ``training`` flag."""
    if x.ndim < 2 or x.shape[0] != seeds:
        raise ValueError(f"inputs of shape {tuple(x.shape)} lack a leading axis of {seeds} "
                         "seeds")
    flow = _Flow(x, seeds)
    calls: dict[str, int] = {}
    for layer in layers:
        kind, module, p = layer.kind, layer.module, layer.prefix
        if kind == "linear":
            w, b = params[p + "weight"], params.get(p + "bias")
            if flow.one is not None:  # one product with every seed's weights side by side
                y = F.linear(flow.one, w.reshape(-1, w.shape[-1]),
                             None if b is None else b.reshape(-1))
                flow.lead(y.reshape(*y.shape[:-1], seeds, w.shape[1]).movedim(-2, 0))
            else:
                x = flow.seed_major()
                rows = x.reshape(seeds, -1, x.shape[-1])
                y = (torch.bmm(rows, w.transpose(1, 2)) if b is None
                     else torch.baddbmm(b.unsqueeze(1), rows, w.transpose(1, 2)))
                flow.lead(y.reshape(*x.shape[:-1], w.shape[1]))
        elif kind == "conv":
            w, b = params[p + "weight"], params.get(p + "bias")
            groups = seeds * module.groups
            if flow.one is not None and module.groups == 1:
                inputs, groups = flow.one, 1  # every seed's filters on the one input
            else:
                inputs = flow.grouped()
            if inputs.ndim == 4 and groups > 1:  # oneDNN's grouped 2-D convolution is
                inputs = inputs.contiguous(memory_format=torch.channels_last)  # faster so
            flow.group(_CONVS[type(module)](
                inputs, w.reshape(-1, *w.shape[2:]), None if b is None else b.reshape(-1),
                module.stride, module.padding, module.dilation, groups))
        elif kind == "layer_norm":
            shape = tuple(module.normalized_shape)
            x = F.layer_norm(flow.seed_major(), shape, None, None, module.eps)
            w, b = params.get(p + "weight"), params.get(p + "bias")
            spread = (seeds, *[1] * (x.ndim - 1 - len(shape)), *shape)
            if w is not None:
                x = x * w.reshape(spread)
            if b is not None:
                x = x + b.reshape(spread)
            flow.lead(x)
        elif flow.one is not None and not module.training:
            flow.share(module(flow.one))  # the same rows for every seed: once
        elif flow.layout == "grouped" and (kind == "activation"
                                           or isinstance(module, _PER_CHANNEL)):
            flow.group(_call(module, flow.x))
        else:
            x = flow.seed_major()
            y = _call(module, x.reshape(-1, *x.shape[2:]))
            flow.lead(y.reshape(seeds, -1, *y.shape[1:]))
        if kind == "activation" and (record is not None or stop is not None):
            index = calls.get(layer.path, 0)
            calls[layer.path] = index + 1
            if record is not None:
                record((layer.path, index), flow.seed_major())
            if (layer.path, index) == stop:
                return None
    return flow.seed_major()


def _call(module: nn.Module, x: Tensor) -> Tensor:
    """``module(x)``; a max-pooling whose gradient is wanted through :class:`_MaxPool`."""
    if (type(module) in _POOLS and not module.return_indices and x.requires_grad
            and torch.is_grad_enabled() and x.ndim == _POOLS[type(module)][1]):
        return _MaxPool.apply(x, module)
    return module(x)


class _MaxPool(torch.autograd.Function):
    """``nn.MaxPool1d``/``2d``'s forward (its kernel, its indices), with a backward that
    adds each output's gradient at its index into a zeroed tensor of the input's layout:
    the same numbers as PyTorch's own backward, bit for bit (a test holds it), which on a
    channels-last feature map converts its tensors to the other layout and back. On the
    digits CNN of ``benchmarks/torch_study.py`` (10 seeds' 64 rows), the pooling's forward
    and backward took 1.3 ms against 1.8 to 2.4, and three epochs 0.66 s against 0.80
    (medians of eight runs each, interleaved; the same bits)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, module: nn.Module) -> Tensor:
        pool, _ = _POOLS[type(module)]
        out, indices = pool(x, module.kernel_size, module.stride, module.padding,
                            module.dilation, module.ceil_mode, return_indices=True)
        ctx.save_for_backward(indices)
        ctx.shape, ctx.dtype = x.shape, x.dtype
        ctx.last = x.ndim == 4 and x.is_contiguous(memory_format=torch.channels_last)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        (indices,) = ctx.saved_tensors
        n, c = ctx.shape[:2]
        layout = torch.channels_last if ctx.last else torch.contiguous_format
        out = torch.empty(ctx.shape, dtype=ctx.dtype, memory_format=layout).zero_()
        out.view(n, c, -1).scatter_add_(2, indices.reshape(n, c, -1), grad.reshape(n, c, -1))
        return out, None


class _Flow:
    """The activations between layers, in the layout the last layer left them:
    ``"seed_major"`` ``(seeds, n, ...)``; ``"grouped"`` ``(n, seeds * channels, ...)``, the
    seeds' channels side by side as a grouped convolution reads and writes them, kept
    through the layers that act on each channel apart (activations, pooling, dropout), so
    that a stack of convolutions never copies its activations between the two layouts; or
    ``"shared"`` ``(n, ...)``, inputs every seed sees (``one``), before any layer with
    parameters has made them differ."""

    def __init__(self, x: Tensor, seeds: int) -> None:
        self.seeds = seeds
        if seeds > 1 and x.stride(0) == 0:  # shared(): one input expanded over the seeds
            self.x, self.layout = x[0], "shared"
        else:
            self.x, self.layout = x, "seed_major"

    @property
    def one(self) -> Tensor | None:
        return self.x if self.layout == "shared" else None

    def share(self, x: Tensor) -> None:
        self.x, self.layout = x, "shared"

    def group(self, x: Tensor) -> None:
        self.x, self.layout = x, "grouped"

    def lead(self, x: Tensor) -> None:
        self.x, self.layout = x, "seed_major"

    def grouped(self) -> Tensor:
        x, seeds = self.x, self.seeds
        if self.layout == "grouped":
            return x
        if self.layout == "shared":
            x = shared(x, seeds)
        return x.transpose(0, 1).reshape(x.shape[1], seeds * x.shape[2], *x.shape[3:])

    def seed_major(self) -> Tensor:
        """The activations as ``(seeds, n, ...)`` (a view where it can be)."""
        if self.layout == "grouped":
            x, seeds = self.x, self.seeds
            return x.reshape(x.shape[0], seeds, x.shape[1] // seeds, *x.shape[2:]
                             ).transpose(0, 1)
        elif self.layout == "shared":
            return shared(self.x, self.seeds)
        return self.x


def shared(x: Tensor, seeds: int) -> Tensor:
    """Inputs ``(n, ...)`` seen by every seed, as ``(seeds, n, ...)`` (a view)."""
    return x.unsqueeze(0).expand(seeds, *x.shape)

r"""Dead and dormant units at every activation of a PyTorch model, found while it runs.

:class:`DeadUnitMonitor` watches the output of every activation *site* of a model: each
call of an activation module (a module called twice per forward pass is two sites) and
each activation called as a function inside some module's ``forward`` (``F.relu(x)``,
``torch.tanh(x)``, ``x.relu()``). For each unit of a site it keeps, over all batches seen,
whether any output was non-zero and the sum of :math:`|a|` (float64), never the
activations themselves.

A unit is **dead** when its output was exactly 0 on every element seen. It is **dormant**
(Sokar et al., 2023, "The Dormant Neuron Phenomenon in Deep Reinforcement Learning",
ICML) when its score

.. math::

    s_i = \frac{\mathbb{E}|a_i|}{\frac{1}{U} \sum_{j=1}^{U} \mathbb{E}|a_j|} \le \tau,

the mean absolute output of unit :math:`i` (over samples and positions) relative to the
mean of that quantity over the :math:`U` units of the site, is at most the threshold
:math:`\tau`. A dead unit is dormant; a unit of a smooth activation (GELU, SiLU, ELU) can
be dormant without being dead. A site whose units are all 0 has every score 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from relulab.errors import RelulabError
from relulab.torch.modules import RELULAB_ACTIVATIONS, is_activation

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["COLUMNS", "DeadUnitMonitor", "UnitSums", "dormancy_scores", "unit_sums"]

COLUMNS = (
    "site",
    "kind",
    "activation",
    "units",
    "calls",
    "samples",
    "dead",
    "dead_fraction",
    "dead_units",
    "dormant",
    "dormant_fraction",
    "dormant_units",
)


# --- numbers: pure functions of one output ---------------------------------------------


@dataclass(frozen=True)
class UnitSums:
    """What one output contributes per unit: the running sums' increments."""

    nonzero: Tensor  # bool (units,): some element of the unit was not exactly 0
    abs_sum: Tensor  # float64 (units,): sum of |a| over the unit's elements
    per_unit: int  # elements per unit (samples times positions)
    samples: int  # size of the batch axis, 1 for an output without one


def resolve_unit_axis(ndim: int, unit_axis: int | None) -> int:
    """The axis of the units in an output with ``ndim`` dimensions.

    By default dimension 1, where PyTorch puts features and channels (``nn.Linear``'s
    ``(N, F)``, ``nn.Conv2d``'s ``(N, C, H, W)``, as ``nn.PReLU`` and ``nn.BatchNorm``
    read them), and the only axis of a 1-D output. ``(N, L, F)`` sequence outputs have
    their features last: pass ``unit_axis=-1``.
    """
    if unit_axis is None:
        return 1 if ndim >= 2 else 0
    if not -ndim <= unit_axis < ndim:
        raise RelulabError(
            f"unit_axis={unit_axis} does not exist in an activation output with {ndim} "
            f"dimension(s); pass an axis in [-{ndim}, {ndim - 1}], or None for dimension 1"
        )
    return unit_axis % ndim


def unit_sums(output: Tensor, unit_axis: int | None = None, *,
              stacked: bool = False) -> UnitSums:
    """Per-unit increments of the running sums for one activation output (no gradient).

    ``|a|`` summed over every axis but the units': first the axes after the units' (a
    sample's positions in a feature map: contiguous, a fast reduction), in float32 (float64
    for float64 outputs), then in float64 over those before (no copy that moves the units
    first). The float32 partial sums cost a relative error of order 1e-7 a position (3e-9
    measured on the digits CNN's feature maps) where converting every element to float64
    first tripled the time. A unit is non-zero exactly when its sum is: ``|a|`` of a
    non-zero number is positive, and a sum of non-negative numbers, one of them positive,
    is at least that one (it cannot round to 0), while a NaN or inf element keeps the sum
    non-zero as ``a != 0`` would.

    ``stacked``: the output carries a leading axis of seeds, ``(seeds, ...)``, kept apart:
    ``unit_axis`` counts from after it, and ``nonzero``/``abs_sum`` are ``(seeds, units)``.
    """
    with torch.no_grad():
        y = output.detach()
        if y.device.type == "mps":  # MPS has no float64
            y = y.cpu()
        lead = 1 if stacked else 0
        if y.ndim == lead:
            y = y.reshape(*y.shape, 1)
        axis = resolve_unit_axis(y.ndim - lead, unit_axis) + lead
        units = y.shape[axis]
        per_unit = y[0].numel() // units if stacked and units else (
            y.numel() // units if units else 0)
        abs_sum = y.abs()
        if axis + 1 < y.ndim:  # a sample's positions: in float32 (float64 stays float64)
            wide = torch.float64 if abs_sum.dtype == torch.float64 else torch.float32
            abs_sum = abs_sum.sum(dim=tuple(range(axis + 1, y.ndim)), dtype=wide)
        abs_sum = abs_sum.to(torch.float64)
        if axis > lead:
            abs_sum = abs_sum.sum(dim=tuple(range(lead, axis)))
        batched = y.ndim - lead >= 2 and axis != lead
        return UnitSums(
            nonzero=abs_sum != 0,
            abs_sum=abs_sum,
            per_unit=per_unit,
            samples=y.shape[lead] if batched else 1,
        )


def dormancy_scores(mean_abs: np.ndarray) -> np.ndarray:
    """ReDo's score: each unit's mean |a| divided by the mean of that over the layer's units
    (all 0 when every unit is 0, so that a silent layer is wholly dormant)."""
    layer = float(np.mean(mean_abs)) if len(mean_abs) else 0.0
    return mean_abs / layer if layer > 0 else np.zeros_like(mean_abs)


# --- the activations called as functions -------------------------------------------------

# Every way to call an activation as a function, by the object TorchFunctionMode hands over,
# shown as the caller spelled it (F.sigmoid and F.tanh call the Tensor method, so they show
# as Tensor.sigmoid, Tensor.tanh).
_FUNCTIONAL_NAMES = {
    "F": (
        F,
        "celu celu_ elu elu_ gelu hardshrink hardsigmoid hardswish hardtanh hardtanh_ "
        "leaky_relu leaky_relu_ logsigmoid mish prelu relu relu6 relu_ rrelu rrelu_ selu "
        "selu_ silu softplus softshrink softsign tanhshrink threshold threshold_",
    ),
    "torch": (
        torch,
        "celu celu_ hardshrink prelu relu relu_ rrelu rrelu_ selu selu_ sigmoid sigmoid_ "
        "tanh tanh_ threshold threshold_",
    ),
    "Tensor": (Tensor, "hardshrink prelu relu relu_ sigmoid sigmoid_ tanh tanh_"),
}
FUNCTIONAL: dict[Any, str] = {}
for _prefix, (_namespace, _names) in _FUNCTIONAL_NAMES.items():
    for _name in _names.split():
        _func = getattr(_namespace, _name, None)
        if _func is not None:
            FUNCTIONAL.setdefault(_func, f"{_prefix}.{_name}")  # F.gelu is torch's builtin


class _FunctionalWatch(TorchFunctionMode):
    """Sees every torch call while active; hands the activations among them to the monitor."""

    def __init__(self, monitor: DeadUnitMonitor) -> None:
        super().__init__()
        self._monitor = monitor

    def __torch_function__(self, func, types, args=(), kwargs=None):
        # The mode is off while this runs, so F.relu's own call of torch.relu is not seen.
        out = func(*args, **(kwargs or {}))
        try:
            label = FUNCTIONAL.get(func)
        except TypeError:  # an unhashable callable is no activation
            label = None
        if label is not None:
            self._monitor._functional_call(label, out)
        return out


# --- the monitor ---------------------------------------------------------------------------


@dataclass
class _Site:
    """Running sums of one activation site (float64; the outputs are not kept)."""

    owner: str  # path of the module called, or of the module whose forward called the function
    kind: str  # "module" or "functional"
    activation: str
    base: tuple  # the site without its call index: (kind, owner id, activation)
    index: int  # call index within one forward pass
    nonzero: Tensor
    abs_sum: Tensor
    per_unit: int = 0
    calls: int = 0
    samples: int = 0

    def add(self, sums: UnitSums, name: str) -> None:
        if len(sums.abs_sum) != len(self.abs_sum):
            raise RelulabError(
                f"DeadUnitMonitor: activation site {name!r} had {len(self.abs_sum)} units and "
                f"now has {len(sums.abs_sum)}; its units are read along unit_axis, which "
                "varies here (a sequence length?): pass the axis of the features, e.g. "
                "unit_axis=-1 for (N, L, F) outputs"
            )
        self.nonzero |= sums.nonzero
        self.abs_sum += sums.abs_sum
        self.per_unit += sums.per_unit
        self.calls += 1
        self.samples += sums.samples


class DeadUnitMonitor:
    """A context manager that finds dead and dormant units in a PyTorch model as it runs.

    Inside ``with DeadUnitMonitor(model) as monitor:`` every forward pass of ``model`` (or
    of any of its submodules) is watched at every activation site; outputs and gradients
    are exactly those without the monitor, under ``torch.no_grad`` and in training alike.
    (One exception: PyTorch skips its fused inference paths, e.g. of
    ``nn.TransformerEncoderLayer`` in ``eval`` mode, while a function mode is active, and
    the unfused path can differ in the last bits; ``functional=False`` keeps them.)
    On leaving the block (also by an exception) every hook and the function mode go; the
    counts stay, so ``monitor.summary()`` can follow the block, and a later ``with
    monitor:`` adds to them until :meth:`reset`.

    Sites, one row each, in the order first seen:

    - an activation module: a ``torch.nn`` elementwise activation (``ReLU``, ``GELU``,
      ``Tanh``, ``PReLU``, ...; an ``inplace=True`` one is read after it ran), one of
      relulab's modules, or an instance of ``activation_types``. Named by its path in
      ``model`` (``"net.2"``, ``"act"``; ``"model"`` for ``model`` itself);
    - an activation called as a function in some module's ``forward``: ``F.relu``,
      ``F.leaky_relu``, ``F.gelu``, ``F.silu``, ``F.elu``, ``torch.sigmoid``,
      ``torch.tanh``, ``x.relu()``, ... (``relulab.torch.monitor.FUNCTIONAL``), named by
      that module's path and the call, e.g. ``"block.F.relu"``. The calls an activation
      module makes inside its own ``forward`` belong to that module's site, and calls
      outside any forward of the model (the loss, the backward pass) are not sites.

    A module (or a function in one module's ``forward``) called more than once per forward
    pass is one site per call, numbered in call order: ``"act#0"``, ``"act#1"``; the count
    restarts with each forward pass that begins outside the model.

    Units lie along ``unit_axis`` of an output; by default dimension 1, where PyTorch puts
    features and channels: the features of an ``(N, F)`` output, the channels of an
    ``(N, C, H, W)`` or ``(N, C, L)`` feature map (a channel is dead when it is 0 at every
    position of every sample), the only axis of a 1-D output. For ``(N, L, F)`` sequence
    outputs pass ``unit_axis=-1``. Every other axis counts as samples and positions.

    Args:
        model: the ``nn.Module`` to watch.
        threshold: the dormancy threshold :math:`\\tau` (Sokar et al. use up to 0.1).
            Default 0.1.
        unit_axis: the axis of the units in every activation output; ``None`` for dim 1.
        activation_types: more ``nn.Module`` classes to watch as activations (your own
            ``Swish``), whose inner calls are then not sites of their own.
        functional: watch the activations called as functions. The function mode that sees
            them puts every torch call of the block through Python; ``False`` watches the
            activation modules only, with forward hooks alone.

    Example::

        with DeadUnitMonitor(model) as monitor:
            for x, y in loader:
                loss_fn(model(x), y).backward()
        frame = monitor.summary()  # prints a table; one row per site

    Counts cover everything seen since the last :meth:`reset`: a unit that died late in
    training was alive in the early batches and is not dead there. To see what is dead
    now, call ``reset()`` at each epoch, or watch one pass over the data after training.

    One process, one thread: the module stack and the function mode are this thread's;
    ``DataParallel`` replicas and ``torch.compile`` graphs are not supported.
    """

    def __init__(
        self,
        model: nn.Module,
        threshold: float = 0.1,
        *,
        unit_axis: int | None = None,
        activation_types: tuple[type[nn.Module], ...] = (),
        functional: bool = True,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise RelulabError(
                f"DeadUnitMonitor needs a torch.nn.Module, got {type(model).__name__}"
            )
        if isinstance(threshold, bool) or not (
            isinstance(threshold, (int, float)) and math.isfinite(threshold) and threshold >= 0
        ):
            raise RelulabError(
                f"DeadUnitMonitor(threshold={threshold!r}): need a finite number >= 0 "
                "(a unit is dormant when its score is at most the threshold; ReDo uses 0.1)"
            )
        if unit_axis is not None and not isinstance(unit_axis, int):
            raise RelulabError(
                f"DeadUnitMonitor(unit_axis={unit_axis!r}): need an int axis or None"
            )
        self.model = model
        self.threshold = float(threshold)
        self.unit_axis = unit_axis
        self._extra = tuple(activation_types)
        self._functional = bool(functional)
        self._sites: dict[tuple, _Site] = {}
        self._names: dict[int, str] = {}
        self._activations: set[int] = set()
        self._stack: list[nn.Module] = []  # the modules whose forward is running
        self._in_activation = 0  # how many of them are activation modules
        self._counters: dict[tuple, int] = {}  # calls per site base in this forward pass
        self._handles: list[Any] = []
        self._mode: _FunctionalWatch | None = None

    # -- entering and leaving --

    def __enter__(self) -> DeadUnitMonitor:
        if self._handles:
            raise RelulabError("DeadUnitMonitor is already active; leave its block first")
        self._names = {id(m): name for name, m in self.model.named_modules()}
        self._activations = {id(m) for m in self.model.modules() if is_activation(m, self._extra)}
        self._stack.clear()
        self._in_activation = 0
        try:
            for m in self.model.modules():
                self._handles.append(m.register_forward_pre_hook(self._pre_hook))
                self._handles.append(m.register_forward_hook(self._hook, always_call=True))
            if self._functional:
                self._mode = _FunctionalWatch(self)
                self._mode.__enter__()
        except BaseException:
            self._remove()
            raise
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._remove()

    def _remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        if self._mode is not None:
            mode, self._mode = self._mode, None
            mode.__exit__(None, None, None)
        self._stack.clear()
        self._in_activation = 0

    def reset(self) -> None:
        """Forget every count (e.g. at the start of an epoch); the hooks stay."""
        self._sites.clear()
        self._counters.clear()

    # -- watching --

    def _pre_hook(self, module: nn.Module, args: Any) -> None:
        if not self._stack:  # a forward pass begins: call indices restart
            self._counters.clear()
        self._stack.append(module)
        self._in_activation += id(module) in self._activations

    def _hook(self, module: nn.Module, args: Any, output: Any) -> None:
        # Runs also when forward raised (always_call), with output None: the stack must
        # unwind before anything here can fail.
        if self._stack and self._stack[-1] is module:
            self._stack.pop()
        is_site = id(module) in self._activations
        self._in_activation -= is_site
        if is_site and self._in_activation == 0 and isinstance(output, Tensor):
            owner = self._names.get(id(module), type(module).__name__)
            self._record(("module", id(module), ""), owner, _describe(module), output)

    def _functional_call(self, label: str, output: Any) -> None:
        if not self._stack or self._in_activation or not isinstance(output, Tensor):
            return  # outside the model, or inside an activation module's own forward
        caller = self._stack[-1]
        owner = self._names.get(id(caller), type(caller).__name__)
        self._record(("functional", id(caller), label), owner, label, output)

    def _record(self, base: tuple, owner: str, activation: str, output: Tensor) -> None:
        if not (output.is_floating_point() or output.is_complex()):
            return
        index = self._counters.get(base, 0)
        self._counters[base] = index + 1
        sums = unit_sums(output, self.unit_axis)
        if len(sums.abs_sum) == 0:
            return  # no units (a zero-width layer)
        key = (*base, index)
        site = self._sites.get(key)
        if site is None:
            site = self._sites[key] = _Site(
                owner=owner,
                kind=base[0],
                activation=activation,
                base=base,
                index=index,
                nonzero=torch.zeros_like(sums.nonzero),
                abs_sum=torch.zeros_like(sums.abs_sum),
            )
        site.add(sums, owner)

    # -- results --

    def to_frame(self) -> pd.DataFrame:
        """One row per site, in the order first seen (columns :data:`COLUMNS`)."""
        import pandas as pd  # only here: relulab.torch's modules do not need it

        repeated = {site.base for site in self._sites.values() if site.index > 0}
        rows = []
        for site in self._sites.values():
            name = site.owner or "model"
            if site.kind == "functional":
                name = f"{site.owner}.{site.activation}" if site.owner else site.activation
            if site.base in repeated:
                name = f"{name}#{site.index}"
            nonzero = site.nonzero.cpu().numpy()
            mean_abs = site.abs_sum.cpu().numpy() / max(site.per_unit, 1)
            dead = np.flatnonzero(~nonzero)
            dormant = np.flatnonzero(dormancy_scores(mean_abs) <= self.threshold)
            units = len(nonzero)
            rows.append(
                {
                    "site": name,
                    "kind": site.kind,
                    "activation": site.activation,
                    "units": units,
                    "calls": site.calls,
                    "samples": site.samples,
                    "dead": len(dead),
                    "dead_fraction": len(dead) / units,
                    "dead_units": dead.tolist(),
                    "dormant": len(dormant),
                    "dormant_fraction": len(dormant) / units,
                    "dormant_units": dormant.tolist(),
                }
            )
        return pd.DataFrame(rows, columns=list(COLUMNS))

    def summary(self, console: Any = None) -> pd.DataFrame:
        """Print the sites as a rich table (to ``console``, default stdout) and return
        :meth:`to_frame`."""
        frame = self.to_frame()
        from rich.console import Console

        (console or Console()).print(_table(frame, self.threshold))
        return frame


def _describe(module: nn.Module) -> str:
    """``ReLU``, ``LeakyReLU(negative_slope=0.01)``, ``relulab.GELU(approximate='tanh')``."""
    extra = module.extra_repr()
    name = type(module).__name__
    if isinstance(module, RELULAB_ACTIVATIONS):
        name = f"relulab.{name}"
    return f"{name}({extra})" if extra else name


def _units_text(units: list[int], limit: int = 8) -> str:
    shown = ", ".join(map(str, units[:limit]))
    return shown + (f", … (+{len(units) - limit})" if len(units) > limit else "")


def _table(frame: pd.DataFrame, threshold: float) -> Any:
    from rich.markup import escape
    from rich.table import Table

    from relulab.display import percent

    table = Table(title=f"Dead and dormant units (dormant: score <= {threshold:g})")
    for column in ("site", "activation", "units", "dead", "dormant"):
        left = column in ("site", "activation")
        # a site's name must show whole; the activation's parameters are in the frame
        overflow = "fold" if column == "site" else "ellipsis"
        table.add_column(column, justify="left" if left else "right", overflow=overflow)
    table.add_column("dead units")
    table.add_column("dormant units")
    if frame.empty:
        table.caption = "no activation seen: run the model inside the monitor's block"
    elif (frame["kind"] == "functional").any():
        table.caption = (
            "F.*, torch.*, Tensor.*: functions called in a forward, "
            "which swap_activations cannot replace"
        )
    for row in frame.itertuples():
        table.add_row(
            escape(row.site),
            escape(row.activation),
            str(row.units),
            f"{row.dead} ({percent(row.dead_fraction)})",
            f"{row.dormant} ({percent(row.dormant_fraction)})",
            _units_text(row.dead_units),
            _units_text(row.dormant_units),
        )
    return table

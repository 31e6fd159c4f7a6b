"""Every seed of a user's PyTorch model trained at once: :class:`TorchEngine`, the
:class:`relulab.tasks.Engine` of ``relulab.torch``.

A user hands over ``build(activation) -> nn.Module``, a model built around the activation
module it is given, and the activations to compare. For one activation the engine builds
one model per seed and trains them as one program: the seeds' parameters stacked on a
leading axis (``stack_module_state``) and kept as one flat tensor, autograd through a
forward pass of every seed at once, and an element-wise optimiser on the stacked
parameters that is, per seed, exactly ``torch.optim.Adam`` / ``AdamW`` / ``SGD``
(:class:`StackedOptimizer`). The forward pass: for a model built of ``nn.Sequential``
containers and layers :mod:`relulab.torch.stacked` knows (Linear, Conv1d/2d, LayerNorm,
parameterless row-wise layers and activations), those layers run on the stacked
parameters directly (``describe()["seeds"] == "stacked layers"``); for any other model,
the ``torch.func`` model-ensembling recipe, one stateless copy of the model on the meta
device run by ``functional_call`` under ``torch.func.vmap`` (``"torch.func.vmap"``). A
model vmap cannot batch (a forward pass that branches on a tensor's value, an operation
without a batching rule, ...) fails at its first batched step, and is then trained seed
by seed with ``torch.optim`` from the start (``"loop"``), one line in
``describe()["why"]`` saying why; every way trains the same seeds on the same batches to
the same numbers, up to float32 rounding.

Pairing: for seed ``s`` the engine calls ``torch.manual_seed(s)`` immediately before
``build``, so the models of seed ``s`` of every activation start from the same weights
wherever their shapes agree, and epoch ``e`` visits the training examples in the order of
``np.random.default_rng([s, e]).permutation(n)`` in minibatches of ``batch_size`` (the last
one smaller), whatever the activation. Float32 on the CPU; the caller's global torch random
state is left as it was.

Per epoch: the training loss (the mean of the batches' losses weighted by their sizes, in
training mode), the validation loss (evaluation mode; NaN without validation data), early
stopping on it when ``config.patience`` is set and the data has a validation split
(Keras' ``EarlyStopping(restore_best_weights=True)``: the first epoch always improves;
stop after ``patience`` epochs without a lower validation loss; the best epoch's weights
make the predictions). A seed whose training (or validation) loss is not finite stops at
that epoch: later epochs are NaN and so are its predictions, which relulab scores as
diverged.

Dead and dormant units (``track_units``), at every epoch's end, in evaluation mode, on the
first ``max_track`` training inputs: every activation site of the model, as
:class:`relulab.torch.DeadUnitMonitor` finds and names them (each call of a ``torch.nn``
activation module, one of relulab's or one of the class handed to ``build``; named by its
module path, ``"model"`` for the model itself, ``"#k"`` for the k-th call of a module
called more than once per forward pass), with the monitor's definitions
(:func:`relulab.torch.monitor.unit_sums`, :func:`relulab.torch.monitor.dormancy_scores`):
a unit is dead when its output is exactly 0 on every element seen, dormant when its
score is at most ``dormant_threshold``. The names are those of
:class:`relulab.training.TrainOutput`: ``epoch_stats`` ``dead_fraction`` (the share of all
the sites' units dead), ``dead_share:SITE``, ``dormant_share:SITE`` and, for an activation
with learnable parameters (PReLU), ``learned:NAME`` (the parameter's name in the model,
``(epochs,)`` for a scalar, ``(epochs, k)`` otherwise); ``unit_stats`` ``dead:SITE``,
``dormant:SITE`` (at the epoch whose weights are kept), ``death_epoch:SITE`` (the first
epoch at whose end the unit was dead, -1 if never) and ``came_back:SITE`` (dead at one
epoch's end, alive at a later one). Epochs not run are NaN.

Randomness inside the model (dropout) is drawn from torch's generator, seeded with ``s``
before seed ``s`` trains in the loop, with the first seed before all seeds train at once
(``vmap(randomness="different")``): paired across activations either way, but the two ways
draw different masks; everything else is the same.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from relulab.errors import RelulabError
from relulab.specs import DORMANT_THRESHOLD
from relulab.tasks import Fitted, TaskData
from relulab.torch import stacked
from relulab.torch.modules import is_activation
from relulab.torch.monitor import dormancy_scores, unit_sums

__all__ = ["StackedOptimizer", "TorchEngine"]

# Rows per forward pass when evaluating (validation loss, unit tracking, predictions): the
# memory of a pass stays bounded whatever the data's size.
_EVAL_ROWS = 1024
# Rows of the check that the model calls its activation and has the task's output shape.
_CHECK_ROWS = 4
# torch.optim.AdamW's default decoupled weight decay (the config has no field for it).
ADAMW_WEIGHT_DECAY = 1e-2

Loss = Callable[[Tensor, Tensor], Tensor]
# glibc's adaptive mmap threshold stops rising above 32 MiB (on 64-bit Linux); a block
# freed a little under it raises the threshold to its size (see _reuse_freed_memory).
_ADAPTIVE_CAP = 32 * 2**20 - 2**16
_LOOPED = "seeds looped: vectorise=False"


class TorchEngine:
    """Trains a user's PyTorch model for every seed of an activation (module docstring).

    Args:
        build: ``build(activation_module) -> nn.Module``, a fresh model around the module
            it is given, e.g. ``lambda act: nn.Sequential(nn.Linear(64, 32), act,
            nn.Linear(32, 10))``. Its output: logits ``(n, classes)`` for a
            classification, ``(n,)`` or ``(n, 1)`` for a regression.
        activations: ``{name: factory}``, ``factory()`` a fresh activation ``nn.Module``,
            e.g. ``{"relu": lambda: relulab.torch.module("relu")}``.
        loss: ``loss(output, target) -> scalar tensor`` in place of cross-entropy on the
            logits (classification) or the mean squared error (regression); a regression's
            targets are handed over in the output's shape. Averaged over the batch, as
            ``torch.nn``'s losses: the epoch's loss weights the batches by their sizes.
        unit_axis: the axis of the units in the activations' outputs (None: dimension 1,
            as :class:`relulab.torch.DeadUnitMonitor`; ``-1`` for ``(N, L, F)``).
        vectorise: train the seeds as one program when the model allows it; False trains
            them one by one with ``torch.optim``.
        track_units: record dead and dormant units per site at every epoch's end.
        dormant_threshold: ReDo's tau: a unit whose score is at most this is dormant.
        max_track: how many training inputs (the first ones) the units are tracked on.

    ``fit(activation, seeds, data, config)`` reads ``config.epochs``, ``batch_size``,
    ``learning_rate``, ``beta1``, ``beta2``, ``eps``, ``optimizer`` (``"adam"``,
    ``"adamw"`` with torch's default weight decay 0.01, ``"sgd"`` without momentum) and
    ``patience``.
    """

    def __init__(self, build: Callable[[nn.Module], nn.Module],
                 activations: Mapping[str, Callable[[], nn.Module]], *,
                 loss: Loss | None = None, unit_axis: int | None = None,
                 vectorise: bool = True, track_units: bool = True,
                 dormant_threshold: float = DORMANT_THRESHOLD, max_track: int = 2048) -> None:
        if not callable(build):
            raise RelulabError(f"build must be a function of the activation module returning "
                               f"the model, got {type(build).__name__}; pass e.g. "
                               "build=lambda act: nn.Sequential(nn.Linear(64, 32), act, "
                               "nn.Linear(32, 10))")
        if not isinstance(activations, Mapping) or not activations:
            raise RelulabError("activations must be a non-empty dict name -> factory, e.g. "
                               "{'relu': lambda: relulab.torch.module('relu')}")
        for name, factory in activations.items():
            if not callable(factory):
                raise RelulabError(f"activations[{name!r}] is a {type(factory).__name__}, not "
                                   "a factory; pass a function returning a fresh module, e.g. "
                                   f"lambda: relulab.torch.module({name!r})")
        if loss is not None and not callable(loss):
            raise RelulabError(f"loss must be a function loss(output, target) -> scalar "
                               f"tensor, got {type(loss).__name__}")
        if not (isinstance(dormant_threshold, (int, float)) and dormant_threshold >= 0
                and math.isfinite(dormant_threshold)):
            raise RelulabError(f"dormant_threshold={dormant_threshold!r}: need a finite "
                               "number >= 0, e.g. 0.1")
        if isinstance(max_track, bool) or not isinstance(max_track, int) or max_track < 1:
            raise RelulabError(f"max_track={max_track!r}: need a positive number of "
                               "training inputs, e.g. 2048")
        self.build = build
        self.activations = dict(activations)
        self.loss = loss
        self.unit_axis = unit_axis
        self.vectorise = bool(vectorise)
        self.track_units = bool(track_units)
        self.dormant_threshold = float(dormant_threshold)
        self.max_track = max_track
        self._model: tuple[str, int] | None = None  # repr and size, for describe()
        self._why = ""  # why some fit looped its seeds
        self._how: set[str] = set()  # how the fits so far trained their seeds

    # -- the Engine protocol --

    def fit(self, activation: str, seeds: Sequence[int], data: TaskData,
            config: Any) -> list[Fitted]:
        """Every seed of ``activation`` trained on ``data`` with ``config``'s training
        fields; one :class:`~relulab.tasks.Fitted` per seed, in seed order."""
        factory = self._factory(activation)
        seeds = [int(s) for s in seeds]
        if not seeds:
            raise RelulabError("no seeds given; pass at least one seed")
        plan = _Plan.of(config, data)
        tensors = _Tensors.of(data)
        _reuse_freed_memory()
        with torch.random.fork_rng(devices=[]):
            models, acts = [], []
            for seed in seeds:
                act = factory()
                if not isinstance(act, nn.Module):
                    raise RelulabError(f"activations[{activation!r}]() returned a "
                                       f"{type(act).__name__}, not a torch.nn.Module; return "
                                       f"a fresh module, e.g. relulab.torch.module({activation!r})")
                torch.manual_seed(seed)
                models.append(_built(self.build, act))
                acts.append(act)
            extra = (type(acts[0]),)
            sites = _Sites(models[0], extra, self.unit_axis)
            _check(models[0], acts[0], tensors, sites)
            work = _Work(seeds=seeds, plan=plan, data=tensors,
                         loss=_Loss(self.loss, tensors.task), extra=extra,
                         sites=sites if self.track_units else None,
                         threshold=self.dormant_threshold, max_track=self.max_track,
                         learned=_learned_names(models[0], extra) if self.track_units else [])
            why, how, fitted = ("", "", None) if self.vectorise else (_LOOPED, LOOP, None)
            for how in (STACKED, VMAP) if self.vectorise else ():
                try:
                    fitted = _train_vectorised(models, work, how)
                    why = ""  # a way that failed before this one does not count
                    break
                except RelulabError:
                    raise
                except _CannotStack:  # not a Sequential of known layers: vmap runs it
                    continue
                except Exception as exc:  # stacked or vmap cannot batch it: the loop can
                    why = _why(exc)
            if fitted is None:
                how = LOOP
                fitted = _train_looped(models, work)
        self._why = self._why or why  # the first reason to loop stays
        self._how.add(how)
        return fitted

    def describe(self) -> dict[str, Any]:
        """``framework``, ``model`` (the repr of the model built with the first
        activation), its ``parameters``, ``vectorised`` (every fit so far trained its seeds
        at once; before any fit, whether the engine will try), ``why`` (why seeds were
        looped, "" when vectorised) and ``seeds``: how the fits so far trained their seeds
        (``"stacked layers"``, ``"torch.func.vmap"``, ``"loop"``, joined by ", " when
        they differed; "" before any fit)."""
        if self._model is None:
            first = next(iter(self.activations))
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                model = _built(self.build, self._factory(first)())
            self._model = (repr(model), _count(model))
        why = self._why or ("" if self.vectorise else _LOOPED)
        return {"framework": "pytorch", "model": self._model[0],
                "parameters": self._model[1], "vectorised": not why, "why": why,
                "seeds": ", ".join(h for h in (STACKED, VMAP, LOOP) if h in self._how)}

    def _factory(self, activation: str) -> Callable[[], nn.Module]:
        if activation not in self.activations:
            raise RelulabError(f"activation {activation!r} is not among the engine's "
                               f"activations ({', '.join(self.activations)}); add it to "
                               "TorchEngine(build, activations={...})")
        return self.activations[activation]


# --- what a fit needs: the data as tensors, the training fields, the loss ------------------


@dataclass(frozen=True)
class _Plan:
    """The training fields of a config, checked once."""

    epochs: int
    batch_size: int
    learning_rate: float
    betas: tuple[float, float]
    eps: float
    optimizer: str
    patience: int | None  # None also without validation data: nothing to stop on

    @classmethod
    def of(cls, config: Any, data: TaskData) -> _Plan:
        optimizer = str(getattr(config, "optimizer", "adam"))
        if optimizer not in ("adam", "adamw", "sgd"):
            raise RelulabError(f"unknown optimizer {optimizer!r}; choose adam, adamw or sgd")
        epochs, batch = int(config.epochs), int(config.batch_size)
        if epochs < 1 or batch < 1:
            raise RelulabError(f"epochs and batch_size must be at least 1, got {epochs} and "
                               f"{batch}")
        patience = config.patience if data.y_val is not None else None
        return cls(epochs=epochs, batch_size=batch, learning_rate=float(config.learning_rate),
                   betas=(float(config.beta1), float(config.beta2)), eps=float(config.eps),
                   optimizer=optimizer, patience=None if patience is None else int(patience))

    def steps(self, n: int) -> int:
        return -(-n // self.batch_size)


@dataclass(frozen=True)
class _Tensors:
    """A :class:`TaskData` as float32 inputs and int64 labels or float32 targets."""

    task: str
    classes: int
    x_train: Tensor
    y_train: Tensor
    x_val: Tensor | None
    y_val: Tensor | None
    x_test: Tensor

    @classmethod
    def of(cls, data: TaskData) -> _Tensors:
        target = torch.int64 if data.task == "classification" else torch.float32

        def x(a: np.ndarray | None) -> Tensor | None:
            return None if a is None else torch.as_tensor(np.asarray(a, dtype=np.float32))

        def y(a: np.ndarray | None) -> Tensor | None:
            return None if a is None else torch.as_tensor(np.asarray(a)).to(target)

        return cls(task=data.task, classes=int(data.classes), x_train=x(data.x_train),
                   y_train=y(data.y_train), x_val=x(data.x_val), y_val=y(data.y_val),
                   x_test=x(data.x_test))

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])


class _Loss:
    """The batch loss of one seed (``one``) and of stacked seeds (``stacked``: outputs
    and targets with a leading seed axis, one loss per seed).

    The user's ``loss`` is vmapped over the seeds. The defaults are written once for both
    forms, the seed axis leading: cross-entropy on logits (``log_softmax``, the target's
    entry, the mean over the batch: ``F.cross_entropy``'s arithmetic) or the mean squared
    error; outside vmap, so the stacked seeds' loss costs a handful of tensor operations.
    A regression's targets take the output's shape (``(n,)`` or ``(n, 1)``).
    """

    def __init__(self, user: Loss | None, task: str) -> None:
        self.user, self.task = user, task
        if user is not None:
            self._vmapped = vmap(self._user, randomness="different")

    def one(self, output: Tensor, target: Tensor) -> Tensor:
        if self.user is not None:
            return self._user(output, target)
        return self._default(output, target)

    def stacked(self, output: Tensor, target: Tensor) -> Tensor:
        if self.user is not None:
            return self._vmapped(output, target)
        return self._default(output, target)

    def _user(self, output: Tensor, target: Tensor) -> Tensor:
        if self.task == "regression":
            target = target.reshape(output.shape)
        return self.user(output, target)

    def _default(self, output: Tensor, target: Tensor) -> Tensor:
        if self.task == "classification":
            # The log-softmax over the classes, taken with the classes as the last axis
            # but one: the CPU kernel over a short last axis works row by row, several
            # times slower (10 seeds' 64 rows of 10 classes: 14 µs against 62).
            logp = torch.log_softmax(output.transpose(-1, -2), dim=-2)
            picked = logp.gather(-2, target.unsqueeze(-2)).squeeze(-2)
            return -picked.mean(dim=-1)
        error = output.reshape(target.shape) - target
        return (error * error).mean(dim=-1)


def _reuse_freed_memory() -> None:
    """Let the heap keep the memory a training step frees, for the next step to reuse.

    A tensor's memory comes from ``malloc``. glibc's (Linux) serves blocks above its mmap
    threshold from the system directly and returns a freed heap's top to the system when
    more than its trim threshold is free there; both start at 128 KiB and rise when a
    mapped block is freed, to that block's size and twice it, up to 32 MiB. Every seed's
    step at once allocates and frees a few megabytes of activations and gradients per
    layer, so with thresholds set by a smaller past the heap is trimmed after each step and
    the next step faults the same pages in again: measured on the digits CNN of
    ``benchmarks/torch_study.py`` (10 seeds, 2 cores, two runs of each), a median of 12.5
    to 13.5 ms a step against 9.6 to 10.6 ms once the thresholds are up. Freeing one block
    just under the cap sets them where a process that had freed a 32 MiB tensor has them:
    glibc's own adaptation, nothing fixed, and a no-op for other allocators (one mapping,
    never touched)."""
    torch.empty(_ADAPTIVE_CAP, dtype=torch.uint8)


def _order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The order in which seed ``seed`` visits the ``n`` training examples in ``epoch``:
    the same for every activation (the pairing)."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def _built(build: Callable[[nn.Module], nn.Module], act: nn.Module) -> nn.Module:
    model = build(act)
    if not isinstance(model, nn.Module):
        raise RelulabError(f"build(activation) returned a {type(model).__name__}, not a "
                           "torch.nn.Module; return the model, e.g. "
                           "nn.Sequential(nn.Linear(64, 32), activation, nn.Linear(32, 10))")
    return model.to(device="cpu", dtype=torch.float32)


def _count(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def _check(model: nn.Module, act: nn.Module, data: _Tensors, sites: _Sites) -> None:
    """One forward pass on a few training inputs (evaluation mode, no gradient: nothing
    changes): the model calls the activation it was given and has the task's output
    shape. It also fixes the names of the activation sites."""
    x = data.x_train[:_CHECK_ROWS]
    called = []
    handle = act.register_forward_pre_hook(lambda module, args: called.append(True))
    training = model.training
    try:
        model.eval()
        with torch.no_grad(), sites.watch():
            sites.begin()
            output = model(x)
    except RelulabError:
        raise
    except Exception as exc:
        raise RelulabError(f"the model fails on training inputs of shape {tuple(x.shape)}: "
                           f"{type(exc).__name__}: {_first_line(exc)}; build it for inputs "
                           f"of shape (n, {', '.join(map(str, x.shape[1:]))})") from None
    finally:
        handle.remove()
        model.train(training)
    if not called:
        raise RelulabError(f"build(activation) returned a model that never calls the "
                           f"activation it was given ({act!r}); build the model around its "
                           "argument, e.g. nn.Sequential(nn.Linear(64, 32), activation, ...)")
    shape = tuple(output.shape) if isinstance(output, Tensor) else type(output).__name__
    n = x.shape[0]
    if data.task == "classification":
        if shape != (n, data.classes):
            raise RelulabError(f"the model's output has shape {shape} on {n} inputs; a "
                               f"classification of {data.classes} classes needs ({n}, "
                               f"{data.classes}): end the model with nn.Linear(..., "
                               f"{data.classes}), the logits (no softmax)")
    elif shape not in ((n,), (n, 1)):
        raise RelulabError(f"the model's output has shape {shape} on {n} inputs; a "
                           f"regression needs ({n},) or ({n}, 1): end the model with "
                           "nn.Linear(..., 1)")
    sites.fix()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _why(exc: BaseException) -> str:
    """One line: why the seeds are trained one by one."""
    message = _first_line(exc)
    low = message.lower()
    if "data-dependent control flow" in low or ".item()" in low:
        what = "the model's forward uses data-dependent control flow"
    elif "random" in low:
        what = "the model draws random numbers in a way vmap cannot batch"
    elif "in-place" in low or "inplace" in low:
        what = "the model updates a tensor in place in a way vmap cannot batch"
    elif "batching rule" in low or "not implemented" in low or "not supported" in low:
        what = "the model uses an operation vmap cannot batch"
    else:
        what = "the model cannot be run batched over seeds"
    short = message if len(message) <= 160 else message[:157] + "..."
    return f"seeds looped: {what} (vmap: {type(exc).__name__}: {short})"


# --- activation sites: the monitor's names and numbers, also under vmap -------------------


class _Sites:
    """The activation sites of a model as :class:`relulab.torch.DeadUnitMonitor` (with
    ``functional=False``) finds and names them, and each forward pass's per-unit sums
    (:func:`relulab.torch.monitor.unit_sums`). The hooks only collect what each call
    returns, so they run unchanged under ``vmap``: there the sums carry the seed axis.

    A site's key is ``(module path, call index)``, the same in every copy of the model;
    its name, fixed by the first pass (:meth:`fix`), is the path (``"model"`` for the
    model itself) with ``"#k"`` for a module called more than once per pass.
    """

    def __init__(self, model: nn.Module, extra: tuple[type[nn.Module], ...],
                 unit_axis: int | None) -> None:
        self.extra = extra
        self.unit_axis = unit_axis
        self.order: list[tuple[str, int]] = []  # the sites' keys, in the order first seen
        self.names: dict[tuple[str, int], str] = {}
        self.calls: list[tuple[tuple[str, int], Tensor, Tensor, int]] = []
        self._model = model
        self._depth = 0
        self._counts: dict[str, int] = {}
        self._stop: tuple[str, int] | None = None

    def on(self, model: nn.Module) -> _Sites:
        """The same sites, watched on another copy of the model (the stateless one)."""
        other = copy.copy(self)
        other._model = model
        other.calls, other._counts, other._depth = [], {}, 0
        return other

    @contextmanager
    def watch(self, stop: bool = False) -> Iterator[None]:
        """Hooks on every activation module of the model while the block runs; with
        ``stop`` a pass ends (:class:`_LastSite`) once the last site has been seen."""
        handles = []
        self._stop = self.order[-1] if stop and self.order else None
        try:
            for name, module in self._model.named_modules():
                if is_activation(module, self.extra):
                    path = name or "model"
                    handles.append(module.register_forward_pre_hook(self._enter))
                    handles.append(module.register_forward_hook(
                        lambda m, args, out, path=path: self._leave(path, out),
                        always_call=True))
            yield
        finally:
            for handle in handles:
                handle.remove()
            self._depth, self._stop = 0, None

    def begin(self) -> None:
        """A forward pass begins: call indices restart, nothing collected."""
        self._counts.clear()
        self.calls = []
        self._depth = 0

    def _enter(self, module: nn.Module, args: Any) -> None:
        self._depth += 1

    def _leave(self, path: str, output: Any) -> None:
        self._depth -= 1
        # An activation inside an activation module's forward is part of that site.
        if self._depth or not isinstance(output, Tensor):
            return
        if not (output.is_floating_point() or output.is_complex()):
            return
        index = self._counts.get(path, 0)
        self._counts[path] = index + 1
        sums = unit_sums(output, self.unit_axis)
        if sums.abs_sum.shape[-1] == 0:
            return  # no units (a zero-width layer)
        self.calls.append(((path, index), sums.nonzero, sums.abs_sum, sums.per_unit))
        if (path, index) == self._stop:
            raise _LastSite

    def fix(self) -> None:
        """Name the sites the last pass called (the monitor's names)."""
        self.order = [key for key, *_ in self.calls]
        repeated = {path for path, index in self.order if index > 0}
        self.names = {(path, index): f"{path}#{index}" if path in repeated else path
                      for path, index in self.order}
        self.calls = []


class _Health(NamedTuple):
    """One epoch's end, per site: whether each unit of each seed is dead and dormant
    (``(seeds, units)`` bools)."""

    dead: dict[str, np.ndarray]
    dormant: dict[str, np.ndarray]


class _LastSite(Exception):
    """Raised by the hook of a model's last activation site while units are tracked: the
    rest of the forward pass (a pooling, the head) is not needed."""


def _unit_sums(forward: Callable[[Tensor], Any], sites: _Sites, x: Tensor
               ) -> dict[tuple[str, int], tuple[np.ndarray, np.ndarray, int]]:
    """One model's per-unit sums over the inputs ``x`` at every site: whether each unit
    was ever non-zero, its summed ``|a|`` and the elements per unit; the forward passes
    (evaluation mode, no gradient) stop at the last site."""
    out: dict[tuple[str, int], tuple[np.ndarray, np.ndarray, int]] = {}
    with torch.no_grad(), sites.watch(stop=True):
        for rows in _rows(x):
            sites.begin()
            try:
                forward(rows)
            except _LastSite:
                pass
            for key, nonzero, abs_sum, per_unit in sites.calls:
                nz, ab = nonzero.numpy(), abs_sum.numpy()
                if key in out:
                    nz0, ab0, n0 = out[key]
                    nz, ab, per_unit = nz0 | nz, ab0 + ab, n0 + per_unit
                out[key] = (nz, ab, per_unit)
    return out


def _health(sums: Sequence[dict[tuple[str, int], tuple[np.ndarray, np.ndarray, int]]],
            sites: _Sites, threshold: float) -> _Health:
    """Dead and dormant units of every seed (one :func:`_unit_sums` each) at every site,
    by the monitor's definitions."""
    dead, dormant = {}, {}
    for key in sites.order:
        if not all(key in seed for seed in sums):
            continue
        name = sites.names[key]
        dead[name] = np.stack([~seed[key][0] for seed in sums])
        dormant[name] = np.stack([
            dormancy_scores(seed[key][1] / max(seed[key][2], 1)) <= threshold
            for seed in sums])
    return _Health(dead, dormant)


def _learned_names(model: nn.Module, extra: tuple[type[nn.Module], ...]) -> list[str]:
    """The names (in ``model.named_parameters()``) of the activations' learnable
    parameters, e.g. PReLU's ``"1.weight"``."""
    owned = set()
    for name, module in model.named_modules():
        if is_activation(module, extra):
            owned |= {f"{name}.{p}" if name else p for p, _ in module.named_parameters()}
    return [name for name, _ in model.named_parameters() if name in owned]


# --- what the epochs record: small trackers over the seed axis -----------------------------


class _Stopping(NamedTuple):
    """Early stopping and divergence per seed (Keras' ``EarlyStopping`` with
    ``restore_best_weights``; as :func:`relulab.training.early_stopping`)."""

    active: np.ndarray  # bool: still training
    diverged: np.ndarray  # bool: a loss was not finite
    best_epoch: np.ndarray  # int: the epoch whose weights are kept
    best_val: np.ndarray  # float: its validation loss
    wait: np.ndarray  # int: epochs since the validation loss last improved


def _stopping(seeds: int) -> _Stopping:
    return _Stopping(active=np.ones(seeds, bool), diverged=np.zeros(seeds, bool),
                     best_epoch=np.zeros(seeds, int), best_val=np.full(seeds, np.inf),
                     wait=np.zeros(seeds, int))


def _stopping_update(state: _Stopping, epoch: int, loss: np.ndarray, val_loss: np.ndarray,
                     patience: int | None, has_val: bool) -> tuple[_Stopping, np.ndarray]:
    """The state after ``epoch``, and which seeds keep this epoch's weights."""
    ran = state.active
    bad = ran & (~np.isfinite(loss) | (has_val & ~np.isfinite(val_loss)))
    if patience is None:
        kept, stop, wait, best_val = ran, np.zeros_like(ran), state.wait, state.best_val
    else:
        kept = ran & ((epoch == 0) | (val_loss < state.best_val))
        wait = np.where(kept, 0, state.wait + 1)
        stop = ran & ~kept & (wait >= patience) & (epoch > 0)
        best_val = np.where(kept, val_loss, state.best_val)
    return _Stopping(active=ran & ~stop & ~bad, diverged=state.diverged | bad,
                     best_epoch=np.where(kept, epoch, state.best_epoch), best_val=best_val,
                     wait=wait), kept


class _Units(NamedTuple):
    """Per site, per seed and unit (as :func:`relulab.training.unit_health`)."""

    death_epoch: dict[str, np.ndarray]
    came_back: dict[str, np.ndarray]
    dead_kept: dict[str, np.ndarray]
    dormant_kept: dict[str, np.ndarray]


def _units_update(state: _Units | None, epoch: int, ran: np.ndarray, kept: np.ndarray,
                  health: _Health) -> _Units:
    if state is None:
        state = _Units(*({k: np.full(d.shape, fill, dtype) for k, d in health.dead.items()}
                         for fill, dtype in ((-1, int), (False, bool), (False, bool),
                                             (False, bool))))
    r, k = ran[:, None], kept[:, None]
    died = state.death_epoch
    return _Units(
        death_epoch={s: np.where(r & d & (died[s] < 0), epoch, died[s])
                     for s, d in health.dead.items()},
        came_back={s: state.came_back[s] | (r & ~d & (died[s] >= 0))
                   for s, d in health.dead.items()},
        dead_kept={s: np.where(k, d, state.dead_kept[s]) for s, d in health.dead.items()},
        dormant_kept={s: np.where(k, d, state.dormant_kept[s])
                      for s, d in health.dormant.items()})


class _Record:
    """Everything the epochs record for a group of seeds (the seed axis first); NaN for
    epochs not run."""

    def __init__(self, seeds: int, plan: _Plan, has_val: bool) -> None:
        self.plan, self.has_val = plan, has_val
        self.loss = np.full((seeds, plan.epochs), np.nan)
        self.val_loss = np.full((seeds, plan.epochs), np.nan)
        self.curves: dict[str, np.ndarray] = {}
        self.stopping = _stopping(seeds)
        self.units: _Units | None = None

    @property
    def active(self) -> np.ndarray:
        return self.stopping.active

    def epoch(self, epoch: int, loss: np.ndarray, val_loss: np.ndarray,
              health: _Health | None, learned: dict[str, np.ndarray]) -> np.ndarray:
        """Fold in one epoch's end; returns which seeds keep its weights."""
        ran = self.stopping.active.copy()
        self.loss[ran, epoch] = loss[ran]
        self.val_loss[ran, epoch] = val_loss[ran]
        self.stopping, kept = _stopping_update(self.stopping, epoch, loss, val_loss,
                                               self.plan.patience, self.has_val)
        if health is not None:
            dead_units = sum(d.sum(axis=1) for d in health.dead.values())
            units = sum(d.shape[1] for d in health.dead.values())
            self._curve("dead_fraction", epoch, ran, dead_units / max(units, 1))
            for site, dead in health.dead.items():
                self._curve(f"dead_share:{site}", epoch, ran, dead.mean(axis=1))
                self._curve(f"dormant_share:{site}", epoch, ran,
                            health.dormant[site].mean(axis=1))
            self.units = _units_update(self.units, epoch, ran, kept, health)
        for name, value in learned.items():
            self._curve(f"learned:{name}", epoch, ran, value)
        return kept

    def _curve(self, key: str, epoch: int, ran: np.ndarray, value: np.ndarray) -> None:
        value = np.asarray(value, dtype=np.float64)
        if key not in self.curves:
            self.curves[key] = np.full((len(ran), self.plan.epochs, *value.shape[1:]), np.nan)
        self.curves[key][ran, epoch] = value[ran]

    def fitted(self, i: int, seed: int, test_pred: np.ndarray,
               val_pred: np.ndarray | None) -> Fitted:
        diverged = bool(self.stopping.diverged[i])
        if diverged:
            test_pred = np.full_like(test_pred, np.nan)
            val_pred = None if val_pred is None else np.full_like(val_pred, np.nan)
        epoch_stats = {}
        for key, curve in self.curves.items():
            row = curve[i]
            epoch_stats[key] = row.reshape(-1) if row.ndim == 2 and row.shape[1] == 1 else row
        unit_stats: dict[str, np.ndarray] = {}
        if self.units is not None:
            for site in self.units.death_epoch:
                unit_stats[f"dead:{site}"] = self.units.dead_kept[site][i].copy()
                unit_stats[f"dormant:{site}"] = self.units.dormant_kept[site][i].copy()
                unit_stats[f"death_epoch:{site}"] = self.units.death_epoch[site][i].copy()
                unit_stats[f"came_back:{site}"] = self.units.came_back[site][i].copy()
        return Fitted(seed=seed, loss=self.loss[i].copy(), val_loss=self.val_loss[i].copy(),
                      best_epoch=int(self.stopping.best_epoch[i]), test_pred=test_pred,
                      val_pred=val_pred, epoch_stats=epoch_stats, unit_stats=unit_stats)


@dataclass(frozen=True)
class _Work:
    """One activation's fit: what both ways of training read."""

    seeds: list[int]
    plan: _Plan
    data: _Tensors
    loss: _Loss
    extra: tuple[type[nn.Module], ...]
    sites: _Sites | None  # None: units not tracked
    threshold: float
    max_track: int
    learned: list[str]

    def orders(self, epoch: int) -> np.ndarray:
        """(seeds, n) every seed's order of the training examples in ``epoch``."""
        n = self.data.n_train
        return np.stack([_order(seed, epoch, n) for seed in self.seeds])

    def batches(self) -> Iterator[slice]:
        n, size = self.data.n_train, self.plan.batch_size
        for start in range(0, n, size):
            yield slice(start, min(start + size, n))

    @property
    def x_track(self) -> Tensor:
        return self.data.x_train[: self.max_track]

    def predictions(self, output: Tensor, seeds: bool) -> np.ndarray:
        """Outputs (``[seeds,] n, classes`` or ``[seeds,] n[, 1]``) as float64 class
        probabilities (a softmax in float64) or numbers."""
        if self.data.task == "classification":
            return torch.softmax(output.double(), dim=-1).numpy()
        if output.ndim == 2 + seeds:
            output = output[..., 0]
        return output.double().numpy()


def _take(x: Tensor, index: Tensor) -> Tensor:
    """``x[index]`` for a (seeds, batch) index, by ``index_select`` (faster on the CPU)."""
    return x.index_select(0, index.reshape(-1)).reshape(*index.shape, *x.shape[1:])


def _rows(x: Tensor) -> Iterator[Tensor]:
    for start in range(0, x.shape[0], _EVAL_ROWS):
        yield x[start: start + _EVAL_ROWS]


# --- the element-wise optimiser on stacked parameters --------------------------------------


class StackedOptimizer:
    """``torch.optim.Adam`` / ``AdamW`` / ``SGD`` on parameters stacked over seeds.

    Each update is element-wise, with the arithmetic of ``torch.optim``'s CPU
    implementation, operation for operation; every seed's slice therefore moves exactly
    as a separate optimiser would move that seed's own parameters (the seeds share the
    step count, as they share their steps). ``"adamw"`` decays with torch's default weight
    decay 0.01; ``"sgd"`` has no momentum.
    """

    def __init__(self, params: list[Tensor], kind: str, lr: float,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = ADAMW_WEIGHT_DECAY) -> None:
        self.params, self.kind, self.lr = params, kind, lr
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay
        self.step_count = 0
        if kind != "sgd":
            self.exp_avg = [torch.zeros_like(p, memory_format=torch.preserve_format)
                            for p in params]
            self.exp_avg_sq = [torch.zeros_like(p, memory_format=torch.preserve_format)
                               for p in params]

    @torch.no_grad()
    def step(self, grads: Sequence[Tensor]) -> None:
        params, lr = self.params, self.lr
        if self.kind == "sgd":
            torch._foreach_add_(params, grads, alpha=-lr)
            return
        beta1, beta2 = self.betas
        self.step_count += 1
        step = float(self.step_count)  # torch keeps it as a float32 tensor of whole numbers
        if self.kind == "adamw":
            torch._foreach_mul_(params, 1 - lr * self.weight_decay)
        torch._foreach_lerp_(self.exp_avg, grads, 1 - beta1)
        torch._foreach_mul_(self.exp_avg_sq, beta2)
        torch._foreach_addcmul_(self.exp_avg_sq, grads, grads, value=1 - beta2)
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        step_size = lr / bias_correction1
        denom = torch._foreach_sqrt(self.exp_avg_sq)
        torch._foreach_div_(denom, bias_correction2**0.5)
        torch._foreach_add_(denom, self.eps)
        torch._foreach_addcdiv_(params, self.exp_avg, denom, value=-step_size)


def _torch_optimizer(params: Any, plan: _Plan) -> torch.optim.Optimizer:
    if plan.optimizer == "sgd":
        return torch.optim.SGD(params, lr=plan.learning_rate)
    cls = torch.optim.AdamW if plan.optimizer == "adamw" else torch.optim.Adam
    extra = {"weight_decay": ADAMW_WEIGHT_DECAY} if plan.optimizer == "adamw" else {}
    return cls(params, lr=plan.learning_rate, betas=plan.betas, eps=plan.eps, **extra)


# --- the seeds as one program ---------------------------------------------------------------

# How a fit trained its seeds, as describe() names it.
STACKED, VMAP, LOOP = "stacked layers", "torch.func.vmap", "loop"


class _Program:
    """The forward passes of every seed at once, on stacked parameters and buffers:
    ``train`` (training mode, with gradient, inputs ``(seeds, batch, ...)``), ``chunks``
    (evaluation mode, no gradient, inputs shared by every seed, ``(seeds, rows, ...)`` per
    chunk of rows) and ``health`` (dead and dormant units of every seed)."""

    how = ""

    def train(self, p: dict[str, Tensor], b: dict[str, Tensor], x: Tensor) -> Tensor:
        raise NotImplementedError

    def chunks(self, p: dict[str, Tensor], b: dict[str, Tensor], x: Tensor
               ) -> Iterator[Tensor]:
        raise NotImplementedError

    def health(self, p: dict[str, Tensor], b: dict[str, Tensor]) -> _Health:
        raise NotImplementedError

    def outputs(self, p: dict[str, Tensor], b: dict[str, Tensor], x: Tensor) -> Tensor:
        return torch.cat(list(self.chunks(p, b, x)), dim=1)


class _Stacked(_Program):
    """A ``Sequential`` model's layers run by :mod:`relulab.torch.stacked`."""

    how = STACKED

    def __init__(self, model: nn.Module, layers: list[stacked.Layer], work: _Work) -> None:
        self.model, self.layers, self.work = model, layers, work
        self.seeds = len(work.seeds)
        self._training: bool | None = None

    def _mode(self, training: bool) -> None:
        if training != self._training:  # walking the modules each step costs
            self.model.train(training)
            self._training = training

    def train(self, p: dict[str, Tensor], b: dict[str, Tensor], x: Tensor) -> Tensor:
        self._mode(True)
        return stacked.run(self.layers, p, x, self.seeds)

    def chunks(self, p: dict[str, Tensor], b: dict[str, Tensor], x: Tensor
               ) -> Iterator[Tensor]:
        self._mode(False)
        with torch.no_grad():
            for rows in _rows(x):
                yield stacked.run(self.layers, p, stacked.shared(rows, self.seeds), self.seeds)

    def health(self, p: dict[str, Tensor], b: dict[str, Tensor]) -> _Health:
        """Every seed's units in passes over the tracked inputs that stop at the last
        site: all seeds at once, or seed by seed for a model with convolutions (on the
        CPU a grouped convolution over thousands of inputs is slower than one plain
        convolution per seed, and the seed-major copies around it cost as much again)."""
        sites, seeds = self.work.sites, self.seeds
        conv = any(layer.kind == "conv" for layer in self.layers)
        groups = [slice(i, i + 1) for i in range(seeds)] if conv else [slice(0, seeds)]
        stop = sites.order[-1] if sites.order else None
        per_seed: list[dict[tuple[str, int], tuple[np.ndarray, np.ndarray, int]]] = []
        self._mode(False)
        for group in groups:
            totals: dict[tuple[str, int], tuple[Tensor, Tensor, int]] = {}

            def record(key: tuple[str, int], output: Tensor, totals=totals) -> None:
                sums = unit_sums(output, sites.unit_axis, stacked=True)
                if sums.abs_sum.shape[-1] == 0:
                    return
                if key in totals:
                    nz, ab, n = totals[key]
                    totals[key] = (nz | sums.nonzero, ab + sums.abs_sum, n + sums.per_unit)
                else:
                    totals[key] = (sums.nonzero, sums.abs_sum, sums.per_unit)

            own = {k: v[group] for k, v in p.items()}
            width = group.stop - group.start
            with torch.no_grad():
                for rows in _rows(self.work.x_track):
                    stacked.run(self.layers, own, stacked.shared(rows, width), width,
                                record=record, stop=stop)
            per_seed += [{key: (nz[i].numpy(), ab[i].numpy(), n) for key, (nz, ab, n)
                          in totals.items()} for i in range(width)]
        return _health(per_seed, sites, self.work.threshold)


class _Vmapped(_Program):
    """Any model: ``functional_call`` on a stateless copy under ``torch.func.vmap``; units
    tracked seed by seed on a plain copy (passes that stop at the last site)."""

    how = VMAP

    def __init__(self, model: nn.Module, work: _Work) -> None:
        self.work, self.seeds = work, len(work.seeds)
        self.base = copy.deepcopy(model).to("meta")

        def forward(p: dict[str, Tensor], b: dict[str, Tensor], x: Tensor) -> Tensor:
            return functional_call(self.base, (p, b), (x,))

        self._train = vmap(forward, randomness="different")
        self._shared = vmap(forward, in_dims=(0, 0, None), randomness="different")
        self.one = copy.deepcopy(model).eval() if work.sites is not None else None
        self.one_sites = None if work.sites is None else work.sites.on(self.one)

    def train(self, p: dict[str, Tensor], b: dict[str, Tensor], x: Tensor) -> Tensor:
        self.base.train()
        return self._train(p, b, x)

    def chunks(self, p: dict[str, Tensor], b: dict[str, Tensor], x: Tensor
               ) -> Iterator[Tensor]:
        self.base.eval()
        with torch.no_grad():
            for rows in _rows(x):
                yield self._shared(p, b, rows)

    def health(self, p: dict[str, Tensor], b: dict[str, Tensor]) -> _Health:
        sums = []
        for i in range(self.seeds):
            own = ({k: v[i] for k, v in p.items()}, {k: v[i] for k, v in b.items()})
            sums.append(_unit_sums(lambda x, own=own: functional_call(self.one, own, (x,)),
                                   self.one_sites, self.work.x_track))
        return _health(sums, self.one_sites, self.work.threshold)


def _program(model: nn.Module, work: _Work, how: str) -> _Program | str:
    """The program ``how`` names for ``model``, or why it cannot run it."""
    if how == VMAP:
        return _Vmapped(model, work)
    template = copy.deepcopy(model)
    layers = stacked.layers_of(template, work.extra)
    return layers if isinstance(layers, str) else _Stacked(template, layers, work)


class _Flat:
    """The trainable stacked parameters kept in one flat tensor, and their gradient in
    another: one optimiser update of a few element-wise operations per step. The
    parameters autograd sees (``leaves``) are views of ``flat`` whose ``.grad`` are views
    of ``grad``, so a backward pass adds each gradient in place into the flat gradient
    (``AccumulateGrad`` adds into a ``.grad`` that exists) and the optimiser updates
    ``flat`` in place, which the views see: no split of the parameters in the forward
    pass, no concatenation of their gradients in the backward pass (on the digits MLP of
    ``benchmarks/torch_study.py``, 8% of a step; the same bits)."""

    def __init__(self, stacked_params: dict[str, Tensor]) -> None:
        self.names = [k for k, v in stacked_params.items() if v.requires_grad]
        self.frozen = {k: v.detach() for k, v in stacked_params.items()
                       if not v.requires_grad}
        self.shapes = [stacked_params[k].shape for k in self.names]
        self.sizes = [stacked_params[k].numel() for k in self.names]
        parts = [stacked_params[k].detach().reshape(-1) for k in self.names]
        self.flat = torch.cat(parts) if parts else torch.zeros(0)
        self.grad = torch.zeros_like(self.flat)
        self.leaves = self._views(self.flat)
        for leaf, grad in zip(self.leaves.values(), self._views(self.grad).values(),
                              strict=True):
            leaf.requires_grad_(True)
            leaf.grad = grad

    def _views(self, flat: Tensor) -> dict[str, Tensor]:
        views = torch.split(flat, self.sizes) if self.sizes else ()
        return {k: v.view(s) for k, v, s in zip(self.names, views, self.shapes, strict=True)}

    def named(self, flat: Tensor | None = None) -> dict[str, Tensor]:
        """Every parameter (frozen ones too): the leaves autograd differentiates, or
        views of ``flat`` (plain tensors)."""
        return {**self.frozen, **(self.leaves if flat is None else self._views(flat))}

    def backward(self, loss: Tensor) -> Tensor:
        """The gradient of ``loss`` with respect to ``flat``, in ``grad``; no other tensor
        gets a gradient (a user's loss module with parameters of its own, say)."""
        if not self.names:
            raise RuntimeError("the model has no trainable parameters")
        self.grad.zero_()
        loss.backward(inputs=list(self.leaves.values()))
        return self.grad


def _train_vectorised(models: list[nn.Module], work: _Work, how: str) -> list[Fitted]:
    """Every seed at once: stacked parameters, the forward passes of ``how``'s
    :class:`_Program`, autograd through them, :class:`StackedOptimizer` on one flat
    tensor. Raises what the program raises on a model it cannot batch (the caller then
    tries the next way)."""
    program = _program(models[0], work, how)
    if isinstance(program, str):
        raise _CannotStack(program)
    stacked_params, stacked_buffers = stack_module_state(models)
    params = _Flat(stacked_params)
    buffers = {k: v.clone() for k, v in stacked_buffers.items()}
    data, plan, seeds = work.data, work.plan, len(work.seeds)

    def mean_loss(p: dict[str, Tensor], b: dict[str, Tensor], x: Tensor, y: Tensor
                  ) -> np.ndarray:
        total = torch.zeros(seeds, dtype=torch.float64)
        start = 0
        with torch.no_grad():
            for output in program.chunks(p, b, x):
                ys = y[start: start + output.shape[1]]
                losses = work.loss.stacked(output, ys.expand(seeds, *ys.shape))
                total += losses.double() * ys.shape[0]
                start += ys.shape[0]
        return (total / x.shape[0]).numpy()

    def learned(current: dict[str, Tensor]) -> dict[str, np.ndarray]:
        return {k: current[k].detach().reshape(seeds, -1).double().numpy()
                for k in work.learned}

    optimizer = StackedOptimizer([params.flat], plan.optimizer, plan.learning_rate,
                                 plan.betas, plan.eps)
    record = _Record(seeds, plan, data.y_val is not None)
    # The weights of each seed's best epoch so far (early stopping restores them).
    best = (None if plan.patience is None else
            (params.flat.clone(), {k: v.clone() for k, v in buffers.items()}))
    x_train, y_train = data.x_train, data.y_train
    torch.manual_seed(work.seeds[0])  # dropout's masks, all seeds' from one stream
    for epoch in range(plan.epochs):
        orders = torch.as_tensor(work.orders(epoch))
        total = torch.zeros(seeds, dtype=torch.float64)
        for batch in work.batches():
            index = orders[:, batch]
            output = program.train(params.named(), buffers, _take(x_train, index))
            losses = work.loss.stacked(output, _take(y_train, index))
            optimizer.step([params.backward(losses.sum())])
            # total + size * loss in float64 (one operation; the product is exact)
            total.add_(losses.detach(), alpha=batch.stop - batch.start)
        current = params.named(params.flat)
        val_loss = (mean_loss(current, buffers, data.x_val, data.y_val)
                    if data.x_val is not None else np.full(seeds, np.nan))
        kept = record.epoch(epoch, (total / data.n_train).numpy(), val_loss,
                            program.health(current, buffers) if work.sites is not None
                            else None, learned(current))
        if best is not None and kept.any():
            chosen = torch.as_tensor(kept)
            with torch.no_grad():
                mine = params.named(best[0])
                for k in params.names:
                    mine[k][chosen] = current[k][chosen]
                for k, v in buffers.items():
                    best[1][k][chosen] = v[chosen]
        if not record.active.any():
            break
    with torch.no_grad():
        if best is not None:
            final, final_buffers = params.named(best[0]), best[1]
        else:
            final, final_buffers = params.named(params.flat), buffers
        test = work.predictions(program.outputs(final, final_buffers, data.x_test), seeds=True)
        val = (work.predictions(program.outputs(final, final_buffers, data.x_val), seeds=True)
               if data.x_val is not None else None)
    return [record.fitted(i, seed, test[i], None if val is None else val[i])
            for i, seed in enumerate(work.seeds)]


class _CannotStack(Exception):
    """The model's layers are not all of the kinds :mod:`relulab.torch.stacked` runs."""


# --- seed by seed -----------------------------------------------------------------------------


def _train_looped(models: list[nn.Module], work: _Work) -> list[Fitted]:
    """The standard loop, one seed after another, with ``torch.optim``: the same batches
    and records as :func:`_train_vectorised`."""
    return [_train_one(model, i, work) for i, model in enumerate(models)]


def _train_one(model: nn.Module, i: int, work: _Work) -> Fitted:
    data, plan, seed = work.data, work.plan, work.seeds[i]
    sites = None if work.sites is None else work.sites.on(model)
    optimizer = _torch_optimizer([p for p in model.parameters() if p.requires_grad], plan)
    record = _Record(1, plan, data.y_val is not None)
    parameters = dict(model.named_parameters())
    best: dict[str, Tensor] | None = None

    def outputs(x: Tensor) -> Tensor:
        model.eval()
        try:
            with torch.no_grad():
                return torch.cat([model(rows) for rows in _rows(x)], dim=0)
        finally:
            model.train()

    def mean_loss(x: Tensor, y: Tensor) -> float:
        model.eval()
        total = 0.0
        try:
            with torch.no_grad():
                for start in range(0, x.shape[0], _EVAL_ROWS):
                    xs, ys = x[start: start + _EVAL_ROWS], y[start: start + _EVAL_ROWS]
                    total += float(work.loss.one(model(xs), ys)) * xs.shape[0]
        finally:
            model.train()
        return total / x.shape[0]

    def health() -> _Health:
        model.eval()
        try:
            return _health([_unit_sums(model, sites, work.x_track)], sites, work.threshold)
        finally:
            model.train()

    model.train()
    torch.manual_seed(seed)  # dropout's masks: the same for seed s of every activation
    for epoch in range(plan.epochs):
        order = torch.as_tensor(_order(seed, epoch, data.n_train))
        total = 0.0
        for batch in work.batches():
            index = order[batch]
            optimizer.zero_grad()
            loss = work.loss.one(model(data.x_train[index]), data.y_train[index])
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * (batch.stop - batch.start)
        val_loss = (mean_loss(data.x_val, data.y_val) if data.x_val is not None
                    else math.nan)
        learned = {k: parameters[k].detach().reshape(1, -1).double().numpy()
                   for k in work.learned}
        kept = record.epoch(epoch, np.array([total / data.n_train]), np.array([val_loss]),
                            health() if sites is not None else None, learned)
        if plan.patience is not None and kept[0]:
            best = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if not record.active[0]:
            break
    if best is not None:
        model.load_state_dict(best)
    test = work.predictions(outputs(data.x_test), seeds=False)
    val = (work.predictions(outputs(data.x_val), seeds=False) if data.x_val is not None
           else None)
    return record.fitted(0, seed, test, val)

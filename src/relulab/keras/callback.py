"""``relulab.keras.callback``: find dead and dormant units in your own Keras 3 model while it
trains.

:class:`DeadUnitCallback` streams a data set through the model after every ``every`` epochs
and records, for every layer with a nonlinear activation, which units are

- **dead**: the unit's output is exactly 0 on every element of every sample of the data. A
  ReLU unit in that state passes no gradient, so training cannot revive it;
- **dormant** (ReDo, Sokar et al. 2023, https://arxiv.org/abs/2302.12902): the unit's
  mean absolute output is a small share of its layer's average,

  .. math:: s_i = \\frac{\\mathbb{E}|a_i|}{\\frac{1}{H}\\sum_{k=1}^{H} \\mathbb{E}|a_k|}
            \\le \\tau \\quad (\\tau = \\texttt{threshold}),

  where the expectation runs over the samples and, for a convolution, over the positions
  too. A dead unit has :math:`s_i = 0`, so dead units are dormant as well, and
  ``threshold=0`` makes the two the same; in a layer whose units are all dead every unit
  is dormant. A smooth activation (GELU, SiLU, tanh) has no exact zeros: its units can be
  dormant but hardly ever dead. An ELU or SELU unit pushed far below 0 outputs about
  :math:`-\\alpha` everywhere: its gradient vanishes, yet by these definitions it is
  neither dead nor dormant (its :math:`|a|` is large).

Units are the last axis of a layer's output (Keras' default ``channels_last``: a
``Conv2D``'s units are its filters); every other axis counts as elements of the unit.

::

    >>> import keras
    >>> from relulab.keras import DeadUnitCallback
    >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(64),
    ...                           keras.layers.LeakyReLU(), keras.layers.Dense(1)])
    >>> model.compile("adam", "mse")
    >>> monitor = DeadUnitCallback(x_train)
    >>> model.fit(x_train, y_train, epochs=5, callbacks=[monitor])
    >>> monitor.history       # one row per (epoch, layer)

Which layers are monitored: every layer with a built-in ``activation`` that is not linear
(``Dense``, ``Conv1D/2D/3D``, their transposed and separable forms, ``EinsumDense``,
``LSTM``/``GRU``/``SimpleRNN``' outputs, ``Activation``), including relulab's own
activations, and the layers ``ReLU``, ``LeakyReLU``, ``PReLU`` and ``ELU``. Skipped:
linear layers (``activation=None``, ``"linear"``, relulab's ``identity``) and softmax
(``Softmax`` layers, ``activation="softmax"`` or ``"log_softmax"``): its units share one
distribution, which a per-unit dead or dormant count does not describe. A layer with
several outputs (an RNN with ``return_state=True``) is read at its first. A layer used more
than once in the model is read where it was first called. Layers inside a nested model
(a ``Sequential`` used as a layer) are not reached: the callback warns and reads only the
outer model's own layers.

The model must be functional or ``Sequential``: the callback reads every monitored layer's
output with one probe, ``keras.Model(model.inputs, [layer.output, ...])``, built once per
``fit`` from the model's symbolic graph. A subclassed model (``call`` written by hand) has
no such graph, and ``fit`` stops at its first batch with a :class:`~relulab.RelulabError`
that says so.

Importing this module imports Keras (seconds), so ``import relulab`` does not; Keras picks
its backend (JAX, PyTorch, TensorFlow) from ``KERAS_BACKEND`` as usual.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from relulab.errors import RelulabError


class KerasImportError(RelulabError, ImportError):
    """Keras could not be imported: one line saying why and what to do, which both
    ``except RelulabError`` and ``except ImportError`` catch."""


try:
    import keras
except ImportError as exc:
    if exc.name == "keras":
        raise KerasImportError(
            "relulab.keras needs Keras 3, which is not installed; "
            "install it with: pip install 'relulab[keras]'"
        ) from exc
    # Keras loads its backend when imported: KERAS_BACKEND, else ~/.keras/keras.json,
    # else TensorFlow, whose absence is the usual failure.
    if os.environ.get("KERAS_BACKEND"):
        raise KerasImportError(
            f"Keras could not load its backend KERAS_BACKEND={os.environ['KERAS_BACKEND']} "
            f"({exc}); install it, or set KERAS_BACKEND=jax or torch"
        ) from exc
    raise KerasImportError(
        f"Keras could not load its backend ({exc}): without KERAS_BACKEND Keras uses the "
        "one in ~/.keras/keras.json, TensorFlow by default; set KERAS_BACKEND=jax (or "
        "torch) before anything imports keras, or pip install tensorflow"
    ) from exc


__all__ = ["COLUMNS", "DeadUnitCallback", "DeadUnitWarning", "UnitActivity", "activation_name",
           "batches", "unit_activity"]

#: The columns of :attr:`DeadUnitCallback.history`, in order.
COLUMNS = ("epoch", "layer", "activation", "units", "dead", "dead_fraction", "dead_units",
           "dormant", "dormant_fraction", "dormant_units")

DEFAULT_BATCH_SIZE = 32  # as model.fit's
_LINEAR = frozenset({"linear", "identity"})
_SOFTMAX = frozenset({"softmax", "log_softmax"})
# Keras' activation layers that carry no `activation` attribute, by the name Keras gives
# their function (Softmax is skipped: module docstring).
_ACTIVATION_LAYERS = (
    (keras.layers.LeakyReLU, "leaky_relu"),
    (keras.layers.PReLU, "prelu"),
    (keras.layers.ELU, "elu"),
    (keras.layers.ReLU, "relu"),
    (keras.layers.Softmax, "softmax"),
)


class DeadUnitWarning(UserWarning):
    """More than ``warn_share`` of a layer's units are dead (issued once per layer)."""


# -- numbers ----------------------------------------------------------------------------


class UnitActivity(NamedTuple):
    """Which units of one layer are dead and which are dormant (indices, ascending)."""

    dead: np.ndarray
    dormant: np.ndarray


def unit_activity(abs_sum: np.ndarray, threshold: float) -> UnitActivity:
    """Dead and dormant units from each unit's sum of :math:`|a|` over the data.

    Every unit of a layer sees the same number of elements, so the ratio of sums is the
    ratio of means in the module docstring's score :math:`s_i`. A sum of non-negative
    float64 terms is 0 exactly when every term is: dead is "exactly 0 everywhere", also
    for float32 subnormal outputs; a NaN output keeps its unit alive (and not dormant).
    """
    abs_sum = np.asarray(abs_sum, dtype=np.float64)
    dead = np.flatnonzero(abs_sum == 0)
    mean = abs_sum.mean() if abs_sum.size else 0.0
    if mean == 0:  # all units dead: each scores 0 (ReDo's own code adds 1e-9 to the mean)
        score = np.zeros_like(abs_sum)
    else:  # a NaN mean gives NaN scores, and NaN <= threshold is False
        score = abs_sum / mean
    return UnitActivity(dead=dead, dormant=np.flatnonzero(score <= threshold))


def activation_name(layer: Any) -> str | None:
    """The name of the activation ``layer`` applies last, or None when it has none (or
    none that keeps it from being linear)."""
    for cls, name in _ACTIVATION_LAYERS:
        if isinstance(layer, cls):
            return name
    act = getattr(layer, "activation", None)
    if act is None or not callable(act):
        return None
    # relulab's Activation and Keras' functions both carry a __name__ ("relu", "gelu").
    return str(getattr(act, "__name__", None) or type(act).__name__)


def is_monitored(name: str | None) -> bool:
    """Whether a layer whose activation is called ``name`` is monitored."""
    return name is not None and name not in _LINEAR and name not in _SOFTMAX


# -- data -------------------------------------------------------------------------------


_ONE_SHOT = (
    "DeadUnitCallback: data is an iterator (e.g. a generator object), which is used up "
    "after one pass, but it is read after every `every` epochs; pass a function that "
    "returns a new one instead (e.g. `lambda: make_batches()`)")


def _x_of(batch: Any) -> Any:
    """The model input of one batch given as ``x``, ``(x,)``, ``(x, y)`` or
    ``(x, y, sample_weight)``: Keras' own reading, as in ``model.fit``."""
    return keras.utils.unpack_x_y_sample_weight(batch)[0]


def _is_arrays(data: Any) -> bool:
    return isinstance(data, (tuple, dict)) or hasattr(data, "shape")


def _array_batches(x: Any, batch_size: int) -> Iterator[Any]:
    leaves = keras.tree.flatten(x)
    if not leaves:
        raise RelulabError("DeadUnitCallback: data holds no arrays; pass x, (x, y) or "
                           "batches of them")
    n = len(leaves[0])
    if any(len(leaf) != n for leaf in leaves):
        raise RelulabError(
            f"DeadUnitCallback: data's inputs have different numbers of samples "
            f"({sorted({len(leaf) for leaf in leaves})}); give every input one row per "
            "sample")
    for start in range(0, n, batch_size):
        yield keras.tree.map_structure(lambda a, s=start: np.asarray(a[s:s + batch_size]), x)


def batches(data: Any, batch_size: int | None = None) -> Iterator[Any]:
    """The model inputs of ``data``, one batch at a time (never all of them at once).

    ``data`` is, as in ``model.fit``:

    - arrays: ``x`` (an array, or a dict of arrays for named inputs), or a tuple ``(x,)``,
      ``(x, y)`` or ``(x, y, sample_weight)`` whose ``x`` may also be a list of arrays; cut
      into batches of ``batch_size`` rows (default 32);
    - a ``keras.utils.PyDataset``: its batches ``0 .. num_batches - 1``;
    - a function of no arguments that returns an iterable of batches (a generator
      function), called anew for every pass;
    - an iterable of batches that can be iterated more than once (a list, a
      ``torch.utils.data.DataLoader``).

    A batch is ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``; only ``x`` is
    used. A one-shot iterator (a generator object) is refused: the callback reads the data
    after every ``every`` epochs, so it needs a fresh pass each time.
    """
    if isinstance(data, keras.utils.PyDataset):
        n = data.num_batches
        if n is None:
            raise RelulabError(
                "DeadUnitCallback: the PyDataset is infinite (num_batches is None); give "
                "it a length, or pass a function returning the batches to read")
        for i in range(n):
            yield _x_of(data[i])
    elif _is_arrays(data):
        size = DEFAULT_BATCH_SIZE if batch_size is None else batch_size
        yield from _array_batches(_x_of(data), size)
    elif callable(data):
        for batch in data():
            yield _x_of(batch)
    elif isinstance(data, Iterator):
        raise RelulabError(_ONE_SHOT)
    elif isinstance(data, Iterable):
        for batch in data:
            yield _x_of(batch)
    else:
        raise RelulabError(
            f"DeadUnitCallback: cannot read data of type {type(data).__name__}; pass "
            "arrays (x or (x, y)), a keras.utils.PyDataset, a function returning batches "
            "or an iterable of batches")


# -- the callback -----------------------------------------------------------------------


class _Probe(NamedTuple):
    """One model that outputs every monitored layer's output, and what they are."""

    model: Any  # keras.Model
    layers: tuple[str, ...]
    activations: tuple[str, ...]


def _layer_output(layer: Any) -> Any:
    out = layer.output
    return out[0] if isinstance(out, (list, tuple)) else out


def _symbolic_inputs(model: Any, who: str) -> Any:
    inputs = getattr(model, "inputs", None)
    if not inputs:
        raise RelulabError(
            f"{who}: model {model.name!r} ({type(model).__name__}) has no "
            "symbolic inputs, so its layers' outputs cannot be read (a subclassed model); "
            "build it with the functional API or keras.Sequential")
    return inputs


def probe_of(model: Any, layers: Iterable[Any], who: str = "DeadUnitCallback") -> _Probe:
    """A probe that outputs each of ``layers`` (layers of ``model``) in that order, named
    by ``layer.name``. Raises :class:`~relulab.RelulabError` (its message starting with
    ``who``) for a model without a symbolic graph."""
    inputs = _symbolic_inputs(model, who)
    if isinstance(inputs, (list, tuple)) and len(inputs) == 1:
        inputs = inputs[0]  # so that the probe takes a bare array, as the model does
    layers = list(layers)
    try:
        outputs = [_layer_output(layer) for layer in layers]
        probe = keras.Model(inputs, outputs, name=f"{model.name}_dead_unit_probe")
    except (AttributeError, ValueError) as error:
        raise RelulabError(
            f"{who}: cannot read the layers' outputs of model {model.name!r} "
            f"({error}); it needs a functional or Sequential model whose layers "
            "were first called in this model") from error
    return _Probe(probe, tuple(layer.name for layer in layers),
                  tuple(activation_name(layer) or "linear" for layer in layers))


def build_probe(model: Any) -> _Probe | None:
    """A probe of ``model``'s monitored layers (module docstring), or None when it has
    none. Raises :class:`~relulab.RelulabError` for a model without a symbolic graph."""
    _symbolic_inputs(model, "DeadUnitCallback")
    picked = []
    for layer in model.layers:
        if is_monitored(activation_name(layer)):
            picked.append(layer)
        elif isinstance(layer, keras.Model) and any(
                is_monitored(activation_name(inner)) for inner in layer._flatten_layers()):
            warnings.warn(
                f"DeadUnitCallback: layers inside the nested model {layer.name!r} are not "
                "monitored; build the model from its layers to monitor them",
                stacklevel=3)
    if not picked:
        warnings.warn(f"DeadUnitCallback: model {model.name!r} has no layer with a nonlinear "
                      "activation to monitor", stacklevel=3)
        return None
    return probe_of(model, picked)


def unit_abs_sum(a: np.ndarray) -> np.ndarray:
    """One layer output's per-unit sum of :math:`|a|` over every axis but the last (the
    units'), in float64."""
    return np.abs(a).reshape(-1, a.shape[-1]).sum(axis=0, dtype=np.float64)


def abs_sums(probe: _Probe, data: Any, batch_size: int | None = None) -> list[np.ndarray]:
    """Each monitored layer's per-unit sum of :math:`|a|` over ``data`` (float64), one
    batch in memory at a time."""
    sums: list[np.ndarray | None] = [None] * len(probe.layers)
    for x in batches(data, batch_size):
        outputs = probe.model.predict_on_batch(x)
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        for i, out in enumerate(outputs):
            s = unit_abs_sum(keras.ops.convert_to_numpy(out))
            sums[i] = s if sums[i] is None else sums[i] + s
    if sums and sums[0] is None:
        raise RelulabError("DeadUnitCallback: data gave no batches; pass at least one sample")
    return sums  # type: ignore[return-value]


class DeadUnitCallback(keras.callbacks.Callback):
    """Record dead and dormant units of every activated layer after every ``every`` epochs.

    Args:
        data: what to stream through the model (see :func:`batches`): arrays ``x`` or
            ``(x, y)``, a ``keras.utils.PyDataset``, a function returning an iterable of
            batches, or a re-iterable of batches. Only the inputs are used. Read one batch
            at a time, in inference mode (dropout off, batch norm's moving statistics).
        every: measure after epochs ``every``, ``2 * every``, ... (Keras' 1-based count).
        threshold: a unit is dormant when its mean :math:`|a|` is at most ``threshold``
            times its layer's average (ReDo's :math:`\\tau`; 0 makes dormant mean dead).
        warn_share: warn (:class:`DeadUnitWarning`) the first time more than this share
            of a layer's units are dead, once per layer.
        batch_size: rows per batch when ``data`` is arrays (default 32); ignored otherwise.

    After ``fit``, :attr:`history` holds one row per measured (epoch, layer). Rows of later
    ``fit`` calls on the same callback are appended, with the epochs Keras gives them.
    """

    def __init__(self, data: Any, every: int = 1, threshold: float = 0.1,
                 warn_share: float = 0.5, batch_size: int | None = None) -> None:
        super().__init__()
        if isinstance(data, Iterator):
            raise RelulabError(_ONE_SHOT)
        if not (isinstance(every, int) and every >= 1):
            raise RelulabError(f"DeadUnitCallback: every={every!r}; give a whole number of "
                               "epochs, 1 or more")
        if not 0 <= threshold < np.inf:
            raise RelulabError(f"DeadUnitCallback: threshold={threshold!r}; give a share of "
                               "the layer's mean activity, 0 or more (ReDo uses 0 to 0.1)")
        if not 0 <= warn_share <= 1:
            raise RelulabError(f"DeadUnitCallback: warn_share={warn_share!r}; give a share "
                               "of a layer's units between 0 and 1")
        if batch_size is not None and not (isinstance(batch_size, int) and batch_size >= 1):
            raise RelulabError(f"DeadUnitCallback: batch_size={batch_size!r}; give a whole "
                               "number of rows, 1 or more, or None for 32")
        self.data = data
        self.every = every
        self.threshold = float(threshold)
        self.warn_share = float(warn_share)
        self.batch_size = batch_size
        self._rows: list[dict[str, Any]] = []
        self._warned: set[str] = set()
        self._probe: _Probe | None = None

    @property
    def history(self) -> pd.DataFrame:
        """One row per measured (epoch, layer), columns :data:`COLUMNS`: ``epoch`` (1-based,
        as Keras prints it), ``layer`` (its name), ``activation``, ``units``, ``dead``,
        ``dead_fraction``, ``dead_units`` (a tuple of unit indices), and the same three for
        ``dormant``."""
        return pd.DataFrame(self._rows, columns=list(COLUMNS))

    def on_train_begin(self, logs: dict | None = None) -> None:
        # fit builds the model symbolically before this call, also a Sequential without
        # an Input; one probe per fit, as a later fit may follow a change to the model.
        self._probe = build_probe(self.model)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        shown = epoch + 1  # Keras counts from 0 here and prints "Epoch 1/N"
        if self._probe is None or shown % self.every:
            return
        self.measure(shown)

    def measure(self, epoch: int) -> pd.DataFrame:
        """Stream the data through the model now and record the rows as ``epoch``;
        returns those rows."""
        probe = self._probe if self._probe is not None else build_probe(self.model)
        if probe is None:
            return pd.DataFrame(columns=list(COLUMNS))
        sums = abs_sums(probe, self.data, self.batch_size)
        rows = []
        for layer, act, s in zip(probe.layers, probe.activations, sums, strict=True):
            units = int(s.size)
            found = unit_activity(s, self.threshold)
            rows.append({
                "epoch": int(epoch), "layer": layer, "activation": act, "units": units,
                "dead": int(found.dead.size), "dead_fraction": found.dead.size / units,
                "dead_units": tuple(int(i) for i in found.dead),
                "dormant": int(found.dormant.size),
                "dormant_fraction": found.dormant.size / units,
                "dormant_units": tuple(int(i) for i in found.dormant),
            })
            self._warn_if_dying(layer, int(found.dead.size), units, epoch)
        self._rows.extend(rows)
        return pd.DataFrame(rows, columns=list(COLUMNS))

    def _warn_if_dying(self, layer: str, dead: int, units: int, epoch: int) -> None:
        if layer in self._warned or dead <= self.warn_share * units:
            return
        self._warned.add(layer)
        warnings.warn(
            f"{layer}: {dead} of {units} units dead after epoch {epoch} (output exactly 0 "
            f"on all the monitored data, more than {self.warn_share:.0%}); try LeakyReLU, "
            "a lower learning rate or He initialisation",
            DeadUnitWarning, stacklevel=2)


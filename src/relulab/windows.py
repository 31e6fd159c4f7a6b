"""From a series to supervised windows, exactly as PROTOCOL.md's reference experiment.

All indices are 0-based; ``n`` is the series length, ``L`` the lookback.

* **Test region** ``[test_start, n)``: the last ``test_size`` points.
* **Train region** ``[0, train_end)`` with ``train_end = floor(train_fraction * test_start)``,
  the first ``train_fraction`` of the points before the test window (80 of the hotel series'
  100, as the reference study's ``int(len(df) * 0.8)``).
* **Validation region** ``[train_end, test_start)``.
* **Window** for target ``t`` (``t >= L``): input ``y[t-L .. t-1]``, target ``y[t]``. A window
  belongs to the region that holds its target, so test inputs may reach back into the
  validation region: forecasts are one step ahead from actual previous values.
* **Scaling** (``config.scaler``, one of :data:`relulab.config.SCALERS`):

  - ``global`` (the protocol's): min-max to ``[0, 1]`` fitted on the train region only,
    applied everywhere. Scaling is float64, but the networks see float32 and their
    forecasts return to the series' units in float32 (``z * (hi - lo) + lo`` with ``z``
    float32), so a series whose scale float32 cannot carry is refused up front
    (:func:`check_scale`). On a trending series the test region lies beyond the scaled
    range and every model extrapolates.
  - ``window-minmax``, ``window-standard``, ``robust``: each window scaled by statistics of
    its own input values, NeuralForecast's temporal normalisation (``TemporalNorm`` with
    ``scaler_type`` ``minmax``, ``standard``, ``robust``): location min, mean or median;
    scale the range, the standard deviation (population) or the median absolute
    deviation (0.6745 times the standard deviation where the MAD is 0), 1 where it is 0,
    plus ``1e-6``. The target is scaled with its window's statistics, and the forecast
    ``z * scale + loc`` returns to the series' units per window (in float64). The
    statistics are float64; a window's float32 values are within two roundings of
    ``(y - loc) / scale`` (:func:`window_rows`).
  - ``diff``: the model sees first differences ``y[t] - y[t-1]``, min-max scaled on the
    train region's differences; the forecast is ``y[t-1]`` plus the forecast difference.
    A window then reaches one point further back (``lookback + 1`` points).
* **Horizons** (``config.horizon`` ``H``, ``config.strategy``): the test region is tiled by
  forecast *paths* of ``H`` steps, origins ``test_start, test_start + H, ...``, each made
  from the actual values before its origin only (the last path is cut at the series'
  end); the validation region is tiled the same way. Every test point thus has one
  forecast, ``k + 1`` steps ahead where ``k`` is its place in its path, and ``H = 1`` is
  the protocol's one-step forecasts. ``direct``: a training window's target is the ``H``
  values from ``t`` (its inputs those before ``t``), and the model has ``H`` outputs (a
  window needs all ``H`` targets inside its region). ``recursive``: the one-step model is
  trained as at ``H = 1`` and fed its own forecasts (:meth:`Prepared.recursive`), each
  step's window rescaled as the scaler says. With ``diff``, a direct path is the last
  actual value plus the cumulated forecast differences.
* **Keras' validation split**: of the training windows (targets in the train region), Keras
  ``fit(..., validation_split=v)`` trains on the first ``floor(m * (1 - v))`` and reports its
  validation loss on the rest, split before any shuffling.

A window's values are not stored: :class:`Windows` reads them from its series' model
inputs when asked, and a global model's program reads them the same way
(:func:`window_rows`). Pure NumPy; the models read ``X`` as one timestep with ``L``
features.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from relulab.config import SCALERS
from relulab.errors import RelulabError
from relulab.scaled_rows import float32_pairs, window_rows
from relulab.specs import head_width

if TYPE_CHECKING:
    from relulab.config import StudyConfig

# Fewest training windows a study accepts: one to fit and one for Keras' validation loss.
MIN_TRAIN_SAMPLES = 2
# float32 carries the forecasts back to the series' units: z * (hi - lo) + lo, z float32.
_F32 = np.finfo(np.float32)
# Largest |value| accepted. float32 overflows at 3.4e38: measured on a 60-point series scaled
# by 1e36 (values up to 1.7e38) every forecast was still right to float32 precision, at 1e39
# and beyond every forecast overflowed to inf and every run was marked diverged. 1e30 leaves
# a factor of 3e8 for forecasts outside the train range (z far from [0, 1]) before overflow.
MAX_ABS_VALUE = 1e30
# Smallest train-region range accepted: below tiny / eps (about 1e-31) a forecast that moves
# by one float32 step of the range, (hi - lo) * eps, is a subnormal number and loses digits
# (measured: relative forecast error 7e-6 at a range of 1e-38, all forecasts 0 below 1e-45).
MIN_RANGE = float(_F32.tiny / _F32.eps)
# Coarsest float32 step accepted near the series' largest values, as a share of the range.
# A series that varies little around a large level (1e8 + noise of range 120) has forecasts
# rounded to float32 steps of 8 there; measured on such series, the forecasts moved by 0.6%
# of the range at steps of 0.8% (level 1e7), by 4% at steps of 7% (1e8), by 38% at 1e9:
# at a step of 1% of the range, rounding reaches the size of the differences between
# activations a study exists to measure.
MAX_STEP_OF_RANGE = 1e-2

# NeuralForecast's TemporalNorm eps, added to every per-window scale.
WINDOW_EPS = 1e-6
# Normal consistency of the MAD: a normal's MAD is 0.6745 of its standard deviation.
_MAD_OF_STD = 0.6744897501960817

# Guards floor(fraction * m) against representation error: 0.29 * 100 is 28.999999999999996
# in binary floating point, and a user asking for 29% of 100 points means 29.
_FLOOR_EPS = 1e-9


@dataclass(frozen=True)
class Split:
    """Region boundaries of a series of ``n`` points.

    Train ``[0, train_end)``, validation ``[train_end, test_start)``, test ``[test_start, n)``.
    """

    n: int
    train_end: int
    test_start: int


def train_end_for(points_before_test: int, train_fraction: float) -> int:
    """``floor(train_fraction * points_before_test)``: the reference study's ``int(...)``."""
    return math.floor(train_fraction * points_before_test + _FLOOR_EPS)


def split(n: int, *, test_size: int, train_fraction: float, lookback: int,
          ahead: int = 1) -> Split:
    """Split ``n`` points into train, validation and test regions (see the module docstring).
    ``ahead``: how many targets a training window holds (a direct ``H``-step model's ``H``).

    >>> split(115, test_size=15, train_fraction=0.8, lookback=5)
    Split(n=115, train_end=80, test_start=100)
    """
    n, test_size, lookback = int(n), int(test_size), int(lookback)
    if test_size < 1:
        raise RelulabError(f"test size must be at least 1, got {test_size}; pass --test-size N")
    if lookback < 1:
        raise RelulabError(f"lookback must be at least 1, got {lookback}; pass --lookback N")
    if not 0.0 < train_fraction < 1.0:
        raise RelulabError(
            f"train fraction must lie in (0, 1), got {train_fraction}; pass e.g. 0.8"
        )
    test_start = n - test_size
    train_end = train_end_for(test_start, train_fraction)
    need = lookback + ahead - 1 + MIN_TRAIN_SAMPLES
    if test_start < 1 or train_end < need:
        steps = f" + {ahead - 1} more steps ahead" if ahead > 1 else ""
        raise RelulabError(
            f"a series of {n} points is too short for lookback {lookback} and test size "
            f"{test_size}: its train region holds {max(train_end, 0)} points but needs at least "
            f"{need} (lookback{steps} + {MIN_TRAIN_SAMPLES} training windows); lower "
            f"--lookback or --test-size{', --horizon' if ahead > 1 else ''}, or use a longer "
            "series"
        )
    if train_end >= test_start:
        raise RelulabError(
            f"train fraction {train_fraction} leaves no validation points before the test "
            f"window of a {n}-point series; lower the train fraction"
        )
    return Split(n=n, train_end=train_end, test_start=test_start)


def _keras_floor(samples: int, validation_split: float) -> int:
    # Keras writes int(math.floor(batch_dim * (1.0 - validation_split))); math.floor of a
    # float is already that int. Same float expression, so the same rounding.
    return math.floor(samples * (1.0 - validation_split))


def keras_split_at(samples: int, validation_split: float) -> int:
    """Index at which Keras' ``validation_split`` cuts ``samples`` training windows.

    Mirrors ``train_validation_split`` in Keras 3 (``keras/src/trainers/data_adapters/
    array_slicing.py``, 3.15): ``split_at = int(math.floor(batch_dim * (1.0 -
    validation_split)))``, training on ``[:split_at]`` and validating on ``[split_at:]``, and
    an error when either part would be empty. ``Model.fit`` only splits when
    ``validation_split`` is non-zero, so 0 means "no validation windows".
    """
    if not validation_split:
        return samples
    split_at = _keras_floor(samples, validation_split)
    if split_at == 0 or split_at == samples:
        raise RelulabError(
            f"{samples} training windows cannot be split by validation_split="
            f"{validation_split} into a non-empty fit part and validation part (Keras refuses "
            f"too); lower --lookback or --test-size, or use a longer series"
        )
    return split_at


def _min_train_samples(validation_split: float) -> int:
    """Fewest training windows (at least 2) that Keras' split leaves both parts non-empty."""
    m = MIN_TRAIN_SAMPLES
    if not validation_split:
        return m
    while True:
        if 0 < _keras_floor(m, validation_split) < m:
            return m
        m += 1


def min_length(config: StudyConfig) -> int:
    """Fewest points a series needs under ``config``: test window, a validation point, and a
    train region holding ``lookback`` points plus enough training windows for Keras' split.
    """
    train_points = (reach(config) + head_width(config) - 1
                    + _min_train_samples(config.validation_split))
    before = train_points
    while not (
        train_end_for(before, config.train_fraction) >= train_points
        and train_end_for(before, config.train_fraction) < before
    ):
        before += 1
    return before + config.test_size


def check_length(n: int, config: StudyConfig, *, what: str = "the series") -> None:
    """Raise a :class:`RelulabError` saying what to lower when ``n`` points are too few."""
    need = min_length(config)
    if n < need:
        ahead = head_width(config)
        steps = (f", {ahead} steps ahead per training window (direct horizon)"
                 if ahead > 1 else "")
        raise RelulabError(
            f"{what} has {n} points, but lookback {config.lookback}, test size "
            f"{config.test_size}{steps}, train fraction {config.train_fraction} and validation "
            f"split {config.validation_split} need at least {need}; lower --lookback or "
            f"--test-size{', --horizon' if ahead > 1 else ''}, or use a longer series"
        )


def check_scale(values: Any, train_end: int | None = None, *, what: str = "the series") -> None:
    """Raise a :class:`RelulabError` when float32 training cannot carry the series' scale.

    The networks train on min-max scaled float32 values and their forecasts return to the
    series' units in float32 (module docstring), which overflows above 3.4e38, underflows
    below 1e-38 and resolves about 7 digits. Refused, each with the fix: any ``|value|``
    above :data:`MAX_ABS_VALUE`; a train region ``values[:train_end]`` whose range is below
    :data:`MIN_RANGE`; and a float32 step near the train region's largest values coarser
    than :data:`MAX_STEP_OF_RANGE` of its range (a small variation around a large level).
    A constant train region is left to :class:`MinMaxScaler`, which says so.
    """
    v = np.asarray(getattr(values, "values", values), dtype=np.float64)
    if v.size == 0 or not np.all(np.isfinite(v)):
        return  # empty or non-finite series get their own messages
    top = float(np.max(np.abs(v)))
    if top > MAX_ABS_VALUE:
        raise RelulabError(
            f"{what} holds values as large as {top:.3g}, beyond what float32 training can "
            f"carry (forecasts return to the series' units in float32, which overflows at "
            f"3.4e38; at most {MAX_ABS_VALUE:.0e} is accepted); rescale the series, e.g. "
            f"divide it by 1e{math.floor(math.log10(top)) - 3}"
        )
    train = v[:train_end] if train_end is not None else v
    spread = float(np.ptp(train)) if train.size else 0.0
    if spread == 0.0:
        return
    if spread < MIN_RANGE:
        raise RelulabError(
            f"{what} varies by only {spread:.3g} in its train region, below the "
            f"{MIN_RANGE:.0e} float32 training can resolve; rescale the series, e.g. "
            f"multiply it by 1e{-math.floor(math.log10(spread))}"
        )
    # Forecasts land near the train region's values (z near [0, 1]): their float32 step
    # there is what rounding costs; test values far outside it are only compared in float64.
    level_top = float(np.max(np.abs(train)))
    step = float(np.spacing(np.float32(level_top)))
    if step > MAX_STEP_OF_RANGE * spread:
        level = float(np.median(train))
        raise RelulabError(
            f"{what} varies by {spread:.3g} in its train region around values as large as "
            f"{level_top:.6g}, where float32 (in which forecasts return to the series' units) "
            f"resolves only steps of {step:.3g}, {step / spread:.0%} of that range; subtract "
            f"a constant from the series first, e.g. {level:.6g}"
        )


def check_series(values: Any, config: StudyConfig, *, what: str = "the series") -> None:
    """Everything about a series that can be refused before training: its length for
    ``config`` (:func:`check_length`) and its scale (:func:`check_scale`) in the train region
    of every rolling fold. ``values``: an array, or a Series (relulab's or pandas') whose
    ``values`` are checked; ``what`` names it in the message (``"series 'sales'"``)."""
    v = np.asarray(getattr(values, "values", values), dtype=np.float64)
    check_length(int(v.shape[0]), config, what=what)
    for s in rolling_folds(int(v.shape[0]), config, what=what):
        check_scale(v[: s.n], s.train_end, what=what)


@dataclass(frozen=True)
class MinMaxScaler:
    """Min-max scaling to ``[0, 1]``: :math:`z = (y - lo) / (hi - lo)`, inverse
    :math:`y = z (hi - lo) + lo`.

    ``transform`` and ``inverse`` are plain arithmetic, so they accept NumPy, JAX or torch
    arrays alike. Fitted on the train region only: later points may fall outside ``[0, 1]``.
    """

    lo: float
    hi: float

    @classmethod
    def fit(cls, values: Any) -> MinMaxScaler:
        v = np.asarray(values, dtype=np.float64)
        if v.size == 0:
            raise RelulabError("cannot fit the min-max scaler on no values; check the split")
        lo, hi = float(v.min()), float(v.max())
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise RelulabError("the train region holds NaN or inf; fill or drop those points")
        if hi == lo:
            raise RelulabError(
                f"the train region is constant (every value is {lo:g}), so min-max scaling is "
                f"impossible; use a longer or different series, or raise the train fraction"
            )
        return cls(lo=lo, hi=hi)

    def transform(self, values: Any) -> Any:
        return (values - self.lo) / (self.hi - self.lo)

    def inverse(self, scaled: Any) -> Any:
        return scaled * (self.hi - self.lo) + self.lo


@dataclass(frozen=True, eq=False)
class Windows:
    """A set of windows: window ``i`` forecasts from target ``t = target_index[i]``.

    ``X[i] = scaled(y[t-L .. t-1])`` and ``y[i] = scaled(y[t])`` (or the ``ahead`` values
    from ``t``; NaN past the series' end, where a path is cut), both float32, what the
    models consume; ``y_prev[i] = y[t-1]`` in original units (float64), the naive forecast
    and the anchor of the naive-anchored MDA.

    ``X`` and ``y`` are not stored: each is read from ``seq`` when asked
    (:func:`window_rows`), so a panel's windows take the room of its series, not
    ``lookback`` times it. ``seq`` is the series' model inputs (float32, indexed as the
    series): its scaled values (``global``), its scaled differences (``diff``), or its
    values less the series' anchor (the per-window scalers, whose float32 statistics
    ``x_loc``, ``x_inv`` scale each window).
    """

    seq: np.ndarray
    width: int
    ahead: int
    target_index: np.ndarray
    y_prev: np.ndarray
    # Per-window scalers (every scaler but ``global``): a forecast ``z`` of window i is
    # ``z * scale[i] + loc[i]`` in the series' units (float64); None for the global one.
    loc: np.ndarray | None = None
    scale: np.ndarray | None = None
    # The per-window scalers' statistics as the inputs are scaled: ``loc[i]`` less the
    # series' anchor (a float32 pair) and ``1 / scale[i]`` (float32); None for the global
    # and diff scalers.
    x_loc: np.ndarray | None = None
    x_inv: np.ndarray | None = None
    # Forecast paths (a region's evaluation windows): each window's target_index is a
    # path's origin, its path ``horizon`` steps long, the region ending at ``end``.
    horizon: int = 1
    end: int | None = None

    def __len__(self) -> int:
        return int(self.target_index.shape[0])

    @property
    def first(self) -> np.ndarray:
        """Each window's first input's place in ``seq``."""
        return self.target_index - self.width

    @property
    def target_shape(self) -> tuple[int, ...]:
        """A window's targets' shape: ``()``, or ``(ahead,)`` for several."""
        return (self.ahead,) if self.ahead > 1 else ()

    @property
    def X(self) -> np.ndarray:
        """The windows' inputs ``(n, L)`` (float32)."""
        return window_rows(self.seq, self.first, self.width, self.x_loc, self.x_inv)

    @property
    def y(self) -> np.ndarray:
        """The windows' targets (float32): ``(n,)``, or ``(n, ahead)`` with NaN past the
        series' end."""
        seq = self.seq
        if self.ahead > 1:  # a path cut at the series' end reads NaN past it
            seq = np.concatenate([seq, np.full((self.ahead - 1, *seq.shape[1:]), np.nan,
                                               seq.dtype)])
        y = window_rows(seq, self.target_index, self.ahead, self.x_loc, self.x_inv)
        return y[:, 0] if self.ahead == 1 else y

    @property
    def points(self) -> int:
        """How many points the windows forecast: their region's, for paths."""
        if self.end is None or not len(self):
            return len(self)
        return self.end - int(self.target_index[0])

    def paths(self, forecasts: Any) -> np.ndarray:
        """``forecasts (..., windows, H)``, a path per window, as one forecast per point of
        the region ``(..., points)``: the paths end to end, the last one cut at the end."""
        f = np.asarray(forecasts)
        return f.reshape(*f.shape[:-2], -1)[..., : self.points]

    def take(self, start: int | None = None, stop: int | None = None) -> Windows:
        s = slice(start, stop)

        def cut(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[s]

        return Windows(self.seq, self.width, self.ahead, self.target_index[s],
                       self.y_prev[s], cut(self.loc), cut(self.scale), cut(self.x_loc),
                       cut(self.x_inv))


@dataclass(frozen=True, eq=False)
class Prepared:
    """Everything a training run and its scoring need from one series and config.

    ``train_targets``: all windows with targets in the train region; Keras' validation split
    cuts them into ``fit`` (trained on) and ``val_loss`` (its validation loss).
    ``validation`` and ``test``: windows with targets in those regions. ``values``: the series
    in original units, for scoring and for MASE's in-sample scale.
    """

    split: Split
    scaler: MinMaxScaler
    fit: Windows
    val_loss: Windows
    validation: Windows
    test: Windows
    train_targets: Windows
    values: np.ndarray
    kind: str = "global"  # config.scaler
    diffs: MinMaxScaler | None = None  # the differences' scaler (kind "diff")
    reach: int = 1  # how many values before its target a window's inputs reach back

    def forecasts(self, scaled: Any, windows: Windows) -> np.ndarray:
        """Forecasts in the series' units from the model's outputs ``scaled`` for
        ``windows`` (``(..., len(windows))``, any leading axes, e.g. seeds; a direct
        multi-step head's ``(..., len(windows), H)``, returned as one forecast per point of
        the windows' region, :meth:`Windows.paths`)."""
        if windows.horizon == 1:
            if windows.loc is None:
                return self.scaler.inverse(np.asarray(scaled))
            return np.asarray(scaled, dtype=np.float64) * windows.scale + windows.loc
        if windows.loc is None:
            return windows.paths(self.scaler.inverse(np.asarray(scaled)))
        z = np.asarray(scaled, dtype=np.float64)
        if self.diffs is not None:  # the last actual value plus the forecast differences
            steps = z * windows.scale[:, None] + self.diffs.lo
            return windows.paths(windows.y_prev[:, None] + np.cumsum(steps, axis=-1))
        return windows.paths(z * windows.scale[:, None] + windows.loc[:, None])

    def recursive(self, predict: Any, windows: Windows, seeds: int) -> np.ndarray:
        """Each of ``seeds`` one-step models fed its own forecasts along every path of
        ``windows``: ``predict(X (seeds, windows, L) float32) -> (seeds, windows)`` scaled
        outputs; returns ``(seeds, points)`` in the series' units (:meth:`Windows.paths`).

        Each step's window, the last ``reach`` values of actuals and forecasts so far, is
        scaled exactly as a training window is (the same statistics, the same float32
        rounding), so the first step is the one-step forecast bit for bit."""
        origins = windows.target_index
        hist = self.values[origins[:, None] + np.arange(-self.reach, 0)]
        hist = np.broadcast_to(hist, (seeds, *hist.shape)).astype(np.float64)
        steps = []
        for _ in range(windows.horizon):
            raw = hist[..., -self.reach:]
            X, invert = self._scaled_inputs(raw)
            forecast = np.asarray(invert(np.asarray(predict(X))), dtype=np.float64)
            steps.append(forecast)
            hist = np.concatenate([hist, forecast[..., None]], axis=-1)
        return windows.paths(np.stack(steps, axis=-1))

    def _scaled_inputs(self, raw: np.ndarray) -> tuple[np.ndarray, Any]:
        """A model's inputs (float32) from windows ``raw (..., reach)`` in the series' units,
        scaled as ``kind`` scales a training window, and the function that returns the
        model's scaled outputs to the series' units."""
        if self.kind == "global":
            return (self.scaler.transform(raw).astype(np.float32),
                    lambda z: self.scaler.inverse(z))
        if self.kind == "diff":
            d = self.diffs
            assert d is not None
            loc, scale = raw[..., -1] + d.lo, d.hi - d.lo
            return (d.transform(np.diff(raw, axis=-1)).astype(np.float32),
                    lambda z: np.asarray(z, np.float64) * scale + loc)
        flat = raw.reshape(-1, raw.shape[-1])
        loc, scale = window_statistics(flat, self.kind)
        anchor = self.scaler.lo  # as _scaled_windows reads a training window
        X = window_rows(float32_pairs(flat.ravel() - anchor),
                        np.arange(0, flat.size, flat.shape[1]), flat.shape[1],
                        float32_pairs(loc - anchor), (1.0 / scale).astype(np.float32))
        loc, scale = loc.reshape(raw.shape[:-1]), scale.reshape(raw.shape[:-1])
        return X.reshape(raw.shape), lambda z: np.asarray(z, np.float64) * scale + loc


def _as_values(values: Any) -> np.ndarray:
    # A relulab Series or a pandas Series carries its numbers in `.values`.
    v = np.asarray(getattr(values, "values", values), dtype=np.float64)
    if v.ndim != 1:
        raise RelulabError(f"expected a 1-D series, got shape {v.shape}; pass one column")
    if not np.all(np.isfinite(v)):
        i = int(np.flatnonzero(~np.isfinite(v))[0])
        raise RelulabError(
            f"the series holds {v[i]} at position {i}; fill or drop NaN/inf points first"
        )
    return v


class _Targets(NamedTuple):
    """Which windows a region ``[lo, hi)`` has: training windows (every ``t`` whose
    ``ahead`` targets lie in the region) or, with ``paths``, forecast paths' origins
    ``lo, lo + ahead, ...`` (module docstring)."""

    lo: int
    hi: int
    ahead: int = 1
    paths: bool = False

    def index(self, first: int) -> np.ndarray:
        """The targets (origins) ``t``, none before ``first`` (the inputs' reach)."""
        start = max(self.lo, first)
        if self.paths:
            return np.arange(start, self.hi, self.ahead)
        return np.arange(start, self.hi - self.ahead + 1)

    def fields(self) -> dict[str, Any]:
        """The :class:`Windows` fields of paths (none for training windows)."""
        return {"horizon": self.ahead, "end": self.hi} if self.paths else {}


def _windows(values: np.ndarray, seq: np.ndarray, lookback: int, at: _Targets,
             earliest: int | None = None, **stats: Any) -> Windows:
    """Windows whose targets are ``t`` in ``[max(lo, earliest), hi)`` (``earliest`` the
    lookback by default), read from ``seq`` (float32)."""
    targets = at.index(lookback if earliest is None else earliest)
    return Windows(seq=seq, width=lookback, ahead=at.ahead, target_index=targets,
                   y_prev=values[targets - 1].copy(), **stats, **at.fields())


def window_statistics(inputs: np.ndarray, scaler: str) -> tuple[np.ndarray, np.ndarray]:
    """``(loc, scale)`` of each row of ``inputs`` ``(n, lookback)`` (the windows' input
    values in the series' units) for a per-window scaler (module docstring)."""
    x = np.asarray(inputs, dtype=np.float64)
    std = x.std(axis=1)
    if scaler == "window-minmax":
        loc, scale = x.min(axis=1), x.max(axis=1) - x.min(axis=1)
    elif scaler == "window-standard":
        loc, scale = x.mean(axis=1), std
    elif scaler == "robust":
        loc = np.median(x, axis=1)
        scale = np.median(np.abs(x - loc[:, None]), axis=1)
        scale = np.where(scale > 0, scale, std * _MAD_OF_STD)
    else:
        raise RelulabError(f"unknown per-window scaler {scaler!r}; choose one of: "
                           f"{', '.join(SCALERS)}")
    return loc, np.where(scale == 0, 1.0, scale) + WINDOW_EPS


def _scaled_windows(values: np.ndarray, pairs: np.ndarray, anchor: float, lookback: int,
                    at: _Targets, scaler: str) -> Windows:
    """Windows whose targets are ``t`` in ``[max(lo, lookback), hi)``, each scaled by the
    statistics of its own inputs (float64), its float32 values read from ``pairs``, the
    series less ``anchor`` as float32 pairs (:func:`window_rows`)."""
    targets = at.index(lookback)
    raw = np.lib.stride_tricks.sliding_window_view(values, lookback)[targets - lookback]
    loc, scale = window_statistics(raw, scaler)
    return _windows(values, pairs, lookback, at, loc=loc, scale=scale,
                    x_loc=float32_pairs(loc - anchor), x_inv=(1.0 / scale).astype(np.float32))


def _diff_seq(values: np.ndarray, dscaler: MinMaxScaler) -> np.ndarray:
    """The scaled first differences ``d[t] = y[t] - y[t-1]`` (float32; NaN at 0)."""
    return dscaler.transform(np.concatenate([[np.nan], np.diff(values)])).astype(np.float32)


def _diff_windows(values: np.ndarray, seq: np.ndarray, dscaler: MinMaxScaler, lookback: int,
                  at: _Targets) -> Windows:
    """Windows of first differences whose targets are ``t`` in ``[max(lo, lookback + 1),
    hi)``: inputs ``d[t-L .. t-1]`` and target ``d[t]`` of ``seq`` (:func:`_diff_seq`,
    min-max scaled by ``dscaler``); the forecast of ``y[t]`` is ``y[t-1]`` plus the
    difference's."""
    targets = at.index(lookback + 1)
    prev = values[targets - 1]
    return _windows(values, seq, lookback, at, earliest=lookback + 1, loc=prev + dscaler.lo,
                    scale=np.full(targets.shape, dscaler.hi - dscaler.lo))


def reach(config: StudyConfig) -> int:
    """How many points before its target a window's inputs reach back: the lookback, one
    more for differences."""
    return int(config.lookback) + (1 if _scaler(config) == "diff" else 0)


def _scaler(config: StudyConfig) -> str:
    return str(getattr(config, "scaler", "global"))


def _diff_scaler(v: np.ndarray, train_end: int) -> MinMaxScaler:
    d = np.diff(v[:train_end])
    if d.size and np.all(d == d[0]):
        raise RelulabError(
            f"the train region rises by the same {d[0]:g} at every step, so its differences "
            "are constant and cannot be scaled; use --scaler global or window-minmax")
    return MinMaxScaler.fit(d)


def prepare(values: Any, config: StudyConfig) -> Prepared:
    """Split, scale (train region only) and window ``values`` as PROTOCOL.md prescribes:
    the split of all its points, whatever ``config.folds`` (:func:`prepare_folds` gives
    every fold).

    For the 115-point hotel series with the ``seed`` preset: train region 80 points,
    75 training windows cut 60 / 15 by Keras' split, 20 validation and 15 test windows.
    """
    v = _as_values(values).copy()
    v.setflags(write=False)
    check_length(v.shape[0], config)
    s = split(v.shape[0], test_size=config.test_size, train_fraction=config.train_fraction,
              lookback=reach(config), ahead=head_width(config))
    scaler = MinMaxScaler.fit(v[: s.train_end])
    check_scale(v, s.train_end)
    return _prepared(v, s, scaler, config)


def _prepared(v: np.ndarray, s: Split, scaler: MinMaxScaler, config: StudyConfig) -> Prepared:
    """The windows of the checked, read-only values ``v`` split by ``s``, scaled as
    ``config.scaler`` says (module docstring)."""
    L, kind = config.lookback, _scaler(config)
    dscaler = None
    if kind == "global":
        seq = scaler.transform(v).astype(np.float32)

        def windows(at: _Targets) -> Windows:
            return _windows(v, seq, L, at)
    elif kind == "diff":
        dscaler = _diff_scaler(v, s.train_end)
        seq = _diff_seq(v, dscaler)

        def windows(at: _Targets) -> Windows:
            return _diff_windows(v, seq, dscaler, L, at)
    else:
        seq = float32_pairs(v - scaler.lo)  # centred on the anchor, the train region's min

        def windows(at: _Targets) -> Windows:
            return _scaled_windows(v, seq, scaler.lo, L, at, kind)

    horizon = int(getattr(config, "horizon", 1))
    train_targets = windows(_Targets(0, s.train_end, head_width(config)))
    split_at = keras_split_at(len(train_targets), config.validation_split)
    return Prepared(
        split=s,
        scaler=scaler,
        fit=train_targets.take(None, split_at),
        val_loss=train_targets.take(split_at, None),
        validation=windows(_Targets(s.train_end, s.test_start, horizon, paths=True)),
        test=windows(_Targets(s.test_start, s.n, horizon, paths=True)),
        train_targets=train_targets,
        values=v,
        kind=kind, diffs=dscaler, reach=reach(config),
    )


def rolling_folds(n: int, config: StudyConfig, *, what: str = "the series") -> list[Split]:
    """Rolling-origin evaluation: ``config.folds`` splits, oldest first.

    The last fold is PROTOCOL.md's split of all ``n`` points. Fold ``k`` of ``K`` uses only
    the first ``n - (K - 1 - k) * test_size`` points, so each earlier fold moves the test
    window back by ``test_size`` (the test windows tile the end of the series without
    overlap), and its train and validation regions are the usual fractions of the points
    before its test window. Each fold is meant to be prepared on its own points
    (``prepare(values[:fold.n], config)``), so its scaler sees only its own train region.
    """
    folds = int(config.folds)
    if folds < 1:
        raise RelulabError(f"folds must be at least 1, got {folds}; pass --folds K")
    need = min_length(config)
    shortest = n - (folds - 1) * config.test_size
    if shortest < need:
        raise RelulabError(
            f"{what} has {n} points, too few for {folds} rolling folds of test size "
            f"{config.test_size}: the earliest fold would have {shortest} points but needs "
            f"{need}; lower --folds, --test-size or --lookback"
        )
    return [
        split(n - (folds - 1 - k) * config.test_size, test_size=config.test_size,
              train_fraction=config.train_fraction, lookback=reach(config),
              ahead=head_width(config))
        for k in range(folds)
    ]


def prepare_folds(values: Any, config: StudyConfig, *,
                  what: str = "the series") -> tuple[Prepared, ...]:
    """Every fold of :func:`rolling_folds` prepared on its own points, oldest first (each
    equal to :func:`prepare` of ``values[:fold.n]``, so each scaler sees only its own train
    region): what a study trains and scores on. The series is checked once, up front
    (:func:`check_series`, naming it ``what``), so a series that cannot be studied fails
    before any fold is windowed."""
    check_series(values, config, what=what)
    v = _as_values(values).copy()
    v.setflags(write=False)
    return tuple(_prepared(v[: s.n], s, MinMaxScaler.fit(v[: s.train_end]), config)
                 for s in rolling_folds(v.shape[0], config))

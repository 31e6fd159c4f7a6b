"""Baseline forecasts every study reports beside its networks.

All baselines produce what the networks produce: forecasts over the test window
``[test_start, n)``, one per test point, built from the *actual* values before their origin
(never from earlier forecasts), in the series' original units.

The horizon ``H`` (``horizon``, 1 by default) tiles the test window with consecutive
``H``-step paths whose origins are ``test_start, test_start + H, test_start + 2H, ...``: the
path from origin ``o`` forecasts ``y_o .. y_{min(o+H, n)-1}`` from ``y_0 .. y_{o-1}`` alone
(the last path is cut at ``n``). Models are fitted once, on the points before the test
window, and their parameters held fixed (statsforecast's ``refit=False``). With ``H = 1``
every forecast is one step ahead, as the protocol scores the networks.

- ``naive``: ``ŷ_t = y_{o-1}``, the last actual before the origin (``y_{t-1}`` at ``H = 1``).
- ``seasonal_naive``: ``ŷ_t = y_{t - m ceil((t-o+1)/m)}``, the last actual of ``t``'s season
  before the origin (``y_{t-m}`` at ``H = 1``), for a season ``m``.
- ``arima``: a statsmodels ``ARIMA(p, d, q)`` (with a constant when ``d = 0``) fitted once by
  maximum likelihood on the points before the test window; its parameters are then held
  fixed and the model is run through the test window with the Kalman filter, so a path
  from ``o`` uses the fitted parameters and ``y_0 .. y_{o-1}`` only.
- ``auto_ets``, ``auto_arima`` (the field's, with ``field=``; statsforecast, the
  ``relulab[forecast]`` extra): statsforecast's ``AutoETS`` (error, trend and season chosen
  by AICc) and seasonal ``AutoARIMA`` in its approximation mode (as fast as relulab's ARIMA
  search within a factor of two, as accurate as the full search on the US employment
  panel), fitted on the points before the test window, each path their ``forward`` from
  the actuals before its origin: statsforecast's ``cross_validation(h=H, step_size=H,
  refit=False)``, computed without its data frames. Their season is ``--season``'s, else
  the dates' (:data:`SEASONS`); with fewer than two full seasons before the test window
  they are fitted without one, and say so.

ARIMA order selection, when no order is given, follows auto.arima's split: ``d`` from a KPSS
level-stationarity test at 5% on the fitting points (``d = 1`` when it rejects), then ``p, q
∈ {0, 1, 2}`` by AIC among the fits that succeed (ties to the smaller model). AICs of
different ``d`` are not comparable (they are likelihoods of different data), which is why
``d`` is not part of the AIC grid. Fits use the innovations-algorithm MLE, which gives the
same maximum as the state-space optimiser here at a fraction of the time, without standard
errors (not needed for forecasting), and with the optimiser capped (50 BFGS iterations,
gradient tolerance 1e-3 on the log-likelihood) so the search stays well under 2 s on ~100
points. All statsmodels warnings are silenced; fits that raise are skipped.

A baseline must not stop a study: :func:`run_baselines` reports an ARIMA that cannot be
fitted (too few or constant points, or a series statsmodels cannot handle, such as values near
1e300 where KPSS's lag count becomes NaN) as *unavailable*: its entry keeps the usual keys,
with NaN forecasts and NaN metrics, and adds ``"unavailable"``, one line saying why.
"""

from __future__ import annotations

import itertools
import warnings
from typing import Any, NamedTuple

import numpy as np

from relulab.errors import RelulabError
from relulab.metrics import path_steps, score

__all__ = ["FIELD_EXTRA", "SEASONS", "ArimaForecast", "FieldForecast", "Season", "arima",
           "auto_arima", "auto_ets", "naive", "origins", "run_baselines", "season_of",
           "seasonal_naive", "select_order"]

P_GRID = (0, 1, 2)
Q_GRID = (0, 1, 2)

# What statsmodels raises on data it cannot fit: ValueError (KPSS's int(NaN) lag count on
# values near 1e300, MissingDataError, bad starting parameters), LinAlgError (a singular
# covariance), and overflow/division errors. Anything else is a bug and should surface.
FIT_ERRORS = (ValueError, np.linalg.LinAlgError, OverflowError, FloatingPointError,
              ZeroDivisionError)


def _series(values: Any, test_start: int) -> np.ndarray:
    y = np.asarray(values, dtype=float)
    if y.ndim != 1 or not np.all(np.isfinite(y)):
        raise RelulabError("baselines need a 1-D series of finite numbers; clean the series")
    if not 0 < test_start < y.size:
        raise RelulabError(
            f"test_start = {test_start} must lie inside the series (1 .. {y.size - 1})"
        )
    return y


def _horizon(horizon: int) -> int:
    if int(horizon) != horizon or horizon < 1:
        raise RelulabError(f"horizon = {horizon} must be a whole number of steps, 1 or more")
    return int(horizon)


def origins(test_start: int, n: int, horizon: int = 1, region: int | None = None
            ) -> np.ndarray:
    """Each test point's origin, the start of the ``horizon``-step path it lies on: the
    test window cut into regions of ``region`` points (rolling folds' test windows; default
    one), each tiled by paths of ``horizon`` steps from its start."""
    horizon = _horizon(horizon)
    i = np.arange(n - test_start)
    start = i // region * region if region else 0
    return test_start + start + (i - start) // horizon * horizon


def naive(values: Any, test_start: int, horizon: int = 1,
          region: int | None = None) -> np.ndarray:
    """``ŷ_t = y_{o-1}`` for ``t`` in the test window, ``o`` its path's origin."""
    y = _series(values, test_start)
    if _horizon(horizon) == 1:
        return y[test_start - 1 : y.size - 1].copy()
    return y[origins(test_start, y.size, horizon, region) - 1]


def seasonal_naive(values: Any, test_start: int, season: int, horizon: int = 1,
                   region: int | None = None) -> np.ndarray:
    """``ŷ_t = y_{t - m ceil((t-o+1)/m)}`` for ``t`` in the test window, ``o`` its path's
    origin, ``m = season``: the last actual of ``t``'s season before ``o``."""
    y = _series(values, test_start)
    if not 1 <= season <= test_start:
        raise RelulabError(
            f"season = {season} must lie in 1 .. test_start = {test_start}: the seasonal "
            "naive forecast needs a full season of data before the test window"
        )
    if _horizon(horizon) == 1:
        return y[test_start - season : y.size - season].copy()
    t = np.arange(test_start, y.size)
    steps = t - origins(test_start, y.size, horizon, region) + 1
    return y[t - season * (-(-steps // season))]


class ArimaForecast(NamedTuple):
    forecast: np.ndarray  # one-step forecasts over the test window
    order: tuple[int, int, int]
    params: dict[str, float]  # fitted parameters by statsmodels name (const, ar.L1, ...)
    aic: float
    fit_end: int  # fitted on values[:fit_end]


def _fit(y: np.ndarray, order: tuple[int, int, int]) -> Any:
    from statsmodels.tsa.arima.model import ARIMA

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # gtol is on the total negative log-likelihood (not per point), so 1e-3 moves the
        # AIC by far less than its reporting precision; it and maxiter stop BFGS wandering
        # for seconds over the flat likelihood of an over-parameterised ARMA(2, 2).
        options = {"maxiter": 50, "gtol": 1e-3}
        return ARIMA(y, order=order).fit(method="innovations_mle", cov_type="none",
                                         method_kwargs={"minimize_kwargs": {"options": options}})


def _kpss_d(y: np.ndarray) -> int:
    from statsmodels.tsa.stattools import kpss

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # p-values outside the table are clipped, with a warning
        _, p, *_ = kpss(y, regression="c", nlags="auto")
    return 1 if p < 0.05 else 0


def select_order(y: Any) -> tuple[tuple[int, int, int], Any]:
    """Choose ``(p, d, q)`` for ``y`` (module docstring) and return it with its fit."""
    y = np.asarray(y, dtype=float)
    if y.size < 10 or np.ptp(y) == 0:
        raise RelulabError(
            f"ARIMA needs at least 10 non-constant points before the test window, got {y.size}"
        )
    try:
        d = _kpss_d(y)
    except FIT_ERRORS as err:
        raise RelulabError(f"the KPSS test that chooses d failed ({_why(err)})") from err
    best: tuple[float, tuple[int, int, int], Any] | None = None
    for p, q in itertools.product(P_GRID, Q_GRID):
        try:
            res = _fit(y, (p, d, q))
        except FIT_ERRORS:
            continue
        if np.isfinite(res.aic) and (best is None or res.aic < best[0]):
            best = (float(res.aic), (p, d, q), res)
    if best is None:
        raise RelulabError("no ARIMA model in the grid could be fitted to this series")
    return best[1], best[2]


def arima(
    values: Any,
    test_start: int,
    train_end: int | None = None,
    order: tuple[int, int, int] | None = None,
    horizon: int = 1,
    region: int | None = None,
) -> ArimaForecast:
    """ARIMA forecasts over the test window in ``horizon``-step paths (one-step with the
    default), parameters fixed after fitting.

    Fitted on ``values[:train_end]`` (default: every point before the test window); with
    ``order=None`` the order is chosen as the module docstring says.
    """
    y = _series(values, test_start)
    horizon = _horizon(horizon)
    fit_end = test_start if train_end is None else int(train_end)
    if not 0 < fit_end <= test_start:
        raise RelulabError(
            f"train_end = {train_end} must lie in 1 .. test_start = {test_start}"
        )
    if order is None:
        order, res = select_order(y[:fit_end])
    else:
        order = tuple(int(k) for k in order)  # type: ignore[assignment]
        try:
            res = _fit(y[:fit_end], order)
        except FIT_ERRORS as err:
            raise RelulabError(f"ARIMA{order} could not be fitted: {_why(err)}") from err
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # append() runs the fitted model, parameters unchanged, through the later points;
            # predict() without dynamic= gives one-step predictions from the data before t.
            full = res.append(y[fit_end:], refit=False) if fit_end < y.size else res
            if horizon == 1:
                forecast = np.asarray(full.predict(start=test_start, end=y.size - 1),
                                      dtype=float)
            else:
                # dynamic=True: from its start on, a prediction feeds on the predictions
                # before it, not on the actuals: the H-step path from that origin.
                starts, steps = np.unique(origins(test_start, y.size, horizon, region),
                                          return_counts=True)
                forecast = np.concatenate([
                    np.asarray(full.predict(start=o, end=o + k - 1, dynamic=True),
                               dtype=float)
                    for o, k in zip(starts, steps, strict=True)])
    except FIT_ERRORS as err:
        raise RelulabError(f"ARIMA{order} could not forecast: {_why(err)}") from err
    if not np.all(np.isfinite(forecast)):
        raise RelulabError(f"ARIMA{order} forecasts are not finite (the series' scale is "
                           "beyond what the Kalman filter can hold)")
    params = dict(zip(res.model.param_names, map(float, res.params), strict=True))
    return ArimaForecast(forecast, order, params, float(res.aic), fit_end)  # type: ignore[arg-type]


# The season the field's baselines take from a series' dates (relulab.data.dates.frequency's
# words) when no --season is given: the periods statsforecast's and R's forecast package
# use. Yearly data, and spacings not named here, have none.
SEASONS = {"hourly": 24, "daily": 7, "weekly": 52, "monthly": 12, "quarterly": 4, "yearly": 1}

FIELD_EXTRA = "pip install 'relulab[forecast]'"


class Season(NamedTuple):
    """The field's baselines' season, and where it came from, in words."""

    m: int  # 1: no season
    source: str  # "--season", "monthly dates", "no dates"


def season_of(season: int | None, frequency: str | None) -> Season:
    """The config's season where it gives one, else the one of the dates' spacing
    (:data:`SEASONS`), else none."""
    if season is not None:
        return Season(int(season), "--season")
    if frequency is None:
        return Season(1, "no dates, and no --season")
    if frequency in SEASONS:
        return Season(SEASONS[frequency], f"{frequency} dates")
    return Season(1, f"dates {frequency} apart, and no --season")


class FieldForecast(NamedTuple):
    forecast: np.ndarray  # over the test window, in paths of the horizon
    model: str  # the model statsforecast chose, in its words: "ETS(A,Ad,N)"
    season: int  # the season it was fitted with (1: none)
    note: str  # why that season differs from the one asked for; "" when it does not


def _field_season(season: int, fit_points: int) -> tuple[int, str]:
    """The season a model can be fitted with on ``fit_points`` points: none with fewer than
    two full seasons (neither ETS's initial seasonal states nor the seasonal differencing
    test can be estimated from less)."""
    if season > 1 and fit_points < 2 * season:
        return 1, (f"fewer than two seasons of {season} ({fit_points} points) before the test "
                   "window, so without a season")
    return season, ""


def _paths(model: Any, y: np.ndarray, test_start: int, horizon: int,
           region: int | None) -> np.ndarray:
    """A fitted statsforecast model's ``horizon``-step paths over the test window (tiled
    as :func:`origins` says), each from the actuals before its origin:
    ``cross_validation(h=H, step_size=H, refit=False)``, which calls ``forward`` so."""
    starts, steps = np.unique(origins(test_start, y.size, horizon, region),
                              return_counts=True)
    return np.concatenate([
        np.asarray(model.forward(y=y[:o], h=int(k))["mean"], dtype=float)
        for o, k in zip(starts, steps, strict=True)])


def _field(kind: str, values: Any, test_start: int, season: int,
           horizon: int, region: int | None) -> FieldForecast:
    y = _series(values, test_start)
    horizon = _horizon(horizon)
    try:
        from statsforecast.models import AutoARIMA, AutoETS
    except ImportError as err:
        raise RelulabError(f"AutoETS and AutoARIMA need statsforecast: {FIELD_EXTRA}") from err
    m, note = _field_season(int(season), test_start)
    model: Any = (AutoETS(season_length=m) if kind == "ets"
                  else AutoARIMA(season_length=m, approximation=True))
    label = "AutoETS" if kind == "ets" else "AutoARIMA"
    try:
        with warnings.catch_warnings():
            # AutoARIMA warns of each candidate whose optimiser stopped early; the search
            # drops such fits on its own.
            warnings.simplefilter("ignore")
            model.fit(y[:test_start])
            forecast = _paths(model, y, test_start, horizon, region)
    except (*FIT_ERRORS, NotImplementedError) as err:  # ETS on a handful of points
        raise RelulabError(f"{label} could not be fitted: {_why(err)}") from err
    if not np.all(np.isfinite(forecast)):
        raise RelulabError(f"{label}'s forecasts are not finite")
    if kind == "ets":
        chosen = str(model.model_["method"])
    else:
        from statsforecast.arima import arima_string

        chosen = " ".join(arima_string(model.model_).split())
    return FieldForecast(forecast, chosen, m, note)


def auto_ets(values: Any, test_start: int, season: int = 1, horizon: int = 1,
             region: int | None = None) -> FieldForecast:
    """statsforecast's ``AutoETS(season_length=season)`` over the test window in
    ``horizon``-step paths, fitted once on the points before it (module docstring)."""
    return _field("ets", values, test_start, season, horizon, region)


def auto_arima(values: Any, test_start: int, season: int = 1,
               horizon: int = 1, region: int | None = None) -> FieldForecast:
    """statsforecast's ``AutoARIMA(season_length=season, approximation=True)`` over the
    test window in ``horizon``-step paths, fitted once on the points before it."""
    return _field("arima", values, test_start, season, horizon, region)


def _why(err: BaseException) -> str:
    """One line of an exception: its type and the first line of its message."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def run_baselines(
    values: Any,
    *,
    train_end: int,
    test_start: int,
    season: int | None = None,
    horizon: int = 1,
    region: int | None = None,
    field: Season | None = None,
) -> dict[str, dict[str, Any]]:
    """Every baseline's test-window forecast, metrics and a one-line description.

    ``naive`` always, ``seasonal_naive`` when a season is given, ``arima`` fitted on all the
    points before the test window: the protocol's. With ``field`` (a :class:`Season`), the
    field's besides: ``seasonal_naive`` with that season (unless ``season`` gave one),
    ``auto_ets`` and ``auto_arima``. Forecasts in ``horizon``-step paths (module
    docstring), the test window tiled in regions of ``region`` points (a rolling fold's
    test size; default one region), as the networks'. Metrics are
    :func:`relulab.metrics.score` with MASE scaled on ``values[:train_end]`` with
    ``season``, as for the networks.

    Each entry is ``{"metrics": {...}, "forecast": array, "description": str}``. A baseline
    that cannot be computed never raises: its forecast and metrics are NaN, its description
    says "not fitted", and it alone carries ``"unavailable"``: why, in one line, for the
    study's warnings. ``entry.get("unavailable")`` is None for every baseline that worked.
    """
    y = _series(values, test_start)
    horizon = _horizon(horizon)
    actual = y[test_start:]
    ahead = "one-step forecasts" if horizon == 1 else f"{horizon}-step paths"
    steps = None
    if horizon > 1:
        steps = path_steps(actual.size, horizon, region)

    def entry(forecast: np.ndarray, description: str) -> dict[str, Any]:
        metrics = score(actual, forecast, y_prev=y[test_start - 1], y_train=y[:train_end],
                        season=season, steps=steps)
        return {"metrics": metrics, "forecast": forecast, "description": description}

    def unavailable(label: str, why: str) -> dict[str, Any]:
        out = entry(np.full(actual.size, np.nan), f"{label}: not fitted ({why})")
        out["unavailable"] = why
        return out

    naive_words = ("each forecast is the previous actual value" if horizon == 1 else
                   "each path repeats the last actual value before its origin")
    out = {"naive": entry(naive(y, test_start, horizon, region), f"naive: {naive_words}")}
    if season is not None:
        # A season too long for the history raises: MASE (the networks' metric too) needs
        # a train region longer than the season, so that is the config's error, not a fit's.
        out["seasonal_naive"] = entry(
            seasonal_naive(y, test_start, season, horizon, region),
            f"seasonal naive (m = {season}): the actual value one season earlier"
            if horizon == 1 else f"seasonal naive (m = {season}): the last actual value of "
            "the same season before the path's origin",
        )
    elif field is not None and 1 < field.m <= test_start:
        out["seasonal_naive"] = entry(
            seasonal_naive(y, test_start, field.m, horizon, region),
            f"seasonal naive (m = {field.m}, from the {field.source}): the last actual "
            "value of the same season before the forecast's origin",
        )
    try:
        fit = arima(y, test_start, horizon=horizon, region=region)
        p, d, q = fit.order
        const = " with a constant" if d == 0 else ""
        description = (f"ARIMA({p},{d},{q}){const}, d by KPSS and p, q by AIC, fitted on "
                       f"points 0-{fit.fit_end - 1}; {ahead}, parameters fixed")
        out["arima"] = entry(fit.forecast, description)
    except RelulabError as err:
        out["arima"] = unavailable("ARIMA", str(err))
    if field is not None:
        for name, label, fn in (("auto_ets", "AutoETS", auto_ets),
                                ("auto_arima", "AutoARIMA", auto_arima)):
            try:
                got = fn(y, test_start, field.m, horizon, region)
            except RelulabError as err:
                out[name] = unavailable(label, str(err))
                continue
            seasonal = (f"season {got.season} from the {field.source}" if got.season > 1
                        else got.note or f"no season ({field.source})")
            how = ("error, trend and season by AICc" if name == "auto_ets"
                   else "stepwise search, approximation mode")
            out[name] = entry(got.forecast, (
                f"{label} (statsforecast): {got.model}, {how}, {seasonal}; fitted on points "
                f"0-{test_start - 1}; {ahead}, parameters fixed"))
    return out

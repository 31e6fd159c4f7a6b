"""Baseline forecasts every study reports beside its networks.

All baselines produce what the networks produce: one-step-ahead forecasts over the test
window ``[test_start, n)``, each built from the *actual* values before it (never from earlier
forecasts), in the series' original units. With a ``horizon`` ``H > 1`` they forecast the
networks' paths (:mod:`relulab.windows`): the test window tiled by paths of ``H`` steps from
origins ``test_start, test_start + H, ...``, each from the actual values before its origin
``o`` only (the last path cut at the end).

- ``naive``: ``ŷ_t = y_{t-1}``; over a path, the last actual value ``y_{o-1}``.
- ``seasonal_naive``: ``ŷ_t = y_{t-m}`` for a season ``m``; over a path, the same season's
  last actual value before the origin, ``y_{t - m ceil((t - o + 1) / m)}``.
- ``arima``: a statsmodels ``ARIMA(p, d, q)`` (with a constant when ``d = 0``) fitted once by
  maximum likelihood on the points before the test window; its parameters are then held
  fixed and the model is run through the test window with the Kalman filter, so the forecast
  for ``t`` uses the fitted parameters and ``y_0 .. y_{t-1}`` only (over a path, its
  ``h``-step forecast from the actual values before the origin).

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
from relulab.metrics import score

__all__ = ["ArimaForecast", "arima", "naive", "run_baselines", "seasonal_naive", "select_order"]

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


def origins(test_start: int, n: int, horizon: int = 1, region: int | None = None
            ) -> np.ndarray:
    """Each test point's path origin: the test window cut into regions of ``region``
    points (rolling folds' test windows; default one), each tiled by paths of ``horizon``
    steps from its start."""
    i = np.arange(n - test_start)
    start = i // region * region if region else 0
    return test_start + start + (i - start) // int(horizon) * int(horizon)


def naive(values: Any, test_start: int, horizon: int = 1,
          region: int | None = None) -> np.ndarray:
    """``ŷ_t = y_{t-1}`` for ``t`` in the test window; over paths of ``horizon`` steps, the
    last actual value before the path's origin."""
    y = _series(values, test_start)
    if horizon == 1:
        return y[test_start - 1 : y.size - 1].copy()
    return y[origins(test_start, y.size, horizon, region) - 1].copy()


def seasonal_naive(values: Any, test_start: int, season: int, horizon: int = 1,
                   region: int | None = None) -> np.ndarray:
    """``ŷ_t = y_{t-m}`` for ``t`` in the test window, ``m = season``; over paths of
    ``horizon`` steps, the same season's last actual value before the path's origin."""
    y = _series(values, test_start)
    if not 1 <= season <= test_start:
        raise RelulabError(
            f"season = {season} must lie in 1 .. test_start = {test_start}: the seasonal "
            "naive forecast needs a full season of data before the test window"
        )
    if horizon == 1:
        return y[test_start - season : y.size - season].copy()
    t = np.arange(test_start, y.size)
    ahead = t - origins(test_start, y.size, horizon, region) + 1  # 1 .. H steps ahead
    return y[t - season * (-(-ahead // season))].copy()


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
    """One-step ARIMA forecasts over the test window, parameters fixed after fitting (over
    paths of ``horizon`` steps, each path's forecasts from the actual values before its
    origin).

    Fitted on ``values[:train_end]`` (default: every point before the test window); with
    ``order=None`` the order is chosen as the module docstring says.
    """
    y = _series(values, test_start)
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
            else:  # each path: the model, parameters fixed, run to its origin, then ahead
                starts, steps = np.unique(origins(test_start, y.size, horizon, region),
                                          return_counts=True)
                forecast = np.concatenate([
                    np.asarray((res.append(y[fit_end:o], refit=False) if o > fit_end
                                else res).forecast(int(k)), dtype=float)
                    for o, k in zip(starts, steps, strict=True)])
    except FIT_ERRORS as err:
        raise RelulabError(f"ARIMA{order} could not forecast: {_why(err)}") from err
    if not np.all(np.isfinite(forecast)):
        raise RelulabError(f"ARIMA{order} forecasts are not finite (the series' scale is "
                           "beyond what the Kalman filter can hold)")
    params = dict(zip(res.model.param_names, map(float, res.params), strict=True))
    return ArimaForecast(forecast, order, params, float(res.aic), fit_end)  # type: ignore[arg-type]


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
) -> dict[str, dict[str, Any]]:
    """Every baseline's test-window forecast, metrics and a one-line description; over
    paths of ``horizon`` steps (module docstring) the test window is tiled in regions of
    ``region`` points (a rolling fold's test size; default one region), as the networks'.

    ``naive`` always, ``seasonal_naive`` when a season is given, ``arima`` fitted on all the
    points before the test window. Metrics are :func:`relulab.metrics.score` with MASE
    scaled on ``values[:train_end]``, as for the networks.

    Each entry is ``{"metrics": {...}, "forecast": array, "description": str}``. A baseline
    that cannot be computed never raises: its forecast and metrics are NaN, its description
    says "not fitted", and it alone carries ``"unavailable"``: why, in one line, for the
    study's warnings. ``entry.get("unavailable")`` is None for every baseline that worked.
    """
    y = _series(values, test_start)
    actual = y[test_start:]

    steps = None
    if horizon > 1:
        from relulab.metrics import path_steps

        steps = path_steps(actual.size, horizon, region)
    paths = (f"; paths of {horizon} steps, each from the actual values before its origin"
             if horizon > 1 else "")

    def entry(forecast: np.ndarray, description: str) -> dict[str, Any]:
        metrics = score(actual, forecast, y_prev=y[test_start - 1], y_train=y[:train_end],
                        season=season, steps=steps)
        return {"metrics": metrics, "forecast": forecast, "description": description + paths}

    def unavailable(label: str, why: str) -> dict[str, Any]:
        out = entry(np.full(actual.size, np.nan), f"{label}: not fitted ({why})")
        out["unavailable"] = why
        return out

    out = {"naive": entry(naive(y, test_start, horizon, region),
                          "naive: each forecast is the previous actual value")}
    if season is not None:
        # A season too long for the history raises: MASE (the networks' metric too) needs
        # a train region longer than the season, so that is the config's error, not a fit's.
        out["seasonal_naive"] = entry(
            seasonal_naive(y, test_start, season, horizon, region),
            f"seasonal naive (m = {season}): the actual value one season earlier",
        )
    try:
        fit = arima(y, test_start, horizon=horizon, region=region)
        p, d, q = fit.order
        const = " with a constant" if d == 0 else ""
        description = (f"ARIMA({p},{d},{q}){const}, d by KPSS and p, q by AIC, fitted on "
                       f"points 0-{fit.fit_end - 1}; one-step forecasts, parameters fixed")
        out["arima"] = entry(fit.forecast, description)
    except RelulabError as err:
        out["arima"] = unavailable("ARIMA", str(err))
    return out

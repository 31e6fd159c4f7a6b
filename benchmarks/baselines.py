"""Benchmark: relulab's ARIMA baseline against the field's, on real monthly series.

A network that "beats the ARIMA baseline" beats what that baseline is: relulab's protocol
ARIMA is non-seasonal. This fits, on the first ``--series`` US employment series
(``../shared/data/us_employment_long.csv``, monthly, every point), the last
``--test-size`` points held out and forecast one step ahead from the actual values before
each, parameters fitted once before the test window (as relulab scores its networks):

- relulab's ARIMA (``relulab.baselines.arima``: d by KPSS, p and q by AIC);
- statsforecast's seasonal AutoARIMA in its approximation mode and AutoETS, season 12
  (``relulab.baselines.auto_arima`` / ``auto_ets``: ``cross_validation(h=1, step_size=1,
  refit=False)``);
- seasonal naive, season 12;

and prints per model the median RMSE over series, the geometric mean over series of its
RMSE ratio to relulab's ARIMA, on how many series it is better than relulab's ARIMA, and
its CPU seconds per series (fit and forecasts, one BLAS thread, as the study's baseline
workers run).

    python benchmarks/baselines.py [--series 100] [--test-size 15] [--season 12]

Skips (exit 0, one line) where the shared data or statsforecast is absent.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy loads its BLAS
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=100)
    parser.add_argument("--test-size", type=int, default=15)
    parser.add_argument("--season", type=int, default=12)
    args = parser.parse_args(argv)
    data = SHARED / "us_employment_long.csv"
    if not data.exists():
        print(f"skipped: {data} is absent")
        return 0
    try:
        import statsforecast  # noqa: F401
    except ImportError:
        print("skipped: statsforecast is not installed (pip install 'relulab[forecast]')")
        return 0
    from relulab import baselines
    from relulab.data import load_panel
    from relulab.errors import RelulabError

    panel = load_panel(str(data), series=args.series, column="employed")
    m, h = args.season, args.test_size
    models = {
        "relulab ARIMA": lambda y, t: baselines.arima(y, t).forecast,
        "AutoARIMA": lambda y, t: baselines.auto_arima(y, t, m).forecast,
        "AutoETS": lambda y, t: baselines.auto_ets(y, t, m).forecast,
        "seasonal naive": lambda y, t: baselines.seasonal_naive(y, t, m),
    }
    first = np.asarray(panel[panel.ids[0]].values, dtype=float)
    for fn in models.values():  # imports and first-call setup stay out of the timings
        fn(first, first.size - h)
    rmse = {name: [] for name in models}
    seconds = {name: [] for name in models}
    lengths = []
    for sid in panel.ids:
        y = np.asarray(panel[sid].values, dtype=float)
        lengths.append(y.size)
        t = y.size - h
        for name, fn in models.items():
            start = time.process_time()
            try:
                forecast = fn(y, t)
            except RelulabError:
                forecast = np.full(h, np.nan)
            seconds[name].append(time.process_time() - start)
            rmse[name].append(float(np.sqrt(np.mean((y[t:] - forecast) ** 2))))
    print(f"{len(panel.ids)} US employment series (monthly, {min(lengths)}-{max(lengths)} "
          f"points), last {h} held out, one-step forecasts, season {m}")
    ref = np.array(rmse["relulab ARIMA"])
    print(f"\n{'model':16s} {'median RMSE':>12s} {'ratio (geo)':>12s} {'better':>9s} "
          f"{'s/series':>9s} {'x ARIMA':>8s}")
    for name in models:
        r = np.array(rmse[name])
        ok = np.isfinite(r) & np.isfinite(ref) & (ref > 0) & (r > 0)
        ratio = math.exp(float(np.mean(np.log(r[ok] / ref[ok])))) if ok.any() else math.nan
        better = int(np.sum(r[ok] < ref[ok]))
        cost = float(np.mean(seconds[name]))
        print(f"{name:16s} {np.nanmedian(r):12.2f} {ratio:12.2f} {better:>4d}/{int(ok.sum()):<4d} "
              f"{cost:9.3f} {cost / np.mean(seconds['relulab ARIMA']):8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

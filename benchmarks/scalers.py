"""Benchmark: how a forecast's windows are scaled, on real series that trend.

The protocol scales each series once, min-max on its training region (``--scaler
global``); on a series that grows, the test region then lies above the scaled range and
every network extrapolates. This runs the same study (relulab's LSTM, tanh and relu, the
same seeds, epochs and windows) with every scaler of ``relulab.config.SCALERS`` on real
monthly US employment series (``../shared/data/us_employment_long.csv``) or quarterly
Australian tourism regions (``visnights_wide.csv``, ``--panel tourism``), the last
``--test-size`` points held out, one-step-ahead forecasts, and prints, per scaler:

- the median over series of the networks' RMSE relative to the naive forecast's (the
  median over seeds per series, the better of the two activations), and how many series
  are far behind naive (ratio above 1.5: a comparison of activations there answers
  nothing);
- the geometric mean over series of each scaler's RMSE ratio to ``global``, and on how
  many series it is better;
- wall seconds.

    python benchmarks/scalers.py [--panel employment|tourism] [--series 8] [--seeds 5]
        [--epochs 100] [--batch-size 16] [--units 4] [--test-size 15]

Skips (exit 0, one line) where the shared data is absent.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
PANELS = {  # name: (file, value column for a long panel, what it is)
    "employment": ("us_employment_long.csv", "employed", "US employment series (monthly)"),
    "tourism": ("visnights_wide.csv", None, "Australian tourism regions (quarterly)"),
}
FAR_BEHIND = 1.5  # RMSE above 1.5x the naive forecast's


def naive_rmse(values: np.ndarray, test_size: int) -> float:
    """RMSE of y[t-1] as the forecast of y[t] over the last ``test_size`` points."""
    actual, previous = values[-test_size:], values[-test_size - 1:-1]
    return float(np.sqrt(np.mean((actual - previous) ** 2)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--panel", choices=sorted(PANELS), default="employment")
    parser.add_argument("--series", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--units", type=int, default=4)
    parser.add_argument("--test-size", type=int, default=15)
    args = parser.parse_args(argv)
    file, column, what = PANELS[args.panel]
    data = SHARED / file
    if not data.exists():
        print(f"skipped: {data} is absent")
        return 0
    import relulab
    from relulab.config import SCALERS, preset
    from relulab.data import load_panel

    panel = load_panel(str(data), series=args.series,
                       **({"column": column} if column else {}))
    print(f"{len(panel.ids)} {what}, last {args.test_size} points "
          f"held out; LSTM({args.units}), tanh and relu, {args.seeds} seeds, {args.epochs} "
          f"epochs, batch {args.batch_size}")
    ratios: dict[str, dict[str, float]] = {}  # scaler -> series -> best median RMSE
    seconds: dict[str, float] = {}
    naive = {}
    for scaler in SCALERS:
        config = preset("seed", activations=("tanh", "relu"), seeds=args.seeds,
                        epochs=args.epochs, batch_size=args.batch_size, units=args.units,
                        test_size=args.test_size, scaler=scaler)
        t0 = time.perf_counter()
        ratios[scaler] = {}
        for sid in panel.ids:
            series = panel[sid]
            values = np.asarray(series.values, dtype=float)
            naive[sid] = naive_rmse(values, args.test_size)
            result = relulab.Study(config, series).run()
            frame = result.runs_frame
            medians = frame[~frame["diverged"]].groupby("activation")["rmse"].median()
            ratios[scaler][sid] = float(medians.min()) if len(medians) else math.nan
        seconds[scaler] = time.perf_counter() - t0
    print(f"\n{'scaler':16s} {'median RMSE/naive':>18s} {'far behind':>11s} "
          f"{'vs global (geo)':>16s} {'better':>7s} {'seconds':>8s}")
    for scaler in SCALERS:
        rel = np.array([ratios[scaler][s] / naive[s] for s in panel.ids])
        vs = np.array([ratios[scaler][s] / ratios["global"][s] for s in panel.ids])
        better = int(np.sum(vs < 1))
        print(f"{scaler:16s} {np.nanmedian(rel):18.2f} {int(np.sum(rel > FAR_BEHIND)):>5d} of "
              f"{len(rel):<3d} {math.exp(np.nanmean(np.log(vs))):16.2f} {better:>3d}/{len(vs):<3d} "
              f"{seconds[scaler]:8.1f}")
    print("\nper series, the better activation's median RMSE (naive in the last column):")
    print(f"{'series':16s}" + "".join(f"{s:>16s}" for s in SCALERS) + f"{'naive':>12s}")
    for sid in panel.ids:
        print(f"{sid:16s}" + "".join(f"{ratios[s][sid]:16.1f}" for s in SCALERS)
              + f"{naive[sid]:12.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The seed's claim, tested where it matters: does ReLU flatten a forecast path more than tanh?

The reference study found that ReLU flattened an LSTM's one-step forecast of weekly hotel
cancellations. A flattened path compounds over a horizon, so this asks the question at
horizons 1, 4 and 13 (direct forecasts: one head of H outputs), on

- the weekly hotel series (``../shared/data/hotel_h1_weekly.csv``) with the seed preset
  (LSTM(4), 500 epochs, batch 1, global min-max scaling), tanh and relu over ``--seeds``
  seeds: each arm's median volatility ratio (sd of the forecast path / sd of the actual,
  over the test region), the paired interval of relu's ratio relative to tanh's, and the
  RMSE verdict;
- the 148 monthly US employment series (``us_employment_long.csv``; ``--series N`` for
  fewer) with the panel's defaults (window-standard scaling) and a lighter training
  (``--epochs``, ``--batch-size``): per series each arm's median volatility ratio over its
  seeds, then across series how many have relu's path flatter than tanh's, the median of
  relu's ratio over tanh's, and the Wilcoxon signed-rank test of the log ratios (scipy),
  beside the pooled RMSE answer (wins, sign test).

    python benchmarks/claim.py [--horizons 1,4,13] [--seeds 10] [--series 148]
        [--epochs 100] [--batch-size 16] [--skip-hotel] [--skip-panel]

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


def _vol(result, activation: str) -> float:
    frame = result.runs_frame
    good = frame[(frame["activation"] == activation) & ~frame["diverged"]]
    return float(np.nanmedian(good["vol_ratio"])) if len(good) else math.nan


def hotel(horizons: list[int], seeds: int) -> None:
    import relulab
    from relulab.config import preset
    from relulab.data import load_series

    path = SHARED / "hotel_h1_weekly.csv"
    if not path.exists():
        print(f"hotel: skipped, {path} is absent")
        return
    series = load_series(str(path))
    print(f"hotel H1, weekly cancellations ({series.values.size} points, last 15 held "
          f"out): seed preset, tanh and relu, {seeds} seeds, direct paths")
    print(f"{'H':>3s} {'vol tanh':>9s} {'vol relu':>9s} {'relu/tanh vol [interval]':>28s} "
          f"{'RMSE relu vs tanh':>20s} {'DM p':>6s} {'seconds':>8s}")
    for h in horizons:
        config = preset("seed", activations=("tanh", "relu"), seeds=seeds, horizon=h)
        t0 = time.perf_counter()
        result = relulab.Study(config, series).run()
        c = result.comparisons[0]
        vol = (f"{c.vol_ratio / c.vol_ratio_ref - 1:+.0%} [{c.vol_rel_lo:+.0%}, "
               f"{c.vol_rel_hi:+.0%}]")
        print(f"{h:3d} {c.vol_ratio_ref:9.2f} {c.vol_ratio:9.2f} {vol:>28s} "
              f"{c.rel_diff:+19.1%} {c.dm_p:6.2f} {time.perf_counter() - t0:8.1f}")


def panel(horizons: list[int], seeds: int, n_series: int, epochs: int,
          batch_size: int) -> None:
    from scipy.stats import binomtest, wilcoxon

    from relulab.config import preset
    from relulab.data import load_panel
    from relulab.study.outputs import run_panel

    path = SHARED / "us_employment_long.csv"
    if not path.exists():
        print(f"panel: skipped, {path} is absent")
        return
    data = load_panel(str(path), column="employed", series=n_series)
    print(f"\n{len(data.ids)} US employment series (monthly, last 15 held out): LSTM(4), "
          f"window-standard scaling, tanh and relu, {seeds} seeds, {epochs} epochs, batch "
          f"{batch_size}, direct paths")
    print(f"{'H':>3s} {'series':>6s} {'relu flatter':>13s} {'median relu/tanh vol':>21s} "
          f"{'Wilcoxon p':>11s} {'relu RMSE wins':>15s} {'sign p':>7s} {'seconds':>8s}")
    for h in horizons:
        config = preset("seed", activations=("tanh", "relu"), seeds=seeds, horizon=h,
                        epochs=epochs, batch_size=batch_size, scaler="window-standard")
        t0 = time.perf_counter()
        result = run_panel(config, data, keep=None)
        ratio, wins, losses = [], 0, 0
        for sid, r in result.detail.items():
            vt, vr = _vol(r, "tanh"), _vol(r, "relu")
            if vt > 0 and vr > 0:
                ratio.append(math.log(vr / vt))
            rt = result.series[sid].median_rmse.get("tanh", math.nan)
            rr = result.series[sid].median_rmse.get("relu", math.nan)
            if np.isfinite(rt) and np.isfinite(rr) and rt != rr:
                wins += rr < rt
                losses += rr > rt
        ratio = np.array(ratio)
        flatter = int(np.sum(ratio < 0))
        p_vol = float(wilcoxon(ratio).pvalue) if ratio.size > 1 else math.nan
        p_rmse = float(binomtest(wins, wins + losses).pvalue) if wins + losses else math.nan
        print(f"{h:3d} {ratio.size:6d} {flatter:>7d} of {ratio.size:<3d} "
              f"{math.exp(np.median(ratio)):21.3f} {p_vol:11.3g} {wins:>8d} of "
              f"{wins + losses:<4d}{p_rmse:7.3g} {time.perf_counter() - t0:8.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--horizons", default="1,4,13")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--series", type=int, default=148)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--skip-hotel", action="store_true")
    parser.add_argument("--skip-panel", action="store_true")
    args = parser.parse_args(argv)
    horizons = [int(h) for h in args.horizons.split(",")]
    if not args.skip_hotel:
        hotel(horizons, args.seeds)
    if not args.skip_panel:
        panel(horizons, args.seeds, args.series, args.epochs, args.batch_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())

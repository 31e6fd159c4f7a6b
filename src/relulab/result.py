"""What a study produces: plain data, shared by the engine, the store and the report.

No computation lives here, only the containers and their JSON form. Forecasts are in the
series' original units. Arrays are NumPy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from relulab.config import StudyConfig

# Metric columns of a run, in display order (see relulab.metrics for definitions).
METRIC_COLUMNS = ("rmse", "mae", "mfe", "mda", "mda_naive", "mase", "vol_ratio")


@dataclass
class RunRecord:
    """One trained model: one activation, one seed."""

    activation: str
    seed: int
    diverged: bool
    metrics: dict[str, float]  # test-window metrics, keys METRIC_COLUMNS (NaN if diverged)
    val_metrics: dict[str, float]  # the same on the validation window
    forecast: np.ndarray  # (test_size,) one-step-ahead test forecasts, original units
    val_forecast: np.ndarray  # (n_validation,) validation-window forecasts
    loss: np.ndarray  # (epochs,) training loss per epoch (scaled units, MSE)
    val_loss: np.ndarray  # (epochs,) Keras-style validation loss per epoch (NaN if no split)
    best_epoch: int  # 0-based epoch whose weights were kept (last epoch without early stop)
    epoch_stats: dict[str, np.ndarray] = field(default_factory=dict)  # extra per-epoch series


@dataclass
class Comparison:
    """One activation against the reference activation."""

    activation: str
    reference: str
    metric: str  # the headline metric of the relative difference, "rmse"
    rel_diff: float  # median over seed pairs of (metric_a / metric_ref - 1)
    rel_lo: float  # bootstrap interval of rel_diff
    rel_hi: float
    dm_stat: float  # Diebold-Mariano (HLN) on the per-seed-median forecasts
    dm_p: float
    vol_ratio: float  # median volatility ratio of the activation
    vol_ratio_ref: float
    verdict: str  # plain words


@dataclass
class StudyResult:
    config: StudyConfig
    series_name: str
    values: np.ndarray  # the whole series, original units
    dates: list[str] | None  # ISO dates per point, when known
    data_hash: str
    train_end: int  # train region [0, train_end), validation [train_end, test_start)
    test_start: int  # test region [test_start, n)
    runs: list[RunRecord]
    summary: pd.DataFrame  # columns: activation, metric, median, lo, hi, n
    comparisons: list[Comparison]
    baselines: dict[str, dict[str, Any]]  # name -> {"metrics": {...}, "forecast": array}
    timing: dict[str, float]  # wall_s, compile_s, model_steps_per_s, ...
    study_id: str = ""
    warnings: list[str] = field(default_factory=list)
    relulab_version: str = ""  # the relulab that ran the study ("" when unknown)

    @property
    def runs_frame(self) -> pd.DataFrame:
        """One row per run: activation, seed, diverged, best_epoch and the test metrics."""
        rows = [
            {"activation": r.activation, "seed": r.seed, "diverged": r.diverged,
             "best_epoch": r.best_epoch, **{m: r.metrics.get(m, np.nan) for m in METRIC_COLUMNS}}
            for r in self.runs
        ]
        return pd.DataFrame(rows, columns=["activation", "seed", "diverged", "best_epoch",
                                           *METRIC_COLUMNS])

    def forecasts(self, activation: str) -> np.ndarray:
        """(seeds, test_size) test forecasts of one activation; diverged runs are NaN rows."""
        rows = [r.forecast for r in self.runs if r.activation == activation]
        return np.stack(rows) if rows else np.empty((0, self.values.size - self.test_start))

    def to_json(self) -> dict[str, Any]:
        return {
            "study_id": self.study_id,
            "relulab_version": self.relulab_version,
            "config": self.config.to_dict(),
            "series": {"name": self.series_name, "n": int(self.values.size),
                       "data_hash": self.data_hash, "train_end": self.train_end,
                       "test_start": self.test_start, "values": _floats(self.values),
                       "dates": self.dates},
            "runs": [
                {"activation": r.activation, "seed": r.seed, "diverged": r.diverged,
                 "best_epoch": r.best_epoch,
                 **{m: _float(r.metrics.get(m)) for m in METRIC_COLUMNS},
                 "validation": {m: _float(r.val_metrics.get(m)) for m in METRIC_COLUMNS},
                 "forecast": _floats(r.forecast), "loss": _floats(r.loss),
                 "val_loss": _floats(r.val_loss)}
                for r in self.runs
            ],
            "summary": _summary_json(self.summary),
            "comparisons": [
                {k: (_float(v) if isinstance(v, float) else v) for k, v in vars(c).items()}
                for c in self.comparisons
            ],
            "baselines": {
                name: {"metrics": {k: _float(v) for k, v in b["metrics"].items()},
                       "forecast": _floats(b["forecast"])}
                for name, b in self.baselines.items()
            },
            "timing": {k: _float(v) for k, v in self.timing.items()},
            "warnings": list(self.warnings),
        }


def _float(v: Any) -> float | None:
    # JSON has no NaN; a missing or undefined number is null.
    if v is None:
        return None
    v = float(v)
    return v if np.isfinite(v) else None


def _floats(a: Any) -> list[float | None]:
    return [_float(v) for v in np.asarray(a, dtype=float).ravel()]


def _summary_json(summary: pd.DataFrame) -> dict[str, dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for row in summary.itertuples(index=False):
        out.setdefault(row.activation, {})[row.metric] = {
            "median": _float(row.median), "lo": _float(row.lo), "hi": _float(row.hi),
            "n": int(row.n),
        }
    return out

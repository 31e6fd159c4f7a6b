"""Three small studies whose every number is pinned (see make_pins.py and test_pinned.py).

Together they cover both model families, a learnable activation (prelu), stacked layers,
mini-batches with a short last batch, early stopping, rolling-origin folds and a season.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from relulab.config import StudyConfig, preset


def _series(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 50 + 20 * np.sin(2 * np.pi * t / 13) + 0.1 * t + rng.normal(0, 3, n)


CASES: dict[str, tuple[StudyConfig, np.ndarray]] = {
    "lstm": (preset("seed", activations=("tanh", "relu", "prelu"), seeds=3, epochs=12,
                    test_size=10), _series(80, 0)),
    "mlp": (preset("seed", model="mlp", units=6, layers=2, activations=("relu", "elu"),
                   seeds=3, epochs=10, batch_size=4, patience=3, folds=2, test_size=6,
                   season=13), _series(90, 1)),
    "lstm2": (preset("seed", layers=2, units=3, activations=("gelu", "tanh"), seeds=2,
                     epochs=6, batch_size=5, test_size=8), _series(70, 2)),
}

_METRICS = ("rmse", "mae", "mfe", "mda", "mda_naive", "mase", "vol_ratio")


def snapshot(result) -> dict[str, np.ndarray]:
    """Every number a study produces, as float64/int arrays keyed by a stable name."""
    out: dict[str, np.ndarray] = {}
    for r in result.runs:
        key = f"run/{r.activation}/{r.seed}"
        out[f"{key}/forecast"] = np.asarray(r.forecast, float)
        out[f"{key}/val_forecast"] = np.asarray(r.val_forecast, float)
        out[f"{key}/loss"] = np.asarray(r.loss, float)
        out[f"{key}/val_loss"] = np.asarray(r.val_loss, float)
        out[f"{key}/metrics"] = np.array([r.metrics[m] for m in _METRICS], float)
        out[f"{key}/val_metrics"] = np.array([r.val_metrics[m] for m in _METRICS], float)
        out[f"{key}/best_epoch_diverged"] = np.array([r.best_epoch, int(r.diverged)])
        out[f"{key}/dead_fraction"] = np.asarray(r.epoch_stats["dead_fraction"], float)
    s = result.summary
    for row in s.itertuples(index=False):
        out[f"summary/{row.activation}/{row.metric}"] = np.array(
            [row.median, row.lo, row.hi, row.n], float)
    for c in result.comparisons:
        out[f"comparison/{c.activation}"] = np.array(
            [c.rel_diff, c.rel_lo, c.rel_hi, c.dm_stat, c.dm_p, c.vol_ratio, c.vol_ratio_ref],
            float)
    for name, b in result.baselines.items():
        out[f"baseline/{name}/forecast"] = np.asarray(b["forecast"], float)
        out[f"baseline/{name}/metrics"] = np.array([b["metrics"][m] for m in _METRICS], float)
    return out


def cpu_fingerprint() -> str:
    """What decides XLA's float32 bits on a CPU: the vector extensions, and jax's version."""
    import jax

    flags = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("flags"):
                wanted = ("avx", "avx2", "avx512f", "avx512bw", "avx512vl", "fma", "sse4_2")
                flags = " ".join(f for f in line.split(":", 1)[1].split() if f in wanted)
                break
    text = f"{jax.__version__}|{flags}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# A panel of three series of different lengths (two share a padded program), and a
# `--seeds auto` study stopped by its cap: the pipelines over the engine, pinned too.
PANEL_CONFIG = preset("seed", activations=("tanh", "relu"), seeds=2, epochs=8, test_size=6)
PANEL = {"a": _series(60, 3), "b": _series(64, 4), "c": _series(90, 5)}
ADAPTIVE = (preset("seed", activations=("tanh", "elu"), epochs=8, test_size=6),
            _series(70, 6), {"target_width": 1e-9, "batch": 2, "max_seeds": 4})


def pipeline_snapshots(run_panel, run_adaptive) -> dict[str, np.ndarray]:
    """Every number of the pinned panel (each series' whole result and the pooled ranks)
    and of the pinned adaptive study, with the pipelines given (their home moved once)."""
    import pandas as pd

    from relulab.data import Panel, Series

    panel = Panel({k: Series(v, k, tuple(str(d.date()) for d in pd.date_range(
        "2000-01-01", periods=v.size, freq="MS"))) for k, v in PANEL.items()})
    result = run_panel(PANEL_CONFIG, panel, keep=None)
    out = {f"panel/{sid}/{k}": v for sid, r in result.detail.items()
           for k, v in snapshot(r).items()}
    out["panel/scores"] = result.scores().to_numpy(float)
    out["panel/ranks"] = np.array([[a.mean_rank, a.rank_low, a.rank_high, a.wins]
                                   for a in result.pooled.activations], float)
    out["panel/friedman"] = np.array([result.pooled.friedman_stat, result.pooled.friedman_p])
    config, series, policy = ADAPTIVE
    adaptive = run_adaptive(config, series, **policy)
    out.update({f"adaptive/{k}": v for k, v in snapshot(adaptive).items()})
    out["adaptive/seeds"] = np.array([adaptive.adaptive["seeds"]])
    return out

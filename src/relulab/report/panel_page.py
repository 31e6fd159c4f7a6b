"""The panel report's view model: a :class:`~relulab.study.pipeline.PanelResult` as the
strings the page shows.

Formatting and wording only. The pooled answer (ranks, wins, Friedman's and the post-hoc
tests, the critical difference and its groups) comes from :mod:`relulab.pooled`; each
series' median RMSE and the spread between activations from the panel result; labels from
:data:`relulab.metrics.METRICS`; numbers are written by :mod:`relulab.display`. Only the
series drawn in the small multiples get a figure, so the page stays small for a panel of
hundreds of series.
"""

from __future__ import annotations

import base64
import math
from pathlib import Path
from typing import Any

from relulab import __version__, display
from relulab.metrics import METRICS
from relulab.panel_figures import panel_figures
from relulab.report.study_page import _config_value
from relulab.result import PANEL_DETAIL

__all__ = ["panel_context"]


def _sort_value(v: Any) -> str:
    """A number as the table's sort script reads it; empty for a missing value (sorted
    last either way)."""
    return repr(float(v)) if display.finite(v) else ""


def _pooled_rows(pooled: Any) -> list[dict[str, Any]]:
    """One row per activation, best mean rank first."""
    rows = []
    for a in sorted(pooled.activations, key=lambda a: (a.mean_rank, a.activation)):
        ref = a.activation == pooled.reference
        strict_wins = a.series - a.ties - a.losses
        rows.append({
            "activation": a.activation, "reference": ref,
            "mean_rank": f"{a.mean_rank:.2f}",
            "rank_interval": display.interval(a.rank_low, a.rank_high,
                                              lambda v: f"{float(v):.2f}"),
            "wtl": display.MISSING if ref else f"{strict_wins} / {a.ties} / {a.losses}",
            "win_share": display.MISSING if ref else display.percent(a.win_share),
            "win_interval": "" if ref else display.interval(a.win_low, a.win_high,
                                                            display.percent),
            "p_adjusted": display.MISSING if ref else display.p_value(a.wilcoxon_p_adjusted),
        })
    return rows


def _baseline_rows(panel: Any) -> list[dict[str, Any]]:
    """One row per baseline, strongest first: the series it was fitted on, its median
    RMSE, its geometric-mean RMSE over the naive forecast's, and per activation the series
    on which the activation's median RMSE is below it."""
    kind = METRICS["rmse"].kind
    return [{"baseline": b.baseline, "strongest": b.strongest, "series": b.series,
             "median": display.metric_value(b.median, kind),
             "ratio": (display.MISSING if b.baseline == "naive" or not display.finite(
                 b.ratio_to_naive) else f"{b.ratio_to_naive:.2f}"),
             "wins": [f"{k} / {n}" if n else display.MISSING
                      for k, n in (b.wins.get(a, (0, 0)) for a in panel.activations)]}
            for b in panel.baselines()]


def _step_rows(panel: Any) -> list[dict[str, Any]]:
    """Per activation, then baseline: its RMSE h steps ahead over the naive path's,
    geometric mean over the series (:meth:`PanelResult.by_step`), and the fewest series a
    step's ratio is over."""
    return [{"name": s.name if not s.baseline else f"{s.name} (baseline)",
             "cells": [f"{v:.2f}" if display.finite(v) else display.MISSING
                       for v in s.ratio_to_naive],
             "series": min(s.series)}
            for s in panel.by_step() if s.name != "naive"]


def _series_rows(panel: Any) -> list[dict[str, Any]]:
    """Every series, largest spread first: id, study id, points, each activation's median
    RMSE (with its sort value), the best activation and the spread."""
    table = panel.scores()
    spread = panel.spread()
    kind = METRICS["rmse"].kind
    order = list(spread.index) + [s for s in table.index if s not in spread.index]
    rows = []
    for sid in order:
        summary = panel.series[sid]
        scores = table.loc[sid]
        finite = {a: v for a, v in scores.items() if display.finite(v)}
        best = min(finite, key=finite.get) if finite else None
        s = spread.get(sid, math.nan)
        rows.append({
            "id": str(sid), "study_id": summary.study_id or display.MISSING,
            "n": summary.n,
            "cells": [{"text": display.metric_value(v, kind), "v": _sort_value(v),
                       "best": a == best} for a, v in scores.items()],
            "best": best or display.MISSING,
            "spread": display.percent(s, 1), "spread_v": _sort_value(s),
            "diverged": summary.diverged,
        })
    return rows


def _data_uri(fig: Any) -> str:
    from relulab.figures import png_bytes

    # 110 dpi: the page shows the figures at about 900 px wide; 144 would add weight only.
    return "data:image/png;base64," + base64.b64encode(png_bytes(fig, dpi=110)).decode("ascii")


def _panel_name(config: Any) -> str:
    """Where the panel came from, as its user named it (the file, not the config string)."""
    from relulab.data import DataSource

    source = DataSource.from_config(config)
    return "the panel" if source is None else str(source.path or source.name)


def panel_context(panel: Any, db: str | Path | None = None,
                  scope_reports: dict[str, str] | None = None) -> dict[str, Any]:
    """Everything the panel template shows, as strings, lists and flags. ``db`` names the
    results database the series' studies are stored in, for the page's
    ``relulab report STUDY_ID --db`` hint (``None``: not known here). A comparison of
    scopes (``panel.scopes``) links each scope's own report from ``scope_reports``."""
    config = panel.config
    pooled = panel.pooled
    rows = _series_rows(panel)
    figures = {name: _data_uri(fig) for name, fig in panel_figures(panel).items()}
    config_rows = [(k, ", ".join(panel.scopes) if k == "pooling" and panel.scopes
                    else _config_value(v)) for k, v in config.to_dict().items()]
    half = -(-len(config_rows) // 2)
    timing = panel.timing
    timing_parts = []
    if display.finite(timing.get("wall_s")):
        timing_parts.append(f"panel ran in {display.seconds(timing['wall_s'])}")
    for key, label in (("compile_s", "compiling"), ("train_s", "training")):
        if display.finite(timing.get(key)):
            timing_parts.append(f"{label} {display.seconds(timing[key])}")
    # The panel's own (series left out, no pooled answer), then each series' by name.
    warns = list(panel.warnings)
    diverged = sum(r["diverged"] for r in rows)
    n_test = int(config.test_size)
    model = display.model_phrase(config.model, config.units, config.layers)
    rmse = METRICS["rmse"]
    return {
        "config": config, "data": _panel_name(config),
        "n_series": len(panel.series), "activations": panel.activations,
        "scopes": [{"scope": s, "href": (scope_reports or {}).get(s)} for s in panel.scopes],
        "model": model, "n_test": n_test, "seeds": config.seeds,
        "scaling": display.scaler_phrase(config.scaler),
        "ahead": display.ahead_phrase(config.horizon, config.strategy),
        "pooling": config.pooling,
        "reference": pooled.reference if pooled is not None else config.reference,
        "pooled": pooled is not None,
        "words": list(pooled.words) if pooled is not None else [],
        "baseline_rows": _baseline_rows(panel), "baseline_words": panel.baseline_words(),
        "step_rows": _step_rows(panel) if "by_step" in figures else [],
        "step_steps": list(range(1, int(config.horizon) + 1)),
        "pooled_series": pooled.series if pooled is not None else 0,
        "pooled_rows": _pooled_rows(pooled) if pooled is not None else [],
        "confidence": f"{100 * config.confidence:g}%",
        "alpha": f"{1 - config.confidence:g}",
        "critical_difference": (display.short_number(pooled.critical_difference)
                                if pooled is not None else display.MISSING),
        "friedman_p": display.p_value(pooled.friedman_p) if pooled is not None else "",
        "friedman_f_p": (display.p_value(pooled.friedman_f_p)
                         if pooled is not None and math.isfinite(pooled.friedman_f_p)
                         else ""),
        "figures": figures, "n_small": min(PANEL_DETAIL, len(panel.spread().dropna())),
        "series_rows": rows, "metric": rmse.short, "metric_unit": rmse.unit,
        "stored": any(r["study_id"] != display.MISSING for r in rows),
        "db": str(db) if db is not None else None,
        "warnings": warns, "diverged": diverged,
        "config_columns": [config_rows[:half], config_rows[half:]],
        "timing": timing_parts, "version": __version__,
    }

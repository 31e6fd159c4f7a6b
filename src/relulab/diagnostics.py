"""What to warn a reader about in a study's runs: dead hidden units and flat forecasts.

Pure functions of :class:`~relulab.result.RunRecord` lists. A hidden unit is *dead* when
its output is exactly 0 on every training sample (``epoch_stats["dead_fraction"]`` holds
the share of such units per epoch): it passes no gradient, so training cannot revive it.
With every unit dead the model's output no longer depends on its input and the forecast
is a constant. Such a run is not diverged: it counts in the metrics like any other, which
is why the report lists it.

A converged run is *flat* when

- every hidden unit is dead at the kept epoch (``dead_share >= 1``): reason
  ``"all_units_dead"``; or
- its test volatility ratio ``sd(forecast) / sd(actual)`` is below :data:`FLAT_RATIO`:
  reason ``"nearly_constant"``.

The study computes :func:`diagnose` once and stores it with the result
(``StudyResult.diagnostics``); the report and the figures read it. :func:`flat_warnings`
words the flat runs as the study's warnings (``StudyResult.warnings``), which the terminal
and the report show, and the comparisons name the flat seeds among their pairs
(``Comparison.flat_seeds``): one dead network can decide a comparison's spread.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from relulab import display
from relulab.result import DeadUnits, Diagnostics, FlatRun, RunRecord, SiteHealth, StudyResult
from relulab.specs import DORMANT_THRESHOLD

__all__ = ["DORMANT_THRESHOLD", "FLAT_RATIO", "FLAT_WHY", "dead_curves", "dead_share_at_kept",
           "diagnose", "flat_run", "flat_seeds", "flat_warnings", "flat_words", "of",
           "site_curves", "site_health", "warnings_of"]

FLAT_RATIO = 0.05  # a forecast whose spread is under 5% of the actual's is called flat
# DORMANT_THRESHOLD, ReDo's tau, is the training's (relulab.specs.TrainSpec), reported here.


def dead_share_at_kept(run: RunRecord) -> float:
    """The share of dead hidden units at the epoch whose weights were kept; NaN when the
    run does not record it. A kept epoch past the recorded curve reads its last value."""
    return _at_kept(run, "dead_fraction")


def _at_kept(run: RunRecord, key: str) -> float:
    d = np.asarray((run.epoch_stats or {}).get(key, []), dtype=float).ravel()
    if not d.size:
        return math.nan
    return float(d[min(max(int(run.best_epoch), 0), d.size - 1)])


def _curves(runs: Sequence[RunRecord], activation: str, key: str) -> np.ndarray | None:
    """(seeds, epochs) of ``epoch_stats[key]`` for the converged runs of one activation
    that record it, NaN-padded after an early stop; None when none does."""
    curves = [np.asarray(r.epoch_stats[key], dtype=float).ravel() for r in runs
              if r.activation == activation and not r.diverged and key in (r.epoch_stats or {})]
    if not curves:
        return None
    rows = np.full((len(curves), max(c.size for c in curves)), np.nan)
    for i, c in enumerate(curves):
        rows[i, : c.size] = c
    return rows


def dead_curves(runs: Sequence[RunRecord], activation: str) -> np.ndarray | None:
    """(seeds, epochs) share of dead hidden units per epoch of the converged runs of one
    activation that record it, NaN-padded after an early stop; None when none does."""
    return _curves(runs, activation, "dead_fraction")


def site_curves(runs: Sequence[RunRecord], activation: str, site: str,
                kind: str = "dead") -> np.ndarray | None:
    """(seeds, epochs) share of the site's units that are ``kind`` ("dead" or "dormant")
    per epoch, converged runs of one activation; None when none tracks the site."""
    return _curves(runs, activation, f"{kind}_share:{site}")


def site_health(runs: Sequence[RunRecord], activation: str
                ) -> tuple[list[SiteHealth], float, float]:
    """Per activation site of one activation's converged runs: the median shares of dead
    and dormant units at the kept epoch, the units that ever died and came back; and the
    median over seeds of the share of all sites' units dead and dormant at the kept epoch
    (NaN when no run tracks units)."""
    mine = [r for r in runs if r.activation == activation and not r.diverged and r.sites()]
    if not mine:
        return [], math.nan, math.nan
    out = []
    for site in mine[0].sites():
        tracked = [r for r in mine if f"dead_share:{site}" in r.epoch_stats]
        units = next((int(np.size(r.unit_stats[f"dead:{site}"])) for r in tracked
                      if f"dead:{site}" in r.unit_stats), 0)
        died = sum(int((np.asarray(r.unit_stats[f"death_epoch:{site}"]) >= 0).sum())
                   for r in tracked if f"death_epoch:{site}" in r.unit_stats)
        back = sum(int(np.asarray(r.unit_stats[f"came_back:{site}"]).sum())
                   for r in tracked if f"came_back:{site}" in r.unit_stats)
        out.append(SiteHealth(
            site=site, units=units, seeds=len(tracked),
            dead_share=float(np.median([_at_kept(r, f"dead_share:{site}") for r in tracked])),
            dormant_share=float(np.median([_at_kept(r, f"dormant_share:{site}")
                                           for r in tracked])),
            died=died, came_back=back))

    def pooled(run: RunRecord, kind: str) -> float:
        # Every site's share weighted by its units: the share of all the model's units.
        weights = [h.units or 1 for h in out]
        shares = [_at_kept(run, f"{kind}_share:{h.site}") for h in out]
        return float(np.average(shares, weights=weights))

    return (out, float(np.median([pooled(r, "dead") for r in mine])),
            float(np.median([pooled(r, "dormant") for r in mine])))


def flat_run(run: RunRecord) -> FlatRun | None:
    """The run as a :class:`FlatRun` when it is converged and flat (module docstring),
    otherwise None."""
    if run.diverged:
        return None
    ratio = float(run.metrics.get("vol_ratio", math.nan))
    dead = dead_share_at_kept(run)
    if math.isfinite(dead) and dead >= 1.0:
        reason = "all_units_dead"
    elif math.isfinite(ratio) and ratio < FLAT_RATIO:
        reason = "nearly_constant"
    else:
        return None
    return FlatRun(activation=run.activation, seed=int(run.seed), reason=reason,
                   vol_ratio=ratio, dead_share=dead)


# Why a flat run is flat, by FlatRun.reason.
FLAT_WHY = {
    "all_units_dead": "every hidden unit is dead (its output is 0 on every training "
                      "sample), so the model forecasts a constant",
    "nearly_constant": "the forecast is nearly constant",
}


def flat_words(flat: FlatRun) -> str:
    """Why ``flat`` is flat, with its volatility ratio: "on seed 9 every hidden unit is
    dead (...), so the model forecasts a constant (volatility ratio 0.00)"."""
    return (f"on seed {flat.seed} {FLAT_WHY[flat.reason]} (volatility ratio "
            f"{display.number(flat.vol_ratio)})")


def flat_seeds(flat_runs: Sequence[FlatRun], activation: str) -> list[int]:
    """The seeds of ``activation`` whose run forecast a flat line, in order."""
    return sorted(f.seed for f in flat_runs if f.activation == activation)


def flat_warnings(flat_runs: Sequence[FlatRun], runs: Sequence[RunRecord]) -> list[str]:
    """One warning per activation with flat runs (``Diagnostics.flat_runs``), naming each
    seed and why, and how many of the activation's runs they are. Unlike a diverged run, a
    flat one counts in the metrics and the comparisons, where it can decide the spread."""
    by_activation: dict[str, list[FlatRun]] = {}
    for f in flat_runs:
        by_activation.setdefault(f.activation, []).append(f)
    out = []
    for activation, flat in by_activation.items():
        total = sum(r.activation == activation for r in runs)
        each = "; ".join(flat_words(f) for f in flat)
        one = len(flat) == 1
        line = (f"{activation}: {len(flat)} of {total} runs forecast a flat line: {each}; "
                f"{'it counts' if one else 'they count'} in the metrics and the comparisons "
                "like any run")
        if any(f.reason == "all_units_dead" for f in flat):
            line += ("; a lower --learning-rate, or an activation without a zero slope "
                     "(leaky_relu, elu), keeps units alive")
        out.append(line)
    return out


def _dead_units(runs: Sequence[RunRecord], activation: str,
                curves: np.ndarray) -> DeadUnits:
    kept = np.array([dead_share_at_kept(r) for r in runs
                     if r.activation == activation and not r.diverged])
    kept = kept[np.isfinite(kept)]
    return DeadUnits(
        activation=activation, seeds=int(kept.size), seeds_with_dead=int((kept > 0).sum()),
        median_share=float(np.median(kept)) if kept.size else math.nan,
        max_share=float(kept.max()) if kept.size else math.nan,
        ever_dead=bool(np.nanmax(curves, initial=0.0) > 0),
    )


def diagnose(runs: Sequence[RunRecord], activations: Sequence[str]) -> Diagnostics:
    """Dead-unit shares, flat runs, per-activation dead-unit summaries and diverged seeds
    of ``runs``, activations in the given order (runs of other activations are ignored)."""
    dead_share: dict[str, dict[int, float]] = {}
    flat: list[FlatRun] = []
    summaries: dict[str, DeadUnits] = {}
    diverged: dict[str, list[int]] = {}
    sites: dict[str, list[SiteHealth]] = {}
    units_dead: dict[str, float] = {}
    units_dormant: dict[str, float] = {}
    for act in activations:
        health, dead_all, dormant_all = site_health(runs, act)
        if health:
            sites[act], units_dead[act], units_dormant[act] = health, dead_all, dormant_all
        mine = [r for r in runs if r.activation == act]
        if bad := [int(r.seed) for r in mine if r.diverged]:
            diverged[act] = bad
        shares = {int(r.seed): dead_share_at_kept(r) for r in mine if not r.diverged}
        shares = {seed: v for seed, v in shares.items() if math.isfinite(v)}
        if shares:
            dead_share[act] = shares
        flat += [f for r in mine if (f := flat_run(r)) is not None]
        curves = dead_curves(mine, act)
        if curves is not None:
            summaries[act] = _dead_units(mine, act, curves)
    any_dead = any(d.ever_dead for d in summaries.values()) if summaries else None
    return Diagnostics(dead_share=dead_share, flat_runs=flat, dead_units=summaries,
                       any_dead=any_dead, diverged=diverged, sites=sites,
                       units_dead=units_dead, units_dormant=units_dormant)


def of(result: StudyResult) -> Diagnostics:
    """The diagnostics a result carries, or (for one built by hand, without them) those
    of its runs."""
    if result.diagnostics is not None:
        return result.diagnostics
    return diagnose(result.runs, result.activations)


def warnings_of(result: StudyResult) -> list[str]:
    """The result's warnings, with the flat-run warnings (:func:`flat_warnings`) that a
    result analysed before they were warnings, or built by hand, lacks."""
    flat = flat_warnings(of(result).flat_runs, result.runs)
    return [*result.warnings, *(w for w in flat if w not in result.warnings)]

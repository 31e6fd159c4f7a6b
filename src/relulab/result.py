"""What a study produces: plain data, shared by the engine, the store and the report.

No computation lives here, only the containers and their JSON form. Forecasts are in the
series' original units. Arrays are NumPy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from relulab.config import StudyConfig
from relulab.metrics import METRIC_COLUMNS  # a run's metric columns, from the registry
from relulab.metrics import columns as task_columns

# How many series of a panel keep their whole result in memory: the ones the panel's
# report draws as small multiples, where the activations differ most.
PANEL_DETAIL = 12


@dataclass
class RunRecord:
    """One trained model: one activation, one seed."""

    activation: str
    seed: int
    diverged: bool
    # test-window metrics, keys the task's metric columns (METRIC_COLUMNS for a forecast;
    # NaN if diverged)
    metrics: dict[str, float]
    val_metrics: dict[str, float]  # the same on the validation window
    # (test_size,) one-step-ahead test forecasts, original units; for a supervised task
    # (relulab.tasks) its test predictions, flattened row-major (class probabilities)
    forecast: np.ndarray
    val_forecast: np.ndarray  # (n_validation,) validation-window forecasts
    loss: np.ndarray  # (epochs,) training loss per epoch (scaled units, MSE)
    val_loss: np.ndarray  # (epochs,) Keras-style validation loss per epoch (NaN if no split)
    best_epoch: int  # 0-based epoch whose weights were kept (last epoch without early stop)
    epoch_stats: dict[str, np.ndarray] = field(default_factory=dict)  # extra per-epoch series
    # per-unit arrays, never per epoch (relulab.training.TrainOutput.unit_stats):
    # "death_epoch:SITE", "came_back:SITE", "dead:SITE", "dormant:SITE"
    unit_stats: dict[str, np.ndarray] = field(default_factory=dict)

    def sites(self) -> list[str]:
        """The activation sites this run tracked, in the model's order."""
        return [k.split(":", 1)[1] for k in self.epoch_stats if k.startswith("dead_share:")]

    def units_json(self) -> dict[str, Any]:
        """Per site: the per-epoch dead and dormant shares and every unit's death epoch,
        revival and final state; and the learned activation parameters per epoch."""
        e, u = self.epoch_stats, self.unit_stats
        return {
            "sites": {site: {
                "dead_share": _floats(e[f"dead_share:{site}"]),
                "dormant_share": _floats(e[f"dormant_share:{site}"]),
                **({"death_epoch": [int(x) for x in np.ravel(u[f"death_epoch:{site}"])],
                    "came_back": [bool(x) for x in np.ravel(u[f"came_back:{site}"])],
                    "dead": [bool(x) for x in np.ravel(u[f"dead:{site}"])],
                    "dormant": [bool(x) for x in np.ravel(u[f"dormant:{site}"])]}
                   if f"dead:{site}" in u else {}),
            } for site in self.sites()},
            "learned": {k.split(":", 1)[1]: _floats(v) for k, v in e.items()
                        if k.startswith("learned:")},
        }


@dataclass
class Comparison:
    """One activation against the reference activation."""

    activation: str
    reference: str
    metric: str  # the headline metric of the relative difference, "rmse"
    rel_diff: float  # median over seed pairs of (metric_a / metric_ref - 1)
    rel_lo: float  # order-statistic interval of that median (relulab.stats.median_ci)
    rel_hi: float
    dm_stat: float  # Diebold-Mariano (HLN) on the per-seed-median forecasts
    dm_p: float
    vol_ratio: float  # median volatility ratio of the activation
    vol_ratio_ref: float
    verdict: str  # the whole judgement in one sentence (relulab.verdicts.sentence)
    # The verdict's parts as data (relulab.stats documents the rules). Defaults are for
    # comparisons stored before they were recorded; the store fills them in on load.
    n_pairs: int = 0  # non-diverged seed pairs the comparison rests on
    vol_rel_lo: float = math.nan  # paired bootstrap interval of vol_a / vol_ref - 1
    vol_rel_hi: float = math.nan
    # "more_accurate" | "less_accurate" | "mixed_opposite" | "mixed_seeds_only" |
    # "mixed_dm_only" | "no_difference" | "too_few"; "" when not recorded
    accuracy: str = ""
    # "flattens" | "exaggerates" | "similar" | "unclear" | "not_comparable"; "none" for a
    # supervised task (no volatility); "" when not recorded. "not_comparable" also when
    # there are too few pairs to judge.
    volatility: str = ""
    # where the interval of rel_diff lies: "above_zero" (activation's error larger),
    # "below_zero", "includes_zero", or "unknown" (no interval); "" when not recorded
    seed_interval: str = ""
    # Multiplicity, equivalence, probability of improvement and seeds needed
    # (relulab.stats documents each). Defaults (NaN, "", {}) are for comparisons stored
    # before they were recorded: such a comparison keeps its stored sentence.
    p_adjusted: float = math.nan  # dm_p adjusted over the study's comparisons
    correction: str = ""  # how: "holm" | "bonferroni" | "none"
    n_comparisons: int = 0  # comparisons in the family adjusted over
    equivalence_margin: float = math.nan  # relative RMSE margin of the equivalence test
    equivalence_p: float = math.nan  # TOST p on the per-seed log RMSE ratios, unadjusted
    equivalence_p_adjusted: float = math.nan  # the same, adjusted like dm_p
    prob_improvement: float = math.nan  # share of seed pairs with RMSE_a < RMSE_ref
    prob_improvement_low: float = math.nan  # its Clopper-Pearson interval over the pairs
    prob_improvement_high: float = math.nan
    # relative difference ("0.02") -> seeds per activation that detect it with 80% power
    # at the study's alpha; None where the seeds' spread gives no estimate
    seeds_needed: dict[str, int | None] = field(default_factory=dict)
    # "equivalent" | "negligible" (different, but within the margin) | "different" |
    # "undecided" | "too_few"; "" when not recorded
    decision: str = ""
    # Flat forecasts among the seed pairs (relulab.diagnostics.flat_run): activation or
    # reference -> its seeds that forecast a flat line, often a dead network; {} when none
    # (or not recorded). seeds_needed_without_flat is seeds_needed over the pairs without
    # those seeds ({} when there are none): how much of the spread one flat run makes.
    flat_seeds: dict[str, list[int]] = field(default_factory=dict)
    seeds_needed_without_flat: dict[str, int | None] = field(default_factory=dict)
    # What was compared: "forecast" (DM test on the seed-median forecasts, volatility
    # judged) or a supervised task (relulab.tasks: the paired test on per-example losses,
    # no volatility: its fields NaN, its code "none").
    task: str = "forecast"
    # The coverage rel_lo..rel_hi reaches (exact, distribution-free): the study's confidence
    # or more from 6 seed pairs, less with fewer (75% at 3); NaN when not recorded (a
    # comparison stored before, whose interval was a percentile bootstrap).
    rel_level: float = math.nan


@dataclass(frozen=True)
class FlatRun:
    """A converged run whose test forecast is (nearly) a constant."""

    activation: str
    seed: int
    # "all_units_dead": every hidden unit dead at the kept epoch, so the output is constant;
    # "nearly_constant": the forecast's spread is under relulab.diagnostics.FLAT_RATIO of
    # the actual series'
    reason: str
    vol_ratio: float
    dead_share: float  # share of dead hidden units at the kept epoch (NaN: not recorded)


@dataclass(frozen=True)
class DeadUnits:
    """Dead hidden units of one activation's converged runs, at the kept epoch."""

    activation: str
    seeds: int  # converged seeds that record the share
    seeds_with_dead: int  # of those, seeds that kept at least one dead unit
    median_share: float  # median over those seeds of the share of dead units (NaN: none)
    max_share: float
    ever_dead: bool  # some unit was dead at some epoch of some seed


@dataclass(frozen=True)
class SiteHealth:
    """One activation's units at one activation site, over its converged seeds: shares at
    the kept epoch (medians over seeds) and how many units ever died or came back."""

    site: str
    units: int  # units at the site, per model
    seeds: int  # converged seeds that tracked the site
    dead_share: float  # median over seeds of the share dead at the kept epoch
    dormant_share: float  # the same for dormant units
    died: int  # unit-seed pairs found dead at some epoch's end
    came_back: int  # of those, dead at one epoch's end and alive at a later one


@dataclass
class Diagnostics:
    """What to warn about in a study's runs (relulab.diagnostics computes it)."""

    # activation -> seed -> share of dead hidden units at the kept epoch, converged runs
    # that record it (epoch_stats["dead_fraction"])
    dead_share: dict[str, dict[int, float]] = field(default_factory=dict)
    flat_runs: list[FlatRun] = field(default_factory=list)
    # per activation whose converged runs record dead units, in study order
    dead_units: dict[str, DeadUnits] = field(default_factory=dict)
    # some unit died somewhere; None when no run records the statistic
    any_dead: bool | None = None
    # activation -> seeds whose run diverged (non-finite loss or forecast), study order
    diverged: dict[str, list[int]] = field(default_factory=dict)
    # activation -> its activation sites, in the model's order (runs that track units)
    sites: dict[str, list[SiteHealth]] = field(default_factory=dict)
    # activation -> median over seeds of the share of all its sites' units dead (dormant)
    # at the kept epoch
    units_dead: dict[str, float] = field(default_factory=dict)
    units_dormant: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "dead_share": {a: {str(seed): _float(v) for seed, v in by_seed.items()}
                           for a, by_seed in self.dead_share.items()},
            "flat_runs": [{k: (_float(v) if isinstance(v, float) else v)
                           for k, v in vars(f).items()} for f in self.flat_runs],
            "dead_units": {a: {k: (_float(v) if isinstance(v, float) else v)
                               for k, v in vars(d).items()}
                           for a, d in self.dead_units.items()},
            "any_dead": self.any_dead,
            "diverged": {a: [int(s) for s in seeds] for a, seeds in self.diverged.items()},
            "sites": {a: [{k: (_float(v) if isinstance(v, float) else v)
                           for k, v in vars(h).items()} for h in hs]
                      for a, hs in self.sites.items()},
            "units_dead": {a: _float(v) for a, v in self.units_dead.items()},
            "units_dormant": {a: _float(v) for a, v in self.units_dormant.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Diagnostics:
        def num(v: Any) -> float:
            return math.nan if v is None else float(v)

        return cls(
            dead_share={a: {int(seed): num(v) for seed, v in by_seed.items()}
                        for a, by_seed in data.get("dead_share", {}).items()},
            flat_runs=[FlatRun(activation=f["activation"], seed=int(f["seed"]),
                               reason=f["reason"], vol_ratio=num(f["vol_ratio"]),
                               dead_share=num(f["dead_share"]))
                       for f in data.get("flat_runs", [])],
            dead_units={a: DeadUnits(activation=d["activation"], seeds=int(d["seeds"]),
                                     seeds_with_dead=int(d["seeds_with_dead"]),
                                     median_share=num(d["median_share"]),
                                     max_share=num(d["max_share"]),
                                     ever_dead=bool(d["ever_dead"]))
                        for a, d in data.get("dead_units", {}).items()},
            any_dead=data.get("any_dead"),
            diverged={a: [int(s) for s in seeds]
                      for a, seeds in data.get("diverged", {}).items()},
            sites={a: [SiteHealth(site=h["site"], units=int(h["units"]), seeds=int(h["seeds"]),
                                  dead_share=num(h["dead_share"]),
                                  dormant_share=num(h["dormant_share"]),
                                  died=int(h["died"]), came_back=int(h["came_back"]))
                       for h in hs] for a, hs in data.get("sites", {}).items()},
            units_dead={a: num(v) for a, v in data.get("units_dead", {}).items()},
            units_dormant={a: num(v) for a, v in data.get("units_dormant", {}).items()},
        )


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
    diagnostics: Diagnostics | None = None  # None: not computed (relulab.diagnostics.of)
    # how `--seeds auto` got there (relulab.study.adaptive): target width, seeds, batches,
    # why it stopped; None for a study with a fixed number of seeds
    adaptive: dict[str, Any] | None = None
    # Forecast paths of more than one step (config.horizon): each activation's and
    # baseline's error h steps ahead, {name: {metric: [h = 1 .. H]}}, the activations'
    # the median over their seeds (relulab.analysis.step_errors); empty at horizon 1.
    by_step: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    @property
    def task(self) -> str:
        """"forecast", "classification" or "regression" (the config's)."""
        return self.config.task

    @property
    def metric_columns(self) -> tuple[str, ...]:
        """The task's metric columns, in display order."""
        return task_columns(self.task)

    @property
    def activations(self) -> list[str]:
        """The config's activations, then any other found in the runs, in order."""
        return study_activations(self.config.activations, self.runs)

    @property
    def runs_frame(self) -> pd.DataFrame:
        """One row per run: activation, seed, diverged, best_epoch and the test metrics."""
        return runs_frame(self.runs, self.metric_columns)

    def forecasts(self, activation: str) -> np.ndarray:
        """(seeds, test_size) test forecasts of one activation; diverged runs are NaN rows."""
        rows = [r.forecast for r in self.runs if r.activation == activation]
        return np.stack(rows) if rows else np.empty((0, self.values.size - self.test_start))

    def to_json(self) -> dict[str, Any]:
        cols = self.metric_columns
        return {
            "study_id": self.study_id,
            **({"task": self.task} if self.task != "forecast" else {}),
            "relulab_version": self.relulab_version,
            "config": self.config.to_dict(),
            "series": {"name": self.series_name, "n": int(self.values.size),
                       "data_hash": self.data_hash, "train_end": self.train_end,
                       "test_start": self.test_start, "values": _floats(self.values),
                       "dates": self.dates},
            "runs": [
                {"activation": r.activation, "seed": r.seed, "diverged": r.diverged,
                 "best_epoch": r.best_epoch,
                 **{m: _float(r.metrics.get(m)) for m in cols},
                 "validation": {m: _float(r.val_metrics.get(m)) for m in cols},
                 "forecast": _floats(r.forecast), "loss": _floats(r.loss),
                 "val_loss": _floats(r.val_loss),
                 "dead_fraction": _floats(r.epoch_stats.get("dead_fraction", [])),
                 "units": r.units_json()}
                for r in self.runs
            ],
            "summary": _summary_json(self.summary),
            "comparisons": [
                {k: (_float(v) if isinstance(v, float) else v) for k, v in vars(c).items()}
                for c in self.comparisons
            ],
            "baselines": {
                name: {"metrics": {k: _float(v) for k, v in b["metrics"].items()},
                       "forecast": _floats(b["forecast"]),
                       **({"unavailable": b["unavailable"]} if b.get("unavailable") else {})}
                for name, b in self.baselines.items()
            },
            "timing": {k: _float(v) for k, v in self.timing.items()},
            "warnings": list(self.warnings),
            "diagnostics": None if self.diagnostics is None else self.diagnostics.to_json(),
            "adaptive": self.adaptive,
            **({"by_step": {name: {m: [_float(v) for v in vs] for m, vs in metrics.items()}
                            for name, metrics in self.by_step.items()}}
               if self.by_step else {}),
        }


def study_activations(listed: Any, runs: Any) -> list[str]:
    """The ``listed`` activations, then any other found in ``runs``, in order of appearance."""
    listed = list(listed)
    return listed + list(dict.fromkeys(r.activation for r in runs if r.activation not in listed))


def runs_frame(runs: list[RunRecord], columns: Any = METRIC_COLUMNS) -> pd.DataFrame:
    """One row per run: activation, seed, diverged, best_epoch and the test metrics
    (``columns``: the task's, a forecast's by default)."""
    rows = [
        {"activation": r.activation, "seed": r.seed, "diverged": r.diverged,
         "best_epoch": r.best_epoch, **{m: r.metrics.get(m, np.nan) for m in columns}}
        for r in runs
    ]
    return pd.DataFrame(rows, columns=["activation", "seed", "diverged", "best_epoch",
                                       *columns])


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

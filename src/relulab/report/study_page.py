"""The report's view model: a :class:`~relulab.result.StudyResult` as the strings the
template shows.

Formatting and wording only. Every number and judgement comes from the result: the summary,
the comparisons and their verdict parts (``relulab.verdicts``), the diagnostics (dead units,
flat forecasts; ``relulab.diagnostics``), and the metric registry (``relulab.metrics``)
for labels and which way is better. Numbers are written by ``relulab.display``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from relulab import __version__, display
from relulab.diagnostics import DORMANT_THRESHOLD, flat_seeds, warnings_of
from relulab.diagnostics import of as diagnostics_of
from relulab.figures import all_figures, png_bytes
from relulab.metrics import HEADLINE, METRICS, best
from relulab.result import Comparison, Diagnostics, StudyResult
from relulab.verdicts import baseline_words, seed_interval, verdict_words

__all__ = ["Verdict", "page_context"]


@dataclass
class Verdict:
    activation: str
    reference: str
    metric: str
    badge: str  # "better" | "worse" | "unclear" | "unknown"
    label: str  # the badge in words
    rel: str
    interval: str
    dm_stat: str
    dm_p: str
    vol: str
    vol_ref: str
    text: str
    words: str  # the verdict without the numbers the card shows next to it
    # The multiplicity, equivalence, probability-of-improvement and seeds-needed numbers;
    # MISSING (or "") for a comparison stored before they were recorded.
    dm_p_adjusted: str = display.MISSING
    adjusted: str = ""  # "Holm-adjusted over 4 comparisons", or "" when nothing to say
    margin: str = ""  # "±2%"
    equivalence_p: str = display.MISSING  # adjusted like the DM p
    prob: str = display.MISSING  # "40%"
    prob_interval: str = ""  # "10% to 70%"
    seeds: list[tuple[str, str]] = field(default_factory=list)  # ("2%", "40"), ...
    # the same without the seeds that forecast a flat line (Comparison.flat_seeds), and
    # those seeds in words ("relu seed 9"); empty when the comparison has none
    seeds_without_flat: list[tuple[str, str]] = field(default_factory=list)
    flat: str = ""
    decision: str = ""  # relulab.verdicts.judge_decision's code; "" when not recorded


# The badge reads only where the interval of the relative difference lies.
_BADGES = {"above_zero": "worse", "below_zero": "better", "includes_zero": "unclear",
           "unknown": "unknown"}


def _verdict(c: Comparison) -> Verdict:
    metric = METRICS[c.metric].short if c.metric in METRICS else c.metric.upper()
    # A comparison built by hand may not record where its interval lies.
    badge = _BADGES[c.seed_interval or seed_interval(c.rel_lo, c.rel_hi)]
    label = {"unknown": "not enough runs to tell",
             "worse": f"{metric} worse than {c.reference}",
             "better": f"{metric} better than {c.reference}",
             "unclear": f"no clear {metric} difference"}[badge]
    if c.decision in ("equivalent", "negligible"):
        label = f"equivalent within ±{100 * c.equivalence_margin:g}%"
    eq_p = c.equivalence_p_adjusted if display.finite(c.equivalence_p_adjusted) else (
        c.equivalence_p)
    return Verdict(
        dm_p_adjusted=display.p_value(c.p_adjusted), adjusted=_adjusted(c),
        margin=(f"±{100 * c.equivalence_margin:g}%" if display.finite(c.equivalence_margin)
                else ""),
        equivalence_p=display.p_value(eq_p), prob=display.percent(c.prob_improvement),
        prob_interval=display.interval(c.prob_improvement_low, c.prob_improvement_high,
                                       display.percent, sep=" to ", brackets=""),
        seeds=_seeds(c.seeds_needed), seeds_without_flat=_seeds(c.seeds_needed_without_flat),
        flat=", ".join(f"{a} seed{'s' if len(s) > 1 else ''} {', '.join(map(str, s))}"
                       for a, s in c.flat_seeds.items()),
        decision=c.decision,
        activation=c.activation, reference=c.reference, metric=metric, badge=badge,
        label=label, rel=display.signed_percent(c.rel_diff),
        interval=display.interval(c.rel_lo, c.rel_hi, display.signed_percent, sep=" to ",
                                  brackets="") or f"{display.MISSING} to {display.MISSING}",
        dm_stat=display.number(c.dm_stat), dm_p=display.p_value(c.dm_p),
        vol=display.number(c.vol_ratio), vol_ref=display.number(c.vol_ratio_ref),
        text=c.verdict, words=verdict_words(c),
    )


def _seeds(needed: dict[str, int | None]) -> list[tuple[str, str]]:
    """("2%", "40") per relative difference, smallest first."""
    return [(f"{100 * float(d):g}%", display.MISSING if n is None else str(n))
            for d, n in sorted(needed.items(), key=lambda kv: float(kv[0]))]


def _adjusted(c: Comparison) -> str:
    if not c.correction:
        return ""
    if c.n_comparisons <= 1:
        return "one comparison, nothing to adjust"
    if c.correction == "none":
        return f"not adjusted for {c.n_comparisons} comparisons"
    return f"{c.correction.capitalize()}-adjusted over {c.n_comparisons} comparisons"


def _headline(verdicts: list[Verdict], reference: str, confidence: str) -> str:
    """One sentence over all comparisons, so that five cards need not be read to learn
    that none of them found anything."""
    if not verdicts:
        return ""
    metric = verdicts[0].metric
    groups: dict[str, list[str]] = {}
    for v in verdicts:
        groups.setdefault(v.badge, []).append(v.activation)
    if set(groups) == {"unclear"}:
        which = (verdicts[0].activation if len(verdicts) == 1
                 else f"any of the {len(verdicts)} activations compared")
        return (f"No clear {metric} difference from {reference} for {which}: every "
                f"{confidence} interval of the relative difference includes 0."
                + _equivalent_sentence(verdicts))
    parts = []
    for badge, words in (("better", f"Lower {metric} than {reference}"),
                         ("worse", f"Higher {metric} than {reference}"),
                         ("unclear", "no clear difference"),
                         ("unknown", "too few runs to tell")):
        if groups.get(badge):
            parts.append(f"{words}: {', '.join(groups[badge])}")
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "." + _equivalent_sentence(verdicts)


def _equivalent_sentence(verdicts: list[Verdict]) -> str:
    """" Equivalent to tanh within ±2%: relu, elu.", or "": a clear answer that the
    activation does not matter is the one the badges alone cannot give."""
    same = [v for v in verdicts if v.decision in ("equivalent", "negligible")]
    if not same:
        return ""
    return (f" Equivalent to {same[0].reference} within {same[0].margin}: "
            f"{', '.join(v.activation for v in same)}.")


def _summary_table(result: StudyResult) -> dict[str, dict[str, dict[str, Any]]]:
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for row in result.summary.itertuples(index=False):
        table.setdefault(str(row.activation), {})[str(row.metric)] = {
            "median": row.median, "lo": row.lo, "hi": row.hi, "n": row.n}
    return table


def _summary_rows(result: StudyResult, activations: list[str],
                  table: dict[str, dict[str, dict[str, Any]]]) -> tuple[list[dict], list[str]]:
    """Per activation: cells (median, interval, best?) per metric, plus runs counted."""
    columns = result.metric_columns
    metrics = [m for m in columns if m in set(result.summary.get("metric", []))] or list(
        columns)
    best_of = {m: best({a: table.get(a, {}).get(m, {}).get("median") for a in activations}, m)
               for m in metrics}
    rows = []
    for act in activations:
        runs = [r for r in result.runs if r.activation == act]
        cells = []
        for m in metrics:
            cell = table.get(act, {}).get(m)
            if cell is None:
                cells.append({"median": display.MISSING, "interval": "", "best": False})
                continue

            def fmt(v: Any, kind: str = METRICS[m].kind) -> str:
                return display.metric_value(v, kind)

            cells.append({"median": fmt(cell["median"]),
                          "interval": display.interval(cell["lo"], cell["hi"], fmt),
                          "best": best_of[m] == act})
        ok = sum(not r.diverged for r in runs)
        rows.append({"activation": act, "cells": cells, "runs": f"{ok}/{len(runs)}",
                     "diverged": len(runs) - ok})
    return rows, metrics


def _step_rows(result: StudyResult) -> dict[str, Any]:
    """The RMSE ``h`` steps ahead of each activation and baseline, formatted."""
    H = result.config.horizon
    rows = [{"name": name if name in result.activations else f"{name} (baseline)",
             "cells": [display.number(v) for v in metrics.get("rmse", [])]}
            for name, metrics in result.by_step.items()]
    return {"steps": list(range(1, H + 1)), "rows": rows}


def _dead_rows(diagnostics: Diagnostics) -> list[str]:
    """Per activation that had dead units: the share at the kept epoch, in words."""
    return [f"{d.activation}: {d.seeds_with_dead} of {d.seeds} seeds ended with dead units "
            f"(median {display.percent(d.median_share)} of the hidden units, at most "
            f"{display.percent(d.max_share)})"
            for d in diagnostics.dead_units.values() if d.seeds and d.ever_dead]


def _embedded_figures(result: StudyResult) -> dict[str, str]:
    """Figure name -> PNG data URI."""
    return {name: "data:image/png;base64," + base64.b64encode(png_bytes(fig)).decode("ascii")
            for name, fig in all_figures(result).items()}


def _config_value(v: Any) -> str:
    if v is None:
        return "none"
    if isinstance(v, list | tuple):
        return ", ".join(str(x) for x in v)
    if isinstance(v, float):
        return f"{v:g}"
    return str(v) if str(v) != "" else display.MISSING


TIMING_LABELS = {"train_s": "training", "model_steps": "model steps",
                 "groups_trained": "activation groups trained",
                 "groups_cached": "groups taken from the results store"}


def _timing_part(key: str, value: Any) -> str:
    label = TIMING_LABELS.get(key, key.removesuffix("_s").replace("_", " "))
    v = float(value)
    if key.endswith("_s"):
        return f"{label} {display.seconds(v)}"
    if v.is_integer():  # a count: "6 activation groups trained"
        return f"{int(v):,} {label}"
    return f"{label} {display.number(v)}"


def _timing(result: StudyResult) -> list[str]:
    timing = dict(result.timing)
    parts = []
    if display.finite(timing.get("wall_s")):
        parts.append(f"study ran in {display.seconds(timing.pop('wall_s'))}")
    if display.finite(timing.get("compile_s")):
        parts.append(f"of which compiling {display.seconds(timing.pop('compile_s'))}")
    if display.finite(timing.get("model_steps_per_s")):
        parts.append(f"{float(timing.pop('model_steps_per_s')):,.0f} model steps/s")
    return parts + [_timing_part(k, v) for k, v in timing.items() if display.finite(v)]


# The config fields a supervised task's study is decided by (the rest are a forecast's).
_TASK_FIELDS = ("task", "activations", "reference", "seeds", "seed_offset", "model",
                "model_id", "epochs", "batch_size", "optimizer", "learning_rate", "beta1",
                "beta2", "eps", "patience", "bootstrap", "confidence", "correction",
                "equivalence_margin", "name")
# ... and relulab's own MLP on a table adds its shape and the table's split.
_TABLE_FIELDS = ("units", "layers", "init", "test_fraction", "validation_split", "data",
                 "column")


def _config_rows(result: StudyResult) -> list[tuple[str, str]]:
    """The config as (field, value) rows: every field for a forecast, the fields that
    decide a supervised task's numbers for one."""
    d = result.config.to_dict()
    if result.task != "forecast":
        keep = _TASK_FIELDS + (_TABLE_FIELDS if result.config.model != "user" else ())
        d = {k: v for k, v in d.items() if k in keep}
    return [(k, _config_value(v)) for k, v in d.items()]


def _model_words(config: Any) -> str:
    """The model in the lede's words."""
    if config.task != "forecast" and config.model == "user":
        first = config.model_description.split("\n", 1)[0]
        return f"the model ({first})" if first else "the model"
    phrase = display.model_phrase(config.model, config.units, config.layers)
    return phrase if config.task == "forecast" else f"relulab's {phrase.split(' ', 1)[1]}"


def page_context(result: StudyResult) -> dict[str, Any]:
    """Everything the template shows, as strings, lists and flags."""
    config = result.config
    activations = result.activations
    n = int(result.values.size)
    table = _summary_table(result)
    rows, metrics = _summary_rows(result, activations, table)
    headline = HEADLINE[result.task]
    rmse = {a: table.get(a, {}).get(headline, {}).get("median") for a in activations}
    best_rmse = best(rmse, headline)
    baseline_rows = [
        {"name": name, "description": b.get("description", ""),
         "cells": [display.metric_value(b.get("metrics", {}).get(m), METRICS[m].kind)
                   for m in metrics]}
        for name, b in result.baselines.items()
    ]
    naive = result.baselines.get("naive", {}).get("metrics", {}).get("rmse")
    baseline_text = baseline_words(
        rmse, {name: b.get("metrics", {}).get(headline)
               for name, b in result.baselines.items()},
        METRICS[headline].short) if result.task == "forecast" else ""
    diagnostics = diagnostics_of(result)
    diverged = list(diagnostics.diverged.items())
    warnings = warnings_of(result)
    flat = {a: seeds for a in activations if (seeds := flat_seeds(diagnostics.flat_runs, a))}
    seeds = config.seed_list
    config_rows = _config_rows(result)
    ran_with = result.relulab_version
    n_test, n_val = n - result.test_start, result.test_start - result.train_end
    config_rows += [("relulab version", ran_with or f"not recorded (report: {__version__})"),
                    ("data hash", result.data_hash or display.MISSING),
                    ("study id", result.study_id or display.MISSING),
                    ("series", f"{result.series_name} ({n} points)")
                    if result.task == "forecast" else
                    ("data", f"{result.series_name} ({result.train_end} train, {n_val} "
                             f"validation, {n_test} test examples)")]
    half = -(-len(config_rows) // 2)
    verdicts = [_verdict(c) for c in result.comparisons]
    confidence = f"{100 * config.confidence:g}%"
    return {
        "r": result, "config": config, "n": n, "activations": activations,
        "n_test": n - result.test_start, "n_train": result.train_end,
        "n_val": result.test_start - result.train_end, "model": _model_words(config),
        "scaling": display.scaler_phrase(config.scaler),
        "ahead": display.ahead_phrase(config.horizon, config.strategy),
        "task": result.task, "headline_label": METRICS[headline].short,
        "headline_unit": METRICS[headline].unit,
        "test_name": ("Diebold-Mariano p" if result.task == "forecast"
                      else "paired p (per-example losses)"),
        "model_text": config.model_description,
        "seeds_text": (f"{len(seeds)} seeds ({seeds[0]}–{seeds[-1]})" if len(seeds) > 1
                       else f"1 seed ({seeds[0]})"),
        "verdicts": verdicts, "headline": _headline(verdicts, config.reference, confidence),
        "best": best_rmse,
        "best_rmse": display.number(rmse.get(best_rmse)) if best_rmse else None,
        "naive_rmse": display.number(naive) if display.finite(naive) else None,
        "summary_rows": rows, "metrics": metrics,
        "metric_info": {m: METRICS[m] for m in metrics},
        "baseline_rows": baseline_rows, "baseline_text": baseline_text,
        "step_rows": _step_rows(result),
        "figures": _embedded_figures(result),
        "diverged_text": "; ".join(
            f"{a} diverged on seed{'s' if len(s) > 1 else ''} {', '.join(map(str, s))}"
            for a, s in diverged),
        "config_columns": [config_rows[:half], config_rows[half:]],
        "confidence": confidence, "timing": _timing(result),
        "correction_text": {"holm": "Holm's method", "bonferroni": "Bonferroni's method",
                            "none": "here: not adjusted"}[config.correction],
        "margin_text": f"{100 * config.equivalence_margin:g}%",
        "alpha_text": f"{1 - config.confidence:g}",
        "version": __version__, "ran_with": ran_with,
        # The study's warnings name diverged and flat runs (with the seeds and the advice)
        # and everything else; the header names the seeds from the diagnostics.
        "warnings": warnings, "n_warn": len(warnings),
        "flat_text": "; ".join(
            f"{a} forecast a flat line on seed{'s' if len(seeds) > 1 else ''} "
            + ", ".join(map(str, seeds)) for a, seeds in flat.items()),
        "dead": diagnostics.any_dead, "dead_rows": _dead_rows(diagnostics),
        "site_rows": [
            {"activation": a, "site": h.site, "units": h.units,
             "dead": display.percent(h.dead_share), "dormant": display.percent(h.dormant_share),
             "died": f"{h.died} of {h.units * h.seeds}", "came_back": h.came_back}
            for a, hs in diagnostics.sites.items() for h in hs],
        "dormant_threshold": display.number(DORMANT_THRESHOLD),
    }
